# The TLS part of bench/run.sh, sourced by it: `bench/run.sh tls parley-tcp parley` (run.sh's usage text says what
# the mode measures). Uses run.sh's settings and helpers (start, stop, door, cpu_ticks).

# -- tls mode ------------------------------------------------------------------------------------------------
# Every row is driven by `parley bench` (the same binary, the same schedule: 1000 clients, 10 senders, 20.02 msg/s
# in all, 20k deliveries/s), so the three ways differ only in who does the TLS. CPU is read from /proc/PID/stat
# (utime+stime, all threads) over the measured window: once all 1000 clients are online, after the warm-up.
TLS_DIR=$BENCH/tls
tls_certs() {
  mkdir -p "$TLS_DIR"
  [ -f "$TLS_DIR/rsa.pem" ] && return
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -keyout "$TLS_DIR/ec.key" \
    -out "$TLS_DIR/ec.pem" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$TLS_DIR/rsa.key" \
    -out "$TLS_DIR/rsa.pem" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
}
PROXY_PID="" PROXY_PORT=""
proxy_start() { # TARGET_PORT: nginx (one worker, CPU 1) terminating TLS in front of the plaintext door
  PROXY_PORT=$((9800 + RANDOM % 100))
  cat > "$BENCH/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid $BENCH/nginx.pid;
error_log $BENCH/nginx.log warn;
events { worker_connections 16384; }
stream {
  server {
    listen 127.0.0.1:$PROXY_PORT ssl;
    proxy_pass 127.0.0.1:$1;
    ssl_certificate $TLS_DIR/ec.pem;
    ssl_certificate_key $TLS_DIR/ec.key;
    ssl_protocols TLSv1.2 TLSv1.3;
  }
}
CONF
  taskset -c 1 nginx -c "$BENCH/nginx.conf" -e "$BENCH/nginx.log" &
  PROXY_PID=$!
  for _ in $(seq 100); do ss -ltn "sport = :$PROXY_PORT" | grep -q LISTEN && break; sleep 0.1; done
}
proxy_stop() {
  [ -n "$PROXY_PID" ] || return 0
  kill -TERM "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=""
}
# pbench LABEL PORT TRANSPORT [parley bench options...]: the fixed load, one TLS line appended to $OUT.
pbench() {
  local label=$1 port=$2 transport=$3; shift 3
  taskset -c 0 "$PARLEY" bench --port "$port" --transport "$transport" -c 1000 -s 10 -r 20.02 -d "$DUR" -w "$WARM" \
    --user-prefix u --inflight 32 --json "$@" > "$BENCH/pbench.json" &
  local bench=$!
  until curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^parley_online_users /{exit !($2 >= 1000)}'; do
    sleep 0.2; kill -0 $bench 2>/dev/null || break
  done
  sleep "$WARM"
  local pids=("$PID") && [ -n "$PROXY_PID" ] && pids+=($(pgrep -d ' ' -P "$PROXY_PID") "$PROXY_PID")
  local t0 t1 s0 s1
  t0=$(cpu_ticks "${pids[@]}") s0=$(date +%s.%N)
  sleep "$DUR"
  t1=$(cpu_ticks "${pids[@]}") s1=$(date +%s.%N)
  wait $bench || true
  python3 - "$label" "$(getconf CLK_TCK)" "$t0" "$t1" "$s0" "$s1" "$BENCH/pbench.json" <<'PY' | tee -a "$OUT"
import json, sys
label, hz, t0, t1, s0, s1, path = sys.argv[1], *map(float, sys.argv[2:7]), sys.argv[7]
r = json.load(open(path))
cpu = (t1 - t0) / hz
deliveries = r["deliveries_per_s"] * (s1 - s0)
per100k = cpu / deliveries * 1e5 if deliveries else float("nan")
print(f"TLS label={label} clients={r['clients']} deliveries_per_s={r['deliveries_per_s']} "
      f"delivery_ratio={r['delivery_ratio']} p50_ms={r['latency_ms_p50']} p99_ms={r['latency_ms_p99']} "
      f"cpu_s={cpu:.2f} window_s={s1 - s0:.2f} cpu_s_per_100k={per100k:.3f}")
PY
}
handshake_count() { # s_time outputs...: the full handshakes they made, in all
  sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$@" | awk '{n += $1} END {print n + 0}'
}
# handshakes LABEL CERT: full TLS handshakes against the native TCP port (ECDSA or RSA certificate), $SHAKERS
# openssl s_time processes on CPU 0 for $DUR seconds; the server's CPU seconds per handshake give the rate one
# core sustains whether or not the clients saturate it.
handshakes() {
  local label=$1 cert=$2
  start parley-tcp --tls-cert "$TLS_DIR/$cert.pem" --tls-key "$TLS_DIR/$cert.key"
  local t0 t1 i shakers=()
  t0=$(cpu_ticks "$PID")
  for i in $(seq "${SHAKERS:-4}"); do
    taskset -c 0 openssl s_time -connect "127.0.0.1:$TCP_PORT" -new -time "$DUR" > "$BENCH/s_time.$i" 2>&1 &
    shakers+=($!)
  done
  wait "${shakers[@]}" || true
  t1=$(cpu_ticks "$PID")
  local count
  count=$(handshake_count "$BENCH"/s_time.*)
  python3 -c "import sys; n, cpu, d = int(sys.argv[1]), (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]), float(sys.argv[5]);
print(f'TLS label=$label handshakes={n} per_s={n / d:.0f} server_cpu_s={cpu:.2f} per_cpu_s={n / cpu if cpu else 0:.0f}')" \
    "${count:-0}" "$t0" "$t1" "$(getconf CLK_TCK)" "$DUR" | tee -a "$OUT"
  rm -f "$BENCH"/s_time.*
  stop
}
tls_mode() { # SERVER: parley (WebSocket) or parley-tcp
  local server=$1 transport floor
  parley_door "$server" tls
  local cert=(--tls-cert "$TLS_DIR/ec.pem" --tls-key "$TLS_DIR/ec.key") trust=(--tls --ca "$TLS_DIR/ec.pem")
  start "$server"; LABEL=$server-tls-plain; pbench "$LABEL" "$(door)" $transport; stop
  start "$server" "${cert[@]}"; LABEL=$server-tls-parley; pbench "$LABEL" "$(door)" $transport "${trust[@]}"; stop
  start "$server"; proxy_start "$(door)"; LABEL=$server-tls-nginx
  pbench "$LABEL" "$PROXY_PORT" $transport "${trust[@]}"; proxy_stop; stop
  # Others' latency beside a handshake storm: the TLS fan-out, then the same with s_time hammering the TCP port.
  start "$server" "${cert[@]}"; LABEL=$server-tls-storm
  (until curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^parley_online_users /{exit !($2 >= 1000)}'; do sleep 0.2; done
   for i in $(seq "${SHAKERS:-4}"); do
     # Niced: the storm's clients share CPU 0 with the driver, whose own latency must not be what suffers.
     nice -n 19 taskset -c 0 openssl s_time -connect "127.0.0.1:$TCP_PORT" -new -time $((WARM + DUR)) \
       > "$BENCH/storm.$i" 2>&1 &
   done; wait
   echo "TLS label=$LABEL-side handshakes=$(handshake_count "$BENCH"/storm.*) seconds=$((WARM + DUR))" | tee -a "$OUT"
   rm -f "$BENCH"/storm.*) &
  SIDE_PID=$!
  pbench "$LABEL" "$(door)" $transport "${trust[@]}"; wait "$SIDE_PID"; stop
}
