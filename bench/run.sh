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
#   direct-sat  the same clients at 300 and 400 msg/s per sender: 60k and 80k durable direct messages/s offered
#   idle     log in $STEPS clients (default 1000,5000) and read the server's RSS: KiB per connection
#   storm    fixed load, first quiet (SERVER-storm-base), then with a login storm of $LOGINS attempts/s (default 200)
#   guess    the same with wrong passwords: a password-guessing storm, hashing without presence lines
#   slow     fixed load, first quiet (SERVER-slow-base), then with $STALLED clients (default 20) that log in and stop reading
# SERVER
#   parley | parley-tcp          the release build, one event loop pinned to CPU 1 (WebSocket / native TCP)
#   parley-2cpu | parley-tcp-2cpu  two event loops, unpinned (shares CPU 0 with the driver)
#   parley-acks | parley-tcp-acks  as parley, the driver's clients log in with acks and ack what they read
#   chatd | chatd-tcp            shared/bench/c-epoll/chatd --mode batch --parley: the physical floor
#   node                         shared/bench/node-ws on Debian's node-ws (the peer protocol; WebSocket only)
#   hummingbird                  shared/bench/hummingbird-chat (SwiftNIO; the peer protocol; WebSocket only)
#
# Environment: OUT (results file, default .build-bench/results.txt), DUR (measured s, default 10), WARM (default 3),
# SHARED (the peers, default ../shared/bench beside the project), NO_BUILD=1 to skip the builds.
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
PARLEY=$ROOT/.build-perf/release/parley
mode=${1:-} && shift || true
[ -n "$mode" ] && [ $# -gt 0 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
mkdir -p "$BENCH"

build() {
  [ "${NO_BUILD:-0}" = 1 ] && return
  scripts/bootstrap --no-venv >/dev/null
  # The node peer runs on Debian's packaged ws (a benchmark-only dependency, so not in scripts/bootstrap).
  if ! command -v node >/dev/null || [ ! -d /usr/share/nodejs/ws ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs node-ws >/dev/null
  fi
  swift build -c release --scratch-path .build-perf --product parley 2>&1 | tail -1
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

PID="" PORT="" TCP_PORT="" SERVER="" LABEL=""
start() { # SERVER [extra parley options...]
  local name=$1; shift
  SERVER=$name
  local pin="taskset -c 1" loops=1 log=$BENCH/server.log
  case "$name" in *-2cpu) pin="" loops=2 ;; esac
  PORT=$((9300 + RANDOM % 500))  # the peers take a port on their command line; Parley picks its own (port 0)
  case "$name" in
    parley*)
      rm -rf "$BENCH/run-data" && cp -a "$BENCH/seed-data" "$BENCH/run-data"
      $pin "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$BENCH/run-data" --credentials "$BENCH/no-credentials.txt" \
        --loops $loops --limit messages=off --log-level warning "$@" > "$log" 2>&1 &
      PID=$!
      until grep -q "parley listening" "$log"; do sleep 0.2; kill -0 $PID || { cat "$log"; exit 1; }; done
      TCP_PORT=$(sed -n 's/.*tcp=\([0-9]*\).*/\1/p' "$log" | head -1)
      PORT=$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$log" | head -1) ;;
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
    curl -s "http://127.0.0.1:$PORT/metrics" \
      | grep -E '^parley_(frames_written|write_syscalls|frames_per|output_queue_high|slow_consumer|logins_total)' \
      | sed "s/^/METRICS $LABEL /" >> "$OUT" || true
  fi
  kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true
  PID="" && sleep 0.5
}
trap stop EXIT

# drive SERVER LABEL C S R [wsload options...]: one measured run, one RESULT line appended to $OUT.
drive() {
  local name=$1 label=$2 c=$3 s=$4 r=$5; shift 5
  wsload "$name" -c "$c" -s "$s" -r "$r" -d "$DUR" -w "$WARM" --size 64 --label "$label" --quiet "$@"
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

build "$@"
seed
for server in "$@"; do
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
    direct-sat)
      for r in ${RATES:-300 400}; do
        start "$server"; LABEL=$server-direct-$((r * 200 / 1000))k
        drive "$server" "$LABEL" 1000 200 "$r" --direct 1; stop
      done ;;
    idle)
      start "$server"; LABEL=$server-idle
      wsload "$server" --mode idle --steps "${STEPS:-1000,5000}" --label "$LABEL"
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
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
done
