#!/usr/bin/env bash
# Issue 3's serving benchmark: `gapmap serve` against pygeoapi (pip, GeoJSON provider, gunicorn
# with 2 sync workers) on loopback, in the same run, on a generated city of 60,000 estates.
#
#  1. generates the city (`gapmap generate --estates 60000 --facilities 180000 --seed 60`) and
#     the estates with every coverage property (`gapmap analyze --out estates.geojson`), which
#     pygeoapi serves; gapmap serves the same city from a small TOML config;
#  2. draws a fixed, seeded list of bboxes inside the city extent, each intersecting 300–3,000
#     estates, and checks that both servers return the same numberMatched and feature ids for
#     one partial and one full 1,000-feature page;
#  3. runs wrk (2 threads, 64 connections) with bbox_paths.lua cycling through the boxes on
#     /collections/estates/items?limit=1000&bbox=… and ?limit=100&bbox=…, one server at a time,
#     plus 2-connection runs (latency without queueing), gzip runs (what browsers, QGIS and GDAL
#     ask for; the first one "cold", while gapmap compresses each feature on first use) and
#     bandwidth ceilings (a trivial keep-alive server answering every request with the same
#     1,000-feature page, plain and gzipped);
#  4. prints requests/s, p50/p90/p99 latency, MB/s, the CPU seconds of the server, of wrk and of
#     everything else on the machine during each run, the throughput ratio (plain and per server
#     CPU-second), gapmap's startup time and peak RSS (VmHWM) and pygeoapi's workers' peak RSS.
# Results of a run, and what the p99 target means in bandwidth: tests/bench/RESULTS-serve.md.
#
# usage: bash tests/bench/serve_vs_pygeoapi.sh
# environment: DURATION (s, gapmap and ceiling runs, default 30), PY_DURATION (s, pygeoapi runs,
#   default 120: pygeoapi's GeoJSON provider parses the whole 150 MB file twice per request, several
#   seconds each, so 30 s would count only a handful of requests), SHORT (s, gapmap's 2-connection
#   and gzip runs, default 10), CEILING=0 to skip the ceiling run.
# Everything goes under target/bench/serve-vs-pygeoapi/ (results.tsv, run.log, wrk outputs).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/bench
work=target/bench/serve-vs-pygeoapi
duration=${DURATION:-30}
py_duration=${PY_DURATION:-120}
short=${SHORT:-10}
ceiling=${CEILING:-1}
conns=64
threads=2
boxes=48
mkdir -p "$work"
exec > >(tee "$work/run.log") 2>&1

# --- tools -------------------------------------------------------------------------------------
bash scripts/setup.sh
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
command -v ps >/dev/null || need_apt+=(procps)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "bench: install the Debian packages: ${need_apt[*]}" >&2
    exit 1
  fi
fi
venv=target/bench/pygeoapi-venv
if ! [ -x "$venv/bin/pygeoapi" ] || ! [ -x "$venv/bin/gunicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q pygeoapi gunicorn
fi
py=$venv/bin/python
cargo build --release --locked -q
bin=$PWD/target/release/gapmap

# --- data --------------------------------------------------------------------------------------
city=$work/city
echo "== generating the city and analysing it"
"$bin" generate --estates 60000 --facilities 180000 --seed 60 --out "$city"
"$bin" analyze --estates "$city/estates.geojson" --facilities "$city/facilities.geojson" \
  --out "$work/estates.geojson" 2> "$work/analyze.stderr"
ls -l "$work/estates.geojson" | awk '{printf "estates.geojson for pygeoapi: %.1f MB\n", $5/1e6}'
"$py" "$here/serve_bench.py" bboxes "$city/estates.geojson" "$boxes" 60 "$work/bboxes.txt"
for limit in 1000 100; do
  sed "s|^|/collections/estates/items?limit=$limit\&bbox=|" "$work/bboxes.txt" > "$work/paths-$limit.txt"
done

cat > "$work/gapmap.toml" <<EOF
# written by tests/bench/serve_vs_pygeoapi.sh
[estates]
path = "city/estates.geojson"

[[facilities]]
path = "city/facilities.geojson"

[serve]
bind = "127.0.0.1:0"
max_limit = 10000
EOF

# --- servers -----------------------------------------------------------------------------------
gapmap_pid=
py_pid=
static_pid=
stop_pygeoapi() {
  if [ -n "$py_pid" ]; then
    kill -INT "$py_pid" 2>/dev/null || true # gunicorn: quick shutdown, queued requests dropped
    wait "$py_pid" 2>/dev/null || true
    py_pid=
  fi
}
cleanup() {
  stop_pygeoapi
  for pid in $gapmap_pid $static_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
vmhwm_mib() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
# CPU accounting, so that a run disturbed by other work on the machine shows it: ticks the
# whole machine was busy, ticks of the given processes, seconds of this shell's reaped children.
hz=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
pids_ticks() {
  local t=0 p s
  for p in "$@"; do s=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) && t=$((t + s)); done
  echo "$t"
}
children_secs() { # of a file written by `times` (which must run in this shell, not in a $(…))
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$1"
}

echo "== starting gapmap serve (load average $(loadavg))"
t0=$(now)
RUST_LOG=gapmap=info "$bin" serve --config "$work/gapmap.toml" --bind 127.0.0.1:0 2> "$work/gapmap-serve.stderr" &
gapmap_pid=$!
gapmap_addr=
for _ in $(seq 1 12000); do
  gapmap_addr=$(grep -o 'listening on http://[0-9.:]*' "$work/gapmap-serve.stderr" | head -1 | cut -d/ -f3 || true)
  [ -n "$gapmap_addr" ] && break
  kill -0 "$gapmap_pid" 2>/dev/null || { cat "$work/gapmap-serve.stderr" >&2; echo "gapmap serve exited" >&2; exit 1; }
  sleep 0.05
done
[ -n "$gapmap_addr" ] || { echo "gapmap serve did not listen within 10 minutes" >&2; exit 1; }
t1=$(now)
curl -sf "http://$gapmap_addr/health" > /dev/null
startup=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
loaded_ms=$(grep -o 'elapsed_ms=[0-9]*' "$work/gapmap-serve.stderr" | head -1 | cut -d= -f2 || true)
echo "gapmap listening on $gapmap_addr after ${startup} s (of which loading, analysis and pre-rendering: ${loaded_ms:-?} ms), VmHWM $(vmhwm_mib "$gapmap_pid") MiB"

extent=$("$py" "$here/serve_bench.py" extent "$work/estates.geojson")
py_port=$("$py" "$here/serve_bench.py" free-port) # kept across restarts: the OpenAPI doc stays valid
start_pygeoapi() {
  local port=$py_port t
  py_addr=127.0.0.1:$port
  sed -e "s|@HOST@|127.0.0.1|" -e "s|@PORT@|$port|" -e "s|@URL@|http://$py_addr|" \
    -e "s|@DATA@|$PWD/$work/estates.geojson|" -e "s|@EXTENT@|$extent|" \
    "$here/pygeoapi-config.yml" > "$work/pygeoapi-config.yml"
  export PYGEOAPI_CONFIG=$PWD/$work/pygeoapi-config.yml PYGEOAPI_OPENAPI=$PWD/$work/pygeoapi-openapi.yml
  if ! [ -s "$PYGEOAPI_OPENAPI" ] || ! cmp -s "$PYGEOAPI_CONFIG" "$work/pygeoapi-config.used"; then
    "$venv/bin/pygeoapi" openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" > /dev/null 2>> "$work/pygeoapi.stderr"
    cp "$PYGEOAPI_CONFIG" "$work/pygeoapi-config.used"
  fi
  t=$(now)
  # pygeoapi's deployment docs run the Flask app under gunicorn; sync workers, one per core.
  "$venv/bin/gunicorn" --workers 2 --bind "$py_addr" --timeout 300 --graceful-timeout 5 \
    pygeoapi.flask_app:APP 2>> "$work/pygeoapi.stderr" &
  py_pid=$!
  for _ in $(seq 1 600); do
    curl -sf "http://$py_addr/collections/estates" > /dev/null 2>&1 && break
    kill -0 "$py_pid" 2>/dev/null || { tail -20 "$work/pygeoapi.stderr" >&2; echo "pygeoapi exited" >&2; exit 1; }
    sleep 0.2
  done
  curl -sf "http://$py_addr/collections/estates" > /dev/null
  echo "pygeoapi (gunicorn, 2 workers) ready on $py_addr after $(awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
}
pygeoapi_hwm() { # the workers' peak RSS, MiB each
  local w out=
  for w in $(ps --ppid "$py_pid" -o pid=); do out+="$(vmhwm_mib "$w") "; done
  echo "${out% }"
}
start_pygeoapi

# --- correctness -------------------------------------------------------------------------------
echo "== agreement (before timing)"
partial=$(sed -n 1p "$work/bboxes-partial.txt")
full=$(sed -n 1p "$work/bboxes-full.txt")
for b in "$partial" "$full"; do
  echo "bbox $b, limit=1000:"
  "$py" "$here/serve_bench.py" compare \
    "http://$gapmap_addr/collections/estates/items?limit=1000&bbox=$b" \
    "http://$py_addr/collections/estates/items?limit=1000&bbox=$b"
done

# --- timing ------------------------------------------------------------------------------------
results=$work/results.tsv
: > "$results"
run_wrk() { # label server limit connections seconds address paths server-pid…
  local label=$1 server=$2 limit=$3 c=$4 secs=$5 addr=$6 paths=$7 out line b0 b1 s0 s1 w0 w1 t0 t1
  shift 7
  out=$work/wrk-$server-$limit-$c.txt
  echo "== $label: limit=$limit, $c connections, $threads threads, $secs s (load average before: $(loadavg))"
  times > "$work/.times0"; b0=$(busy_ticks); s0=$(pids_ticks "$@"); t0=$(now)
  wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 120s --latency ${WRK_HEADER:+-H "$WRK_HEADER"} -s "$here/bbox_paths.lua" "http://$addr" -- "$paths" > "$out"
  times > "$work/.times1"; b1=$(busy_ticks); s1=$(pids_ticks "$@"); t1=$(now)
  w0=$(children_secs "$work/.times0"); w1=$(children_secs "$work/.times1")
  grep -E '^ +(50|90|99)%|requests in|Requests/sec|Transfer/sec|Non-2xx|Socket errors' "$out" || true
  line=$(grep '^WRKRESULT' "$out")
  line+=$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v w0="$w0" -v w1="$w1" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v n="$(nproc)" \
    'BEGIN { srv = s / hz; wrk = w1 - w0; other = b / hz - srv - wrk; if (other < 0) other = 0
             printf " cpu_server_s=%.1f cpu_wrk_s=%.1f cpu_other_s=%.1f cpu_avail_s=%.1f", srv, wrk, other, (t1 - t0) * n }')
  echo "CPU during the run: ${line##*cpu_server_s=}" | sed 's/ cpu_/, /g; s/_s=/ s /g; s/=/ /g'
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$server" "$limit" "$c" "$secs" "${line#WRKRESULT }" >> "$results"
}

echo "== warm-up (gapmap, 5 s, not recorded)"
wrk -t"$threads" -c"$conns" -d5s -s "$here/bbox_paths.lua" "http://$gapmap_addr" -- "$work/paths-1000.txt" > /dev/null
run_wrk gapmap gapmap 1000 "$conns" "$duration" "$gapmap_addr" "$work/paths-1000.txt" "$gapmap_pid"
run_wrk gapmap gapmap 100 "$conns" "$duration" "$gapmap_addr" "$work/paths-100.txt" "$gapmap_pid"
run_wrk gapmap gapmap 1000 2 "$short" "$gapmap_addr" "$work/paths-1000.txt" "$gapmap_pid"
# Browsers, QGIS and GDAL send Accept-Encoding: gzip. gapmap assembles CRS84 pages from each
# feature's compressed bytes, made on the feature's first gzip request: the first run pays for
# compressing the features it touches ("cold"), the next ones only copy.
gapmap_rss_before_gzip=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$gapmap_pid/status")
WRK_HEADER="Accept-Encoding: gzip" run_wrk "gapmap+gzip-cold" gapmap-gzip-cold 1000 "$conns" "$short" "$gapmap_addr" "$work/paths-1000.txt" "$gapmap_pid"
WRK_HEADER="Accept-Encoding: gzip" run_wrk "gapmap+gzip" gapmap-gzip 1000 "$conns" "$short" "$gapmap_addr" "$work/paths-1000.txt" "$gapmap_pid"
WRK_HEADER="Accept-Encoding: gzip" run_wrk "gapmap+gzip" gapmap-gzip 100 "$conns" "$short" "$gapmap_addr" "$work/paths-100.txt" "$gapmap_pid"
WRK_HEADER="Accept-Encoding: gzip" run_wrk "gapmap+gzip" gapmap-gzip 1000 2 "$short" "$gapmap_addr" "$work/paths-1000.txt" "$gapmap_pid"
gapmap_hwm=$(vmhwm_mib "$gapmap_pid")
gapmap_rss=$(awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$gapmap_pid/status")

if [ "$ceiling" = 1 ]; then
  # The same full 1,000-feature page for every request, from a server that does nothing else:
  # what loopback + wrk can move on this machine at this response size.
  curl -sf "http://$gapmap_addr/collections/estates/items?limit=1000&bbox=$full" -o "$work/page-1000.json"
  sport=$("$py" "$here/serve_bench.py" free-port)
  "$py" "$here/serve_bench.py" static "$sport" "$work/page-1000.json" &
  static_pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sport/" -o /dev/null && break; sleep 0.1; done
  run_wrk "ceiling (static $(($(stat -c %s "$work/page-1000.json") / 1000)) kB page)" static 1000 "$conns" "$duration" "127.0.0.1:$sport" "$work/paths-1000.txt" "$static_pid"
  kill "$static_pid"; wait "$static_pid" 2>/dev/null || true; static_pid=
  # The same for the gzipped page (wrk does not decode it; it only moves the bytes).
  curl -sf -H "Accept-Encoding: gzip" "http://$gapmap_addr/collections/estates/items?limit=1000&bbox=$full" -o "$work/page-1000.json.gz"
  "$py" "$here/serve_bench.py" static "$sport" "$work/page-1000.json.gz" &
  static_pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sport/" -o /dev/null && break; sleep 0.1; done
  run_wrk "ceiling (static $(($(stat -c %s "$work/page-1000.json.gz") / 1000)) kB gzip page)" static-gzip 1000 "$conns" "$short" "127.0.0.1:$sport" "$work/paths-1000.txt" "$static_pid"
  kill "$static_pid"; wait "$static_pid" 2>/dev/null || true; static_pid=
fi

# pygeoapi is restarted before each run: after a 64-connection run its sync workers would
# otherwise keep working off the requests still queued in the listen backlog.
py_pids() { echo "$py_pid" $(ps --ppid "$py_pid" -o pid=); }
run_wrk pygeoapi pygeoapi 1000 "$conns" "$py_duration" "$py_addr" "$work/paths-1000.txt" $(py_pids)
py_hwm=$(pygeoapi_hwm)
stop_pygeoapi; start_pygeoapi
run_wrk pygeoapi pygeoapi 100 "$conns" "$py_duration" "$py_addr" "$work/paths-100.txt" $(py_pids)
stop_pygeoapi; start_pygeoapi
run_wrk pygeoapi pygeoapi 1000 2 "$py_duration" "$py_addr" "$work/paths-1000.txt" $(py_pids)
py_hwm2=$(pygeoapi_hwm)
stop_pygeoapi

# --- report ------------------------------------------------------------------------------------
echo
echo "== results: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)')"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); load average now: $(loadavg)"
echo "wrk: $threads threads, --timeout 120s, $boxes bboxes cycled ($work/bboxes.txt); gapmap and pygeoapi runs sequential, never concurrent"
echo
"$py" "$here/serve_bench.py" table "$results"
echo
echo "gapmap startup (spawn → listening; it loads 60,000 estates + 180,000 facilities, analyses and pre-renders first): ${startup} s, of which the data load ${loaded_ms:-?} ms"
echo "gapmap peak RSS (VmHWM): ${gapmap_hwm} MiB (VmRSS before the gzip runs: ${gapmap_rss_before_gzip} MiB, after them: ${gapmap_rss} MiB)"
echo "pygeoapi workers' peak RSS (VmHWM, MiB each): ${py_hwm} after the 64-connection limit=1000 run; ${py_hwm2} after the 2-connection run"
