#!/usr/bin/env bash
# Where a direct-message run's latency tail comes from: the `direct` load of bench/run.sh (1000 clients, 200
# senders, 20k durable direct messages/s, server on CPU 1, driver on CPU 0), with the server's fdatasync calls and
# context switches recorded by the kernel's tracepoints for DUR seconds (default 9) inside the driver's window.
# Prints the driver's RESULT line, then every fdatasync slower than 20 ms (which file, how long, and how long after
# the last checkpoint's), and the longest time each thread spent off the CPU, with its state (D: waiting for the disk).
#
#   bench/fsync_stalls.sh [RUNS]      # default 1 run; needs bench/run.sh to have run once (seed data, driver)
#
# Tracepoints cost little per event, so unlike strace or perf trace this does not slow the server into a backlog.
# docs/PERFORMANCE.md ("Where the p99 tail comes from") has what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=$PWD/.build-bench
PARLEY=${PARLEY:-$PWD/.build-perf/release/parley}
DUR=${DUR:-9}
[ -d "$BENCH/seed-data" ] && [ -x "$BENCH/wsload" ] || { echo "run bench/run.sh direct parley once first" >&2; exit 2; }
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill -TERM ${PID:-} 2>/dev/null || true; rm -rf "$work"' EXIT

for run in $(seq "${1:-1}"); do
  cp -a "$BENCH/seed-data" "$work/data" && sync
  taskset -c 1 "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$work/data" --credentials "$work/none.txt" \
    --loops 1 --limit messages=off --log-level warning > "$work/server.log" 2>&1 &
  PID=$!
  until grep -q "parley listening" "$work/server.log"; do sleep 0.2; kill -0 $PID; done
  port=$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$work/server.log" | head -1)
  taskset -c 0 "$BENCH/wsload" --pid $PID --inflight 32 --port "$port" --parley -c 1000 -s 200 -r 100 \
    -d $((DUR + 3)) -w 3 --size 64 --label "stalls-$run" --direct 1 > "$work/result.txt" 2> "$work/driver.err" &
  driver=$!
  until grep -q "connected+logged" "$work/driver.err" 2>/dev/null; do sleep 0.2; kill -0 $driver; done
  sleep 5  # the driver's warm-up, and two seconds into its window
  perf record -q -e 'syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync,sched:sched_switch' \
    -p $PID -o "$work/trace.data" -- sleep "$DUR" > /dev/null 2>&1
  files=$(ls -l /proc/$PID/fd/ | awk '/parley.db/ {print $(NF-2), $NF}')
  threads=$(for t in /proc/$PID/task/*; do echo "$(basename "$t") $(cat "$t/comm")"; done)
  wait $driver
  kill -TERM $PID; wait $PID || true
  grep RESULT "$work/result.txt" | grep -o 'label=[^ ]*\|lat_ms_p50=[^ ]*\|p99=[^ ]*\|max=[^ ]*\|server_cpu_s_per_100k=[^ ]*' \
    | tr '\n' ' '; echo
  perf script -i "$work/trace.data" -F tid,time,event,trace 2>/dev/null | python3 -c '
import collections, re, sys
files = dict(line.split() for line in sys.argv[1].splitlines() if line.strip())
threads = dict(line.split(maxsplit=1) for line in sys.argv[2].splitlines() if line.strip())
entered, slow, syncs, off, left = {}, [], collections.defaultdict(list), collections.defaultdict(list), {}
last_db_sync = None
for line in sys.stdin:
    m = re.match(r"\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
    if not m: continue
    tid, t, event, rest = m.group(1), float(m.group(2)), m.group(3), m.group(4)
    if event.endswith("sys_enter_fdatasync"):
        entered[tid] = (t, str(int(re.search(r"fd: (0x[0-9a-f]+)", rest).group(1), 16)))
    elif event.endswith("sys_exit_fdatasync") and tid in entered:
        t0, fd = entered.pop(tid)
        name = files.get(fd, "fd " + fd).rsplit("/", 1)[-1]
        syncs[name].append((t - t0) * 1000)
        if (t - t0) > 0.020: slow.append((t0, (t - t0) * 1000, name, last_db_sync))
        if name == "parley.db": last_db_sync = t
    elif event.endswith("sched_switch"):
        s = re.search(r"prev_pid=(\d+).*prev_state=(\S+) ==> .*next_pid=(\d+)", rest)
        if s:
            left[s.group(1)] = (t, s.group(2))
            if s.group(3) in left:
                t0, state = left.pop(s.group(3)); off[s.group(3)].append(((t - t0) * 1000, state))
for name, d in sorted(syncs.items()):
    d.sort()
    print(f"  fdatasync {name}: {len(d)} calls, median {d[len(d)//2]:.2f} ms, p90 {d[int(len(d)*.9)]:.2f} ms, max {d[-1]:.1f} ms")
for t0, ms, name, db in slow:
    after = f", {t0 - db:.2f} s after the last checkpoint" if db else ""
    print(f"  slow fdatasync of {name}: {ms:.1f} ms{after}")
for tid, spans in off.items():
    if tid not in threads: continue
    ms, state = max(spans)
    print(f"  {threads[tid]}: longest off the CPU {ms:.1f} ms (state {state})")
' "$files" "$threads"
  rm -rf "$work/data"
done
