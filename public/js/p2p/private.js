// Private chat (startprivate / private / stopprivate, docs/PROTOCOL.md §9) between two pages, straight from browser to
// browser over a WebRTC data channel. The server only carries the consent handshake and the signalling; the
// private text never passes through it. Sessions live in this page only (a reload ends them).

import { iceServers } from './config.js';
import { PeerLink } from './link.js';
import { texts } from '../texts.js';

/** The server drops an unanswered request after 60 s (docs/PROTOCOL.md §9.2); so does the prompt. */
const REQUEST_TTL_MS = 60000;
/** The accepter waits this long for the asker's hello once the channel is open. */
const HELLO_TIMEOUT_MS = 10000;

/**
 * One private session with one peer. state: `asking` (waiting for their answer), `connecting` (accepted,
 * the direct link is being made), `open`, `ended`. `items` is the panel's log: private messages and notes.
 */
class PrivateSession {
  constructor(peer, initiator) {
    this.peer = peer;
    this.initiator = initiator;
    this.state = initiator ? 'asking' : 'connecting';
    this.token = null;
    this.link = null;
    this.items = [];
    this.rev = 0;
  }

  get active() { return this.state !== 'ended'; }
}

export class PrivateChats extends EventTarget {
  #chat;
  #ice;
  #seq = 0;
  /** peer → PrivateSession (ended ones stay, for their log, until the panel is closed). */
  sessions = new Map();
  /** Requests waiting for my answer: [{ from, at, timer }], oldest first. */
  requests = [];

  constructor(chat) {
    super();
    this.#chat = chat;
    this.#ice = iceServers();
    chat.connection.addEventListener('message', (e) => this.#onEvent(e.detail));
    chat.addEventListener('leaving', () => this.#leaving());
    chat.addEventListener('signedout', () => this.#reset());
  }

  get #state() { return this.#chat.state; }
  get #me() { return this.#chat.session?.user; }

  session(peer) { return this.sessions.get(peer) ?? null; }

  /** Peers with a session that has not ended. */
  isActive(peer) { return Boolean(this.sessions.get(peer)?.active); }

  // -- What the user does --------------------------------------------------------------------------------

  /** startprivate: asks `peer` for a session. */
  async start(peer) {
    if (this.isActive(peer)) return;
    let reply;
    try {
      reply = await this.#chat.connection.request({ type: 'startprivate', user: peer });
    } catch {
      this.#state.note(peer, 'You are offline; try again once reconnected.', 'error');
      return;
    }
    if (reply.type !== 'ok') {
      // self, invalid_user, offline, blocked, no_p2p: the terminal line, and nobody was asked.
      this.#state.note(peer, reply.message || 'Private messaging could not start.', 'error');
      return;
    }
    const old = this.sessions.get(peer);
    if (old?.active) return; // they asked me meanwhile and I accepted
    const session = new PrivateSession(peer, true);
    if (old) session.items = old.items;
    this.sessions.set(peer, session);
    this.#note(session, texts.startPrivate(peer));
  }

  /** privatereply: my y or n to `from`'s request. */
  async answer(from, accept) {
    const request = this.requests.find((r) => r.from === from);
    if (!request) return;
    this.#dropRequest(from);
    let session = null;
    if (accept) {
      // Ready before the server's reply: the asker's offer may follow right behind it.
      this.sessions.get(from)?.link?.close();
      session = new PrivateSession(from, false);
      const old = this.sessions.get(from);
      if (old) session.items = old.items;
      this.sessions.set(from, session);
      this.#note(session, texts.acceptedPrivate(from));
      this.#connect(session);
    }
    let reply;
    try {
      reply = await this.#chat.connection.request({ type: 'privatereply', user: from, accept });
    } catch {
      if (session) this.#end(session, texts.unreachable(from), 'error');
      return;
    }
    if (reply.type !== 'ok' && session) {
      // The request expired or the asker left meanwhile.
      this.#end(session, `${from}'s request is no longer open.`, 'error');
    }
  }

  /** private: one line over the direct link. */
  send(peer, text) {
    const session = this.sessions.get(peer);
    if (!session || session.state !== 'open') {
      this.#state.note(peer, texts.privateNotEnabled(peer), 'error');
      return false;
    }
    if (!session.link.send({ type: 'private', text })) {
      this.#end(session, texts.unreachable(peer), 'error');
      return false;
    }
    this.#add(session, { kind: 'private', from: this.#me, text, mine: true });
    this.#activity();
    return true;
  }

  /** stopprivate: ends the session from this side. */
  stop(peer) {
    const session = this.sessions.get(peer);
    if (!session?.active) {
      this.#state.note(peer, texts.noPrivateSession(peer), 'error');
      return;
    }
    if (session.link?.isOpen) {
      session.link.send({ type: 'stopprivate' });
    } else if (session.state === 'connecting') {
      this.#signal(peer, { stop: true }); // no channel yet: say it through the signalling
    } else {
      session.cancelled = true; // still asking: if they say yes after all, they are told at once
    }
    this.#end(session, texts.youStoppedPrivate(peer), 'info');
    this.#activity();
  }

  /** Forgets an ended session's panel. */
  dismiss(peer) {
    const session = this.sessions.get(peer);
    if (session && !session.active) {
      this.sessions.delete(peer);
      this.#state.changed();
    }
  }

  // -- Server events -------------------------------------------------------------------------------------

  #onEvent(msg) {
    if (!this.#chat.signedIn) return;
    const peer = typeof msg.from === 'string' ? msg.from : typeof msg.user === 'string' ? msg.user : null;
    if (!peer) return;
    const session = this.sessions.get(peer);
    switch (msg.type) {
      case 'private_request':
        this.#request(peer);
        break;
      case 'private_accepted':
        if (session?.cancelled) {
          session.cancelled = false;
          this.#signal(peer, { stop: true });
        }
        if (session?.state !== 'asking') return;
        session.token = typeof msg.token === 'string' ? msg.token : null;
        session.state = 'connecting';
        this.#note(session, texts.acceptsPrivate(peer));
        this.#connect(session);
        session.link.start();
        break;
      case 'private_pending':
        if (session?.state === 'connecting' && !session.initiator) {
          session.token = typeof msg.token === 'string' ? msg.token : null;
        }
        break;
      case 'private_declined':
        if (session?.state === 'asking') this.#end(session, texts.declinesPrivate(peer), 'warning');
        break;
      case 'signal':
        if (msg.data?.stop === true) {
          if (session && (session.state === 'connecting' || session.state === 'open')) this.#end(session, texts.stoppedPrivate(peer), 'warning');
          return;
        }
        if (session?.link && (session.state === 'connecting' || session.state === 'open')) session.link.signal(msg.data);
        break;
      case 'presence':
        if (msg.state !== 'out') return;
        this.#dropRequest(peer);
        // Gone from the server: the session is over (the server forgets the pair too).
        if (session && (session.state === 'connecting' || session.state === 'open')) {
          this.#end(session, texts.loggedOutConcluding(peer), 'warning');
        }
        break;
      default:
        break;
    }
  }

  #request(from) {
    this.#dropRequest(from);
    const timer = setTimeout(() => this.#dropRequest(from), REQUEST_TTL_MS);
    this.requests.push({ from, at: Date.now(), timer });
    this.#state.changed();
    this.dispatchEvent(new CustomEvent('request', { detail: { from } }));
  }

  #dropRequest(from) {
    const index = this.requests.findIndex((r) => r.from === from);
    if (index < 0) return;
    clearTimeout(this.requests[index].timer);
    this.requests.splice(index, 1);
    this.#state.changed();
  }

  // -- The direct link -----------------------------------------------------------------------------------

  #connect(session) {
    const { peer } = session;
    const link = new PeerLink({
      iceServers: this.#ice,
      initiator: session.initiator,
      sendSignal: (data) => this.#signal(peer, data, () => {
        if (session.link === link) this.#end(session, texts.unreachable(peer), 'error');
      }),
    });
    session.link = link;
    let helloTimer = null;
    link.addEventListener('open', () => {
      if (session.link !== link) return;
      if (session.initiator) {
        // docs/PROTOCOL.md §9.4: the asker presents the one-time token the server handed both sides.
        link.send({ type: 'p2p_hello', from: this.#me, token: session.token });
        this.#opened(session);
      } else {
        helloTimer = setTimeout(() => { if (session.state !== 'open') link.close(); }, HELLO_TIMEOUT_MS);
      }
    });
    link.addEventListener('message', (e) => {
      if (session.link !== link) return;
      const message = e.detail;
      if (session.state !== 'open') {
        // The accepter's first message must be the asker's hello with the token from private_pending.
        const good = !session.initiator && message.type === 'p2p_hello' && message.from === peer
          && typeof message.token === 'string' && session.token !== null && message.token === session.token;
        clearTimeout(helloTimer);
        if (!good) {
          link.close();
          return;
        }
        session.token = null; // once
        this.#opened(session);
        return;
      }
      switch (message.type) {
        case 'private':
          if (typeof message.text === 'string') this.#add(session, { kind: 'private', from: peer, text: message.text, mine: false });
          break;
        case 'stopprivate':
          this.#end(session, texts.stoppedPrivate(peer), 'warning');
          break;
        case 'logout':
          this.#end(session, texts.loggedOutConcluding(peer), 'warning');
          break;
        default:
          break;
      }
    });
    link.addEventListener('close', () => {
      clearTimeout(helloTimer);
      if (session.link === link && session.active) this.#end(session, texts.unreachable(peer), 'error');
    });
  }

  #opened(session) {
    session.state = 'open';
    session.rev += 1;
    this.#state.changed();
  }

  #end(session, text, tone) {
    if (!session.active) return;
    session.state = 'ended';
    const { link } = session;
    session.link = null;
    link?.close();
    this.#note(session, text, tone);
  }

  /** Before my own logout or idle timeout: tell every peer (their pages print the concluding line). */
  #leaving() {
    for (const session of this.sessions.values()) {
      if (session.state === 'open') session.link.send({ type: 'logout' });
    }
  }

  #reset() {
    for (const session of this.sessions.values()) {
      session.state = 'ended';
      session.link?.close();
      session.link = null;
    }
    for (const request of this.requests) clearTimeout(request.timer);
    this.sessions = new Map();
    this.requests = [];
  }

  // -- The panel's log -----------------------------------------------------------------------------------

  #note(session, text, tone = 'info') {
    this.#add(session, { kind: 'note', text, tone });
  }

  #add(session, item) {
    this.#seq += 1;
    session.items.push({ key: `p${this.#seq}`, at: Date.now(), rev: 0, ...item });
    session.rev += 1;
    if (item.kind === 'private' && !item.mine) {
      const conv = this.#state.conversation(session.peer);
      if (!(this.#state.viewing && this.#state.selected === session.peer)) conv.unread += 1;
    }
    this.#state.changed();
  }

  /** Signal data for `peer`, through the server (allowed only within an accepted session). */
  #signal(peer, data, refused = () => {}) {
    this.#chat.connection.request({ type: 'signal', to: peer, data }).then((reply) => {
      if (reply.type !== 'ok') refused();
    }, () => {});
  }

  #activity() {
    // docs/PROTOCOL.md §7: P2P commands count as activity; the server hears of them this way.
    this.#chat.connection.request({ type: 'activity' }).catch(() => {});
  }
}
