// One conversation: its header (who, presence, block button; for a room its name and members), the message
// log with older pages fetched by scrolling up (or with the "Load older messages" button), and local notes.

import { byId, el, reconcile, setText } from './dom.js';
import { EVERYONE, roomOf } from '../state.js';

const LOAD_MARGIN_PX = 120;
const BOTTOM_SLACK_PX = 40;
/** A message within this long after the previous one from the same sender joins its group (no new header). */
const GROUP_MS = 5 * 60 * 1000;

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function timeOf(at) {
  const date = new Date(at);
  const today = new Date().toDateString() === date.toDateString();
  return el('time', {
    className: 'msg-time',
    text: today ? timeFormat.format(date) : dateTimeFormat.format(date),
    attrs: { datetime: date.toISOString(), title: dateTimeFormat.format(date) },
  });
}

function tag(text, className, title) {
  return el('span', { className: `tag ${className}`, text, attrs: { title } });
}

/** Does `item` continue the group of `prev` (same sender, same kind, soon after, nothing to flag)? */
function continues(prev, item) {
  return Boolean(prev) && prev.kind === item.kind && item.kind !== 'note' && prev.from === item.from
    && item.at - prev.at < GROUP_MS && !item.offline && !prev.offline && !item.stored && !item.pending;
}

function messageRow(item, peer, grouped) {
  if (item.kind === 'note') {
    return el('li', { className: `note note-${item.tone}` }, el('p', { text: item.text }));
  }
  const classes = ['msg', item.mine ? 'mine' : 'theirs'];
  if (grouped) classes.push('grouped');
  if (item.kind === 'broadcast') classes.push('broadcast');
  if (item.offline) classes.push('offline');
  if (item.failed) classes.push('failed');
  if (item.pending) classes.push('pending');
  const tags = [];
  if (item.offline) tags.push(tag('offline message', 'offline', 'Sent while you were offline'));
  if (item.pending) tags.push(tag('sending…', 'pending'));
  if (item.stored) tags.push(tag(`delivered when ${peer} logs in`, 'stored', `${peer} is offline`));
  const from = item.mine ? 'You' : item.from;
  return el('li', { className: classes.join(' ') },
    grouped
      ? el('span', { className: 'visually-hidden', text: `${from}: ` }) // the header is shown once per group
      : el('div', { className: 'msg-meta' }, el('span', { className: 'msg-from', text: from }), timeOf(item.at), ...tags),
    el('p', { className: 'msg-text', text: item.text }),
    item.error ? el('p', { className: 'msg-error', text: item.error }) : null,
    item.warning ? el('p', { className: 'msg-warning', text: item.warning }) : null);
}

/** A room's header line: members, who of them is online, its owner. */
function roomSub(room, me) {
  if (!room) return 'Room';
  const parts = [];
  if (room.members !== null) parts.push(`${room.members} ${room.members === 1 ? 'member' : 'members'}`);
  if (room.users) parts.push(`${[...room.users].filter((u) => u === me || room.online.has(u)).length} online`);
  if (room.owner) parts.push(room.owner === me ? 'you own it' : `owner ${room.owner}`);
  return parts.join(' · ');
}

export function setupConversation(chat) {
  const { state } = chat;
  const title = byId('conv-title');
  const sub = byId('conv-sub');
  const blockToggle = byId('block-toggle');
  const banner = byId('blocked-banner');
  const log = byId('log');
  const list = byId('messages');
  const older = byId('older');
  const empty = byId('log-empty');
  const start = byId('log-start');
  let shown = null;
  let hiddenSinceRender = false; // the pane was off screen (phone list view): scroll to the end when back

  blockToggle.addEventListener('click', () => {
    if (shown && shown !== EVERYONE && roomOf(shown) === null) chat.toggleBlock(shown);
  });
  older.addEventListener('click', () => chat.loadHistory(shown, true));
  log.addEventListener('scroll', () => {
    const conv = state.conversations.get(shown);
    if (conv?.next && !conv.loading && log.scrollTop < LOAD_MARGIN_PX) chat.loadHistory(shown, true);
  }, { passive: true });

  return {
    render() {
      const peer = state.selected;
      const conv = state.conversation(peer);
      const switched = peer !== shown;
      shown = peer;
      const everyone = peer === EVERYONE;
      const roomName = roomOf(peer);
      const room = roomName === null ? null : chat.rooms.get(roomName);
      const blocked = roomName === null && state.blocked.has(peer);
      const online = roomName === null && state.online.has(peer);
      const name = roomName === null ? peer : `#${roomName}`;

      title.textContent = everyone ? 'Everyone' : name;
      start.textContent = roomName === null
        ? `This is the beginning of your messages with ${peer}.` : `This is the beginning of ${name}.`;
      sub.textContent = everyone ? 'To everyone online · not kept'
        : roomName !== null ? roomSub(room, state.me)
          : `${online ? 'online' : 'offline'}${blocked ? ' · blocked by you' : ''}`;
      sub.dataset.online = String(online);
      blockToggle.hidden = everyone || roomName !== null;
      blockToggle.textContent = blocked ? 'Unblock' : 'Block';
      blockToggle.setAttribute('aria-pressed', String(blocked));
      setText(banner, blocked ? `You have blocked ${peer}. They cannot message you or see you online.` : '');

      older.hidden = !conv.next;
      start.hidden = everyone || conv.next !== null || !conv.items.some((i) => i.kind === 'message');
      older.disabled = conv.loading;
      older.textContent = conv.loading && conv.historyLoaded ? 'Loading older messages…' : 'Load older messages';
      setText(empty, conv.items.length ? ''
        : conv.loading ? 'Loading…'
          : everyone ? 'No broadcasts yet.'
            : `No messages ${roomName !== null ? 'in' : 'with'} ${name} yet. Say hello!`);
      log.setAttribute('aria-busy', String(conv.loading));

      // Keep the reader where they are: at the bottom if they were there, else at the same message.
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight <= BOTTOM_SLACK_PX;
      const fromBottom = log.scrollHeight - log.scrollTop;
      if (switched) list.replaceChildren();
      const grouped = new Set();
      conv.items.forEach((item, i) => { if (continues(conv.items[i - 1], item)) grouped.add(item.key); });
      reconcile(list, conv.items, {
        key: (item) => item.key,
        rev: (item) => `${item.rev ?? 0}${grouped.has(item.key) ? 'g' : ''}`,
        render: (item) => messageRow(item, peer, grouped.has(item.key)),
      });
      const visible = log.clientHeight > 0;
      if (switched || atBottom || (visible && hiddenSinceRender)) log.scrollTop = log.scrollHeight;
      else log.scrollTop = log.scrollHeight - fromBottom;
      hiddenSinceRender = !visible;

      // A first page too short to scroll cannot be scrolled up: fetch more until it can (or there is no more).
      if (visible && conv.next && !conv.loading && log.scrollHeight <= log.clientHeight) chat.loadHistory(peer, true);
    },
    /** Forgets what was shown (after signing out, nothing of the last user stays in the page). */
    clear() {
      shown = null;
      list.replaceChildren();
      title.textContent = '';
      sub.textContent = '';
    },
  };
}
