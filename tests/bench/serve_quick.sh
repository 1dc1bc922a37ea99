#!/usr/bin/env bash
# Quick gapmap-only serving runs, for A/B tests of builds (tests/bench/RESULTS-serve.md, "What
# changed"): the city, boxes and wrk script of serve_vs_pygeoapi.sh, no pygeoapi.
#
# usage: bash tests/bench/serve_quick.sh BIN LABEL
#   BIN: a gapmap binary (copy target/release/gapmap aside to compare builds); LABEL names outputs.
# environment: SECS (per run, default 10), RUNS (default "plain1000 plain100 gzip1000 gzip100 c2";
#   also gzipc2), GZWARM=1 for a 5-second gzip warm-up (features are compressed on first use).
# Works in target/bench/quick/ (generates the city there on first use); prints one line per run:
# req/s, p50, p99, MB/response, server CPU ms/request (from /proc/PID/stat), load average.
set -euo pipefail
bin=$(realpath "$1"); label=$2; secs=${SECS:-10}
repo=$(cd "$(dirname "$0")/../.." && pwd)
lua=$repo/tests/bench/bbox_paths.lua
mkdir -p "$repo/target/bench/quick"
cd "$repo/target/bench/quick"
if ! [ -s paths-1000.txt ]; then
  "$bin" generate --estates 60000 --facilities 180000 --seed 60 --out city
  python3 "$repo/tests/bench/serve_bench.py" bboxes city/estates.geojson 48 60 bboxes.txt
  for limit in 1000 100; do sed "s|^|/collections/estates/items?limit=$limit\&bbox=|" bboxes.txt > "paths-$limit.txt"; done
  printf '[estates]\npath = "city/estates.geojson"\n\n[[facilities]]\npath = "city/facilities.geojson"\n\n[serve]\nbind = "127.0.0.1:0"\nmax_limit = 10000\n' > gapmap.toml
fi
"$bin" serve --config gapmap.toml --bind 127.0.0.1:0 2> serve-$label.stderr &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
t0=$(date +%s.%N)
for _ in $(seq 1 6000); do addr=$(grep -o 'listening on http://[0-9.:]*' serve-$label.stderr | head -1 | cut -d/ -f3 || true); [ -n "$addr" ] && break; sleep 0.05; done
echo "$label: startup $(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN{printf "%.1f", b-a}') s, VmRSS $(awk '/^VmRSS/{printf "%.0f", $2/1024}' /proc/$pid/status) MiB, VmHWM $(awk '/^VmHWM/{printf "%.0f", $2/1024}' /proc/$pid/status) MiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$addr" > addr-$label.txt
wrk -t2 -c64 -d3s -s "$lua" "http://$addr" -- paths-1000.txt > /dev/null
[ -n "${GZWARM:-}" ] && wrk -t2 -c64 -d5s -H "Accept-Encoding: gzip" -s "$lua" "http://$addr" -- paths-1000.txt > /dev/null
run() { # name conns paths header
  local c0 c1
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  if [ -n "${4:-}" ]; then
    wrk -t2 -c$2 -d${secs}s --timeout 60s --latency -H "$4" -s "$lua" "http://$addr" -- $3 > wrk-$label-$1.txt
  else
    wrk -t2 -c$2 -d${secs}s --timeout 60s --latency -s "$lua" "http://$addr" -- $3 > wrk-$label-$1.txt
  fi
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  local line; line=$(grep WRKRESULT wrk-$label-$1.txt)
  local n; n=$(echo "$line" | grep -o 'requests=[0-9]*' | cut -d= -f2)
  local bytes; bytes=$(echo "$line" | grep -o 'bytes=[0-9]*' | cut -d= -f2)
  echo "$label $1: $(echo "$line" | grep -oE 'rps=[0-9.]+|p50_ms=[0-9.]+|p99_ms=[0-9.]+|err_[a-z]+=[1-9][0-9]*' | tr '\n' ' ') MB/resp=$(awk -v b=$bytes -v n=$n 'BEGIN{printf "%.3f", b/n/1e6}') srvCPUms/req=$(awk -v c=$((c1-c0)) -v n=$n -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", c*1000/hz/n}') load=$(cut -d' ' -f1 /proc/loadavg)"
}
for what in ${RUNS:-plain1000 plain100 gzip1000 gzip100 c2}; do
  case $what in
    plain1000) run plain1000 64 paths-1000.txt ;;
    plain100) run plain100 64 paths-100.txt ;;
    gzip1000) run gzip1000 64 paths-1000.txt "Accept-Encoding: gzip" ;;
    gzip100) run gzip100 64 paths-100.txt "Accept-Encoding: gzip" ;;
    c2) run c2-1000 2 paths-1000.txt ;;
    gzipc2) run gzipc2-1000 2 paths-1000.txt "Accept-Encoding: gzip" ;;
  esac
done
echo "$label end: VmRSS $(awk '/^VmRSS/{printf "%.0f", $2/1024}' /proc/$pid/status) MiB, VmHWM $(awk '/^VmHWM/{printf "%.0f", $2/1024}' /proc/$pid/status) MiB"
