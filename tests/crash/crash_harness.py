"""Kill -9 the server at random moments and prove that every acknowledged message survives exactly once.

    python tests/crash/crash_harness.py --rounds 100

Each round: start the server on the same data folder, let four clients send direct messages (half to a user
who is offline, half to one who is online) and record every `ok`, kill the server with SIGKILL after a random
0.1–1.5 s, restart it, check `PRAGMA integrity_check`, then read every conversation back through `history`
and check that each acknowledged message is there exactly once with its text. RELIABILITY.md §4.7.
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

SENDERS = ["s0", "s1", "s2", "s3"]
CREDENTIALS = "".join(f"{u} pw{u}\n" for u in SENDERS + ["online", "offline"])


def sender(port, user, round_no, acked, stop):
    """Sends numbered messages until the connection dies; records (server id, text) for every ok."""
    try:
        c = JsonClient(port, timeout=5)
        c.events = []
        if c.login(user, "pw" + user).get("type") != "welcome":
            return
        seq = 0
        while not stop.is_set():
            to = "offline" if seq % 2 else "online"
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


def run(rounds, seed):
    rng = random.Random(seed)
    # The senders flood on purpose (as many acknowledged messages per kill as possible), so the per-user message
    # limit (docs/SECURITY.md) is switched off here rather than loosened for everyone.
    server = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS, extra=["--limit", "messages=off"]).start()
    acked_all = []
    lost_total = dup_total = 0
    try:
        for r in range(rounds):
            online = JsonClient(server.tcp_port)
            online.events = []
            online.login("online", "pwonline")
            stop = threading.Event()
            acked = []
            threads = [threading.Thread(target=sender, args=(server.tcp_port, u, r, acked, stop)) for u in SENDERS]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.1, 1.5))
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
            if integrity != "ok" or lost or dup:
                return 1
    finally:
        server.stop()
    print(f"{rounds} rounds killed with SIGKILL: {len(acked_all)} acknowledged messages, "
          f"{lost_total} lost, {dup_total} duplicated")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    sys.exit(run(args.rounds, args.seed))
