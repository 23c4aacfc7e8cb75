#!/usr/bin/env python3
"""bench/run.sh's results file -> markdown tables with each Parley run's ratio to the peers of the same run.

    python3 bench/table.py .build-bench/results.txt

A label is SERVER-TAG (parley-tcp-20k, chatd-20k, node-direct, ...). Each row is compared with the C floor of the
same door and tag (chatd-TAG or chatd-tcp-TAG) and with node-TAG when those were measured; a ratio under 1.00 in
"CPU vs C" means less server CPU per delivery than the floor. For parley-cluster the CPU column is the first
node's alone (the driver watches one process); bench/cluster_table.py sums the nodes.

The room mode's rows (SERVER-room-TAG: a room of every client; SERVER-bench-TAG: the same broadcast load driven
by `parley bench`, the room's driver) are compared with the C floor's broadcast of the same load (chatd-TAG), and a
table of their own sets the room beside Parley's broadcasts. ROOM_REPLAY lines (mode room-replay) get a table too.
"""
import json
import re
import sys

SERVERS = ("parley-tcp-2cpu", "parley-2cpu", "parley-tcp", "parley-cluster", "parley-pg", "parley", "chatd-tcp", "chatd", "node", "hummingbird")


def split(label):
    for server in SERVERS:
        if label.startswith(server + "-"):
            return server, label[len(server) + 1:]
    return label, ""


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def main(path):
    runs, idle, side, metrics, replays = {}, [], [], {}, []
    for line in open(path):
        if line.startswith("RESULT "):
            f = fields(line)
            runs[f["label"]] = f  # a later run of the same label replaces an earlier one
        elif line.startswith("RESULT_IDLE ") and "marginal" in line:
            idle.append(fields(line))
        elif line.startswith("SIDE "):
            _, label, blob = line.split(" ", 2)
            side.append((label, json.loads(blob)))
        elif line.startswith("ROOM_REPLAY "):
            replays.append(fields(line))
        elif line.startswith("METRICS "):
            _, label, name, value = line.split()
            metrics.setdefault(label, {})[name] = value

    print("| run | deliv/s | ratio | p50 ms | p99 ms | CPU s/100k | CPU vs C | CPU vs node | p99 vs C | RSS MiB | driver CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, f in runs.items():
        server, tag = split(label)
        floor = runs.get(("chatd-tcp-" if "tcp" in server else "chatd-") + re.sub(r"^(room|bench)-", "", tag))
        node = runs.get("node-" + tag) if "tcp" not in server else None
        cpu = float(f["server_cpu_s_per_100k"])

        def ratio(other, key, mine):
            return f"{mine / float(other[key]):.2f}" if other and other is not f and float(other[key]) > 0 else ""

        print(f"| {label} | {f['deliv_per_s']} | {f['delivery_ratio']} | {f['lat_ms_p50']} | {f['p99']} | {cpu:.3f} | "
              f"{ratio(floor, 'server_cpu_s_per_100k', cpu)} | {ratio(node, 'server_cpu_s_per_100k', cpu)} | "
              f"{ratio(floor, 'p99', float(f['p99']))} | {int(f['server_rss_kib']) / 1024:.1f} | {f['driver_cpu_util']} |")

    rooms = [(label, f) for label, f in runs.items() if split(label)[1].startswith("room-")]
    if rooms:
        print("\n| room run | CPU s/100k | vs chatd broadcast | vs parley broadcast | vs parley broadcast, same driver | p99 ms |")
        print("|---|---|---|---|---|---|")
        for label, f in rooms:
            server, tag = split(label)
            cpu = float(f["server_cpu_s_per_100k"])
            load = tag[len("room-"):]

            def versus(other):
                o = runs.get(other)
                return f"{cpu / float(o['server_cpu_s_per_100k']):.2f}" if o and float(o["server_cpu_s_per_100k"]) > 0 else ""
            print(f"| {label} | {cpu:.3f} | {versus(('chatd-tcp-' if 'tcp' in server else 'chatd-') + load)} | "
                  f"{versus(server + '-' + load)} | {versus(server + '-bench-' + load)} | {f['p99']} |")

    isolation = [(label, runs[label + "-base"], f) for label, f in runs.items() if label + "-base" in runs]
    if isolation:
        print("\n| isolation run | p99 quiet ms | p99 beside it ms | ratio | p50 quiet / beside | server RSS MiB |")
        print("|---|---|---|---|---|---|")
        for label, base, f in isolation:
            print(f"| {label} | {base['p99']} | {f['p99']} | {float(f['p99']) / float(base['p99']):.2f} | "
                  f"{base['lat_ms_p50']} / {f['lat_ms_p50']} | {int(f['server_rss_kib']) / 1024:.1f} |")
    if idle:
        print("\n| idle run | marginal KiB per connection |\n|---|---|")
        for f in idle:
            print(f"| {f['label']} | {f.get('marginal_kib_per_conn', '?')} |")
    if side:
        print("\n| beside the run | figures |\n|---|---|")
        for label, report in side:
            keep = {k: v for k, v in report.items() if re.search(r"login|stalled|storm|error", k)}
            print(f"| {label} | {json.dumps(keep)} |")
    if replays:
        print("\n| replay run | runs | events | wall ms median / max | server CPU ms median / max (ticks) | "
              "(scheduler) | to welcome: wall ms, CPU ms (median) |")
        print("|---|---|---|---|---|---|---|")
        for f in replays:
            print(f"| {f['label']} | {f['runs']} | {f['events']} | {f['wall_ms_median']} / {f['wall_ms_max']} | "
                  f"{f['cpu_ms_median']} / {f['cpu_ms_max']} | {f['sched_ms_median']} / {f['sched_ms_max']} | "
                  f"{f['welcome_wall_ms_median']}, {f['welcome_sched_ms_median']} |")
    if metrics:
        print("\n| run | server counters at the end |\n|---|---|")
        for label, m in metrics.items():
            counters = ", ".join(f"{k.replace('parley_', '', 1)}={v}" for k, v in m.items())
            print(f"| {label} | {counters} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".build-bench/results.txt")
