#!/usr/bin/env bash
# Load benchmark (issue 17): `gapmap analyze` on the generated city read from PostGIS against the
# same city read from GeoJSON, in the same run, on a throwaway PostgreSQL 15 + PostGIS cluster the
# script starts itself (initdb as `postgres` in a temp dir, a free loopback port; stopped and
# removed on exit). Checks that both runs write byte-identical CSVs, then prints per run the wall
# time and peak RSS of the gapmap process (`/usr/bin/time -v`) and the load stage's own time
# (gapmap's `loaded` log line). The server's own CPU and memory are not in gapmap's figures.
#
# Not a timed test: run it by hand on a quiet machine.
#
# usage: [GAPMAP_BIN=path] [RUNS=3] bash tests/bench/postgis_load.sh [ESTATES=60000] [FACILITIES=200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
estates=${1:-60000}
facilities=${2:-200000}
runs=${RUNS:-3}
target_dir=${CARGO_TARGET_DIR:-target}
work=$target_dir/bench/postgis-$estates-$facilities
mkdir -p "$work"
# shellcheck source=tests/bench/pg_cluster.sh
source tests/bench/pg_cluster.sh
pg_check postgis_load
[[ -x /usr/bin/time ]] || { echo "postgis_load: /usr/bin/time missing; apt-get install time" >&2; exit 1; }

bin=${GAPMAP_BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --locked -q
  bin=$target_dir/release/gapmap
fi

if ! [[ -f $work/city/facilities.geojson ]]; then
  "$bin" generate --estates "$estates" --facilities "$facilities" --seed 42 --out "$work/city"
fi

# The throwaway cluster.
trap pg_stop EXIT
pg_start
pg_load "$work/city"
uri=$pg_uri
# Seconds since midnight of a log line's UTC timestamp (runs do not cross midnight… almost).
clock_s() { sed -E 's/^[0-9-]+T([0-9]+):([0-9]+):([0-9.]+)Z.*/\1 \2 \3/' | awk '{ printf "%.6f", $1 * 3600 + $2 * 60 + $3 }'; }
# One run: prints `<label> wall_s peak_rss_mib load_s`.
run() {
  local label=$1 estates_in=$2 facilities_in=$3 out=$4
  RUST_LOG=gapmap=info /usr/bin/time -v "$bin" analyze --estates "$estates_in" --facilities "$facilities_in" --out "$out" \
    > /dev/null 2> "$work/$label.stderr"
  local wall rss load
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/$label.stderr")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/$label.stderr")
  # The load (read, check, reproject) runs from the `reading …` stage line to the start of the
  # index build, which follows it directly: the `index built` line's time minus its elapsed_s.
  local start_s index_s index_elapsed_s
  start_s=$(grep -m1 'gapmap::diag: reading ' "$work/$label.stderr" | clock_s)
  index_s=$(grep -m1 'gapmap::diag: index built' "$work/$label.stderr" | clock_s)
  index_elapsed_s=$(grep -m1 'gapmap::diag: index built' "$work/$label.stderr" | sed -E 's/.*elapsed_s=([0-9.e+-]+).*/\1/')
  load=$(awk -v a="$start_s" -v b="$index_s" -v e="$index_elapsed_s" 'BEGIN { printf "%.2f", b - e - a }')
  echo "$label $wall $rss $load"
}

echo "== $estates estates, $facilities facilities; $runs runs each, alternating; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source wall_s peak_rss_mib load_stage_s"
for i in $(seq 1 "$runs"); do
  run "geojson-$i" "$work/city/estates.geojson" "$work/city/facilities.geojson" "$work/geojson.csv"
  run "postgis-$i" "$uri?table=estates" "$uri?table=facilities" "$work/postgis.csv"
  cmp -s "$work/geojson.csv" "$work/postgis.csv" || { echo "postgis_load: the CSVs differ ($work/geojson.csv, $work/postgis.csv)" >&2; exit 1; }
done
echo "CSV outputs identical ($(wc -l < "$work/geojson.csv") lines)"
