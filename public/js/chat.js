// The chat controller: signs in over the WebSocket, keeps the session alive across drops, turns server
// events into state, and carries out what the user asks (send, block, page back through history).

import { InboxAcks } from './acks.js';
import { Api, ApiError } from './api.js';
import { ConnectionClosed, Fatal } from './connection.js';
import { sendDirect, toggleBlock } from './direct.js';
import { Rooms } from './rooms.js';
import { EVERYONE, isRoomKey, roomOf } from './state.js';
import {
  clearSession, loadInboxSeq, loadSession, loadView, saveInboxSeq, saveSession, saveView,
} from './session.js';
import { texts } from './texts.js';

export const PAGE_SIZE = 50;
/** How many recent messages are scanned for the people list at sign-in. */
const RECENT_SCAN = 200;

const UNREACHABLE = 'The server cannot be reached. Check your connection and try again.';

/** Error codes worth trying again by themselves after `retryAfter` seconds. */
const TRANSIENT = new Set(['busy', 'rate_limited']);

/** Resume attempts refused with `already_online` before giving up (another tab may hold the session). */
const MAX_ALREADY_ONLINE = 6;

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Chat extends EventTarget {
  constructor(connection, state) {
    super();
    this.connection = connection;
    this.state = state;
    this.session = null; // { user, token } once signed in
    this.alreadyOnline = 0; // resume attempts in a row refused with already_online
    this.needPeople = false; // the people of recent messages are still to be listed (once per page load or sign-in)
    this.inbox = null; // InboxAcks of the signed-in user: seqs shown, acks (docs/PROTOCOL.md §11.2)
    this.api = new Api(() => this.session?.token ?? '');
    this.rooms = new Rooms(this);
    connection.addEventListener('message', (e) => this.#onEvent(e.detail));
    connection.addEventListener('fatal', (e) => this.#signedOut(e.detail.message, 'error'));
  }

  get signedIn() { return this.session !== null; }

  /** On page load: resume the tab's session if there is one. Returns true if it does. */
  start() {
    const saved = loadSession();
    if (!saved) return false;
    this.session = saved;
    this.needPeople = true;
    this.#newInbox(saved.user);
    this.rooms.reset();
    this.state.reset(saved.user);
    const view = loadView();
    if (view) this.state.select(view);
    this.dispatchEvent(new Event('signedin'));
    this.connection.keepAlive((conn) => this.#resume(conn));
    return true;
  }

  // -- Sign in (docs/PROTOCOL.md §3) -------------------------------------------------------------------------------

  /** Does this account exist? Throws Error(text) if the server cannot be asked. */
  async lookup(user) {
    const reply = await this.#ask({ type: 'lookup', user });
    if (reply.type !== 'ok') throw new Error(reply.message || 'The server refused the name.');
    return reply.exists === true;
  }

  /** Resolves with null once signed in, or with the error reply ({code, message, attemptsLeft, ...}). */
  login(user, password) {
    return this.#enter({ type: 'login', user, password, webrtc: true, acks: true });
  }

  register(user, password) {
    return this.#enter({ type: 'register', user, password, webrtc: true, acks: true });
  }

  async #enter(request) {
    let reply;
    try {
      reply = await this.#ask(request);
    } catch (err) {
      return { code: 'unreachable', message: err.message };
    }
    if (reply.type !== 'welcome') return reply;
    this.#welcomed(reply, false);
    return null;
  }

  /** One pre-login request, opening the socket if needed and retrying `busy` by itself. */
  async #ask(request) {
    for (let tries = 0; ; tries += 1) {
      try {
        await this.connection.connect();
      } catch {
        throw new Error(UNREACHABLE);
      }
      let reply;
      try {
        reply = await this.connection.request(request);
      } catch (err) {
        if (err instanceof ConnectionClosed && tries < 2) continue; // e.g. the server closed an idle login
        throw new Error(UNREACHABLE);
      }
      if (reply.type === 'error' && TRANSIENT.has(reply.code) && tries < 20) {
        await pause(Math.max(1, Number(reply.retryAfter) || 1) * 1000);
        continue;
      }
      return reply;
    }
  }

  /** Logs in again with the token after a drop or a reload (never asks for the password). */
  async #resume(conn) {
    const { user, token } = this.session;
    const reply = await conn.request({ type: 'login', user, token, webrtc: true, acks: true });
    if (reply.type === 'welcome') {
      this.alreadyOnline = 0;
      this.#welcomed(reply, true);
      return;
    }
    if (reply.code === 'bad_token' || reply.code === 'no_such_user') {
      throw new Fatal('Your session has ended. Please sign in again.');
    }
    if (reply.code === 'locked') throw new Fatal(reply.message);
    if (reply.code === 'already_online') {
      // Usually the server has not yet seen the old connection go (a reload, a dropped link): wait a little.
      // If it lasts, the account is in use elsewhere: the terminal text, and the sign-in form.
      this.alreadyOnline += 1;
      if (this.alreadyOnline >= MAX_ALREADY_ONLINE) throw new Fatal(reply.message || texts.alreadyLoggedIn(user));
    }
    // busy, rate_limited, already_online for now: try again after the back-off.
    throw new Error(reply.message);
  }

  #welcomed(reply, resumed) {
    this.session = { user: reply.user, token: reply.token };
    saveSession(reply.user, reply.token);
    if (!resumed) {
      this.needPeople = true;
      this.#newInbox(reply.user);
      this.rooms.reset();
      this.state.reset(reply.user);
      this.state.note(EVERYONE, texts.welcome, 'welcome');
      this.connection.keepAlive((conn) => this.#resume(conn));
      this.dispatchEvent(new Event('signedin'));
    } else {
      this.inbox?.reconnected();
      this.rooms.reconnected();
    }
    this.#refresh(resumed);
  }

  /** Seqs are per recipient: every signed-in user gets a fresh inbox, seeded with what this tab already
   *  showed them before a reload. */
  #newInbox(user) {
    this.inbox?.stop();
    this.inbox = new InboxAcks({
      floor: loadInboxSeq(user),
      // Only on a live, signed-in connection: an ack during a resume would be refused as "not logged in".
      send: (seq) => this.canSend() && this.connection.notify({ type: 'ack', seq }),
      save: (seq) => saveInboxSeq(user, seq),
    });
  }

  /** After every welcome: who is online, my rooms, whom I blocked, and the open conversation's latest page. */
  async #refresh(resumed) {
    try {
      const users = await this.connection.request({ type: 'whoelse' });
      if (users.type === 'users' && Array.isArray(users.users)) this.state.setOnline(users.users);
    } catch {
      // The connection dropped again; the next welcome refreshes.
    }
    await this.rooms.refresh();
    try {
      const blocks = await this.api.blocks();
      if (Array.isArray(blocks?.users)) this.state.setBlocked(blocks.users);
    } catch (err) {
      this.#apiFailed(err);
    }
    if (resumed) for (const conv of this.state.conversations.values()) if (conv.historyLoaded) conv.stale = true;
    this.ensureHistory(this.state.selected);
    if (this.needPeople) {
      this.needPeople = false;
      this.#listRecentPeople();
    }
  }

  /** Lists the people of my recent direct messages, so past conversations are one click away. */
  async #listRecentPeople() {
    try {
      const page = await this.api.history(undefined, undefined, RECENT_SCAN);
      const me = this.session?.user;
      for (const m of Array.isArray(page?.messages) ? page.messages : []) {
        const peer = m.from === me ? m.to : m.from;
        if (typeof peer === 'string' && peer !== me) this.state.conversation(peer);
      }
    } catch (err) {
      this.#apiFailed(err);
    }
  }

  // -- Server events -------------------------------------------------------------------------------------

  #onEvent(msg) {
    if (!this.signedIn) return;
    if (this.rooms.onEvent(msg)) return;
    const me = this.session.user;
    switch (msg.type) {
      case 'message':
        // A message sent again because it was never acknowledged (after a reconnect) is shown once.
        if (Number.isSafeInteger(msg.seq) && this.inbox && !this.inbox.received(msg.seq)) return;
        if (typeof msg.from !== 'string' || typeof msg.text !== 'string') return;
        this.state.addLive(msg.from, {
          key: `m${msg.id}`, kind: 'message', id: msg.id, from: msg.from, to: me, text: msg.text,
          at: Number(msg.at) || Date.now(), offline: msg.offline === true, mine: false,
        });
        break;
      case 'broadcast':
        if (typeof msg.from !== 'string' || typeof msg.text !== 'string') return;
        this.state.addLive(EVERYONE, {
          key: `b${msg.id}`, kind: 'broadcast', from: msg.from, text: msg.text,
          at: Number(msg.at) || Date.now(), mine: false,
        });
        break;
      case 'presence': {
        if (typeof msg.user !== 'string') return;
        const isIn = msg.state === 'in';
        this.state.presence(msg.user, isIn);
        const line = isIn ? texts.loggedIn(msg.user) : texts.loggedOut(msg.user);
        this.state.note(EVERYONE, line, 'presence');
        if (this.state.conversations.has(msg.user)) {
          this.state.note(msg.user, line, 'presence');
          // The server hands over the messages it kept for them as they log in.
          if (isIn) {
            for (const item of this.state.conversations.get(msg.user).items) {
              if (item.mine && item.stored) this.state.update(msg.user, item.key, { stored: false });
            }
          }
        }
        break;
      }
      case 'timeout':
        this.inbox?.stop();
        this.connection.forget();
        this.dispatchEvent(new Event('leaving'));
        this.#signedOut(texts.timedOut, 'warning');
        break;
      case 'error':
        if (msg.message) this.state.note(this.state.selected, msg.message, 'error');
        break;
      default:
        break; // Events this page does not use here (private chat: p2p/private.js).
    }
  }

  // -- What the user does --------------------------------------------------------------------------------

  /** Opens a conversation (and loads its history the first time). */
  open(peer) {
    this.state.select(peer);
    saveView(peer);
    this.ensureHistory(peer);
    if (isRoomKey(peer)) this.rooms.loadMembers(roomOf(peer));
  }

  ensureHistory(peer) {
    const conv = this.state.conversation(peer);
    if (!conv.historyLoaded || conv.stale) this.loadHistory(peer, false);
  }

  /** Loads the newest page (older = false) or the page before the oldest one loaded. */
  async loadHistory(peer, older) {
    if (isRoomKey(peer)) return this.rooms.loadHistory(roomOf(peer), older);
    const conv = this.state.conversation(peer);
    if (peer === EVERYONE) {
      conv.next = null; // Broadcasts are live only.
      this.state.changed();
      return;
    }
    if (conv.loading || (older && !conv.next)) return;
    conv.loading = true;
    this.state.changed();
    try {
      const page = await this.api.history(peer, older ? conv.next : undefined, PAGE_SIZE);
      const messages = Array.isArray(page?.messages) ? page.messages : [];
      this.state.addHistory(peer, messages);
      const next = page?.next ?? null;
      if (older || !conv.historyLoaded) conv.next = next;
      conv.stale = false;
    } catch (err) {
      if (err.code === 'invalid_user') {
        conv.next = null;
        this.state.note(peer, err.message, 'error');
      } else {
        this.#apiFailed(err);
      }
    } finally {
      conv.loading = false;
      this.state.changed();
    }
  }

  /** Checks that `user` exists before opening a conversation with them. Resolves with an error text or null. */
  async check(user) {
    if (user === this.session.user) return 'Error. Cannot message self';
    try {
      await this.api.history(user, undefined, 1);
      return null;
    } catch (err) {
      return err.message;
    }
  }

  /** Is the session live right now (signed in and connected)? */
  canSend() {
    return this.signedIn && this.connection.isOpen && this.connection.state === 'open';
  }

  /** Sends a direct message (a broadcast in the broadcast room, a `say` in a room); the outcome shows on it. */
  async send(peer, text) {
    if (!this.canSend()) return;
    if (isRoomKey(peer)) {
      await this.rooms.say(roomOf(peer), text);
      return;
    }
    await sendDirect(this, peer, text);
  }

  /** Blocks or unblocks `peer`, and says so in the conversation (the terminal wording). */
  toggleBlock(peer) { return toggleBlock(this, peer); }

  async logout() {
    this.dispatchEvent(new Event('leaving')); // private chats say goodbye first (p2p/private.js)
    this.inbox?.stop(true); // what was shown is acknowledged before the logout, never after it
    this.rooms.stop(true);
    this.connection.forget();
    try {
      await this.connection.request({ type: 'logout' }, 5000);
    } catch {
      // Gone already: the token is dropped locally either way.
    }
    this.connection.drop();
    this.#signedOut('You have logged out.', 'info');
  }

  #apiFailed(err) {
    if (!(err instanceof ApiError)) return;
    if (err.status === 401) {
      this.connection.forget();
      this.connection.drop();
      this.#signedOut('Your session has ended. Please sign in again.', 'error');
      return;
    }
    if (err.status !== 0) this.state.note(this.state.selected, err.message, 'error');
  }

  #signedOut(message, tone) {
    if (!this.session) return;
    this.session = null;
    this.alreadyOnline = 0;
    this.inbox?.stop();
    this.inbox = null;
    this.rooms.reset();
    clearSession();
    this.dispatchEvent(new CustomEvent('signedout', { detail: { message, tone } }));
  }
}
