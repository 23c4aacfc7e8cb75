// The open room's members: one row each with an online dot, "owner" and "you" marks, and for the owner a
// Remove and a Ban button per member, a box to unban someone by name, and the Leave button in the header.
// It is a <details>: open by default on a wide window, folded on a phone so the conversation keeps the room.

import { byId, el, reconcile, setText } from './dom.js';
import { roomOf } from '../state.js';

const NARROW = window.matchMedia('(max-width: 720px)');

function memberRow(room, user, me, owner) {
  const online = user === me || room.online.has(user);
  const isOwner = user === room.owner;
  const actions = owner && user !== me
    ? el('span', { className: 'member-actions' },
      el('button', {
        className: 'button small quiet', text: 'Remove',
        attrs: { type: 'button', 'aria-label': `Remove ${user} from #${room.name}` },
        dataset: { action: 'kick', user },
      }),
      el('button', {
        className: 'button small danger', text: 'Ban',
        attrs: { type: 'button', 'aria-label': `Ban ${user} from #${room.name}` },
        dataset: { action: 'ban', user },
      }))
    : null;
  return el('li', { className: 'member', dataset: { user, online: online ? 'yes' : 'no' } },
    el('span', { className: `dot ${online ? 'on' : 'off'}`, attrs: { 'aria-hidden': 'true' } }),
    el('span', { className: 'member-name', text: user }),
    el('span', { className: 'visually-hidden', text: online ? ', online' : ', offline' }),
    isOwner ? el('span', { className: 'tag', text: 'owner' }) : null,
    user === me ? el('span', { className: 'tag', text: 'you' }) : null,
    actions);
}

/** Members online first, then by name. */
function ordered(room, me) {
  const users = [...(room.users ?? [])];
  const on = (u) => Number(u === me || room.online.has(u));
  return users.sort((a, b) => (on(b) - on(a)) || a.localeCompare(b));
}

export function setupRoomPanel(chat) {
  const { state, rooms } = chat;
  const panel = byId('room-members');
  const summary = byId('room-members-summary');
  const list = byId('member-list');
  const leave = byId('room-leave');
  const unbanForm = byId('unban-form');
  const unbanInput = byId('unban-user');
  const unbanError = byId('unban-error');
  let shown = null;

  leave.addEventListener('click', async () => {
    if (!shown) return;
    await rooms.leave(shown);
    // The room is gone from the screen, and the button with it: the message box of what shows now.
    if (leave.hidden) byId('composer-text').focus();
  });
  list.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button || !shown) return;
    button.disabled = true;
    await rooms.moderate(button.dataset.action, shown, button.dataset.user);
    if (button.isConnected) button.disabled = false;
    // The member's row went with the button that had the focus: the list's heading takes it.
    else if (document.activeElement === document.body || !document.activeElement) summary.focus();
  });
  unbanForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = unbanInput.value.trim();
    if (!shown) return;
    if (!user) {
      setText(unbanError, 'Enter a username.');
      unbanInput.focus();
      return;
    }
    const problem = await rooms.moderate('unban', shown, user);
    setText(unbanError, problem ?? '');
    if (!problem) unbanInput.value = '';
    unbanInput.focus();
  });

  return {
    render() {
      const name = roomOf(state.selected);
      const room = name === null ? null : rooms.get(name);
      if (name !== shown) {
        list.replaceChildren();
        setText(unbanError, '');
        unbanInput.value = '';
        panel.open = !NARROW.matches;
      }
      shown = name;
      panel.hidden = !room;
      leave.hidden = !room;
      if (!room) return;
      leave.setAttribute('aria-label', `Leave #${room.name}`);
      const me = state.me;
      const owner = rooms.isOwner(room.name);
      const users = ordered(room, me);
      const online = users.filter((u) => u === me || room.online.has(u)).length;
      summary.textContent = room.users ? `Members (${users.length}, ${online} online)` : 'Members';
      reconcile(list, users, {
        key: (user) => user,
        rev: (user) => JSON.stringify([user === me || room.online.has(user), user === room.owner, owner]),
        render: (user) => memberRow(room, user, me, owner),
      });
      unbanForm.hidden = !owner;
    },
    clear() {
      shown = null;
      list.replaceChildren();
      panel.hidden = true;
      leave.hidden = true;
    },
  };
}
