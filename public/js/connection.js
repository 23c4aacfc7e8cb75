// The WebSocket to the server's /ws: requests with ids and their replies (`re`, docs/PROTOCOL.md §4.1), events, and,
// once signed in, reconnection with exponential back-off and jitter.

/** The socket closed (or never opened) before a reply came. */
export class ConnectionClosed extends Error {}

/** Thrown by a resume hook to stop reconnecting for good (the session is over). */
export class Fatal extends Error {}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const REPLY_TIMEOUT_MS = 20000;

/** Delay before reconnect attempt `attempt` (0-based): doubling from 0.5 s up to 15 s, jittered to 50–100 %. */
export function backoffDelay(attempt) {
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

export function socketURL(loc = window.location) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
}

/**
 * Events: `message` (detail: a server event, i.e. anything without a pending `re`), `status` (detail:
 * { state, retryAt, attempt }), `fatal` (detail: the Fatal error that ended reconnection).
 * States: `idle` (no session to keep), `connecting`, `open`, `waiting` (retry scheduled), `reconnecting`.
 */
export class Connection extends EventTarget {
  #url;
  #ws = null;
  #opening = null;
  #nextId = 1;
  #pending = new Map();
  #resume = null;
  #attempt = 0;
  #timer = null;
  #state = 'idle';

  constructor(url = socketURL()) {
    super();
    this.#url = url;
  }

  get state() { return this.#state; }
  get isOpen() { return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN; }

  /** Opens the socket if it is not open; resolves once it is. */
  connect() {
    if (this.isOpen) return Promise.resolve();
    if (this.#opening) return this.#opening;
    if (!this.#resume) this.#setState('connecting');
    this.#opening = new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WebSocket(this.#url);
      } catch (err) {
        this.#opening = null;
        reject(new ConnectionClosed(String(err)));
        return;
      }
      this.#ws = ws;
      ws.addEventListener('open', () => {
        if (this.#ws !== ws) return;
        this.#opening = null;
        if (!this.#resume) this.#setState('open');
        resolve();
      });
      ws.addEventListener('message', (e) => { if (this.#ws === ws) this.#receive(e.data); });
      ws.addEventListener('close', () => {
        if (this.#ws !== ws) return;
        if (this.#opening) {
          this.#opening = null;
          reject(new ConnectionClosed('could not reach the server'));
        }
        this.#lost();
      });
    });
    return this.#opening;
  }

  /** Sends a request with a fresh id; resolves with the reply (`error` replies included). */
  request(message, timeoutMs = REPLY_TIMEOUT_MS) {
    if (!this.isOpen) return Promise.reject(new ConnectionClosed('not connected'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // No reply in time: the link is probably dead. Dropping it starts a reconnect if there is a session.
        this.#pending.delete(id);
        reject(new ConnectionClosed('no reply from the server'));
        this.drop();
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ ...message, id }));
    });
  }

  /** Sends a request that wants no reply (no id). False if the socket is not open. */
  notify(message) {
    if (!this.isOpen) return false;
    this.#ws.send(JSON.stringify(message));
    return true;
  }

  /** From now on, reconnect after a drop; `resume(connection)` logs in again (throw Fatal to give up). */
  keepAlive(resume) {
    this.#resume = resume;
    this.#attempt = 0;
    this.#setState(this.isOpen ? 'open' : 'waiting');
    if (!this.isOpen) this.retryNow();
  }

  /** Stops reconnecting; the socket stays as it is (the server closes it after `bye` or `timeout`). */
  forget() {
    this.#resume = null;
    clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.isOpen) this.#setState('idle');
  }

  /** Closes the socket now. With a session to keep, a reconnect follows. */
  drop() {
    const ws = this.#ws;
    if (!ws) return;
    ws.close();
    if (this.#opening) {
      // The close event of a socket that never opened rejects the opening promise; let it.
      return;
    }
    this.#lost();
  }

  /** Skips the back-off wait (the network came back, or the user asked). */
  retryNow() {
    if (!this.#resume || this.#state === 'reconnecting' || this.#state === 'open') return;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#reconnect();
  }

  #receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return;
    if (msg.re !== undefined && this.#pending.has(msg.re)) {
      const waiter = this.#pending.get(msg.re);
      this.#pending.delete(msg.re);
      clearTimeout(waiter.timer);
      waiter.resolve(msg);
      return;
    }
    this.dispatchEvent(new CustomEvent('message', { detail: msg }));
  }

  #lost() {
    this.#ws = null;
    for (const waiter of this.#pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new ConnectionClosed('the connection closed'));
    }
    this.#pending.clear();
    if (!this.#resume) {
      this.#setState('idle');
    } else if (this.#state === 'open') {
      // An established session dropped. (A failed attempt is rescheduled by #reconnect itself.)
      this.#schedule();
    }
  }

  #schedule() {
    clearTimeout(this.#timer);
    const attempt = this.#attempt++;
    const delay = backoffDelay(attempt);
    this.#timer = setTimeout(() => { this.#timer = null; this.#reconnect(); }, delay);
    this.#setState('waiting', { retryAt: Date.now() + delay, attempt: attempt + 1 });
  }

  async #reconnect() {
    const resume = this.#resume;
    if (!resume) return;
    this.#setState('reconnecting', { attempt: this.#attempt + 1 });
    try {
      await this.connect();
      await resume(this);
      if (this.#resume !== resume) return;
      this.#attempt = 0;
      this.#setState('open');
    } catch (err) {
      if (this.#resume !== resume) return;
      if (err instanceof Fatal) {
        this.#resume = null;
        this.drop();
        this.#setState('idle');
        this.dispatchEvent(new CustomEvent('fatal', { detail: err }));
        return;
      }
      if (this.#ws) {
        const ws = this.#ws;
        this.#ws = null;
        ws.close();
      }
      this.#schedule();
    }
  }

  #setState(state, extra = {}) {
    this.#state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: { state, ...extra } }));
  }
}
