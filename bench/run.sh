#!/usr/bin/env bash
# bench/run.sh [--smoke] — Toru's benchmarks, side by side with what a user would run instead.
#
# Builds release binaries, installs what it needs (wrk, nginx-light) when missing, and runs the
# scenarios of issue 10 after a warm-up, 3 times each, printing every run:
#   1 forwarding: wrk -t2 -c64 and -t1 -c1 against GET /hello through the daemon (session
#     cookie), through nginx (2 workers, keepalive 64 to a hyper server on a Unix socket), and
#     against that hyper server directly over TCP;
#   2 protocol floor: ping/pong over one plugin connection (toru-bench floor), also with both
#     processes pinned to one CPU, which shows what a cross-CPU wake-up costs;
#   3 enable → ready, embedded and under systemd (in scripts/systemd-sandbox);
#   4 idle RSS with 10 plugins, 200 plugins enabled at once, the plugin list with 200;
#   5 KV get latency and durable set throughput, measured inside a plugin;
#   6 load under plugin kill -9 with the list polled; slowloris against normal requests;
#   7 hostile clients: 100 parallel logins from ever new 127.x addresses, then 1100 idle,
#     HTTP/2-preface and trickling sockets, each against GET /api/status, with the daemon's RSS.
#   8 hostile plugins (issue 16): one stops reading its socket, one floods KV sets, while the
#     API's status and another plugin's KV are asked for; prints the daemon's RSS and the p99.
#     Each attack of 7 and 8 meets a freshly started daemon of its own.
# Prints a table and writes target/bench/results.json. Traffic goes only to 127.0.0.1 and Unix
# sockets; every load is bounded in time. Thread counts are pinned: daemon and plugins run 2
# tokio workers (TOKIO_WORKER_THREADS), nginx 2 workers, the hyper baseline 2, wrk -t2.
#
# --smoke (or TORU_BENCH_SMOKE=1) runs everything very briefly, to check the harness works; the
# figures of a smoke run mean nothing. --profile (or TORU_BENCH_PROFILE=1) also samples the
# daemon and the plugin with `perf record -e cpu-clock` during one more c64 run and writes the
# hottest symbols to target/bench/perf-report.txt. Needs root (nginx, the systemd sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

smoke=${TORU_BENCH_SMOKE:-0}
profile=${TORU_BENCH_PROFILE:-0}
for arg in "$@"; do
  case $arg in
    --smoke) smoke=1 ;;
    --profile) profile=1 ;;
    *) echo "usage: bench/run.sh [--smoke] [--profile]" >&2; exit 2 ;;
  esac
done
if ((smoke)); then
  wrk_secs=1 warm_secs=1 floor_n=2000 floor_secs=0.5 kv_n=200 scale_runs=1 idle_settle=1
  fault_secs=8 fault_every=2 fault_warm=1 slow_conns=200 slow_secs=3 list_n=50
  attack_logins=20 attack_idle=1100 attack_secs=2
else
  wrk_secs=10 warm_secs=3 floor_n=20000 floor_secs=5 kv_n=2000 scale_runs=3 idle_settle=5
  fault_secs=60 fault_every=5 fault_warm=5 slow_conns=1000 slow_secs=15 list_n=500
  attack_logins=100 attack_idle=1100 attack_secs=15
fi

out=$root/target/bench
mkdir -p "$out"
figures=$out/figures.jsonl
: >"$figures"
work=$(mktemp -d /tmp/toru-bench.XXXXXX)
chmod 755 "$work"
pids=()
sandbox_name=toru-bench-$$

log() { printf '[bench %3ss] %s\n' "$SECONDS" "$*" >&2; }

# Stops what this script started, by pid: daemons get SIGTERM (they stop their plugins).
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  scripts/systemd-sandbox stop "$sandbox_name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# ------------------------------------------------------------------ setup ---
[[ $(id -u) -eq 0 ]] || { echo "bench/run.sh needs root (nginx, the systemd sandbox)" >&2; exit 1; }
needed=(wrk nginx-light curl python3 systemd dbus libnss-systemd util-linux procps)
missing=()
for pkg in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  # The packaged nginx service is not wanted: only our own instance runs, on 127.0.0.1.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

log "building release binaries"
cargo build --release -q -p toru-daemon -p toru-bench
bin=$root/target/release
bench=$bin/toru-bench
export TOKIO_WORKER_THREADS=2 NO_COLOR=1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_daemon NAME [EXTRA ARGS...]: a daemon on $work/NAME with the embedded supervisor.
# Sets D_PID, D_PORT, D_SOCK, D_DIR. Plugins go to $D_DIR/plugins before or after.
start_daemon() {
  local name=$1; shift
  D_DIR=$work/$name
  mkdir -p "$D_DIR/plugins"
  D_SOCK=$D_DIR/run/toru.sock
  "$bin/toru-daemon" --config /dev/null --supervisor embedded --listen 127.0.0.1:0 \
    --data-dir "$D_DIR/data" --plugins-dir "$D_DIR/plugins" --runtime-dir "$D_DIR/run" \
    --log-dir "$D_DIR/logs" "$@" 2>"$D_DIR/daemon.log" &
  D_PID=$!
  pids+=("$D_PID")
  for _ in $(seq 200); do
    D_PORT=$(grep -o 'http_addr=127.0.0.1:[0-9]*' "$D_DIR/daemon.log" | head -1 | cut -d: -f2 || true)
    [[ -n $D_PORT && -S $D_SOCK ]] && return 0
    kill -0 "$D_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "daemon $name did not start:" >&2; cat "$D_DIR/daemon.log" >&2; exit 1
}

# api METHOD PATH [JSON]: the local socket as root, as toructl does.
api() {
  curl -sf --unix-socket "$D_SOCK" -X "$1" -H 'content-type: application/json' \
    ${3:+-d "$3"} "http://localhost$2"
}

# Makes the bench user on the current daemon and logs in; sets TOKEN.
login() {
  api POST /api/users '{"username":"bench","password":"bench-password"}' >/dev/null
  TOKEN=$("$bench" login --url "127.0.0.1:$D_PORT" --user bench --password bench-password)
}

wait_route() { # wait_route ID: until its /hello answers 200 through the daemon
  for _ in $(seq 400); do
    curl -sf -o /dev/null --unix-socket "$D_SOCK" "http://localhost/api/plugins/$1/route/hello" && return 0
    sleep 0.05
  done
  echo "plugin $1 did not come up" >&2; exit 1
}

to_us() { # wrk latency ("812.00us", "1.20ms", "2.00s") → µs
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print n }'
}

# wrk_run CONNS THREADS SECS URL [COOKIE] → "req/s p50µs p99µs"; fails on errors or non-2xx.
wrk_run() {
  local conns=$1 threads=$2 secs=$3 url=$4 cookie=${5-} outfile
  outfile=$(mktemp -p "$work")
  if [[ -n $cookie ]]; then
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -H "Cookie: toru_session=$cookie" "$url" >"$outfile"
  else
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$url" >"$outfile"
  fi
  if grep -qE 'Non-2xx|Socket errors' "$outfile"; then
    echo "wrk saw errors against $url:" >&2; cat "$outfile" >&2; exit 1
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$outfile")
  p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$outfile")")
  p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$outfile")")
  echo "$rps $p50 $p99"
}

# figure SCENARIO METRIC UNIT TARGET V1 V2 V3…: one JSON line into the figures file.
figure() {
  local scenario=$1 metric=$2 unit=$3 target=$4; shift 4
  local runs; runs=$(IFS=,; echo "$*")
  if [[ -n $target ]]; then
    printf '{"scenario":"%s","metric":"%s","unit":"%s","target":"%s","runs":[%s]}\n' "$scenario" "$metric" "$unit" "$target" "$runs"
  else
    printf '{"scenario":"%s","metric":"%s","unit":"%s","runs":[%s]}\n' "$scenario" "$metric" "$unit" "$runs"
  fi >>"$figures"
}

# --------------------------------------------- daemon A: scenarios 1, 3, 5 ---
log "daemon A with the bench plugin"
start_daemon a
cp "$bin/bench-plugin" "$D_DIR/plugins/bench.binary"
api POST /api/rescan >/dev/null
login
A_PID=$D_PID A_PORT=$D_PORT A_SOCK=$D_SOCK A_TOKEN=$TOKEN

log "3 enable → ready (embedded)"
"$bench" enable-ready --socket "$A_SOCK" --plugin bench --backend embedded --target-ms 50 >>"$figures"
wait_route bench

log "1 forwarding: hyper baseline and nginx"
hyper_port=$(free_port)
nginx_port=$(free_port)
"$bin/bench-hyper" --unix "$work/hyper.sock" --tcp "127.0.0.1:$hyper_port" &
pids+=($!)
for _ in $(seq 100); do [[ -S $work/hyper.sock ]] && break; sleep 0.05; done
# nginx's workers run as www-data: they need write permission to connect.
chmod 666 "$work/hyper.sock"
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream hyper { server unix:$work/hyper.sock; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://hyper;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/hello" && curl -sf -o /dev/null "http://127.0.0.1:$hyper_port/hello" && break
  sleep 0.05
done

declare -A url=(
  [daemon]="http://127.0.0.1:$A_PORT/api/plugins/bench/route/hello"
  [nginx]="http://127.0.0.1:$nginx_port/hello"
  [hyper]="http://127.0.0.1:$hyper_port/hello"
)
declare -A rps64 p50_64 p99_64 p50_1 p99_1
log "1 forwarding: warm-up"
for target in daemon nginx hyper; do
  wrk_run 64 2 "$warm_secs" "${url[$target]}" "$A_TOKEN" >/dev/null
done
# Interleaved, so each run compares the three under the same machine noise.
for run in 1 2 3; do
  for target in daemon nginx hyper; do
    res=$(wrk_run 64 2 "$wrk_secs" "${url[$target]}" "$A_TOKEN")
    read -r r p5 p9 <<<"$res"
    rps64[$target]+="$r " p50_64[$target]+="$p5 " p99_64[$target]+="$p9 "
    res=$(wrk_run 1 1 "$wrk_secs" "${url[$target]}" "$A_TOKEN")
    read -r r p5 p9 <<<"$res"
    p50_1[$target]+="$p5 " p99_1[$target]+="$p9 "
    log "1 forwarding: run $run $target done"
  done
done
for target in daemon nginx hyper; do
  name=$target; [[ $target == hyper ]] && name="hyper direct"
  # shellcheck disable=SC2086
  {
    figure "1 forwarding" "$name c64 req/s" "1/s" "" ${rps64[$target]}
    figure "1 forwarding" "$name c64 p50" "µs" "" ${p50_64[$target]}
    figure "1 forwarding" "$name c64 p99" "µs" "" ${p99_64[$target]}
    figure "1 forwarding" "$name c1 p50" "µs" "" ${p50_1[$target]}
    figure "1 forwarding" "$name c1 p99" "µs" "" ${p99_1[$target]}
  }
done

if ((profile)); then
  log "1 forwarding: profiling the daemon and the plugin during a c64 run"
  command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
  plugin_pid=$(api GET /api/plugins/bench | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["pid"])')
  perf record -q -e cpu-clock -F 2000 -o "$out/perf.data" -p "$A_PID,$plugin_pid" -- sleep "$wrk_secs" 2>/dev/null &
  perf_pid=$!
  wrk_run 64 2 "$wrk_secs" "${url[daemon]}" "$A_TOKEN" >/dev/null
  wait "$perf_pid" || true
  # Whole report to a file first: `head` closing a pipe would fail the script (pipefail).
  perf report -i "$out/perf.data" --no-children --sort comm,dso,symbol --stdio >"$work/perf.txt" 2>/dev/null
  grep -v -e '^#' -e '^ *$' "$work/perf.txt" | sed 's/  */ /g; s/ - - *$//' | head -80 >"$out/perf-report.txt" || true
  log "profile: $out/perf-report.txt"
fi

log "2 protocol floor"
"$bench" floor --plugin "$bin/bench-plugin" --n "$floor_n" --secs "$floor_secs" >>"$figures"
# The same with both processes on CPU 0: the difference is what waking a process on the other
# CPU costs on this machine, which every hop of the forwarding path pays as well.
taskset -c 0 "$bench" floor --plugin "$bin/bench-plugin" --n "$floor_n" --secs "$floor_secs" \
  --tag "one CPU" >>"$figures"

log "5 kv"
"$bench" kv --socket "$A_SOCK" --plugin bench --n "$kv_n" >>"$figures"

log "6 slowloris ($slow_conns slow connections)"
"$bench" slowloris --url "127.0.0.1:$A_PORT" --token="$A_TOKEN" --slow "$slow_conns" --secs "$slow_secs" >>"$figures"

# ----------------------------------- 7, 8 hostile clients and plugins ---
# Each attack meets a daemon of its own, started fresh: its RSS figures are then what the attack
# costs, not what the scenarios above left in the allocator (daemon A ends them at ~30-50 MB).

# fresh_daemon NAME: start_daemon with the bench plugin installed (not enabled), logged in.
fresh_daemon() {
  start_daemon "$1"
  cp "$bin/bench-plugin" "$D_DIR/plugins/bench.binary"
  api POST /api/rescan >/dev/null
  login
}
stop_daemon() { kill -TERM "$D_PID"; wait "$D_PID" 2>/dev/null || true; }

log "7 hostile clients: $attack_logins parallel logins"
fresh_daemon attack-logins
"$bench" attack-http --url "127.0.0.1:$D_PORT" --pid "$D_PID" --token="$TOKEN" \
  --attack logins --conns "$attack_logins" --secs "$attack_secs" >>"$figures"
stop_daemon
log "7 hostile clients: $attack_idle idle sockets"
fresh_daemon attack-idle
"$bench" attack-http --url "127.0.0.1:$D_PORT" --pid "$D_PID" --token="$TOKEN" \
  --attack idle --conns "$attack_idle" --secs "$attack_secs" >>"$figures"
stop_daemon
log "8 hostile plugins (${attack_secs}s: one stops reading, one floods KV)"
fresh_daemon attack-plugins
for id in attack-deaf attack-flood; do cp "$bin/attack-plugin" "$D_DIR/plugins/$id.binary"; done
api POST /api/rescan >/dev/null
api PUT /api/plugins/bench/kv/attack-probe '{"value":"probe"}' >/dev/null
"$bench" attack-plugin --url "127.0.0.1:$D_PORT" --token="$TOKEN" --socket "$D_SOCK" --pid "$D_PID" \
  --secs "$attack_secs" >>"$figures"
stop_daemon

# ------------------------------------------------------- 3 under systemd ---
log "3 enable → ready (systemd, in scripts/systemd-sandbox)"
sd=$work/sd
mkdir -p "$sd/plugins"
cp "$bin/bench-plugin" "$sd/plugins/bench.binary"
cp "$bin/toru-daemon" "$bench" "$sd/"
cat >"$sd/inner.sh" <<EOF
#!/bin/bash
# Inside the sandbox: a systemd-backed daemon, then the enable → ready driver.
set -euo pipefail
# DynamicUser plugins must be able to read their binary: a world-readable copy under /var/lib.
mkdir -p /var/lib/toru-bench/plugins
cp $sd/plugins/bench.binary /var/lib/toru-bench/plugins/
chmod -R a+rX /var/lib/toru-bench
$sd/toru-daemon --config /dev/null --supervisor systemd --listen 127.0.0.1:0 \\
  --data-dir /var/lib/toru-bench/data --plugins-dir /var/lib/toru-bench/plugins \\
  --runtime-dir /run/toru-bench --log-dir /var/log/toru-bench 2>$sd/daemon.log &
for _ in \$(seq 200); do [[ -S /run/toru-bench/toru.sock ]] && break; sleep 0.05; done
$sd/toru-bench enable-ready --socket /run/toru-bench/toru.sock --plugin bench --backend systemd --target-ms 150
EOF
chmod +x "$sd/inner.sh"
scripts/systemd-sandbox run "$sandbox_name" --bind "$work" -- "$sd/inner.sh" >>"$figures" ||
  { echo "the systemd run failed; its daemon log:" >&2; cat "$sd/daemon.log" >&2 || true; exit 1; }

# ------------------------------------------------------------- 4 scale ---
log "4 idle RSS with 10 plugins"
start_daemon idle
for i in $(seq -w 0 9); do ln "$bin/bench-plugin" "$D_DIR/plugins/bench-00$i.binary" 2>/dev/null || cp "$bin/bench-plugin" "$D_DIR/plugins/bench-00$i.binary"; done
api POST /api/rescan >/dev/null
"$bench" scale --socket "$D_SOCK" --pid "$D_PID" --count 10 --settle-secs "$idle_settle" --runs "$scale_runs" --rss-target-mb 20 >>"$figures"
kill -TERM "$D_PID"; wait "$D_PID" || true

log "4 200 plugins at once, and the list with 200"
start_daemon scale
for i in $(seq -w 0 199); do ln "$bin/bench-plugin" "$D_DIR/plugins/bench-$i.binary" 2>/dev/null || cp "$bin/bench-plugin" "$D_DIR/plugins/bench-$i.binary"; done
api POST /api/rescan >/dev/null
"$bench" scale --socket "$D_SOCK" --pid "$D_PID" --count 200 --settle-secs 1 --runs "$scale_runs" >>"$figures"
login
"$bench" latency --url "127.0.0.1:$D_PORT" --token="$TOKEN" --path /api/plugins --n "$list_n" \
  --label "GET /api/plugins, 200 plugins" --target "<= 10" >>"$figures"
kill -TERM "$D_PID"; wait "$D_PID" || true

# ------------------------------------------------------------ 6 faults ---
log "6 load under faults (${fault_secs}s, kill -9 every ${fault_every}s)"
# Kills every few seconds are failures in a row: without a high limit the daemon would
# (rightly) give up on the plugin within the run.
start_daemon faults --max-failures 1000
cp "$bin/bench-plugin" "$D_DIR/plugins/bench.binary"
api POST /api/rescan >/dev/null
api POST /api/plugins/bench/enable >/dev/null
wait_route bench
login
"$bench" faults --url "127.0.0.1:$D_PORT" --token="$TOKEN" --socket "$D_SOCK" --pid "$D_PID" \
  --secs "$fault_secs" --kill-every "$fault_every" --warmup-secs "$fault_warm" >>"$figures"

# ------------------------------------------------------------- report ---
machine="$(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
((smoke)) && machine="SMOKE RUN (figures meaningless): $machine"
echo
"$bench" report "$figures" --json "$out/results.json" --machine "$machine"
echo
echo "machine: $machine"
echo "written: $out/results.json"
