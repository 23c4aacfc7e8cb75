// Rooms (docs/PROTOCOL.md §12) over the page's WebSocket: the rooms I am in, their members and who of them is
// online, room messages (live, and missed ones replayed after `welcome`) shown once per (room, seq) and
// acknowledged per room, history pages, and joining, leaving and the owner's remove, ban and unban.
// Each room's conversation lives in the chat state under roomKey(name), so the log, unread counts and the
// composer work as for a person.

import { InboxAcks } from './acks.js';
import { forgetRoomSeq, loadRoomSeq, saveRoomSeq } from './session.js';
import { roomKey, roomOf } from './state.js';
import { texts } from './texts.js';

/** What a room name may look like: 1–32 of A–Z a–z 0–9 _ - (the server checks the same). */
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,32}$/;
export const ROOM_PAGE_SIZE = 50;

const OFFLINE = 'You are offline; try again once reconnected.';

/** A name as typed: surrounding spaces and one leading '#' (as the terminal writes rooms) are dropped. */
export function typedRoom(text) {
  const name = text.trim();
  return name.startsWith('#') ? name.slice(1) : name;
}

class Room {
  constructor(name) {
    this.name = name;
    this.owner = null;
    this.count = null;        // members, from `rooms` until `members` answers (null: not known)
    this.users = null;        // every member (a Set) once `members` answered
    this.online = new Set();  // the members online now
    this.acks = null;         // InboxAcks of this room's seqs
  }

  get members() { return this.users ? this.users.size : this.count; }
}

export class Rooms {
  #chat;
  list = new Map();
  /** The last change to my own membership the page announces ({ text, tone }), or null. */
  notice = null;

  constructor(chat) {
    this.#chat = chat;
  }

  get #state() { return this.#chat.state; }
  get #me() { return this.#chat.session?.user ?? null; }

  sorted() { return [...this.list.values()].sort((a, b) => a.name.localeCompare(b.name)); }
  get(name) { return this.list.get(name) ?? null; }
  isOwner(name) { return this.#me !== null && this.list.get(name)?.owner === this.#me; }

  /** Someone signed in (or out): no rooms until the server lists them. */
  reset() {
    for (const room of this.list.values()) room.acks.stop();
    this.list = new Map();
    this.notice = null;
  }

  /** A new connection after a drop: what was shown is acknowledged again on it (as for the inbox). */
  reconnected() {
    for (const room of this.list.values()) room.acks.reconnected();
  }

  /** No acks any more; with `final`, what is not yet acknowledged goes first (before a logout). */
  stop(final = false) {
    for (const room of this.list.values()) room.acks.stop(final);
  }

  #ensure(name) {
    let room = this.list.get(name);
    if (room) return room;
    room = new Room(name);
    const user = this.#me;
    room.acks = new InboxAcks({
      floor: loadRoomSeq(user, name),
      // Only on a live, signed-in connection (as for the inbox): the next welcome's replay acks again.
      send: (seq) => this.#chat.canSend() && this.#chat.connection.notify({ type: 'ack', room: name, seq }),
      save: (seq) => saveRoomSeq(user, name, seq),
    });
    this.list.set(name, room);
    this.#state.conversation(roomKey(name));
    this.#state.changed();
    return room;
  }

  /** I am no longer in `name`: it leaves the list, its conversation goes, and a rejoin starts afresh. */
  #drop(name) {
    const room = this.list.get(name);
    if (room) {
      room.acks.stop();
      this.list.delete(name);
      forgetRoomSeq(this.#me, name);
    }
    this.#state.drop(roomKey(name));
  }

  // -- After every welcome -----------------------------------------------------------------------------------

  /** Lists my rooms (`rooms`); a room shown but no longer mine (removed while away) goes. */
  async refresh() {
    let reply;
    try {
      reply = await this.#chat.connection.request({ type: 'rooms' });
    } catch {
      return; // The connection dropped again; the next welcome asks again.
    }
    if (reply.type !== 'rooms' || !Array.isArray(reply.rooms)) return;
    const mine = new Set();
    for (const entry of reply.rooms) {
      if (typeof entry?.room !== 'string') continue;
      mine.add(entry.room);
      const room = this.#ensure(entry.room);
      room.owner = typeof entry.owner === 'string' ? entry.owner : null;
      if (Number.isSafeInteger(entry.members)) room.count = entry.members;
    }
    for (const name of [...this.list.keys()]) if (!mine.has(name)) this.#drop(name);
    const shown = roomOf(this.#state.selected);
    if (shown !== null) {
      if (mine.has(shown)) this.loadMembers(shown);
      else this.#drop(shown); // the room on screen before a reload is no longer mine
    }
    this.#state.changed();
  }

  // -- Server events -------------------------------------------------------------------------------------

  /** Handles a room event; true if `msg` was one. `presence` is looked at too but left to the chat. */
  onEvent(msg) {
    switch (msg.type) {
      case 'room_message': this.#message(msg); return true;
      case 'room_join': this.#joined(msg); return true;
      case 'room_leave': this.#left(msg); return true;
      case 'presence': this.#presence(msg); return false;
      default: return false;
    }
  }

  #message(msg) {
    if (typeof msg.room !== 'string' || typeof msg.from !== 'string' || typeof msg.text !== 'string') return;
    const room = this.#ensure(msg.room);
    // Sent again because it was never acknowledged (after a reconnect or a reload): shown once.
    if (Number.isSafeInteger(msg.seq) && !room.acks.received(msg.seq)) return;
    this.#state.addLive(roomKey(msg.room), {
      key: `m${msg.id}`, kind: 'message', id: msg.id, seq: msg.seq, from: msg.from, text: msg.text,
      at: Number(msg.at) || Date.now(), offline: msg.offline === true, mine: msg.from === this.#me,
    });
  }

  #joined(msg) {
    const room = this.list.get(msg.room);
    if (!room || typeof msg.user !== 'string') return;
    if (room.users) room.users.add(msg.user);
    else if (room.count !== null) room.count += 1;
    if (this.#state.online.has(msg.user)) room.online.add(msg.user);
    this.#state.note(roomKey(room.name), texts.memberJoined(msg.user, room.name), 'presence');
  }

  #left(msg) {
    const room = this.list.get(msg.room);
    if (!room || typeof msg.user !== 'string') return;
    if (msg.user === this.#me) {
      this.#lost(room.name, msg.reason, typeof msg.by === 'string' ? msg.by : null);
      return;
    }
    if (room.users) room.users.delete(msg.user);
    else if (room.count) room.count -= 1;
    room.online.delete(msg.user);
    const line = msg.reason === 'banned' ? texts.isBanned(msg.user, room.name)
      : msg.reason === 'removed' ? texts.wasRemoved(msg.user, room.name) : texts.memberLeft(msg.user, room.name);
    this.#state.note(roomKey(room.name), line, 'presence');
    // An owner who leaves hands the room on; `rooms` says to whom.
    if (msg.user === room.owner) this.refresh();
  }

  /** The owner removed or banned me: the room goes, and the page says so where I am. */
  #lost(name, reason, by) {
    const text = reason === 'banned' ? texts.youWereBanned(name, by ?? 'its owner')
      : reason === 'removed' ? texts.youWereRemoved(name, by ?? 'its owner') : texts.youLeft(name);
    this.notice = { text, tone: 'warning', room: name };
    this.#drop(name);
    this.#state.note(this.#state.selected, text, 'error');
  }

  #presence(msg) {
    if (typeof msg.user !== 'string') return;
    for (const room of this.list.values()) {
      if (!room.users?.has(msg.user)) continue;
      if (msg.state === 'in') room.online.add(msg.user);
      else room.online.delete(msg.user);
      this.#state.changed();
    }
  }

  // -- What the user does --------------------------------------------------------------------------------

  async #ask(request) {
    if (!this.#chat.canSend()) return { type: 'error', message: OFFLINE };
    try {
      return await this.#chat.connection.request(request);
    } catch {
      return { type: 'error', message: OFFLINE };
    }
  }

  /** Joins (or creates) the room typed, and opens it. Resolves with an error text, or null. */
  async join(typed) {
    const name = typedRoom(typed);
    if (!ROOM_NAME.test(name)) return texts.invalidRoom;
    if (this.list.has(name)) {
      this.#chat.open(roomKey(name));
      return null;
    }
    const reply = await this.#ask({ type: 'join', room: name });
    if (reply.type !== 'ok') {
      // In it already (from another door meanwhile): it belongs in the list; the server's words say so.
      if (reply.code === 'already_member') {
        this.#ensure(name);
        this.#chat.open(roomKey(name));
        this.refresh();
      }
      return reply.message || 'That did not work.';
    }
    const room = this.#ensure(name);
    if (typeof reply.owner === 'string') room.owner = reply.owner;
    if (reply.created === true) {
      room.users = new Set([this.#me]);
      room.online = new Set([this.#me]);
    }
    if (this.notice?.room === name) this.notice = null;
    this.#state.note(roomKey(name), reply.created === true ? texts.youCreated(name) : texts.youJoined(name), 'welcome');
    this.#chat.open(roomKey(name));
    return null;
  }

  async leave(name) {
    const reply = await this.#ask({ type: 'leave', room: name });
    if (reply.type !== 'ok' && reply.code !== 'not_member') {
      this.#state.note(roomKey(name), reply.message || 'That did not work.', 'error');
      return;
    }
    this.notice = { text: texts.youLeft(name), tone: 'info', room: name };
    this.#drop(name);
    this.#state.note(this.#state.selected, texts.youLeft(name), 'info');
  }

  /** The owner's `kick`, `ban` or `unban` of `user`. Resolves with an error text, or null. */
  async moderate(kind, name, user) {
    const reply = await this.#ask({ type: kind, room: name, user });
    if (reply.type !== 'ok') {
      const text = reply.message || 'That did not work.';
      this.#state.note(roomKey(name), text, 'error');
      return text;
    }
    const room = this.list.get(name);
    if (room && kind !== 'unban') {
      room.users?.delete(user);
      room.online.delete(user);
    }
    const line = kind === 'kick' ? texts.wasRemoved(user, name)
      : kind === 'ban' ? texts.isBanned(user, name) : texts.isUnbanned(user, name);
    this.#state.note(roomKey(name), line, 'info');
    return null;
  }

  /** Says `text` in the room; the outcome shows on the message (I get no copy of my own). */
  async say(name, text) {
    const key = this.#state.nextKey('l');
    const peer = roomKey(name);
    this.#state.addLive(peer, {
      key, kind: 'message', from: this.#me, text, at: Date.now(), mine: true, pending: true,
    });
    const reply = await this.#ask({ type: 'say', room: name, text });
    if (reply.type === 'ok') {
      this.#state.update(peer, key, { pending: false, id: reply.id, seq: reply.seq });
      if (reply.partial === true) this.#state.update(peer, key, { warning: texts.someRecipientsMissed });
    } else {
      this.#state.update(peer, key, { pending: false, failed: true, error: reply.message || 'Not sent.' });
    }
  }

  /** Every member and who of them is online (`members`). */
  async loadMembers(name) {
    if (!this.#chat.connection.isOpen) return;
    let reply;
    try {
      reply = await this.#chat.connection.request({ type: 'members', room: name });
    } catch {
      return;
    }
    const room = this.list.get(name);
    if (!room || reply.type !== 'users' || !Array.isArray(reply.users)) return;
    room.users = new Set(reply.users);
    room.online = new Set(Array.isArray(reply.online) ? reply.online : []);
    this.#state.changed();
  }

  /** The newest page (older = false) or the page before the oldest one loaded, by message id. */
  async loadHistory(name, older) {
    const peer = roomKey(name);
    const conv = this.#state.conversation(peer);
    if (conv.loading || (older && !conv.next) || !this.#chat.connection.isOpen) return;
    conv.loading = true;
    this.#state.changed();
    try {
      const reply = await this.#chat.connection.request({
        type: 'history', room: name, before: older ? conv.next : undefined, limit: ROOM_PAGE_SIZE,
      });
      if (reply.type === 'history') {
        this.#state.addHistory(peer, Array.isArray(reply.messages) ? reply.messages : []);
        if (older || !conv.historyLoaded) conv.next = reply.next ?? null;
        conv.stale = false;
      } else {
        conv.next = null;
        this.#state.note(peer, reply.message || 'The history could not be read.', 'error');
      }
    } catch {
      // The connection dropped; the next welcome loads the open room again.
    } finally {
      conv.loading = false;
      this.#state.changed();
    }
  }
}
