"""Kill -9 the server at random moments and prove that every acknowledged message survives exactly once.

    python tests/crash/crash_harness.py --rounds 100

Each round: start the server on the same data folder, let four clients send direct messages (in turn to a user
who is offline, to one who is online without acks, and to two recipients that ack) and record every `ok`, kill
the server with SIGKILL after a random 0.1–1.5 s, restart it, check `PRAGMA integrity_check`, then read every
conversation back through `history` and check that each acknowledged message is there exactly once with its
text. docs/SECURITY.md "Crash safety".

The recipients that ack (tests/crash/acking_receiver.py) stay for the whole run, reconnect after every restart
and sometimes drop their own connection mid-round; they remember what they showed, as a client does. After each
restart they catch up with their inbox, and every acknowledged message to them must have been shown exactly
once, in seq order without gaps (docs/PROTOCOL.md §11.2).
"""
import argparse
import os
import random
import signal
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from parley_harness import JsonClient, ParleyServer  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from acking_receiver import AckingReceiver  # noqa: E402

SENDERS = ["s0", "s1", "s2", "s3"]
ACKING = ["a0", "a1"]
RECIPIENTS = ["online", "offline", *ACKING]
CREDENTIALS = "".join(f"{u} pw{u}\n" for u in SENDERS + RECIPIENTS)


def sender(port, user, round_no, acked, stop):
    """Sends numbered messages until the connection dies; records (server id, text) for every ok."""
    try:
        c = JsonClient(port, timeout=5)
        c.events = []
        if c.login(user, "pw" + user).get("type") != "welcome":
            return
        seq = 0
        while not stop.is_set():
            to = RECIPIENTS[seq % len(RECIPIENTS)]
            text = f"r{round_no}-{user}-{seq}"
            reply = c.request({"type": "message", "to": to, "text": text}, timeout=5)
            if reply.get("type") == "ok":
                acked.append((reply["id"], user, to, text))
            seq += 1
    except (OSError, ConnectionError, TimeoutError, ValueError):
        return  # the server died under us: that is the point


def read_back(server, acked):
    """Returns (lost, duplicated) counts of acknowledged messages, read through `history`."""
    seen = {}
    for user in SENDERS:
        c = JsonClient(server.tcp_port)
        c.events = []
        assert c.login(user, "pw" + user)["type"] == "welcome"
        before = None
        while True:
            req = {"type": "history", "limit": 200}
            if before:
                req["before"] = before
            page = c.request(req)
            for m in page["messages"]:
                if m["from"] == user:
                    seen.setdefault(m["id"], []).append(m["text"])
            before = page["next"]
            if before is None:
                break
        c.request({"type": "logout"})
        c.close()
    lost = [a for a in acked if a[0] not in seen or a[3] not in seen[a[0]]]
    duplicated = [i for i, texts in seen.items() if len(texts) > 1]
    return lost, duplicated


class AckingRecipients:
    """The recipients that ack: their drops and absences, and the check after each round."""

    def __init__(self, server, rng):
        self.rng = rng
        self.receivers = [AckingReceiver(u, "pw" + u, lambda: server.tcp_port) for u in ACKING]
        self.away = {}  # receiver -> rounds it still stays away
        for receiver in self.receivers:
            receiver.start()

    def begin_round(self):
        """Brings back the ones whose absence is over; now and then sends one away for a few rounds, so that its
        inbox grows past a replay page and its next replay (paged, maybe cut by a kill) is a long one."""
        for receiver in self.receivers:
            if receiver in self.away:
                self.away[receiver] -= 1
                if self.away[receiver] == 0:
                    del self.away[receiver]
                    receiver.come_back()
            elif self.rng.random() < 0.15:
                self.away[receiver] = self.rng.randint(2, 4)
                receiver.drop(offline_for=3600)

    def drops(self, before):
        """(when, how long, who): a recipient drops its own connection mid-round and stays away a moment, so what
        it was sent live and had not acked comes again in its next replay, which the kill may cut."""
        return sorted((self.rng.uniform(0, before), self.rng.uniform(0, 0.3), receiver)
                      for receiver in self.receivers if receiver not in self.away and self.rng.random() < 0.5)

    def check(self, acked, everyone=False):
        """Catches up the ones present (with `everyone`, all of them) and checks them; (passed, report line)."""
        if everyone:
            for receiver in list(self.away):
                receiver.come_back()
            self.away.clear()
        present = [receiver for receiver in self.receivers if receiver not in self.away]
        settled = all(receiver.settle() for receiver in present)
        counts = [sum(c) for c in zip(*(check_acking(receiver, acked) for receiver in present))] or [0] * 7
        to_them, shown, lost, twice, disorder, resent, errors = counts
        logins = sum(receiver.snapshot()[5] for receiver in self.receivers)
        line = (f"{to_them} acknowledged to them, {shown} shown, {lost} lost, {twice} shown twice, "
                f"{disorder} out of order, {resent} sent again and dropped by seq, {errors} ack errors "
                f"({logins} logins{f', {len(self.away)} away' if self.away else ''}"
                f"{'' if settled else ', did not catch up with their inbox'})")
        return settled and not (lost or twice or disorder or errors), line

    def stop(self):
        for receiver in self.receivers:
            receiver.stop()


def check_acking(receiver, acked):
    """Counts for one acking recipient: (acknowledged to it, shown, lost, shown twice, out of order, resent,
    errors)."""
    shown, order, out_of_order, resent, errors, _ = receiver.snapshot()
    by_id = {}
    for seq, (message_id, _, text) in shown.items():
        by_id.setdefault(message_id, []).append(text)
    to_it = [a for a in acked if a[2] == receiver.user]
    lost = [a for a in to_it if a[3] not in by_id.get(a[0], [])]
    twice = [i for i, texts in by_id.items() if len(texts) > 1]
    # Shown in seq order from 1 without a gap: exactly 1, 2, 3, ... in the order they came.
    disorder = len(out_of_order) + (order != list(range(1, len(order) + 1)))
    return len(to_it), len(shown), len(lost), len(twice), disorder, resent, len(errors)


def run(rounds, seed):
    rng = random.Random(seed)
    # The senders flood on purpose (as many acknowledged messages per kill as possible), so the per-user message
    # limit (docs/SECURITY.md) is switched off here rather than loosened for everyone.
    server = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS, extra=["--limit", "messages=off"]).start()
    acking = AckingRecipients(server, rng)
    acked_all = []
    lost_total = dup_total = 0
    passed, r = True, -1
    try:
        for r in range(rounds):
            acking.begin_round()
            online = JsonClient(server.tcp_port)
            online.events = []
            online.login("online", "pwonline")
            stop = threading.Event()
            acked = []
            threads = [threading.Thread(target=sender, args=(server.tcp_port, u, r, acked, stop)) for u in SENDERS]
            for t in threads:
                t.start()
            kill_at = rng.uniform(0.1, 1.5)
            started = time.monotonic()
            for at, away, receiver in acking.drops(kill_at):
                time.sleep(max(0.0, started + at - time.monotonic()))
                receiver.drop(offline_for=away)
            time.sleep(max(0.0, started + kill_at - time.monotonic()))
            server.stop(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(10)
            online.close()
            acked_all.extend(acked)
            db = sqlite3.connect(os.path.join(server.data_dir, "parley.db"))
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            db.close()
            server.start()
            lost, dup = read_back(server, acked_all)
            lost_total, dup_total = len(lost), len(dup)
            print(f"round {r + 1}: {len(acked)} acknowledged this round, {len(acked_all)} in all, "
                  f"integrity {integrity}, lost {len(lost)}, duplicated {len(dup)}", flush=True)
            shown_right, line = acking.check(acked_all)
            print(f"  acking recipients: {line}", flush=True)
            if integrity != "ok" or lost or dup or not shown_right:
                passed = False
                break
        # The ones still away come back for a last check: nothing acknowledged to them may be missing either.
        shown_right, line = acking.check(acked_all, everyone=True)
        passed = passed and shown_right
    finally:
        acking.stop()
        server.stop()
    print(f"{r + 1} rounds killed with SIGKILL: {len(acked_all)} acknowledged messages, "
          f"{lost_total} lost, {dup_total} duplicated")
    print(f"acking recipients over {r + 1} rounds: {line}")
    return 0 if passed else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    sys.exit(run(args.rounds, args.seed))
