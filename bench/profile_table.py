#!/usr/bin/env python3
"""Instructions per direct message by component, from callgrind profiles written by bench/profile.sh.

    python3 bench/profile_table.py .build-bench/profile/results.txt NAME [NAME...]

Each component is the inclusive cost of the functions that bound it (callgrind_annotate --inclusive=yes),
divided by the messages of the run; "other" is the rest of the program's total (the store writer's wake-ups,
the sweep, /metrics). A group commit's fixed cost (BEGIN, COMMIT with its WAL write) is shown per commit as
well: at the profile's rate nearly every message has a commit of its own, at 20k/s dozens share one.
"""
import re
import subprocess
import sys
from pathlib import Path

# (label, mangled-name pattern, pattern of an inclusive cost to subtract)
COMPONENTS = [
    ("loop: read, WebSocket frames, hub call", r"7Gateway9EventLoopC13readAvailable", r"0A7ServiceC7receive_4from"),
    ("hub: decode the request (RequestDecoder)", r"8ChatCore14RequestDecoderO6decode", None),
    ("hub: checks and store.append, under the lock", r"0A7ServiceC7receive_4from", r"8ChatCore14RequestDecoderO6decode"),
    ("loop: inbox, output queues, writes, timers", r"7Gateway9EventLoopC4tick", r"7Gateway9EventLoopC13readAvailable"),
    ("writer: SQL for the batch (append, cursors, BEGIN/COMMIT)", r"8ChatCore11SQLiteStoreC8runBatch33_[0-9A-F]+LLyySayAA0D3JobOGF ",
     r"0A7ServiceC6resumeyyAA7HubStepOF"),
    ("hub: completion (route, encode, ok) on the writer", r"0A7ServiceC6resumeyyAA7HubStepOF", None),
]
PER_COMMIT = [("BEGIN", r"4GRDB8DatabaseC16beginTransaction"), ("COMMIT", r"sqlite3VdbeHalt \[")]


def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    rows, total = [], 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(2):
            total = value
        else:
            rows.append((value, m.group(2)))
    return rows, total


def cost(rows, pattern):
    if pattern is None:
        return 0
    values = [v for v, name in rows if re.search(pattern, name)]
    return max(values) if values else 0


def calls(path, pattern):
    """How often the function matching pattern was called (from the caller tree)."""
    out = subprocess.run(["callgrind_annotate", "--tree=caller", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    callers = []
    for line in out.splitlines():
        if "<" in line.split("???")[0]:
            callers.append(line)
        elif re.search(r"\*\s+\S*?" + pattern, line):
            return sum(int(c.replace(",", "")) for l in callers for c in re.findall(r"\(([\d,]+)x\)", l))
        else:
            callers = []
    return 0


def main():
    results, names = Path(sys.argv[1]), sys.argv[2:]
    runs = {}
    for line in results.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split()[1:])
        runs[fields["name"]] = int(fields.get("messages", fields.get("frames", "0")))  # frames: a ROOM=1 run
    table = {}
    for name in names:
        path = str(results.parent / f"{name}.callgrind")
        rows, total = inclusive(path)
        n = runs[name]
        parts = [(label, (cost(rows, p) - cost(rows, minus)) / n) for label, p, minus in COMPONENTS]
        parts.append(("other (sweep, wake-ups, metrics)", total / n - sum(v for _, v in parts)))
        parts.append(("**total per message**", total / n))
        commits = calls(path, PER_COMMIT[0][1])
        per_commit = sum(cost(rows, p) for _, p in PER_COMMIT) / max(commits, 1)
        parts.append((f"commits per message; BEGIN+COMMIT per commit", None))
        table[name] = (parts, commits / n, per_commit)
    print("| component | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for i, (label, _) in enumerate(table[names[0]][0]):
        cells = []
        for name in names:
            parts, commit_ratio, per_commit = table[name]
            value = parts[i][1]
            cells.append(f"{commit_ratio:.2f}; {per_commit:,.0f}" if value is None else f"{value:,.0f}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
