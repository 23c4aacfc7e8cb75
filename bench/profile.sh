#!/usr/bin/env bash
# Instructions per durable direct message, counted by callgrind: repeatable whatever else the machine runs,
# unlike the CPU seconds of bench/run.sh.
#
#   bench/profile.sh [NAME]      # writes .build-bench/profile/NAME.callgrind and prints instructions per message
#
# The release server (one loop) runs under callgrind with instrumentation off until every client has logged in
# (the argon2id checks would otherwise take minutes under valgrind and swamp the profile); then the counters
# start, the driver sends direct messages for $DUR seconds, and the profile is dumped. The messages counted are
# the hub's accepted messages over the same span (parley_messages_total on /metrics), which all reach an online
# recipient. Sizes: C clients, S senders at R messages a second each (default 100, 50, 2: 100 messages/s,
# about half of the server's core under callgrind).
#
#   ROOM=1 bench/profile.sh [NAME]   # a room instead: instructions per delivered frame
#
# With ROOM=1 every client joins room `bench` and S senders say R messages a second in all (`parley bench --room`;
# default 4 and 4: about 400 deliveries/s to 100 members), and what is counted is the frames the gateway wrote
# (parley_frames_written_total), each one member's copy of a room message. The room's periodic work (the cursor
# flush every 2 s) weighs more per frame here than at 1000 members and 20k deliveries/s.
#
#   callgrind_annotate --inclusive=yes .build-bench/profile/NAME.callgrind | head -60
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared/bench}
BENCH=$ROOT/.build-bench
OUTDIR=$BENCH/profile
PARLEY=$ROOT/.build-perf/release/parley
NAME=${1:-direct}
ROOM=${ROOM:-0} C=${C:-100} DUR=${DUR:-30}
if [ "$ROOM" = 1 ]; then S=${S:-4} R=${R:-4}; counted=parley_frames_written_total unit=frame
else S=${S:-50} R=${R:-2}; counted=parley_messages_total unit=message; fi
mkdir -p "$OUTDIR"

[ "${NO_BUILD:-0}" = 1 ] || swift build -c release --scratch-path .build-perf --product parley 2>&1 | tail -1
# Valgrind 3.19 cannot read the DWARF 5 Swift emits: profile a copy without debug info (the symbol table
# is enough to name functions).
objcopy --strip-debug "$PARLEY" "$OUTDIR/parley"
[ -x "$BENCH/wsload" ] || gcc -O2 -o "$BENCH/wsload" "$SHARED/loadgen/wsload.c"

# A small template of accounts u0..u(C-1), hashed natively once.
tmpl=$BENCH/profile-seed-$C
if [ ! -f "$tmpl/.seeded" ]; then
  rm -rf "$tmpl" && mkdir -p "$tmpl"
  for i in $(seq 0 $((C - 1))); do echo "u$i benchpw1"; done > "$OUTDIR/credentials.txt"
  "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$tmpl" --credentials "$OUTDIR/credentials.txt" \
    > "$OUTDIR/seed.log" 2>&1 &
  pid=$!
  until grep -q "parley listening" "$OUTDIR/seed.log"; do sleep 0.5; kill -0 $pid || { cat "$OUTDIR/seed.log"; exit 1; }; done
  kill -TERM $pid && wait $pid || true
  touch "$tmpl/.seeded"
fi

rm -rf "$OUTDIR/data" && cp -a "$tmpl" "$OUTDIR/data"
: > "$OUTDIR/server.log"
out=$OUTDIR/$NAME.callgrind
rm -f "$out" "$out".*
taskset -c 1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
  "$OUTDIR/parley" serve 0 60 3600 --http-port 0 --data-dir "$OUTDIR/data" --credentials "$OUTDIR/none.txt" \
  --loops 1 --limit messages=off --log-level warning > "$OUTDIR/server.log" 2>&1 &
VG=$!
trap 'kill -TERM $VG 2>/dev/null || true' EXIT
until grep -q "parley listening" "$OUTDIR/server.log"; do sleep 0.5; kill -0 $VG || { cat "$OUTDIR/server.log"; exit 1; }; done
PORT=$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$OUTDIR/server.log" | head -1)
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# The driver's warm-up covers the logins; its measured window is ours, give or take a second.
if [ "$ROOM" = 1 ]; then
  taskset -c 0 "$PARLEY" bench --port "$PORT" --transport ws -c "$C" -s "$S" -r "$R" -d $((DUR + 20)) -w 0 \
    --user-prefix u --inflight 8 --json --room bench --connect-timeout 600 > "$OUTDIR/$NAME.pbench" 2>&1 &
else
  taskset -c 0 "$BENCH/wsload" --pid $VG --port "$PORT" --parley --inflight 8 -c "$C" -s "$S" -r "$R" \
    -d $((DUR + 10)) -w 0 --size 64 --direct 1 --label "profile-$NAME" --quiet > "$OUTDIR/$NAME.wsload" &
fi
DRIVER=$!
until [ "$(metric parley_online_users)" = "$C" ]; do sleep 1; kill -0 $DRIVER || { echo "driver gone" >&2; exit 1; }; done
sleep 3  # the driver's senders start once all are online (and, in a room, have joined)
callgrind_control -i on $VG >/dev/null
m0=$(metric $counted)
sleep "$DUR"
m1=$(metric $counted)
callgrind_control -d $VG >/dev/null
callgrind_control -i off $VG >/dev/null
wait $DRIVER || true
kill -TERM $VG; wait $VG || true
trap - EXIT
dump=$(ls -t "$out".* 2>/dev/null | grep -v '\.0$' | head -1 || true)
[ -n "$dump" ] || dump=$out
mv "$dump" "$OUTDIR/$NAME.dump" && rm -f "$out" "$out".* && mv "$OUTDIR/$NAME.dump" "$out"
ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !n {gsub(",", "", $1); print $1; n = 1}')
n=$((m1 - m0))
echo "PROFILE name=$NAME ${unit}s=$n instructions=$ir per_$unit=$((ir / n))" | tee -a "$OUTDIR/results.txt"
