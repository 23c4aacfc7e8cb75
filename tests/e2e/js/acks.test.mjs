// The page's inbox logic (public/js/acks.js) under node, with a fake clock: which seqs are shown once, and
// when acks go out. Run by test_page_acks.py (`node --test`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// The page's modules are plain ES modules without a package.json; loaded from source they need no setup.
const source = readFileSync(new URL('../../../public/js/acks.js', import.meta.url), 'utf8');
const { ACK_SPACING_MS, AckSchedule, InboxAcks, SEQ_MEMORY, ShownSeqs } = await import(
  `data:text/javascript,${encodeURIComponent(source)}`);

/** A clock and timers that move only when told to. */
function fakeTime() {
  let now = 0;
  let timers = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimer: (fn, delay) => { const id = nextId++; timers.push({ id, at: now + delay, fn }); return id; },
    clearTimer: (id) => { timers = timers.filter((t) => t.id !== id); },
    pending: () => timers.length,
    /** Moves the clock to `to`, firing due timers in order. */
    advance(to) {
      for (;;) {
        timers.sort((a, b) => a.at - b.at || a.id - b.id);
        const t = timers[0];
        if (!t || t.at > to) break;
        timers.shift();
        now = Math.max(now, t.at);
        t.fn();
      }
      now = to;
    },
  };
}

function inbox(options = {}) {
  const time = fakeTime();
  const sent = [];
  const saved = [];
  const acks = new InboxAcks({
    send: (seq) => { sent.push([time.now(), seq]); return options.open ? options.open() : true; },
    save: (seq) => saved.push(seq),
    now: time.now, setTimer: time.setTimer, clearTimer: time.clearTimer, floor: options.floor ?? 0,
  });
  return { acks, time, sent, saved };
}

test('a seq is shown once; seqs are per inbox, not per conversation', () => {
  const shown = new ShownSeqs();
  assert.equal(shown.highest, null);
  assert.equal(shown.first(17), true);
  assert.equal(shown.first(17), false);
  assert.equal(shown.first(16), true, 'an earlier seq not yet seen is still shown');
  assert.equal(shown.highest, 17);
});

test('memory stays bounded and every repeat is still dropped', () => {
  const shown = new ShownSeqs();
  const count = 3 * SEQ_MEMORY;
  for (let seq = 1; seq <= count; seq += 1) assert.equal(shown.first(seq), true);
  for (let seq = 1; seq <= count; seq += 1) assert.equal(shown.first(seq), false, `seq ${seq} again`);
  assert.equal(shown.first(count + 1), true);
});

test('after a reload, what the tab showed before is not shown again', () => {
  const shown = new ShownSeqs(40);
  assert.equal(shown.highest, 40);
  assert.equal(shown.first(40), false);
  assert.equal(shown.first(41), true);
});

test('the schedule: first ack at once, then at most one per spacing, then the trailing one', () => {
  const schedule = new AckSchedule();
  assert.equal(schedule.due(null, 0), null, 'no seq seen: no ack (a version-1 server)');
  assert.equal(schedule.due(3, 0), 3);
  assert.equal(schedule.due(4, 30), null);
  assert.equal(schedule.deadline, ACK_SPACING_MS);
  assert.equal(schedule.due(4, ACK_SPACING_MS - 1), null);
  assert.equal(schedule.due(4, ACK_SPACING_MS), 4);
  assert.equal(schedule.deadline, null);
  assert.equal(schedule.due(2, 1000), null, 'a lower seq never moves the ack back');
});

test('under load: one ack per 100 ms at most, and one within 100 ms of the last message', () => {
  const { acks, time, sent } = inbox();
  for (let seq = 1; seq <= 100; seq += 1) {
    time.advance((seq - 1) * 10);
    assert.equal(acks.received(seq), true);
  }
  time.advance(990 + ACK_SPACING_MS);
  assert.ok(sent.length <= 11 && sent.length >= 10, JSON.stringify(sent));
  for (let i = 1; i < sent.length; i += 1) assert.ok(sent[i][0] - sent[i - 1][0] >= ACK_SPACING_MS);
  assert.deepEqual(sent.at(-1)[1], 100);
  assert.ok(sent.at(-1)[0] <= 990 + ACK_SPACING_MS);
  assert.equal(time.pending(), 0, 'no timer left once all is acknowledged');
});

test('a burst in one turn is one ack', () => {
  const { acks, time, sent, saved } = inbox();
  for (let seq = 1; seq <= 50; seq += 1) acks.received(seq);
  time.advance(0);
  assert.deepEqual(sent, [[0, 50]]);
  assert.deepEqual(saved, [50]);
});

test('repeats after a reconnect are dropped but acknowledged again', () => {
  const { acks, time, sent } = inbox();
  acks.received(1);
  acks.received(2);
  time.advance(0);
  assert.deepEqual(sent, [[0, 2]]);
  time.advance(1000);
  acks.reconnected();
  assert.equal(acks.received(1), false);
  assert.equal(acks.received(2), false);
  assert.equal(acks.received(3), true);
  time.advance(2000);
  assert.deepEqual(sent, [[0, 2], [1000, 3]]);
});

test('an ack that could not be sent goes out after the next welcome', () => {
  let open = false;
  const { acks, time, sent } = inbox({ open: () => open });
  acks.received(5);
  time.advance(0);
  assert.equal(time.pending(), 0, 'no retry timer while the socket is down');
  time.advance(10);
  open = true;
  acks.reconnected();
  time.advance(10);
  assert.deepEqual(sent.at(-1), [10, 5]);
  assert.equal(acks.acked, 5);
});

test('logout: a last ack first, then never again', () => {
  const { acks, time, sent } = inbox();
  acks.received(1);
  time.advance(0);
  acks.received(2);
  time.advance(10); // held back by the spacing
  acks.stop(true);
  assert.deepEqual(sent, [[0, 1], [10, 2]]);
  acks.received(3);
  time.advance(5000);
  assert.deepEqual(sent, [[0, 1], [10, 2]]);
  assert.equal(time.pending(), 0);
});

test('without seq nothing is ever sent', () => {
  const { acks, time, sent } = inbox();
  acks.reconnected();
  acks.stop(true);
  time.advance(5000);
  assert.deepEqual(sent, []);
});
