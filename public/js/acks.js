// Inbox acknowledgements (docs/PROTOCOL.md §11.2): which messages of my inbox this page has shown, and when
// to tell the server so. A version-2 server numbers every direct message I receive (`seq`, per recipient, not
// per conversation) and sends again, after each `welcome`, whatever I never acknowledged; a message can
// therefore arrive twice, and is shown once. Acks are coalesced: after a burst of messages, at most one per
// ACK_SPACING_MS while they keep coming, and a trailing one within ACK_SPACING_MS of the last. Nothing is
// acknowledged until a `seq` has been seen, so a version-1 server (which sends none) never gets an `ack`.
// No imports and no DOM: the logic runs under node in the tests.

export const ACK_SPACING_MS = 100;
/** How many seqs are remembered one by one; lower ones count as shown (the server sends oldest first). */
export const SEQ_MEMORY = 4096;

/** The seqs shown so far. `floor`: everything at or below it counts as shown (restored after a reload). */
export class ShownSeqs {
  #seqs = new Set();
  #floor;

  constructor(floor = 0) {
    this.#floor = floor > 0 ? floor : 0;
    /** The highest seq received, or null while the server has sent none. */
    this.highest = this.#floor > 0 ? this.#floor : null;
  }

  /** True the first time `seq` is offered, false for a repeat. Either way it counts as received. */
  first(seq) {
    if (this.highest === null || seq > this.highest) this.highest = seq;
    if (seq <= this.#floor || this.#seqs.has(seq)) return false;
    this.#seqs.add(seq);
    if (this.#seqs.size > 2 * SEQ_MEMORY) {
      // Let the lower half go in one step, so the cost per message stays constant.
      const sorted = [...this.#seqs].sort((a, b) => a - b);
      this.#floor = sorted[sorted.length - SEQ_MEMORY - 1];
      this.#seqs = new Set(sorted.slice(sorted.length - SEQ_MEMORY));
    }
    return true;
  }
}

/** When to acknowledge; pure (the caller passes the time and sends). */
export class AckSchedule {
  /** The highest seq acknowledged on this connection (0: none yet). */
  acked = 0;
  #lastSentAt = null;
  #heldBack = false;

  /** When the ack held back by the spacing is due (ms), or null when nothing waits. */
  get deadline() {
    return this.#heldBack && this.#lastSentAt !== null ? this.#lastSentAt + ACK_SPACING_MS : null;
  }

  /** After a burst, or at `deadline`: the seq to acknowledge now, or null. */
  due(highest, now) {
    if (highest === null || highest <= this.acked) {
      this.#heldBack = false;
      return null;
    }
    if (this.#lastSentAt !== null && now < this.#lastSentAt + ACK_SPACING_MS) {
      this.#heldBack = true;
      return null;
    }
    return this.#sent(highest, now);
  }

  /** Before logging out: what is not yet acknowledged, spacing or not. */
  final(highest, now) {
    if (highest === null || highest <= this.acked) return null;
    return this.#sent(highest, now);
  }

  /** A new connection (or a send that failed): the server's cursor may be behind what was acknowledged on
   *  the old one (an ack lost in the drop), so the next message, even a repeat, is acknowledged again. */
  reconnected() {
    this.acked = 0;
    this.#lastSentAt = null;
    this.#heldBack = false;
  }

  #sent(seq, now) {
    this.acked = seq;
    this.#lastSentAt = now;
    this.#heldBack = false;
    return seq;
  }
}

/**
 * The page's inbox: dedupe plus coalesced acks on a timer.
 * `send(seq)` sends `{"type":"ack","seq":seq}` and returns false if it could not; `save(highest)` remembers the
 * highest seq shown across a reload. `now`, `setTimer` and `clearTimer` are there for the tests.
 */
export class InboxAcks {
  #shown;
  #schedule = new AckSchedule();
  #send;
  #save;
  #now;
  #setTimer;
  #clearTimer;
  #timer = null;
  #stopped = false;

  constructor({
    send, save = () => {}, floor = 0, now = () => Date.now(),
    // Wrapped: a browser refuses setTimeout called as a method of another object.
    setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (id) => clearTimeout(id),
  }) {
    this.#shown = new ShownSeqs(floor);
    this.#send = send;
    this.#save = save;
    this.#now = now;
    this.#setTimer = setTimer;
    this.#clearTimer = clearTimer;
  }

  get highest() { return this.#shown.highest; }
  get acked() { return this.#schedule.acked; }

  /** A `message` event's seq arrived: true if it is to be shown, false if it already was. */
  received(seq) {
    const first = this.#shown.first(seq);
    this.#arm();
    return first;
  }

  /** After every `welcome` on a new connection: what was shown is acknowledged again on it. */
  reconnected() {
    this.#schedule.reconnected();
    if (this.#shown.highest !== null) this.#arm();
  }

  /** No ack ever again (logout, timeout, signed out). With `final`, what is not yet acknowledged goes first. */
  stop(final = false) {
    if (this.#stopped) return;
    if (final) {
      const seq = this.#schedule.final(this.#shown.highest, this.#now());
      if (seq !== null) this.#send(seq);
    }
    this.#stopped = true;
    if (this.#timer !== null) this.#clearTimer(this.#timer);
    this.#timer = null;
  }

  // The end of a burst is the next turn of the event loop (delay 0); a held-back ack waits for its deadline.
  #arm() {
    if (this.#stopped || this.#timer !== null) return;
    const deadline = this.#schedule.deadline;
    const delay = deadline === null ? 0 : Math.max(0, deadline - this.#now());
    this.#timer = this.#setTimer(() => this.#flush(), delay);
  }

  #flush() {
    this.#timer = null;
    if (this.#stopped) return;
    const seq = this.#schedule.due(this.#shown.highest, this.#now());
    // A socket that is not open: the next welcome replays what is unacknowledged, and that acks again.
    if (seq !== null && !this.#send(seq)) this.#schedule.reconnected();
    if (this.#shown.highest !== null) this.#save(this.#shown.highest);
    if (this.#schedule.deadline !== null) this.#arm();
  }
}
