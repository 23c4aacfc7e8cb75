// What the user does in a direct conversation or the broadcast room, over the WebSocket: send a message and show
// its outcome on it, and block or unblock the other person with the terminal's wording.

import { EVERYONE } from './state.js';
import { texts } from './texts.js';

/** Sends a direct message (a broadcast to `EVERYONE`): shown at once as pending, then sent, failed or partial. */
export async function sendDirect(chat, peer, text) {
  const { state } = chat;
  const me = chat.session.user;
  const broadcast = peer === EVERYONE;
  const key = state.nextKey('l');
  state.addLive(peer, {
    key, kind: broadcast ? 'broadcast' : 'message', from: me, to: peer, text, at: Date.now(), mine: true, pending: true,
  });
  let reply;
  try {
    reply = await chat.connection.request(broadcast ? { type: 'broadcast', text } : { type: 'message', to: peer, text });
  } catch {
    state.update(peer, key, { pending: false, failed: true, error: 'Not sent: the connection was lost.' });
    return;
  }
  if (reply.type === 'ok') {
    state.update(peer, key, { pending: false, id: reply.id, stored: reply.stored === true });
    if (reply.partial === true) state.update(peer, key, { warning: texts.someRecipientsMissed });
  } else {
    state.update(peer, key, { pending: false, failed: true, error: reply.message || 'Not sent.' });
  }
}

/** Blocks or unblocks `peer`, and says so in the conversation (the terminal wording). */
export async function toggleBlock(chat, peer) {
  const { state } = chat;
  const blocking = !state.blocked.has(peer);
  let reply;
  try {
    reply = await chat.connection.request({ type: blocking ? 'block' : 'unblock', user: peer });
  } catch {
    state.note(peer, 'You are offline; try again once reconnected.', 'error');
    return;
  }
  if (reply.type === 'ok') {
    state.setBlock(peer, blocking);
    state.note(peer, blocking ? texts.isBlocked(peer) : texts.isUnblocked(peer));
  } else {
    if (reply.code === 'already_blocked') state.setBlock(peer, true);
    if (reply.code === 'not_blocked') state.setBlock(peer, false);
    state.note(peer, reply.message || 'That did not work.', 'error');
  }
}
