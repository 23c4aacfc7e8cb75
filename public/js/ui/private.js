// Private chat on screen: the consent prompt for each request (Yes / No buttons, or the y and n keys), and
// for the open conversation's person a panel of its own, marked private, with a Stop button.

import { byId, el, reconcile } from './dom.js';
import { EVERYONE, isRoomKey } from '../state.js';
import { texts } from '../texts.js';

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

const STATUS = {
  asking: (peer) => `Waiting for ${peer} to answer…`,
  connecting: (peer) => `Connecting directly to ${peer}…`,
  open: () => 'Straight between your browsers: not sent through the server, not kept.',
  ended: () => 'This private chat has ended. Nothing of it was kept.',
};

function itemRow(item) {
  if (item.kind === 'note') return el('li', { className: `note note-${item.tone}` }, el('p', { text: item.text }));
  const from = item.mine ? 'You' : item.from;
  const date = new Date(item.at);
  return el('li', { className: `msg private ${item.mine ? 'mine' : 'theirs'}` },
    el('div', { className: 'msg-meta' },
      el('span', { className: 'msg-from', text: item.mine ? from : `${from}(private)` }),
      el('time', { className: 'msg-time', text: timeFormat.format(date), attrs: { datetime: date.toISOString() } })),
    el('p', { className: 'msg-text', text: item.text }));
}

export function setupPrivate(chat, privates, layout) {
  const { state } = chat;
  const requestsBox = byId('private-requests');
  const startButton = byId('private-start');
  const panel = byId('private-panel');
  const peerName = byId('private-peer');
  const sub = byId('private-sub');
  const stop = byId('private-stop');
  const close = byId('private-close');
  const log = byId('private-log');
  const list = byId('private-messages');
  const form = byId('private-composer');
  const input = byId('private-text');
  const label = byId('private-label');
  let shown = null;
  let seq = 0;
  let focusBack = null; // where the focus was before a prompt took it
  let wantFocus = null; // the asker whose prompt should get the focus after the next render
  let focusWhenOpen = null; // the peer just accepted: their private box gets the focus once the link is up

  startButton.addEventListener('click', () => {
    if (shown) privates.start(shown);
  });
  stop.addEventListener('click', () => {
    if (shown) privates.stop(shown);
  });
  close.addEventListener('click', () => {
    if (!shown) return;
    privates.dismiss(shown);
    startButton.focus();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!shown || !text.trim()) return;
    if (privates.send(shown, text)) input.value = '';
    input.focus();
  });

  function answer(from, accept) {
    const hadFocus = requestsBox.contains(document.activeElement);
    privates.answer(from, accept);
    if (!hadFocus) return;
    // Back where the user was, or into the private box of the chat just accepted.
    if (accept) {
      chat.open(from);
      layout.showConversation();
      focusWhenOpen = from;
    } else if (focusBack?.isConnected) {
      focusBack.focus();
    }
  }

  requestsBox.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-answer]');
    if (button) answer(button.closest('[data-from]').dataset.from, button.dataset.answer === 'yes');
  });
  requestsBox.addEventListener('keydown', (e) => {
    const prompt = e.target.closest('[data-from]');
    if (!prompt || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key !== 'y' && key !== 'n' && key !== 'escape') return;
    e.preventDefault();
    answer(prompt.dataset.from, key === 'y');
  });
  privates.addEventListener('request', (e) => {
    const active = document.activeElement;
    if (!requestsBox.contains(active)) focusBack = active;
    wantFocus = e.detail.from;
  });

  function requestRow(request) {
    seq += 1;
    const title = `private-request-${seq}`;
    return el('section', {
      className: 'private-request',
      attrs: { role: 'alertdialog', 'aria-labelledby': title, 'aria-describedby': `${title}-hint` },
      dataset: { from: request.from },
    },
    el('p', { className: 'private-request-text', attrs: { id: title } },
      el('span', { className: 'private-badge', text: 'Private' }), ' ', texts.privateRequest(request.from)),
    el('p', { className: 'private-request-hint', attrs: { id: `${title}-hint` }, text: 'Enter y or n.' }),
    el('div', { className: 'row' },
      el('button', { className: 'button primary small', text: 'Yes (y)', attrs: { type: 'button', 'aria-keyshortcuts': 'y' }, dataset: { answer: 'yes' } }),
      el('button', { className: 'button small', text: 'No (n)', attrs: { type: 'button', 'aria-keyshortcuts': 'n' }, dataset: { answer: 'no' } })));
  }

  function renderRequests() {
    reconcile(requestsBox, privates.requests, {
      key: (r) => r.from,
      rev: () => 0,
      render: requestRow,
    });
    requestsBox.hidden = privates.requests.length === 0;
    if (wantFocus) {
      const prompt = [...requestsBox.children].find((c) => c.dataset.from === wantFocus);
      wantFocus = null;
      prompt?.querySelector('button[data-answer="yes"]')?.focus();
    }
    if (!requestsBox.contains(document.activeElement) && document.activeElement === document.body
        && focusBack?.isConnected) {
      // The prompt that had the focus went away by itself (it expired or the asker left).
      focusBack.focus();
    }
  }

  return {
    render() {
      const peer = state.selected === EVERYONE || isRoomKey(state.selected) ? null : state.selected;
      const session = peer ? privates.session(peer) : null;
      if (peer !== shown) list.replaceChildren();
      shown = peer;
      startButton.hidden = !peer || privates.isActive(peer);
      panel.hidden = !session;
      if (session) {
        panel.dataset.state = session.state;
        peerName.textContent = `with ${peer}`;
        sub.textContent = STATUS[session.state](peer);
        stop.hidden = !session.active;
        stop.textContent = session.state === 'asking' ? 'Cancel' : 'Stop';
        close.hidden = session.active;
        const open = session.state === 'open';
        input.disabled = !open;
        form.querySelector('button').disabled = !open;
        label.textContent = `Private message to ${peer}`;
        input.placeholder = open ? `Private message to ${peer}…` : '';
        const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight <= 40;
        reconcile(list, session.items, { key: (i) => i.key, rev: (i) => i.rev, render: itemRow });
        if (atBottom) log.scrollTop = log.scrollHeight;
        if (focusWhenOpen === peer && session.state !== 'connecting') {
          focusWhenOpen = null;
          // Unless the user went somewhere else meanwhile.
          const here = document.activeElement;
          if (open && (here === document.body || here?.id === 'composer-text')) input.focus();
        }
      } else {
        list.replaceChildren();
      }
      renderRequests();
    },
    clear() {
      shown = null;
      list.replaceChildren();
      requestsBox.replaceChildren();
      requestsBox.hidden = true;
      panel.hidden = true;
      sub.textContent = '';
    },
  };
}
