#!/usr/bin/env bash
# Side-by-side benchmarks: Parley against the C epoll floor (chatd) and Node's ws, measured by one load driver
# in one run, so that the ratios hold even when absolute numbers drift between runs. docs/PERFORMANCE.md has the
# figures this produced and what limits each one.
#
#   bench/run.sh MODE SERVER...
#
# MODE
#   fixed    1000 clients, 10 senders at 2.002 msg/s each: 20k deliveries/s offered (CPU per 100k, latency)
#   sat      the same clients at 40 and 80 msg/s per sender: 400k and 800k deliveries/s offered (saturation)
#   rate     R msg/s per sender from $RATES (default "120 160"): find where one server tops out
#   direct   1000 clients, 200 senders at 100 msg/s of direct messages: 20k/s, one recipient each
#   direct-pairs  (parley, parley-acks, parley-tcp, parley-tcp-acks) `direct` against the floor, back to back
#            $ROUNDS times (default 6), the order swapped each round: DIRECT_PAIR per round, DIRECT_PAIRS the mean ratio
#   direct-sat  the same clients at 300 and 400 msg/s per sender: 60k and 80k durable direct messages/s offered
#   direct-5k   1000 clients, 200 senders at 25 msg/s of direct messages: 5k/s (on three nodes, 2/3 cross nodes)
#   presence (parley, parley-cluster) $ROUNDS logins (default 200) on one node, watched from another: welcome to `in`
#   death    (parley-cluster) SIGKILL a node with a user on it, $KILLS times (default 3): kill to `out` elsewhere
#   reference   (no SERVER) redis-benchmark and pgbench against the throwaway Redis and PostgreSQL
#   cluster     (no SERVER) all of docs/PERFORMANCE.md "Three nodes" in one invocation: fixed for parley, parley-pg
#               and parley-cluster, then direct-5k and presence for parley and parley-cluster, death, reference
#   idle     log in $STEPS clients (default 1000,5000), wait $SETTLE s (default 2) and read the server's RSS: KiB
#            per connection (SETTLE=45: after the hashing memory of the logins has gone back to the system)
#   storm    fixed load, first quiet (SERVER-storm-base), then with a login storm of $LOGINS attempts/s (default 200)
#   guess    the same with wrong passwords: a password-guessing storm, hashing without presence lines
#   slow     fixed load, first quiet (SERVER-slow-base), then with $STALLED clients (default 20) that log in and stop reading
#   tls      (parley, parley-tcp) the fixed load driven by `parley bench` three ways in one run: plaintext, TLS
#            (--tls-cert, ECDSA P-256) and plaintext behind nginx's stream module terminating TLS (server and proxy
#            both on CPU 1, CPU per 100k counts both); then handshakes per CPU second with ECDSA P-256 and RSA-2048
#            (openssl s_time, $SHAKERS processes, default 4), and the fixed load's p99 over TLS beside that storm
#   room     (parley, parley-tcp) the fixed load as a room: 1000 members, 10 of them saying 2.002 msg/s each in it
#            (`parley bench --room`, each message stored before its fan-out), beside the fixed broadcast load
#            against chatd and parley in the same invocation, and the broadcast driven by `parley bench` too (the
#            room's own driver); RESULT lines as the driver's, bench/table.py sets the room beside the broadcasts
#   room-pairs  (parley, parley-tcp) the room against the floor's broadcast, both by `parley bench`, back to back
#            $ROUNDS times (default 6), the order swapped each round: ROOM_PAIR per round, ROOM_PAIRS the mean ratio
#   room-replay  (parley) bench/room_replay.py: a user in 20 rooms comes back to 50 new messages in each; login to
#            the last of the 1000 events, wall time and server CPU, median and max of $RUNS (default 5); once with
#            the password after a logout, once with the token after a dropped connection (ROOM_REPLAY lines)
#   Rooms, e.g.: bench/run.sh room parley; bench/run.sh room-replay parley; python3 bench/table.py (the room and
#   replay tables). Room storage on disk (bytes per message, membership, cursor) is a skipped-by-default test:
#   PARLEY_STORE_BENCH=1 swift test -c release --disable-swift-testing --filter RoomStoreBenchmarkTests
# SERVER
#   parley | parley-tcp          the release build, one event loop pinned to CPU 1 (WebSocket / native TCP)
#   parley-2cpu | parley-tcp-2cpu  two event loops, unpinned (shares CPU 0 with the driver)
#   parley-acks | parley-tcp-acks  as parley, the driver's clients log in with acks and ack what they read
#   chatd | chatd-tcp            shared/bench/c-epoll/chatd --mode batch --parley: the physical floor
#   node                         shared/bench/node-ws on Debian's node-ws (the peer protocol; WebSocket only)
#   hummingbird                  shared/bench/hummingbird-chat (SwiftNIO; the peer protocol; WebSocket only)
#   parley-pg                    one node on PostgreSQL (no Redis), pinned to CPU 1
#   parley-cluster               three nodes on one PostgreSQL and one Redis, all on CPU 1; the driver's clients
#                                spread over them (client i on node i % 3). bench/cluster.sh has the details.
#
# Environment: OUT (results file, default .build-bench/results.txt), DUR (measured s, default 10), WARM (default 3),
# SHARED (the peers, default ../shared/bench beside the project), NO_BUILD=1 to skip the builds, PARLEY (the binary
# under test, default the release build), PARLEY_OPTS (more `parley serve` options for the single-node servers, e.g.
# "--commit-spacing 2" to compare settings side by side), INFRA_CPUS (where PostgreSQL and Redis run, default 1; bench/cluster.sh).
# For parley, parley-pg and parley-cluster a NODES line follows each RESULT: the CPU of every node over the
# driver's window, their sum per 100k deliveries, and PostgreSQL's and Redis's CPU beside it.
# The driver runs on CPU 0, the server on CPU 1. Parley runs with its product defaults except: the per-user
# message limit is off (the senders send 2–160 msg/s by design), the idle timeout is an hour, and the benchmark
# accounts are seeded once through the credentials import, with real argon2id hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared/bench}
BENCH=$ROOT/.build-bench
OUT=${OUT:-$BENCH/results.txt}
DUR=${DUR:-10} WARM=${WARM:-3}
PARLEY=${PARLEY:-$ROOT/.build-perf/release/parley}
mode=${1:-} && shift || true
[ -n "$mode" ] && { [ $# -gt 0 ] || [ "$mode" = reference ] || [ "$mode" = cluster ]; } || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
mkdir -p "$BENCH"

build() {
  [ "${NO_BUILD:-0}" = 1 ] && return
  scripts/bootstrap --no-venv >/dev/null
  # The node peer runs on Debian's packaged ws (a benchmark-only dependency, so not in scripts/bootstrap).
  if ! command -v node >/dev/null || [ ! -d /usr/share/nodejs/ws ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs node-ws >/dev/null
  fi
  swift build -c release --scratch-path .build-perf --product parley 2>&1 | tail -1
  if [ "$mode" = tls ] && [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light libnginx-mod-stream >/dev/null
  fi
  gcc -O2 -o "$BENCH/wsload" "$SHARED/loadgen/wsload.c"
  gcc -O2 -o "$BENCH/chatd" "$SHARED/c-epoll/chatd.c"
  case " $* " in *" hummingbird "*)  # about 7 minutes the first time
    swift build -c release --package-path "$SHARED/hummingbird-chat" --scratch-path "$BENCH/hb" 2>&1 | tail -1 ;;
  esac
}

# The benchmark accounts (u0..u4999 for the driver, s0..s199 for the login storm), hashed once into a template
# database that every run copies: the import is what a real deployment does, so nothing here weakens the product.
seed() {
  local tmpl=$BENCH/seed-data
  [ -f "$tmpl/.seeded" ] && return
  rm -rf "$tmpl" && mkdir -p "$tmpl"
  { for i in $(seq 0 4999); do echo "u$i benchpw1"; done
    for i in $(seq 0 199); do echo "s$i benchpw1"; done; } > "$BENCH/credentials.txt"
  echo "seeding 5200 accounts (argon2id, once)..." >&2
  "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$tmpl" --credentials "$BENCH/credentials.txt" \
    > "$BENCH/seed.log" 2>&1 &
  local pid=$!
  until grep -q "parley listening" "$BENCH/seed.log"; do sleep 1; kill -0 $pid || { cat "$BENCH/seed.log"; exit 1; }; done
  kill -TERM $pid && wait $pid || true
  touch "$tmpl/.seeded"
}

source bench/cluster.sh
source bench/tls.sh

PID="" PORT="" TCP_PORT="" SERVER="" LABEL=""
SERVER_PIDS=() HTTP_PORTS=() TCP_PORTS=()  # every process of the server under test (three for a cluster)
start() { # SERVER [extra parley options...]
  local name=$1; shift
  SERVER=$name
  local pin="taskset -c 1" loops=1 log=$BENCH/server.log
  case "$name" in *-2cpu) pin="" loops=2 ;; esac
  PORT=$((9300 + RANDOM % 500))  # the peers take a port on their command line; Parley picks its own (port 0)
  SERVER_PIDS=() HTTP_PORTS=() TCP_PORTS=()
  case "$name" in
    parley-pg|parley-cluster) cluster_start "$name" "$@" ;;
    parley*)
      rm -rf "$BENCH/run-data" && cp -a "$BENCH/seed-data" "$BENCH/run-data"
      : > "$log"  # now, not in the background job: the wait below must not read the previous server's line
      $pin "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$BENCH/run-data" --credentials "$BENCH/no-credentials.txt" \
        --loops $loops --limit messages=off --log-level warning ${PARLEY_OPTS:-} "$@" > "$log" 2>&1 &
      PID=$!
      until grep -q "parley listening" "$log"; do sleep 0.2; kill -0 $PID || { cat "$log"; exit 1; }; done
      TCP_PORT=$(sed -n 's/.*tcp=\([0-9]*\).*/\1/p' "$log" | head -1)
      PORT=$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$log" | head -1)
      SERVER_PIDS=("$PID") HTTP_PORTS=("$PORT") TCP_PORTS=("$TCP_PORT") ;;
    chatd*)
      TCP_PORT=$((PORT + 1))
      $pin "$BENCH/chatd" $PORT --mode batch --parley --tcp-port $TCP_PORT > "$log" 2>&1 &
      PID=$! ;;
    node)
      NODE_PATH=/usr/share/nodejs $pin node "$SHARED/node-ws/server.js" $PORT > "$log" 2>&1 &
      PID=$! ;;
    hummingbird)
      PORT=$PORT $pin "$BENCH/hb/release/HBChat" > "$log" 2>&1 &
      PID=$! ;;
    *) echo "unknown server $name" >&2; exit 2 ;;
  esac
  for _ in $(seq 100); do ss -ltn "sport = :$PORT" | grep -q LISTEN && break; sleep 0.1; done
  sleep 0.3
}
stop() {
  [ -n "$PID" ] || return 0
  if [ "$SERVER" != "${SERVER#parley}" ]; then  # the batching and isolation counters behind the figures
    local i
    for i in "${!HTTP_PORTS[@]}"; do  # one node: LABEL; several: LABEL#1, LABEL#2, ...
      curl -s "http://127.0.0.1:${HTTP_PORTS[$i]}/metrics" \
        | grep -E '^parley_(frames_written|write_syscalls|frames_per|output_queue_high|slow_consumer|logins_total)' \
        | sed "s/^/METRICS $LABEL$([ ${#HTTP_PORTS[@]} -gt 1 ] && echo "#$((i + 1))") /" >> "$OUT" || true
    done
  fi
  local pids=("${SERVER_PIDS[@]}") && [ ${#pids[@]} -gt 0 ] || pids=("$PID")
  kill -TERM "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true
  PID="" SERVER_PIDS=() HTTP_PORTS=() TCP_PORTS=() && sleep 0.5
}
trap 'proxy_stop; stop; infra_stop' EXIT

# drive SERVER LABEL C S R [wsload options...]: one measured run, one RESULT line appended to $OUT (and for the
# servers compared with the cluster a NODES line, bench/cluster.sh) with the machine's load before it.
drive() {
  local name=$1 label=$2 c=$3 s=$4 r=$5; shift 5
  local run=("$name" -c "$c" -s "$s" -r "$r" -d "$DUR" -w "$WARM" --size 64 --label "$label" "$@")
  echo "LOAD label=$label $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
  case "$name" in
    parley|parley-pg|parley-cluster)  # the driver's progress on stderr tells when its window begins
      : > "$BENCH/wsload.err"  # here, not in the background job: the previous run's lines must be gone
      wsload "${run[@]}" 2>> "$BENCH/wsload.err" &
      server_cpu_window "$label" "$BENCH/wsload.err" $! ;;
    *) wsload "${run[@]}" --quiet ;;
  esac
}

# wsload SERVER [options...]: the driver on CPU 0 against the running server's door, in its protocol.
# 32 logins in flight: Parley answers `busy` (retry after 1 s) past 64 queued password checks, and the driver
# does not retry, so more in flight would leave a client out of the run.
wsload() {
  local name=$1; shift
  local door=(--port "$PORT")
  case "$name" in *tcp*) door=(--port "$TCP_PORT" --tcp) ;; esac
  case "$name" in parley*|chatd*) door+=(--parley) ;; esac
  case "$name" in *-acks) door+=(--acks) ;; esac
  [ ${#HTTP_PORTS[@]} -gt 1 ] && door+=(--ports "$(IFS=,; echo "${HTTP_PORTS[*]}")")
  taskset -c 0 "$BENCH/wsload" --pid "$PID" --inflight 32 "${door[@]}" "$@" | tee -a "$OUT"
}

# side LABEL parley-bench-options...: a second load beside the measured one (login storm, stalled readers),
# started once all 1000 of the driver's clients are online (the storm would otherwise compete with their logins)
# and lasting as long as the driver's warm-up and window. Its JSON report goes to $OUT as a SIDE line.
SIDE_PID=""
side() {
  local label=$1; shift
  local port=$PORT transport=ws; case "$label" in *tcp*) port=$TCP_PORT transport=tcp ;; esac
  (until curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^parley_online_users /{exit !($2 >= 1000)}'; do sleep 0.2; done
   taskset -c 0 "$PARLEY" bench --port "$port" --transport $transport --clients 0 --duration "$DUR" \
     --warmup "$WARM" --json "$@" | sed "s/^/SIDE $label /" >> "$OUT") &
  SIDE_PID=$!
}

# -- room modes -----------------------------------------------------------------------------------------------
cpu_ticks() { # PID...: their utime+stime in clock ticks
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo $total
}
# pbench_result LABEL PORT TRANSPORT [parley bench options...]: the fixed load (1000 clients, 10 senders, 20.02
# msg/s in all) driven by `parley bench` on CPU 0, and one RESULT line with the driver's field names (those
# bench/table.py reads) appended to $OUT. The server's CPU (utime+stime, all threads) is read over the bench's
# measured window: it begins WARM seconds after the bench says on stderr that its clients are online (with
# --room: logged in and joined) and lasts DUR.
pbench_result() {
  local label=$1 port=$2 transport=$3; shift 3
  echo "LOAD label=$label $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
  : > "$BENCH/pbench.err"  # here, not in the background job: the previous run's line must be gone
  taskset -c 0 "$PARLEY" bench --port "$port" --transport "$transport" -c 1000 -s 10 -r 20.02 -d "$DUR" -w "$WARM" \
    --user-prefix u --inflight 32 --json "$@" > "$BENCH/pbench.json" 2> "$BENCH/pbench.err" &
  local bench=$!
  until grep -q "clients online" "$BENCH/pbench.err"; do sleep 0.05; kill -0 $bench 2>/dev/null || break; done
  sleep "$WARM"
  local t0 t1 s0 s1 rss
  t0=$(cpu_ticks "$PID") s0=$(date +%s.%N)
  sleep "$DUR"
  t1=$(cpu_ticks "$PID") s1=$(date +%s.%N)
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$PID/status")
  wait $bench || { cat "$BENCH/pbench.err" >&2; return 0; }
  python3 - "$label" "$transport" "$(getconf CLK_TCK)" "$t0" "$t1" "$s0" "$s1" "$rss" "$BENCH/pbench.json" \
    <<'PY' | tee -a "$OUT"
import json, sys
label, transport = sys.argv[1:3]
hz, t0, t1, s0, s1, rss = map(float, sys.argv[3:9])
r = json.load(open(sys.argv[9]))
window = s1 - s0
cpu = (t1 - t0) / hz
deliveries = r["deliveries_per_s"] * window
per100k = cpu / deliveries * 1e5 if deliveries else float("nan")
sent = r["says_sent"] if "room" in r else r["broadcasts_sent"]
print(f"RESULT label={label} proto={transport} conns={r['clients']} senders=10 rate_per_sender=2.0 size=64 "
      f"window_s={r['window_s']} sent={sent} delivered={r['deliveries']} expected={r['expected']} "
      f"delivery_ratio={r['delivery_ratio']} deliv_per_s={r['deliveries_per_s']} lat_ms_p50={r['latency_ms_p50']} "
      f"p90={r['latency_ms_p90']} p99={r['latency_ms_p99']} p999={r['latency_ms_p999']} max={r['latency_ms_max']} "
      f"server_cpu_s={cpu:.3f} server_cpu_util={cpu / window:.2f} server_cpu_s_per_100k={per100k:.3f} "
      f"driver_cpu_util={r['driver_cpu_util']} server_rss_kib={int(rss)} errors={r['errors']} clients_failed={r['clients_failed']} "
      f"driver=parley-bench" + (f" room={r['room']} joins_failed={r['joins_failed']}" if "room" in r else ""))
PY
}
# The modes driven by `parley bench` against either door of one server (room, room-pairs, tls): sets the caller's
# `transport` and `floor` (the C floor on the same door) for SERVER, parley (WebSocket) or parley-tcp.
parley_door() { # SERVER MODE
  case "$1" in
    parley) transport=ws floor=chatd ;;
    parley-tcp) transport=tcp floor=chatd-tcp ;;
    *) echo "$2 runs against parley and parley-tcp" >&2; exit 2 ;;
  esac
}
door() { [ "$transport" = tcp ] && echo "$TCP_PORT" || echo "$PORT"; }  # the running server's port for `transport`
room_mode() { # SERVER: parley (WebSocket) or parley-tcp
  local server=$1 transport floor
  parley_door "$server" room
  start $floor; LABEL=$floor-20k; drive $floor "$LABEL" 1000 10 2.002; stop
  # The floor's broadcast by the room's own driver too: the fair pair for the room (drivers read differently,
  # which moves the server's CPU by up to a fifth).
  start $floor; LABEL=$floor-bench-20k; pbench_result "$LABEL" "$(door)" $transport; stop
  start "$server"; LABEL=$server-20k; drive "$server" "$LABEL" 1000 10 2.002; stop
  start "$server"; LABEL=$server-bench-20k; pbench_result "$LABEL" "$(door)" $transport; stop
  start "$server"; LABEL=$server-room-20k; pbench_result "$LABEL" "$(door)" $transport --room bench; stop
}
# room-pairs: the room against the floor's broadcast, both driven by `parley bench`, back to back $ROUNDS times (default 6),
# the order swapped every round so that a drift of the machine in one direction weighs on both sides alike. Each
# round's ratio comes from two runs a minute apart instead of five runs minutes apart, which is what the room mode
# gives: ROOM_PAIR lines per round, then ROOM_PAIRS with the mean, median and range of the ratios.
room_pairs_mode() { # SERVER: parley (WebSocket) or parley-tcp
  local server=$1 transport floor i
  parley_door "$server" room-pairs
  floor_run() { start $floor; LABEL=$floor-bench-20k-r$1; pbench_result "$LABEL" "$(door)" $transport > /dev/null; stop; }
  room_run() { start "$server"; LABEL=$server-room-20k-r$1; pbench_result "$LABEL" "$(door)" $transport --room bench > /dev/null; stop; }
  for i in $(seq "${ROUNDS:-6}"); do
    if [ $((i % 2)) = 1 ]; then floor_run "$i"; room_run "$i"; else room_run "$i"; floor_run "$i"; fi
  done
  python3 "$ROOT/bench/pairs.py" "$OUT" ROOM "$floor-bench-20k" "$server-room-20k" "${ROUNDS:-6}" room | tee -a "$OUT"
}
# direct-pairs: durable direct messages at 20k/s (the `direct` load) against the floor, back to back $ROUNDS times
# (default 6), the order swapped every round as in room-pairs: DIRECT_PAIR lines per round, then DIRECT_PAIRS with
# the mean, median and range of the CPU ratios and the p99s. A round's ratio comes from two runs a minute apart.
direct_pairs_mode() { # SERVER: parley, parley-acks, parley-tcp or parley-tcp-acks
  local server=$1 floor=chatd i
  case "$server" in parley|parley-acks) ;; parley-tcp|parley-tcp-acks) floor=chatd-tcp ;;
    *) echo "direct-pairs runs against parley, parley-acks, parley-tcp and parley-tcp-acks" >&2; exit 2 ;;
  esac
  pair_run() { start "$1"; LABEL=$1-direct-r$2; drive "$1" "$LABEL" 1000 200 100 --direct 1 > /dev/null; stop; }
  for i in $(seq "${ROUNDS:-6}"); do
    if [ $((i % 2)) = 1 ]; then pair_run $floor "$i"; pair_run "$server" "$i"; else pair_run "$server" "$i"; pair_run $floor "$i"; fi
  done
  python3 "$ROOT/bench/pairs.py" "$OUT" DIRECT "$floor-direct" "$server-direct" "${ROUNDS:-6}" | tee -a "$OUT"
}
room_replay_mode() {
  start parley; LABEL=parley-room-replay
  echo "LOAD label=$LABEL $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
  taskset -c 0 python3 bench/room_replay.py --port "$PORT" --pid "$PID" --runs "${RUNS:-5}" --label "$LABEL" | tee -a "$OUT"
  taskset -c 0 python3 bench/room_replay.py --port "$PORT" --pid "$PID" --runs "${RUNS:-5}" --label "$LABEL-token" \
    --reader u2 --resume token | tee -a "$OUT"
  stop
}


[ "$mode" = reference ] && { reference_mode; exit 0; }  # needs neither the build nor the accounts
# run MODE SERVER: one mode against one server.
run() {
  local mode=$1 server=$2
  case "$mode" in
    fixed) start "$server"; LABEL=$server-20k; drive "$server" "$LABEL" 1000 10 2.002; stop ;;
    sat)
      for r in 40 80; do
        start "$server"; LABEL=$server-$((r * 10))k; drive "$server" "$LABEL" 1000 10 $r; stop
      done ;;
    rate)
      for r in ${RATES:-120 160}; do
        start "$server"; LABEL=$server-$((r * 10))k; drive "$server" "$LABEL" 1000 10 "$r"; stop
      done ;;
    direct) start "$server"; LABEL=$server-direct; drive "$server" "$LABEL" 1000 200 100 --direct 1; stop ;;
    direct-5k) start "$server"; LABEL=$server-direct-5k; drive "$server" "$LABEL" 1000 200 25 --direct 1; stop ;;
    presence)
      case "$server" in parley|parley-cluster) ;; *) echo "presence runs against parley and parley-cluster" >&2; exit 2 ;; esac
      start "$server"; LABEL=$server-presence; presence_mode "$server"; stop ;;
    death)
      [ "$server" = parley-cluster ] || { echo "death runs against parley-cluster" >&2; exit 2; }
      start "$server"; LABEL=$server-death; death_mode; stop ;;
    direct-sat)
      for r in ${RATES:-300 400}; do
        start "$server"; LABEL=$server-direct-$((r * 200 / 1000))k
        drive "$server" "$LABEL" 1000 200 "$r" --direct 1; stop
      done ;;
    idle)
      start "$server"; LABEL=$server-idle
      wsload "$server" --mode idle --steps "${STEPS:-1000,5000}" --settle "${SETTLE:-2}" --label "$LABEL"
      stop ;;
    storm|guess|slow)
      case "$server" in parley*) ;; *) echo "$mode runs against parley only" >&2; exit 2 ;; esac
      start "$server"; LABEL=$server-$mode-base; drive "$server" "$LABEL" 1000 10 2.002; stop
      # The storm cycles 200 accounts at 200/s: the per-account login limit (10/min) would refuse nearly all of
      # it before hashing, which is the cheap case. It is off here so that every attempt reaches the hasher.
      case "$mode" in
        storm) start "$server" --limit login-account=off
               side "$server-$mode" --logins "${LOGINS:-200}" --users 200 --user-prefix s ;;
        # Password guessing: the same storm with a wrong password. No presence lines (nobody gets in), so this
        # isolates the hashing; each account locks after 3 guesses, 600 hashes in all, more than a run can do.
        guess) start "$server" --limit login-account=off
               side "$server-$mode" --logins "${LOGINS:-200}" --users 200 --user-prefix s --password wrong-guess ;;
        slow)  start "$server"
               side "$server-$mode" --stalled "${STALLED:-20}" --user-prefix s --inflight 4 ;;
      esac
      LABEL=$server-$mode; drive "$server" "$LABEL" 1000 10 2.002; wait "$SIDE_PID"; stop ;;
    room) room_mode "$server" ;;
    room-pairs) room_pairs_mode "$server" ;;
    direct-pairs) direct_pairs_mode "$server" ;;
    room-replay)
      [ "$server" = parley ] || { echo "room-replay runs against parley" >&2; exit 2; }
      room_replay_mode ;;
    tls)
      tls_certs
      tls_mode "$server"
      case "$server" in parley-tcp)
        handshakes handshakes-ecdsa-p256 ec; handshakes handshakes-rsa-2048 rsa ;;
      esac ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
}

build "$@"
seed
if [ "$mode" = cluster ]; then
  cluster_suite
else
  for server in "$@"; do run "$mode" "$server"; done
fi
