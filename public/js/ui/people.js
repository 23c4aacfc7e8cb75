// The sidebar: the broadcast room, then everyone online, then everyone else I talk to or blocked, each with
// presence, a "blocked" mark and an unread count; and a box to open a conversation with anyone by name.

import { byId, el, reconcile, setText } from './dom.js';
import { EVERYONE } from '../state.js';

function personRow(state, peer, privateOn) {
  const everyone = peer === EVERYONE;
  const online = everyone || state.online.has(peer);
  const blocked = state.blocked.has(peer);
  const unread = state.conversations.get(peer)?.unread ?? 0;
  const presence = everyone ? 'broadcast to all' : online ? 'online' : 'offline';
  const button = el('button', {
    className: 'person',
    attrs: { type: 'button', 'aria-current': state.selected === peer ? 'true' : undefined },
    dataset: { peer, online: online ? 'yes' : 'no' },
  },
  el('span', { className: `dot ${everyone ? 'room' : online ? 'on' : 'off'}`, attrs: { 'aria-hidden': 'true' } }),
  el('span', { className: 'person-text' },
    el('span', { className: 'person-name', text: everyone ? 'Everyone' : peer }),
    el('span', { className: 'person-state' }, presence,
      privateOn ? el('span', { className: 'tag private', text: 'private chat' }) : null,
      blocked ? el('span', { className: 'tag blocked', text: 'blocked' }) : null)),
  unread ? el('span', { className: 'unread' }, String(unread), el('span', { className: 'visually-hidden', text: ' unread' })) : null);
  return el('li', { className: `person-item${blocked ? ' is-blocked' : ''}` }, button);
}

export function setupPeople(chat, layout) {
  const list = byId('people');
  const form = byId('open-form');
  const input = byId('open-user');
  const error = byId('open-error');
  const { state } = chat;

  list.addEventListener('click', (e) => {
    const button = e.target.closest('button.person');
    if (!button) return;
    chat.open(button.dataset.peer);
    layout.showConversation();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    if (!name) {
      setText(error, 'Enter a username.');
      input.focus();
      return;
    }
    const problem = state.conversations.has(name) ? null : await chat.check(name);
    if (problem) {
      setText(error, problem);
      input.focus();
      return;
    }
    setText(error, '');
    input.value = '';
    chat.open(name);
    layout.showConversation();
  });

  return {
    clear() {
      list.replaceChildren();
      setText(error, '');
      input.value = '';
    },
    render() {
      const peers = [EVERYONE, ...state.people()];
      reconcile(list, peers, {
        key: (peer) => peer,
        rev: (peer) => JSON.stringify([
          state.online.has(peer), state.blocked.has(peer), state.conversations.get(peer)?.unread ?? 0,
          state.selected === peer, Boolean(chat.privates?.isActive(peer)),
        ]),
        render: (peer) => personRow(state, peer, Boolean(chat.privates?.isActive(peer))),
      });
    },
  };
}
