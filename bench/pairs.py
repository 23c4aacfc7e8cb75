#!/usr/bin/env python3
"""Paired rounds in bench/run.sh's results file -> one line per round and a summary of the ratios.

    python3 bench/pairs.py RESULTS KIND FLOOR_LABEL SERVER_LABEL ROUNDS [COLUMN]

Round i pairs the RESULT line labelled FLOOR_LABEL-r<i> with SERVER_LABEL-r<i> (the floor and the server under test,
run back to back, the order swapped every round so that a machine drifting one way weighs on both sides alike).
Prints `<KIND>_PAIR round=i floor_cpu_s_per_100k=.. <COLUMN>_cpu_s_per_100k=.. ratio=.. floor_p99_ms=.. p99_ms=..`
per round and `<KIND>_PAIRS` with the mean, median and range of the CPU ratios and the server's median and worst
p99. When a label ran more than once, the last run counts (this invocation's).
"""
import statistics
import sys

from table import fields


def main(results, kind, floor_label, server_label, rounds, column):
    runs = {}
    for line in open(results):
        if line.startswith("RESULT "):
            f = fields(line)
            if "server_cpu_s_per_100k" in f:
                runs[f["label"]] = f
    ratios, p99s = [], []
    for i in range(1, rounds + 1):
        floor, server = runs.get(f"{floor_label}-r{i}"), runs.get(f"{server_label}-r{i}")
        if not floor or not server:
            continue
        f, s = float(floor["server_cpu_s_per_100k"]), float(server["server_cpu_s_per_100k"])
        ratios.append(s / f)
        p99s.append(float(server["p99"]))
        print(f"{kind}_PAIR round={i} floor_cpu_s_per_100k={f:.3f} {column}_cpu_s_per_100k={s:.3f} "
              f"ratio={s / f:.3f} floor_p99_ms={floor['p99']} p99_ms={server['p99']} "
              f"delivery_ratio={server.get('delivery_ratio', '?')}")
    if ratios:
        print(f"{kind}_PAIRS server={server_label} rounds={len(ratios)} mean={statistics.mean(ratios):.3f} "
              f"median={statistics.median(ratios):.3f} min={min(ratios):.3f} max={max(ratios):.3f} "
              f"p99_median_ms={statistics.median(p99s):.1f} p99_max_ms={max(p99s):.1f}")


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
         sys.argv[6] if len(sys.argv) == 7 else "server")
