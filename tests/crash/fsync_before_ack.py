"""Proves, from system calls, that every `ok` to a `message` is written only after an fdatasync/fsync of the
SQLite WAL that happened after the message arrived (docs/SECURITY.md "Crash safety").

    python tests/crash/fsync_before_ack.py [--messages 100]

Runs the server under `strace -f -y`, sends direct messages one at a time over TCP, then walks the trace:
for each reply carrying `"stored"` the last WAL sync must come after the request was read.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from parley_harness import PARLEY_BIN, JsonClient  # noqa: E402


def main(messages):
    work = tempfile.mkdtemp(prefix="parley-fsync-")
    creds = os.path.join(work, "credentials.txt")
    with open(creds, "w") as f:
        f.write("alice pwa\nbob pwb\n")
    trace = os.path.join(work, "trace.txt")
    proc = subprocess.Popen(
        ["strace", "-f", "-y", "-s", "200", "-e", "trace=fdatasync,fsync,read,recvfrom,write,writev,sendmsg,sendto",
         "-o", trace, PARLEY_BIN, "serve", "0", "60", "600", "--no-http", "--data-dir", os.path.join(work, "data"),
         "--credentials", creds, "--limit", "messages=off"],  # 100 messages back to back on purpose
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    port = int(re.search(r"tcp=(\d+)", line).group(1))
    c = JsonClient(port)
    c.events = []
    assert c.login("alice", "pwa")["type"] == "welcome"
    for i in range(messages):
        reply = c.request({"type": "message", "to": "bob", "text": f"durable-{i}"})
        assert reply["type"] == "ok", reply
    c.close()
    # Stop the traced server itself (SIGTERM to strace would only detach it); strace exits with it.
    children = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
    for child in children:
        os.kill(int(child), 15)
    proc.wait(20)
    time.sleep(0.2)

    last_sync = -1
    pending_reads = {}  # message text -> line number where the server read it
    unfinished_syncs = set()  # threads whose WAL sync strace printed as "<unfinished ...>"
    checked = failures = 0
    with open(trace) as f:
        for n, entry in enumerate(f):
            # With -f a call interrupted by another thread's is printed in two lines: the arguments in the first
            # ("<unfinished ...>"), the result (and a read's buffer) in the second ("<... read resumed>").
            thread = entry.split(" ", 1)[0]
            if re.search(r"f(data)?sync\(\d+<[^>]*parley\.db-wal>", entry):
                if "<unfinished" in entry:
                    unfinished_syncs.add(thread)
                elif "= 0" in entry:
                    last_sync = n
            elif re.search(r"<\.\.\. f(data)?sync resumed>", entry) and thread in unfinished_syncs:
                unfinished_syncs.discard(thread)
                if "= 0" in entry:
                    last_sync = n
            for text in re.findall(r"durable-\d+", entry):
                if re.search(r"\b(read|recvfrom)\(|<\.\.\. (read|recvfrom) resumed>", entry):
                    pending_reads[text] = n
            if re.search(r"\b(write|writev|sendmsg|sendto)\(\d+<(TCP|socket)", entry) and '\\"stored\\"' in entry:
                # The ack of the oldest message read and not yet acknowledged.
                if pending_reads:
                    text, read_at = min(pending_reads.items(), key=lambda kv: kv[1])
                    del pending_reads[text]
                    checked += 1
                    if last_sync < read_at:
                        failures += 1
                        print(f"ack for {text} at trace line {n} has no WAL sync after its read (line {read_at})")
    print(f"{checked} acknowledgements checked, {failures} without a WAL sync between request and ok")
    return 0 if checked == messages and failures == 0 else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100)
    sys.exit(main(ap.parse_args().messages))
