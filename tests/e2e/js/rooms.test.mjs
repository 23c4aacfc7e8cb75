// The page's room logic (public/js/rooms.js) under node, against a scripted connection: the name rules, each
// (room, seq) shown once, acks per room, unread counts, being banned, and the list kept by `rooms`.
// Run by test_rooms_page.py (`node --test`).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ROOM_NAME, Rooms, typedRoom } from '../../../public/js/rooms.js';
import { ChatState, EVERYONE, roomKey } from '../../../public/js/state.js';

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** A signed-in chat whose connection answers requests with `answer(request)` and records what is sent. */
function fakeChat(answer = () => ({ type: 'ok' })) {
  const state = new ChatState();
  state.reset('luke');
  const connection = {
    isOpen: true,
    state: 'open',
    sent: [],
    requests: [],
    notify(message) { this.sent.push(message); return true; },
    async request(message) { this.requests.push(message); return answer(message); },
  };
  const chat = {
    state, connection, session: { user: 'luke', token: 't' },
    canSend: () => true,
    open(peer) { state.select(peer); },
  };
  chat.rooms = new Rooms(chat);
  return chat;
}

const message = (room, seq, text, extra = {}) => ({
  type: 'room_message', room, id: 1000 + seq, seq, from: 'hans', text, at: 1, ...extra,
});

const texts = (chat, room) => chat.state.conversations.get(roomKey(room)).items
  .filter((i) => i.kind === 'message').map((i) => i.text);

test('room names follow the server rules, typed with or without one #', () => {
  for (const ok of ['general', 'a', 'A-b_9', 'x'.repeat(32)]) assert.ok(ROOM_NAME.test(ok), ok);
  for (const bad of ['', 'x'.repeat(33), 'two words', 'café', '#x', 'a.b', 'a/b']) assert.ok(!ROOM_NAME.test(bad), bad);
  assert.equal(typedRoom('  #general '), 'general');
  assert.equal(typedRoom('##x'), '#x');
});

test('a bad name is refused before anything is sent', async () => {
  const chat = fakeChat();
  assert.equal(await chat.rooms.join('no spaces'), 'Error. Invalid room');
  assert.equal(chat.connection.requests.length, 0);
});

test('each (room, seq) is shown once, counted unread once, and acked per room', async () => {
  const chat = fakeChat();
  const { rooms, connection, state } = chat;
  rooms.onEvent(message('a', 1, 'one'));
  rooms.onEvent(message('a', 1, 'one', { offline: true })); // the same seq again (a replay)
  rooms.onEvent(message('a', 2, 'two'));
  rooms.onEvent(message('b', 1, 'other room, same seq'));
  assert.deepEqual(texts(chat, 'a'), ['one', 'two']);
  assert.deepEqual(texts(chat, 'b'), ['other room, same seq']);
  assert.equal(state.conversations.get(roomKey('a')).unread, 2);
  assert.deepEqual(rooms.sorted().map((r) => r.name), ['a', 'b']);
  await tick(20);
  const acks = connection.sent.filter((m) => m.type === 'ack');
  assert.deepEqual(acks.sort((x, y) => x.room.localeCompare(y.room)),
    [{ type: 'ack', room: 'a', seq: 2 }, { type: 'ack', room: 'b', seq: 1 }]);
  rooms.reset();
});

test('a room open on screen counts nothing as unread', () => {
  const chat = fakeChat();
  chat.rooms.onEvent(message('a', 1, 'one'));
  chat.state.select(roomKey('a'));
  chat.rooms.onEvent(message('a', 2, 'two'));
  assert.equal(chat.state.conversations.get(roomKey('a')).unread, 0);
  chat.rooms.reset();
});

test('joining creates, members come and go, and a ban drops the room with a notice', async () => {
  const chat = fakeChat((m) => (m.type === 'join' ? { type: 'ok', room: m.room, created: true, owner: 'luke' }
    : m.type === 'members' ? { type: 'users', users: ['luke'], online: ['luke'] } : { type: 'ok' }));
  const { rooms, state } = chat;
  assert.equal(await rooms.join('#r'), null);
  assert.equal(state.selected, roomKey('r'));
  assert.ok(rooms.isOwner('r'));
  state.presence('leia', true);
  rooms.onEvent({ type: 'room_join', room: 'r', user: 'leia' });
  assert.ok(rooms.get('r').users.has('leia') && rooms.get('r').online.has('leia'));
  rooms.onEvent({ type: 'presence', user: 'leia', state: 'out' });
  assert.ok(!rooms.get('r').online.has('leia'));
  rooms.onEvent({ type: 'room_leave', room: 'r', user: 'leia', reason: 'left' });
  assert.equal(rooms.get('r').members, 1);

  rooms.onEvent({ type: 'room_leave', room: 'r', user: 'luke', reason: 'banned', by: 'hans' });
  assert.equal(rooms.get('r'), null);
  assert.ok(!state.conversations.has(roomKey('r')));
  assert.equal(state.selected, EVERYONE);
  assert.equal(rooms.notice.text, 'You were banned from #r by hans');
  const notes = state.conversations.get(EVERYONE).items.map((i) => i.text);
  assert.ok(notes.includes('You were banned from #r by hans'), notes);
});

test('the server words of a refused join are passed on', async () => {
  const chat = fakeChat(() => ({ type: 'error', code: 'banned', message: 'Error. You are banned from #r' }));
  assert.equal(await chat.rooms.join('r'), 'Error. You are banned from #r');
  assert.equal(chat.rooms.get('r'), null);
});

test('`rooms` after a welcome keeps the list: new ones come, lost ones go', async () => {
  const chat = fakeChat(() => ({ type: 'rooms', rooms: [{ room: 'kept', members: 3, owner: 'hans' }] }));
  chat.rooms.onEvent(message('gone', 1, 'x'));
  chat.rooms.onEvent(message('kept', 1, 'y'));
  await chat.rooms.refresh();
  assert.deepEqual(chat.rooms.sorted().map((r) => [r.name, r.members, r.owner]), [['kept', 3, 'hans']]);
  assert.ok(!chat.state.conversations.has(roomKey('gone')));
  chat.rooms.reset();
});
