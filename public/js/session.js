// The signed-in session kept across reloads of this tab: sessionStorage only (gone when the tab closes,
// never in a URL, never in storage that outlives the tab).

const SESSION_KEY = 'parley.session';
const VIEW_KEY = 'parley.view';
const INBOX_KEY = 'parley.inbox';
const ROOMS_KEY = 'parley.rooms';

export function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    if (saved && typeof saved.user === 'string' && typeof saved.token === 'string') return saved;
  } catch {
    // Unreadable or unavailable storage: no session.
  }
  return null;
}

export function saveSession(user, token) {
  try {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({ user, token }));
  } catch {
    // Storage full or disabled: the session just won't survive a reload.
  }
}

export function clearSession() {
  try {
    sessionStorage.removeItem(SESSION_KEY);
    sessionStorage.removeItem(VIEW_KEY);
    sessionStorage.removeItem(INBOX_KEY);
    sessionStorage.removeItem(ROOMS_KEY);
  } catch {
    // Nothing to clear.
  }
}

/** Which conversation was open, so a reload comes back to it. */
export function loadView() {
  try {
    const view = sessionStorage.getItem(VIEW_KEY);
    return typeof view === 'string' ? view : null;
  } catch {
    return null;
  }
}

export function saveView(peer) {
  try {
    sessionStorage.setItem(VIEW_KEY, peer);
  } catch {
    // Not important.
  }
}

/** The highest inbox seq this tab has shown to `user` (0: none), so a reload does not show it again. */
export function loadInboxSeq(user) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(INBOX_KEY));
    if (saved && saved.user === user && Number.isSafeInteger(saved.seq) && saved.seq > 0) return saved.seq;
  } catch {
    // Unreadable: the server's replay and the conversation's history still show everything once.
  }
  return 0;
}

export function saveInboxSeq(user, seq) {
  try {
    sessionStorage.setItem(INBOX_KEY, JSON.stringify({ user, seq }));
  } catch {
    // Not important.
  }
}

/** The highest seq of `room` this tab has shown to `user` (0: none): a reload does not show those again. */
export function loadRoomSeq(user, room) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(ROOMS_KEY));
    const seq = saved && saved.user === user ? saved.seqs?.[room] : 0;
    if (Number.isSafeInteger(seq) && seq > 0) return seq;
  } catch {
    // Unreadable: the server's replay and the room's history still show everything once.
  }
  return 0;
}

export function saveRoomSeq(user, room, seq) {
  try {
    let saved = JSON.parse(sessionStorage.getItem(ROOMS_KEY));
    const usable = saved && saved.user === user && typeof saved.seqs === 'object' && saved.seqs !== null;
    if (!usable) saved = { user, seqs: {} };
    saved.seqs[room] = seq;
    sessionStorage.setItem(ROOMS_KEY, JSON.stringify(saved));
  } catch {
    // Not important.
  }
}

/** A room left (or lost): what this tab remembered of it goes, so rejoining later starts clean. */
export function forgetRoomSeq(user, room) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(ROOMS_KEY));
    if (!saved || saved.user !== user || !saved.seqs) return;
    delete saved.seqs[room];
    sessionStorage.setItem(ROOMS_KEY, JSON.stringify(saved));
  } catch {
    // Not important.
  }
}
