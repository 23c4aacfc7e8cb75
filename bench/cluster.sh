# The cluster part of bench/run.sh, sourced by it: Parley on PostgreSQL (`parley-pg`) and three nodes on one
# PostgreSQL and one Redis (`parley-cluster`), measured beside the single SQLite node by the same driver.
#
# A throwaway PostgreSQL and Redis are started once per invocation (the first time a server or mode needs them)
# and stopped on exit. Both run on CPU 1, beside the nodes, so that everything on the server side shares the one
# core the single node has; their CPU is read separately and reported beside the nodes' sum. INFRA_CPUS=0,1
# leaves them unpinned instead (they then share CPU 0 with the driver). The 5200
# benchmark accounts are imported once into the database `parley_seed` (through the credentials import, with
# real argon2id hashes, as for the SQLite template); every run gets `parley_run`, a fresh copy of it (CREATE
# DATABASE ... TEMPLATE), and an empty Redis.

INFRA=$BENCH/infra
PG_URL="" PG_BASE="" REDIS_URL=""

infra_start() {
  [ -z "$PG_URL" ] || return 0
  mkdir -p "$INFRA"
  PG_URL=$(taskset -c "${INFRA_CPUS:-1}" scripts/throwaway-postgres start "$INFRA/pg")
  PG_BASE=${PG_URL%/*}  # postgresql://parley@127.0.0.1:PORT, databases appended
  REDIS_URL=$(taskset -c "${INFRA_CPUS:-1}" scripts/throwaway-redis start "$INFRA/redis")
  echo "INFRA postgres=$PG_URL redis=$REDIS_URL cpus=${INFRA_CPUS:-1}" >> "$OUT"
}
infra_stop() {
  [ -n "$PG_URL" ] || return 0
  scripts/throwaway-redis stop "$INFRA/redis" || true
  scripts/throwaway-postgres stop "$INFRA/pg" || true
  PG_URL=""
}
pg_sql() { PGOPTIONS="-c client_min_messages=warning" psql "$PG_BASE/parley" -qAtc "$1"; }
redis_port() { echo "${REDIS_URL##*:}"; }
pg_pid() { head -1 "$INFRA/pg/data/postmaster.pid"; }
redis_pid() { cat "$INFRA/redis/redis.pid"; }

# The template database: seeded under another name and renamed when complete, so a seeding that was
# interrupted is never taken for a template. `parley migrate` copies the SQLite template when the binary has it;
# otherwise a node started once on the empty database creates the schema and the accounts are copied from the
# SQLite template as they are (name, argon2id hash, creation time: the rows `migrate` writes). Importing the
# credentials file again would give the same rows and take minutes of hashing on this machine.
pg_seed() {
  infra_start
  [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname = 'parley_seed'")" = 1 ] && return
  echo "copying the 5200 benchmark accounts into PostgreSQL (once)..." >&2
  pg_sql "DROP DATABASE IF EXISTS parley_seeding WITH (FORCE)"
  pg_sql "CREATE DATABASE parley_seeding"
  if "$PARLEY" --help 2>&1 | grep -qw migrate; then
    "$PARLEY" migrate --from "$BENCH/seed-data" --postgres "$PG_BASE/parley_seeding" > "$BENCH/pg-seed.log" 2>&1
  else
    "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$BENCH/pg-seed-unused" \
      --credentials "$BENCH/no-credentials.txt" --postgres "$PG_BASE/parley_seeding" > "$BENCH/pg-seed.log" 2>&1 &
    local pid=$!
    until grep -q "parley listening" "$BENCH/pg-seed.log"; do sleep 0.2; kill -0 $pid || { cat "$BENCH/pg-seed.log"; exit 1; }; done
    kill -TERM $pid && wait $pid || true
    sqlite3 -csv "$BENCH/seed-data/parley.db" "SELECT name, password_hash, created_at FROM accounts ORDER BY id" \
      | psql "$PG_BASE/parley_seeding" -qc "\\copy accounts (name, password_hash, created_at) FROM STDIN CSV"
  fi
  [ "$(psql "$PG_BASE/parley_seeding" -qAtc "SELECT count(*) FROM accounts")" = 5200 ] || { echo "seeding failed" >&2; exit 1; }
  pg_sql "ALTER DATABASE parley_seeding RENAME TO parley_seed"
}
pg_fresh() {
  pg_sql "DROP DATABASE IF EXISTS parley_run WITH (FORCE)"
  pg_sql "CREATE DATABASE parley_run TEMPLATE parley_seed"
  redis-cli -p "$(redis_port)" flushall > /dev/null
}

# node_start NAME [parley options...]: one node on parley_run, pinned to CPU 1 like the single node; its pid,
# HTTP and TCP ports are appended to SERVER_PIDS, HTTP_PORTS and TCP_PORTS.
node_start() {
  local name=$1; shift
  local log=$BENCH/node-$name.log
  : > "$log"
  taskset -c 1 "$PARLEY" serve 0 60 3600 --http-port 0 --data-dir "$BENCH/pg-run-unused" \
    --credentials "$BENCH/no-credentials.txt" --loops 1 --limit messages=off --log-level warning \
    --postgres "$PG_BASE/parley_run" "$@" > "$log" 2>&1 &
  local pid=$!
  until grep -q "parley listening" "$log"; do sleep 0.2; kill -0 $pid || { cat "$log"; exit 1; }; done
  SERVER_PIDS+=("$pid")
  HTTP_PORTS+=("$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$log" | head -1)")
  TCP_PORTS+=("$(sed -n 's/.*tcp=\([0-9]*\).*/\1/p' "$log" | head -1)")
}

# cluster_start parley-pg|parley-cluster [parley options...]: one node without Redis, or three on one Redis.
# PID, PORT and TCP_PORT name the first node (the driver's --pid and the door the single-node code uses).
cluster_start() {
  local name=$1; shift
  pg_seed
  pg_fresh
  SERVER_PIDS=() HTTP_PORTS=() TCP_PORTS=()
  case "$name" in
    parley-pg) node_start pg "$@" ;;
    parley-cluster) for n in n1 n2 n3; do node_start "$n" --redis "$REDIS_URL" --node "$n" "$@"; done ;;
  esac
  PID=${SERVER_PIDS[0]} PORT=${HTTP_PORTS[0]} TCP_PORT=${TCP_PORTS[0]}
}

# tree_ticks PID: a process's CPU (utime+stime) with that of its children, live or reaped (PostgreSQL's backends).
tree_ticks() {
  local total child
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat")
  for child in $(pgrep -P "$1"); do
    total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# server_cpu_window LABEL DRIVER_STDERR: the server side's CPU over the driver's measured window (it begins WARM
# seconds after the driver reports its clients logged in, and lasts DUR). Prints one NODES line once the driver's
# RESULT line is in $OUT: every node's CPU, their sum per 100k deliveries, and PostgreSQL's and Redis's CPU.
server_cpu_window() {
  local label=$1 err=$2 driver=$3
  until grep -q "connected+logged" "$err" 2>/dev/null; do sleep 0.05; kill -0 "$driver" 2>/dev/null || return 0; done
  sleep "$WARM"
  local nodes0=() nodes1=() pid pg0 pg1=0 rd0 rd1=0 s0 s1
  for pid in "${SERVER_PIDS[@]}"; do nodes0+=("$(cpu_ticks "$pid")"); done
  pg0=$( [ -n "$PG_URL" ] && tree_ticks "$(pg_pid)" || echo 0)
  rd0=$( [ -n "$PG_URL" ] && cpu_ticks "$(redis_pid)" || echo 0)
  s0=$(date +%s.%N)
  case "$label" in parley-pg-*|parley-cluster-*) pg_waits "$label" & ;; esac
  sleep "$DUR"
  for pid in "${SERVER_PIDS[@]}"; do nodes1+=("$(cpu_ticks "$pid")"); done
  [ -n "$PG_URL" ] && pg1=$(tree_ticks "$(pg_pid)") && rd1=$(cpu_ticks "$(redis_pid)")
  s1=$(date +%s.%N)
  wait "$driver" || true
  python3 - "$label" "$(getconf CLK_TCK)" "$s0" "$s1" "$pg0" "$pg1" "$rd0" "$rd1" "${nodes0[*]}" "${nodes1[*]}" "$OUT" \
    <<'PY' | tee -a "$OUT"
import re, sys
label, hz, s0, s1, pg0, pg1, rd0, rd1 = sys.argv[1], *map(float, sys.argv[2:9])
n0, n1, out = [int(x) for x in sys.argv[9].split()], [int(x) for x in sys.argv[10].split()], sys.argv[11]
result = [l for l in open(out) if l.startswith(f"RESULT label={label} ")]
if not result:
    sys.exit(0)
f = dict(re.findall(r"(\w+)=(\S+)", result[-1]))
window = s1 - s0
deliveries = float(f["deliv_per_s"]) * window
nodes = [(b - a) / hz for a, b in zip(n0, n1)]
per100k = lambda cpu: cpu / deliveries * 1e5 if deliveries else float("nan")
print(f"NODES label={label} nodes={len(nodes)} window_s={window:.2f} deliv_per_s={f['deliv_per_s']} "
      f"p50={f['lat_ms_p50']} p99={f['p99']} node_cpu_s={','.join(f'{c:.2f}' for c in nodes)} "
      f"nodes_cpu_s={sum(nodes):.2f} nodes_cpu_s_per_100k={per100k(sum(nodes)):.3f} "
      f"pg_cpu_s={(pg1 - pg0) / hz:.2f} pg_cpu_s_per_100k={per100k((pg1 - pg0) / hz):.3f} "
      f"redis_cpu_s={(rd1 - rd0) / hz:.2f} redis_cpu_s_per_100k={per100k((rd1 - rd0) / hz):.3f}")
PY
}

# pg_waits LABEL: what the store's connections wait on during the window, sampled every 0.25 s (a PGWAIT line:
# wait event and count; "running" is a backend on the CPU): lock waits between nodes, commits (WAL fsync), client.
pg_waits() {
  local i
  for i in $(seq $((DUR * 4))); do
    psql "$PG_BASE/parley_run" -qAtc "SELECT coalesce(wait_event_type || ':' || wait_event, 'running') FROM pg_stat_activity
      WHERE datname = 'parley_run' AND pid <> pg_backend_pid() AND state = 'active'" 2>/dev/null
    sleep 0.25
  done | sort | uniq -c | awk -v l="$1" '{w = w " " $2 "=" $1} END {print "PGWAIT label=" l w}' >> "$OUT"
}

# -- presence, node death, reference capacities -----------------------------------------------------------------
# presence SERVER: 200 logins on one node (the first) watched from another (the second; the single node watches
# itself): the time from the login's welcome to the watcher's presence `in`, and from `bye` to `out`.
presence_mode() {
  local server=$1 watch=${TCP_PORTS[1]:-$TCP_PORT}
  echo "LOAD label=$server-presence $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
  taskset -c 0 python3 bench/cluster_probe.py presence --login-port "${TCP_PORTS[0]:-$TCP_PORT}" \
    --watch-port "$watch" --rounds "${ROUNDS:-200}" --label "$server-presence" | tee -a "$OUT"
}
# death: $KILLS times (default 3), a fourth node with one user on it is killed with SIGKILL while a watcher on
# the first node waits for that user's presence `out`.
death_mode() {
  local i vpid
  for i in $(seq "${KILLS:-3}"); do
    node_start "victim$i" --redis "$REDIS_URL" --node "victim$i"
    vpid=${SERVER_PIDS[-1]}
    taskset -c 0 python3 bench/cluster_probe.py death --watch-port "${TCP_PORTS[0]}" --victim-port "${TCP_PORTS[-1]}" \
      --victim-pid "$vpid" --victim-user "u$((4000 + i))" --label "parley-cluster-death" | tee -a "$OUT"
    wait "$vpid" 2>/dev/null || true
    unset 'SERVER_PIDS[-1]' 'HTTP_PORTS[-1]' 'TCP_PORTS[-1]'
  done
}
# reference: what the throwaway servers themselves sustain, clients on CPU 0 and servers on CPU 1.
reference_mode() {
  infra_start
  echo "LOAD label=reference $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
  local port; port=$(redis_port)
  taskset -c 0 redis-benchmark -p "$port" -q -n 200000 -P 16 -t set,get | tr '\r' '\n' | grep -E '^(SET|GET): .*requests per second' \
    | sed 's/^/REF redis /' | tee -a "$OUT"
  taskset -c 0 redis-benchmark -p "$port" -q -n 200000 -P 16 publish parley:x hello | tr '\r' '\n' \
    | grep -E 'requests per second' | tail -1 | sed 's/^/REF redis PUBLISH /' | tee -a "$OUT"
  pg_sql "DROP DATABASE IF EXISTS parley_pgbench WITH (FORCE)"
  pg_sql "CREATE DATABASE parley_pgbench"
  pgbench -q -i -s 10 "$PG_BASE/parley_pgbench" > "$BENCH/pgbench-init.log" 2>&1
  local kind flags
  for kind in tpcb simple-update; do
    flags=() && [ $kind = simple-update ] && flags=(-N)
    taskset -c 0 pgbench -c 4 -T 20 "${flags[@]}" "$PG_BASE/parley_pgbench" 2>&1 \
      | grep -E '^(tps|latency average|number of failed)' | tr '\n' ' ' | sed "s/^/REF pgbench $kind /; s/\$/\n/" \
      | tee -a "$OUT"
  done
  pg_sql "DROP DATABASE parley_pgbench WITH (FORCE)"
}

# The `cluster` mode: every figure of docs/PERFORMANCE.md "Three nodes", each figure's servers one after the other.
cluster_suite() {
  local server
  for server in parley parley-pg parley-cluster; do run fixed "$server"; done
  for server in parley parley-pg parley-cluster; do run direct-5k "$server"; done
  for server in parley parley-cluster; do run presence "$server"; done
  run death parley-cluster
  reference_mode
}
