#!/usr/bin/env bash
# Replicas benchmark (issue 17): the 60,000-estate city in PostGIS served by `gapmap serve`
# replicas behind nginx (deploy/nginx.conf), on a throwaway PostgreSQL 15 + PostGIS cluster the
# script starts itself (as tests/bench/postgis_load.sh does; stopped and removed on exit).
#
#  1. load time: `gapmap serve` from the GeoJSON files and from the PostGIS tables, alternating
#     (RUNS each): seconds from start to `listening` (read, check, analyse, content digest) and
#     to /health listing nothing warming up, with gapmap's own `data loaded` figure;
#  2. reload time after a one-row change: two replicas with `serve.watch` over the database
#     (`gapmap db init` triggers, watch_settle_ms = 100): seconds from the UPDATE's commit until
#     each replica's /health shows the new data version (LISTEN/NOTIFY, settle, reload), and the
#     same with polling instead of triggers (poll_interval_s = 1); the cost of one poll of the
#     facilities table;
#  3. throughput on the bbox workload (1 km boxes, limit=1000, as tests/bench/serve_vs_nginx.sh;
#     wrk, 2 threads, 64 connections, tests/bench/bbox_paths.lua): one replica directly, one
#     replica behind nginx, two replicas behind nginx; each replica's RSS.
# Everything runs on this machine: PostgreSQL, nginx, the replicas and wrk share its cores.
#
# usage: [GAPMAP_BIN=path] [RUNS=2] [DURATION=20] bash tests/bench/replicas.sh [ESTATES=60000] [FACILITIES=200000]
# Output under $CARGO_TARGET_DIR/bench/replicas/ (run.log, wrk outputs, logs).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/tests/bench
estates=${1:-60000}
facilities=${2:-200000}
runs=${RUNS:-2}
duration=${DURATION:-20}
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
work=$target_dir/bench/replicas
mkdir -p "$work"
exec > >(tee "$work/run.log") 2>&1
# shellcheck source=tests/bench/pg_cluster.sh
source "$here/pg_cluster.sh"
pg_check replicas
command -v wrk > /dev/null || { echo "replicas: wrk missing; run scripts/setup.sh" >&2; exit 1; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || { echo "replicas: nginx missing; run scripts/setup.sh (nginx-light)" >&2; exit 1; }

bin=${GAPMAP_BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --locked -q --bin gapmap
  bin=$target_dir/release/gapmap
fi
bin=$(realpath "$bin")
city=$work/city-$estates-$facilities
if ! [[ -f $city/facilities.geojson ]]; then
  "$bin" generate --estates "$estates" --facilities "$facilities" --seed 42 --out "$city" > /dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

# The throwaway cluster, and everything else started here, stopped on exit.
pids=()
nginx_prefixes=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for n in "${nginx_prefixes[@]}"; do [[ -f $n/nginx.pid ]] && kill "$(cat "$n/nginx.pid")" 2> /dev/null || true; done
  pg_stop
}
trap cleanup EXIT
pg_start
pg_load "$city"
psql=(pg_psql -A -t)
uri=$pg_uri

config() { # name estates facilities extra-serve-lines
  printf '[estates]\npath = "%s"\n\n[[facilities]]\npath = "%s"\n\n[analysis]\nworking_crs = "auto"\n\n[serve]\nmax_limit = 10000\n%b' "$2" "$3" "${4:-}" > "$work/$1.toml"
  echo "$work/$1.toml"
}
files_toml=$(config files "$city/estates.geojson" "$city/facilities.geojson")
db_toml=$(config db "$uri?table=estates" "$uri?table=facilities")
watch_toml=$(config watch "$uri?table=estates" "$uri?table=facilities" 'watch = true\nwatch_settle_ms = 100\n')
poll_toml=$(config poll "$uri?table=estates" "$uri?table=facilities" 'watch = true\nwatch_settle_ms = 100\npoll_interval_s = 1\n')

# Starts `gapmap serve --config $1 --bind 127.0.0.1:$2` (log $3); waits for `listening`. Sets
# $server_pid and $listening_s (seconds from start to listening). Not in a subshell.
start_server() {
  local log=$work/$3.log
  server_start=$(now)
  RUST_LOG=gapmap=info "$bin" serve --config "$1" --bind "127.0.0.1:$2" 2> "$log" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 3000); do
    grep -qs 'listening on' "$log" && break
    kill -0 "$server_pid" 2> /dev/null || { echo "gapmap serve ($3) died:"; cat "$log"; exit 1; }
    sleep 0.02
  done
  listening_s=$(since "$server_start")
}
health() { curl -sf "http://127.0.0.1:$1/health"; }
version() { health "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data_version"])'; }
wait_warm() { # port
  for _ in $(seq 6000); do
    health "$1" | python3 -c 'import json, sys; sys.exit(1 if json.load(sys.stdin).get("warming_up") else 0)' && return 0
    sleep 0.1
  done
  echo "still warming up after 10 min" >&2
  return 1
}
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

echo "== $estates estates, $facilities facilities; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); $("$bin" --version 2> /dev/null || echo gapmap)"

echo "-- 1. load: start to listening (read + analyse + digest), to warm (/health: nothing warming up)"
for i in $(seq 1 "$runs"); do
  for source in files db; do
    port=$(free_port)
    start_server "$work/$source.toml" "$port" "load-$source-$i"
    pid=$server_pid
    listening=$listening_s
    wait_warm "$port"
    warm=$(since "$server_start")
    loaded_ms=$(grep -m1 'data loaded' "$work/load-$source-$i.log" | sed -E 's/.*elapsed_ms=([0-9]+).*/\1/')
    digest_ms=$(grep -m1 'content digest' "$work/load-$source-$i.log" | sed -E 's/.*elapsed_ms=([0-9]+).*/\1/')
    echo "load $source run $i: listening after ${listening} s (data loaded ${loaded_ms} ms, of which the digest ${digest_ms} ms), warm after ${warm} s; version $(version "$port"); RSS $(rss_mib "$pid") MiB (peak $(hwm_mib "$pid") MiB)"
    kill "$pid"
    wait "$pid" 2> /dev/null || true
  done
done

echo "-- 2. reload after a one-row change"
"$bin" db init "$uri?table=estates" "$uri?table=facilities" > /dev/null
port_a=$(free_port)
port_b=$(free_port)
start_server "$watch_toml" "$port_a" replica-a
pid_a=$server_pid
echo "replica a listening after $listening_s s"
start_server "$watch_toml" "$port_b" replica-b
pid_b=$server_pid
echo "replica b listening after $listening_s s"
wait_warm "$port_a"
wait_warm "$port_b"
[[ $(version "$port_a") == $(version "$port_b") ]] || { echo "the replicas' versions differ" >&2; exit 1; }
measure_reload() { # label sql ports…
  local label=$1 sql=$2
  shift 2
  local before start
  before=$(version "$1")
  start=$(now)
  "${psql[@]}" -d gapmap -c "$sql"
  for p in "$@"; do
    for _ in $(seq 6000); do
      [[ $(version "$p") != "$before" ]] && break
      sleep 0.02
    done
    echo "$label: replica on port $p serves the new version $(version "$p") $(since "$start") s after the commit"
  done
}
for i in $(seq 1 "$runs"); do
  measure_reload "notify, run $i" "UPDATE facilities SET name = coalesce(name, '') || ' (renamed)' WHERE id = (SELECT id FROM facilities ORDER BY id OFFSET $i LIMIT 1)" "$port_a" "$port_b"
done
[[ $(version "$port_a") == $(version "$port_b") ]] || { echo "the replicas' versions differ after the reloads" >&2; exit 1; }
echo "replica RSS after the reloads: a $(rss_mib "$pid_a") MiB (peak $(hwm_mib "$pid_a")), b $(rss_mib "$pid_b") MiB (peak $(hwm_mib "$pid_b"))"

# Polling: a replica of its own with poll_interval_s = 1 over the same tables (the triggers fire
# too, but it also polls: the first of the two wins); then the cost of one poll.
port_p=$(free_port)
start_server "$poll_toml" "$port_p" replica-poll
pid_p=$server_pid
echo "polling replica listening after $listening_s s"
wait_warm "$port_p"
"${psql[@]}" -d gapmap -c "DROP TRIGGER gapmap_notify_changed ON facilities"
measure_reload "polling (1 s), no trigger on facilities" "UPDATE facilities SET name = coalesce(name, '') || ' (polled)' WHERE id = (SELECT id FROM facilities ORDER BY id OFFSET 10 LIMIT 1)" "$port_p"
kill "$pid_p"
wait "$pid_p" 2> /dev/null || true
for table in facilities estates; do
  probe="SELECT count(*)::text || ':' || coalesce(sum(xmin::text::bigint), 0)::text || ':' || coalesce(pg_relation_filenode('$table'::regclass)::text, '') FROM $table"
  # Server-side time of the probe (psql's \timing), mean of 5 in one session.
  ms=$(psql -X -A -t -h 127.0.0.1 -p "$pg_port" -U postgres -d gapmap -c '\timing on' -c "$probe" -c "$probe" -c "$probe" -c "$probe" -c "$probe" | awk '/^Time:/ { s += $2; n++ } END { printf "%.1f", s / n }')
  echo "one poll of $table ($("${psql[@]}" -d gapmap -c "SELECT count(*) FROM $table") rows): $ms ms (mean of 5, as psql times it)"
done
"$bin" db init "$uri?table=facilities" > /dev/null

echo "-- 3. throughput, bbox workload (1 km boxes, limit=1000), wrk -t2 -c64 -d${duration}s"
python3 - "$port_a" "$work" << 'EOF'
import json, random, sys, urllib.request
port, work = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/collections/estates?f=json", timeout=60) as r:
    extent = json.load(r)["extent"]["spatial"]["bbox"][0]
rng = random.Random(18)
with open(f"{work}/paths-bbox.txt", "w") as f:
    for _ in range(200):
        x = rng.uniform(extent[0], extent[2] - 0.01)
        y = rng.uniform(extent[1], extent[3] - 0.009)
        f.write(f"/collections/estates/items?limit=1000&bbox={x:.6f},{y:.6f},{x + 0.01:.6f},{y + 0.009:.6f}&f=json\n")
EOF
start_nginx() { # name upstream-ports…; sets $lb_port
  local prefix=$work/nginx-$1 port servers=""
  shift
  port=$(free_port)
  mkdir -p "$prefix"
  for p in "$@"; do servers+="server 127.0.0.1:$p max_fails=1 fail_timeout=2s;\n        "; done
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|127.0.0.1:$port|" -e "s|@WORKERS@|auto|" -e "s|@SERVERS@|$servers|" deploy/nginx.conf > "$prefix/nginx.conf"
  "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -g 'user root;'
  nginx_prefixes+=("$prefix")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" > /dev/null && break; sleep 0.1; done
  lb_port=$port
}
start_nginx one "$port_a"
lb_one=$lb_port
start_nginx two "$port_a" "$port_b"
lb_two=$lb_port
run_wrk() { # label port
  wrk -t2 -c64 -d"${duration}"s --timeout 30s --latency -s "$here/bbox_paths.lua" "http://127.0.0.1:$2" -- "$work/paths-bbox.txt" > "$work/wrk-$1.txt"
  grep WRKRESULT "$work/wrk-$1.txt" | sed "s/^WRKRESULT/$1/"
}
# Warm-up (render caches of both replicas), then alternating rounds.
wrk -t2 -c16 -d5s -s "$here/bbox_paths.lua" "http://127.0.0.1:$lb_two" -- "$work/paths-bbox.txt" > /dev/null
: > "$work/results.txt"
for round in $(seq 1 "$runs"); do
  run_wrk "direct-one-$round" "$port_a" | tee -a "$work/results.txt"
  run_wrk "nginx-one-$round" "$lb_one" | tee -a "$work/results.txt"
  run_wrk "nginx-two-$round" "$lb_two" | tee -a "$work/results.txt"
done
served() { curl -sf "http://127.0.0.1:$1/metrics" | awk -F' ' '/^gapmap_http_requests_total\{route="\/collections\/\{collection\}\/items"/ { s += $2 } END { print s + 0 }'; }
echo "items requests served over the whole run: replica a $(served "$port_a"), replica b $(served "$port_b")"
echo "replica RSS at the end: a $(rss_mib "$pid_a") MiB (peak $(hwm_mib "$pid_a")), b $(rss_mib "$pid_b") MiB (peak $(hwm_mib "$pid_b"))"
python3 - "$work/results.txt" << 'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    label, fields = parts[0], dict(p.split("=") for p in parts[1:])
    setup = label.rsplit("-", 1)[0]
    rows.setdefault(setup, []).append(fields)
for setup, runs in rows.items():
    best = max(runs, key=lambda f: float(f["rps"]))
    errors = sum(int(f[k]) for f in runs for k in f if k.startswith("err_"))
    each = ", ".join("%.0f" % float(f["rps"]) for f in runs)
    print("%s: best %.0f req/s (runs: %s), p50 %.2f ms, p99 %.2f ms, errors %d" % (setup, float(best["rps"]), each, float(best["p50_ms"]), float(best["p99_ms"]), errors))
EOF
