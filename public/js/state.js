// What the page knows: who I am, who is online, whom I blocked, and one conversation per person (plus the
// broadcast room and one per room I am in). Changes are announced with one batched `change` event; the views
// re-render from here.

/** The broadcast room's key. Usernames cannot contain spaces, so no user can collide with it. */
export const EVERYONE = ' everyone';

/** A room's conversation key: a space first, as for the broadcast room, so no username can collide with it. */
export const roomKey = (room) => ` #${room}`;
export const isRoomKey = (key) => typeof key === 'string' && key.startsWith(' #');
/** The room of a room key (null for a person or the broadcast room). */
export const roomOf = (key) => (isRoomKey(key) ? key.slice(2) : null);

export class Conversation {
  constructor(peer) {
    this.peer = peer;
    this.items = [];          // messages and notes, oldest first
    this.keys = new Set();    // item keys, and `id:<n>` for every server message id present
    this.unread = 0;
    this.next = undefined;    // history cursor: undefined = not loaded yet, null = nothing older
    this.loading = false;
    this.stale = false;       // history may have missed messages (after a reconnect)
  }

  get historyLoaded() { return this.next !== undefined; }
  get lastAt() { return this.items.length ? this.items[this.items.length - 1].at : 0; }
}

export class ChatState extends EventTarget {
  me = null;
  online = new Set();
  blocked = new Set();
  conversations = new Map();
  selected = EVERYONE;
  /** False while the selected conversation is not on screen (phone list view, hidden tab). */
  viewing = true;
  #seq = 0;
  #scheduled = false;

  reset(me) {
    this.me = me;
    this.online = new Set();
    this.blocked = new Set();
    this.conversations = new Map([[EVERYONE, new Conversation(EVERYONE)]]);
    this.selected = EVERYONE;
    this.changed();
  }

  /** Queues one `change` event for everything changed in this turn of the event loop. */
  changed() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.dispatchEvent(new Event('change'));
    });
  }

  conversation(peer) {
    let conv = this.conversations.get(peer);
    if (!conv) {
      conv = new Conversation(peer);
      this.conversations.set(peer, conv);
      this.changed();
    }
    return conv;
  }

  setOnline(users) {
    this.online = new Set(users.filter((u) => u !== this.me));
    this.changed();
  }

  presence(user, isOnline) {
    if (isOnline) this.online.add(user);
    else this.online.delete(user);
    this.changed();
  }

  setBlocked(users) {
    this.blocked = new Set(users);
    this.changed();
  }

  setBlock(user, isBlocked) {
    if (isBlocked) this.blocked.add(user);
    else this.blocked.delete(user);
    this.changed();
  }

  select(peer) {
    this.selected = peer;
    this.conversation(peer);
    this.markRead();
    this.changed();
  }

  setViewing(viewing) {
    this.viewing = viewing;
    this.markRead();
    this.changed();
  }

  markRead() {
    if (!this.viewing) return;
    const conv = this.conversations.get(this.selected);
    if (conv && conv.unread) {
      conv.unread = 0;
      this.changed();
    }
  }

  get totalUnread() {
    let total = 0;
    for (const conv of this.conversations.values()) total += conv.unread;
    return total;
  }

  nextKey(prefix) {
    this.#seq += 1;
    return `${prefix}${this.#seq}`;
  }

  /** Forgets a conversation (a room left or lost); the broadcast room is selected if it was on screen. */
  drop(peer) {
    this.conversations.delete(peer);
    if (this.selected === peer) this.select(EVERYONE);
    this.changed();
  }

  /** Adds a live message (or my own outgoing one) at the end. Returns false if it was already there. */
  addLive(peer, item) {
    const conv = this.conversation(peer);
    if (conv.keys.has(item.key) || (item.id !== undefined && conv.keys.has(`id:${item.id}`))) return false;
    item.rev = 0;
    conv.items.push(item);
    conv.keys.add(item.key);
    if (item.id !== undefined) conv.keys.add(`id:${item.id}`);
    if (!item.mine && item.kind !== 'note' && !(this.viewing && this.selected === peer)) conv.unread += 1;
    this.changed();
    return true;
  }

  /** A local line (presence, block confirmations, errors) in a conversation. */
  note(peer, text, tone = 'info') {
    this.addLive(peer, { key: this.nextKey('n'), kind: 'note', text, tone, at: Date.now() });
  }

  /** Merges a page of history (any order); messages already present are kept as they are. */
  addHistory(peer, messages) {
    const conv = this.conversation(peer);
    let added = 0;
    for (const m of messages) {
      if (conv.keys.has(`id:${m.id}`)) continue;
      const item = {
        key: `m${m.id}`, kind: 'message', id: m.id, from: m.from, to: m.to, text: m.text, at: m.at,
        mine: m.from === this.me, rev: 0,
      };
      conv.items.push(item);
      conv.keys.add(item.key);
      conv.keys.add(`id:${m.id}`);
      added += 1;
    }
    if (added) {
      // Server messages in id order (the order they were sent); local notes by time. Stable otherwise.
      conv.items = conv.items
        .map((item, index) => ({ item, index }))
        .sort((a, b) => {
          if (a.item.id !== undefined && b.item.id !== undefined) return a.item.id - b.item.id;
          return (a.item.at - b.item.at) || (a.index - b.index);
        })
        .map(({ item }) => item);
    }
    this.changed();
    return added;
  }

  /** Updates an item in place (e.g. my message got its id, or failed). */
  update(peer, key, patch) {
    const conv = this.conversations.get(peer);
    const item = conv?.items.find((i) => i.key === key);
    if (!item) return;
    Object.assign(item, patch);
    item.rev += 1;
    if (patch.id !== undefined) conv.keys.add(`id:${patch.id}`);
    this.changed();
  }

  /** The people to list: everyone online, everyone I have a conversation with, everyone I blocked (rooms aside). */
  people() {
    const names = new Set([...this.online, ...this.blocked]);
    for (const peer of this.conversations.keys()) if (peer !== EVERYONE && !isRoomKey(peer)) names.add(peer);
    names.delete(this.me);
    return [...names].sort((a, b) => {
      const onlineFirst = Number(this.online.has(b)) - Number(this.online.has(a));
      return onlineFirst || a.localeCompare(b);
    });
  }
}
