// The sidebar's rooms: a box to join (or create) a room by name, checked here by the same rules as the server's,
// the rooms I am in with their member counts and unread counts, and the notice when I was removed or banned.

import { byId, el, reconcile, setText } from './dom.js';
import { ROOM_NAME, typedRoom } from '../rooms.js';
import { roomKey } from '../state.js';
import { texts } from '../texts.js';

function roomRow(state, room) {
  const key = roomKey(room.name);
  const unread = state.conversations.get(key)?.unread ?? 0;
  const count = room.members;
  const about = [count === null ? null : `${count} ${count === 1 ? 'member' : 'members'}`,
    room.owner === state.me ? 'yours' : null].filter(Boolean).join(' · ');
  const button = el('button', {
    className: 'person room-button',
    attrs: { type: 'button', 'aria-current': state.selected === key ? 'true' : undefined },
    dataset: { room: room.name },
  },
  el('span', { className: 'dot room', attrs: { 'aria-hidden': 'true' } }),
  el('span', { className: 'person-text' },
    el('span', { className: 'person-name', text: `#${room.name}` }),
    el('span', { className: 'person-state', text: about })),
  unread ? el('span', { className: 'unread' }, String(unread), el('span', { className: 'visually-hidden', text: ' unread' })) : null);
  return el('li', { className: 'person-item' }, button);
}

export function setupRooms(chat, layout) {
  const { state, rooms } = chat;
  const list = byId('rooms');
  const form = byId('join-form');
  const input = byId('join-room');
  const error = byId('join-error');
  const notice = byId('rooms-notice');
  const empty = byId('rooms-empty');
  let noticeShown = null;

  list.addEventListener('click', (e) => {
    const button = e.target.closest('button.room-button');
    if (!button) return;
    chat.open(roomKey(button.dataset.room));
    layout.showConversation();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (form.dataset.busy === 'true') return;
    const name = typedRoom(input.value);
    if (!name) {
      setText(error, 'Enter a room name.');
      input.focus();
      return;
    }
    if (!ROOM_NAME.test(name)) {
      setText(error, `${texts.invalidRoom}: use 1–32 letters, digits, _ or -.`);
      input.focus();
      return;
    }
    form.dataset.busy = 'true';
    setText(error, '');
    const problem = await rooms.join(name);
    form.dataset.busy = 'false';
    if (problem && !state.conversations.has(roomKey(name))) {
      setText(error, problem);
      input.focus();
      return;
    }
    setText(error, problem ?? ''); // e.g. "Error. You are already in #r": said, and the room opens anyway
    input.value = '';
    layout.showConversation();
  });
  input.addEventListener('input', () => {
    if (!error.hidden) setText(error, '');
  });

  return {
    clear() {
      list.replaceChildren();
      setText(error, '');
      setText(notice, '');
      noticeShown = null;
      input.value = '';
    },
    render() {
      const mine = rooms.sorted();
      reconcile(list, mine, {
        key: (room) => room.name,
        rev: (room) => JSON.stringify([
          room.members, room.owner === state.me, state.conversations.get(roomKey(room.name))?.unread ?? 0,
          state.selected === roomKey(room.name),
        ]),
        render: (room) => roomRow(state, room),
      });
      setText(empty, mine.length ? '' : texts.inNoRooms);
      // The notice is set once per change, so a screen reader announces it once.
      if (rooms.notice !== noticeShown) {
        noticeShown = rooms.notice;
        setText(notice, noticeShown?.text ?? '');
        notice.dataset.tone = noticeShown?.tone ?? 'info';
      }
    },
  };
}
