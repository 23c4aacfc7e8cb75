// The connection status in the top bar: plain words for "online", "reconnecting" and "offline", a
// countdown to the next attempt, and a button to try at once.

import { byId } from './dom.js';

export function setupStatus(connection, chat) {
  const status = byId('status');
  const countdown = byId('status-countdown');
  const retry = byId('retry');
  let detail = { state: connection.state };
  let ticker = null;

  function tick() {
    const seconds = detail.retryAt ? Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000)) : 0;
    countdown.textContent = detail.state === 'waiting' && seconds > 0 ? `next try in ${seconds} s` : '';
  }

  function render() {
    clearInterval(ticker);
    ticker = null;
    let text = '';
    let state = 'idle';
    if (chat.signedIn) {
      const networkDown = navigator.onLine === false;
      switch (detail.state) {
        case 'open':
          state = 'online';
          text = 'Connected';
          break;
        case 'waiting':
          state = 'offline';
          text = networkDown
            ? 'You are offline. Reconnecting when the network is back…'
            : 'Connection lost. Reconnecting…';
          ticker = setInterval(tick, 1000);
          break;
        default:
          state = 'reconnecting';
          if (networkDown) text = 'You are offline. Reconnecting…';
          else text = detail.attempt === 1 ? 'Connecting…' : 'Reconnecting…';
          break;
      }
    }
    status.dataset.state = state;
    document.body.dataset.connection = state;
    if (status.textContent !== text) status.textContent = text;
    retry.hidden = !(chat.signedIn && detail.state === 'waiting');
    tick();
  }

  connection.addEventListener('status', (e) => {
    detail = e.detail;
    render();
  });
  chat.addEventListener('signedin', render);
  chat.addEventListener('signedout', () => {
    detail = { state: 'idle' };
    render();
  });
  retry.addEventListener('click', () => connection.retryNow());
  window.addEventListener('online', () => {
    render();
    connection.retryNow();
  });
  window.addEventListener('offline', () => {
    // The socket may not notice a dead network for a long time; start over now.
    if (chat.signedIn) connection.drop();
    render();
  });
  render();
}
