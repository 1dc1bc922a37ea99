#!/usr/bin/env bash
# Walking vs straight-line analysis on the same generated city, alternating runs (issue 12's
# "network analysis at most 3x the straight-line analysis"). Reuses the city that
# compare_pandana.sh generates (60,000 estates, six kinds, streets), generating it when missing.
# Prints each run's wall time and peak RSS, the best of each, and the ratio network / straight.
#
# usage: [GAPMAP_BIN=path] [RUNS=5] bash tests/bench/walk_vs_straight.sh [ESTATES=60000] [FACILITIES=200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
estates=${1:-60000}
facilities=${2:-200000}
runs=${RUNS:-5}
work=target/bench/pandana-$estates-$facilities
bin=${GAPMAP_BIN:-target/release/gapmap}
[[ -n ${GAPMAP_BIN:-} ]] || { bash scripts/setup.sh; cargo build --release --locked -q; }
if ! [ -f "$work/city/facilities6.geojson" ]; then
  mkdir -p "$work"
  $bin generate --estates "$estates" --facilities "$facilities" --seed 42 --streets --out "$work/city" 2> "$work/generate.stderr"
  python3 - "$work/city/facilities.geojson" "$work/city/facilities6.geojson" <<'PY'
import json, sys
kinds = {"kindergarten", "health_station", "community_service", "market", "primary_school", "middle_school"}
doc = json.load(open(sys.argv[1], "rb"))
doc["features"] = [f for f in doc["features"] if f["properties"]["kind"] in kinds]
json.dump(doc, open(sys.argv[2], "w"), ensure_ascii=False)
PY
fi
city=(--estates "$work/city/estates.geojson" --facilities "$work/city/facilities6.geojson")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for run in $(seq "$runs"); do
  /usr/bin/time -f "straight %e %M" "$bin" analyze "${city[@]}" --out "$out/s.csv" 2>&1 | tail -1 | tee -a "$out/times"
  /usr/bin/time -f "network %e %M" "$bin" analyze "${city[@]}" --network "$work/city/streets.geojson" --metric network --out "$out/n.csv" 2>&1 | tail -1 | tee -a "$out/times"
done
awk '
  { if (!($1 in best) || $2 < best[$1]) best[$1] = $2; if ($3 > rss[$1]) rss[$1] = $3 }
  END {
    printf "best of %d: straight %.2f s (peak %.0f MiB), network %.2f s (peak %.0f MiB): network / straight = %.2fx\n",
      NR / 2, best["straight"], rss["straight"] / 1024, best["network"], rss["network"] / 1024, best["network"] / best["straight"]
  }' "$out/times"
