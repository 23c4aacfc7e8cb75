// Which screen shows: the sign-in form or the chat; on a narrow window, the people list or one
// conversation at a time. Also keeps the tab title's unread count.

import { byId } from './dom.js';

const NARROW = window.matchMedia('(max-width: 720px)');

export function setupLayout(state) {
  const body = document.body;
  const loginView = byId('login-view');
  const chatView = byId('chat-view');
  const account = byId('account');
  const meName = byId('me-name');
  let composer = null;

  function updateViewing() {
    const onScreen = !document.hidden && !body.classList.contains('signed-out')
      && (!NARROW.matches || body.dataset.pane === 'conversation');
    if (state.viewing !== onScreen) state.setViewing(onScreen);
  }

  NARROW.addEventListener('change', updateViewing);
  document.addEventListener('visibilitychange', updateViewing);
  byId('back').addEventListener('click', () => layout.showList());

  const layout = {
    useComposer(c) { composer = c; },

    signedIn(user, { restored }) {
      body.classList.remove('signed-out');
      body.classList.add('signed-in');
      loginView.hidden = true;
      chatView.hidden = false;
      account.hidden = false;
      meName.textContent = user;
      body.dataset.pane = restored ? 'conversation' : (NARROW.matches ? 'list' : 'conversation');
      updateViewing();
      // After the first render of the lists (state changes render in a microtask).
      setTimeout(() => {
        if (NARROW.matches && body.dataset.pane === 'list') byId('people').querySelector('button')?.focus();
        else composer?.focus();
      }, 0);
    },

    signedOut() {
      body.classList.remove('signed-in');
      body.classList.add('signed-out');
      loginView.hidden = false;
      chatView.hidden = true;
      account.hidden = true;
      meName.textContent = '';
      document.title = 'Parley';
      updateViewing();
    },

    showConversation() {
      body.dataset.pane = 'conversation';
      updateViewing();
      composer?.focus();
    },

    showList() {
      body.dataset.pane = 'list';
      updateViewing();
      byId('chat-view').querySelector('.sidebar [aria-current="true"]')?.focus();
    },

    renderTitle() {
      const unread = state.totalUnread;
      document.title = unread && body.classList.contains('signed-in') ? `(${unread}) Parley` : 'Parley';
    },
  };
  return layout;
}
