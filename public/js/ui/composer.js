// The message box: Enter sends (it is a form), the text stays if it could not be sent.

import { byId, setText } from './dom.js';
import { EVERYONE, roomOf } from '../state.js';

export function setupComposer(chat) {
  const form = byId('composer');
  const input = byId('composer-text');
  const label = byId('composer-label');
  const error = byId('composer-error');
  let peer = null;

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) {
      input.focus();
      return;
    }
    if (!chat.canSend()) {
      setText(error, 'You are offline, so the message was not sent. It is still in the box.');
      return;
    }
    setText(error, '');
    input.value = '';
    chat.send(peer, text);
    input.focus();
  });
  input.addEventListener('input', () => {
    if (!error.hidden && chat.canSend()) setText(error, '');
  });

  return {
    render() {
      const selected = chat.state.selected;
      if (selected === peer) return;
      peer = selected;
      const room = roomOf(peer);
      const words = peer === EVERYONE ? 'Broadcast to everyone online'
        : room !== null ? `Message to #${room}` : `Message to ${peer}`;
      label.textContent = words;
      input.placeholder = `${words}…`;
      setText(error, '');
    },
    focus() {
      input.focus();
    },
  };
}
