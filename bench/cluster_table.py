#!/usr/bin/env python3
"""bench/run.sh's results files (one or several runs) -> the "Three nodes" tables: mean and range per label.

    python3 bench/cluster_table.py .build-bench/cluster1.txt .build-bench/cluster2.txt ...

Reads the NODES lines (CPU of the nodes summed, PostgreSQL's and Redis's beside it, the driver's latency), the
PRESENCE and DEATH lines of bench/cluster_probe.py, the REF lines of the reference mode, and the LOAD lines (the
machine's load average before each run). Every occurrence counts: a label measured in three files is three runs.
"""
import re
import sys
from collections import defaultdict


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def spread(values, digits=3):
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f}, n={len(values)})"


def main(paths):
    nodes, presence, death, loads, ref = defaultdict(list), defaultdict(list), defaultdict(list), [], []
    for path in paths:
        for line in open(path):
            kind = line.split(" ", 1)[0]
            f = fields(line)
            if kind == "NODES":
                nodes[f["label"]].append(f)
            elif kind == "PRESENCE":
                presence[f["label"]].append(f)
            elif kind == "DEATH":
                death[f["label"]].append(float(f["kill_to_out_s"]))
            elif kind == "LOAD":
                loads.append(float(line.split()[2]))
            elif kind == "REF":
                ref.append(line.strip()[4:])
    if nodes:
        print("| label | deliveries/s | nodes' CPU s per 100k (sum) | p50 ms | p99 ms | PostgreSQL CPU s per 100k | Redis CPU s per 100k |")
        print("|---|---|---|---|---|---|---|")
        for label, runs in nodes.items():
            col = lambda key: spread([float(r[key]) for r in runs])
            print(f"| {label} | {spread([float(r['deliv_per_s']) for r in runs], 0)} | {col('nodes_cpu_s_per_100k')} "
                  f"| {spread([float(r['p50']) for r in runs], 2)} | {spread([float(r['p99']) for r in runs], 2)} "
                  f"| {col('pg_cpu_s_per_100k')} | {col('redis_cpu_s_per_100k')} |")
    for label, runs in presence.items():
        print(f"\n{label}: welcome→in p50 {spread([float(r['in_p50_ms']) for r in runs], 2)} ms, "
              f"p99 {spread([float(r['in_p99_ms']) for r in runs], 2)} ms, max {max(float(r['in_max_ms']) for r in runs):.1f}; "
              f"bye→out p50 {spread([float(r['out_p50_ms']) for r in runs], 2)} ms, "
              f"p99 {spread([float(r['out_p99_ms']) for r in runs], 2)} ms")
    for label, seconds in death.items():
        print(f"\n{label}: kill→out {spread(seconds, 2)} s")
    for line in ref:
        print(f"\nREF {line}")
    if loads:
        print(f"\nload average (1 min) before the runs: {min(loads):.2f}–{max(loads):.2f}, mean {sum(loads) / len(loads):.2f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
