#!/usr/bin/env bash
# Whole-program benchmark of walking distance (issue 12): `gapmap analyze --metric network`
# against pandana (`nearest_pois` per kind on the same graph, same joins and entries), and
# against gapmap's own straight-line analysis, on the same generated city with streets, in the
# same run. Checks that gapmap's and pandana's distances agree to 0.01 m on every estate × kind,
# then prints wall-clock times, peak RSS and the ratios pandana/gapmap and network/straight.
#
# The city: `gapmap generate --estates E --facilities F --seed 42 --streets`, its facilities cut to
# six kinds (kindergarten, health_station, community_service: 300 m; market, primary_school:
# 500 m; middle_school: 1000 m). Both tools snap dangling ends within 1 m (gapmap's default; the
# pandana side replicates the rule in tests/bench/pandana_coverage.py).
#
# usage: bash tests/bench/compare_pandana.sh [ESTATES=60000] [FACILITIES=200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
estates=${1:-60000}
facilities=${2:-200000}
work=target/bench/pandana-$estates-$facilities
mkdir -p "$work"
kinds='["kindergarten","health_station","community_service","market","primary_school","middle_school"]'
snap_m=1.0

bash scripts/setup.sh
if ! [ -x /usr/bin/time ]; then
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq time >/dev/null; else echo "install the Debian package 'time'" >&2; exit 1; fi
fi
venv=target/bench/venv-pandana
if ! [ -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandana geopandas pyogrio shapely pyproj scipy pandas
fi
cargo build --release --locked -q
bin=target/release/gapmap

if ! [ -f "$work/city/streets.geojson" ]; then
  echo "== generate ($estates estates, $facilities facilities, streets)"
  /usr/bin/time -v $bin generate --estates "$estates" --facilities "$facilities" --seed 42 --streets --out "$work/city" 2> "$work/generate.stderr"
  tail -n +1 "$work/generate.stderr" | grep -E "wrote|Elapsed|Maximum resident"
  "$venv/bin/python" - "$work/city/facilities.geojson" "$work/city/facilities6.geojson" "$kinds" <<'EOF'
import json, sys
src, dst, kinds = sys.argv[1], sys.argv[2], set(json.loads(sys.argv[3]))
doc = json.load(open(src, "rb"))
doc["features"] = [f for f in doc["features"] if f["properties"]["kind"] in kinds]
json.dump(doc, open(dst, "w"), ensure_ascii=False)
print(f"{len(doc['features'])} facilities of six kinds")
EOF
fi
city=(--estates "$work/city/estates.geojson" --facilities "$work/city/facilities6.geojson")

seconds() { # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:03.21" -> seconds
  grep 'Elapsed (wall clock)' "$1" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'
}
rss_mib() { grep 'Maximum resident set size' "$1" | awk '{printf "%.0f", $NF/1024}'; }

# Two alternating runs of each gapmap analysis (the machine is shared); the faster one counts.
for run in 1 2; do
  echo "== gapmap analyze --metric straight (run $run)"
  RUST_LOG=gapmap=info /usr/bin/time -v $bin analyze "${city[@]}" --out "$work/straight.csv" 2> "$work/straight-$run.stderr"
  echo "== gapmap analyze --metric network (run $run)"
  RUST_LOG=gapmap=info /usr/bin/time -v $bin analyze "${city[@]}" --network "$work/city/streets.geojson" --metric network \
    --out "$work/network.csv" 2> "$work/network-$run.stderr"
done
grep -m1 -E "walking distances along" "$work/network-1.stderr"
working_crs=$(grep -o 'in EPSG:[0-9]*' "$work/network-1.stderr" | head -1 | cut -c4-)
echo "working CRS: $working_crs"
best() { # the run with the smaller wall time
  local a b; a=$(seconds "$work/$1-1.stderr"); b=$(seconds "$work/$1-2.stderr")
  awk -v a="$a" -v b="$b" -v n="$1" 'BEGIN { print (a <= b ? n "-1" : n "-2") }'
}
s_run=$(best straight); n_run=$(best network)

# pandana searches up to the largest walk gapmap found (rounded up to 100 m), so that every
# reachable estate × kind is compared; a larger bound only slows pandana down.
max_m=$("$venv/bin/python" -c "
import pandas as pd, json, math, sys
d = pd.read_csv('$work/network.csv', usecols=['kind', 'distance_m'])
d = d[d['kind'].isin(json.loads(sys.argv[1]))]['distance_m']
print(int(math.ceil((d.max() + 1) / 100) * 100))" "$kinds")
echo "== pandana (max_distance $max_m m)"
/usr/bin/time -v "$venv/bin/python" tests/bench/pandana_coverage.py "$work/city/streets.geojson" "$work/city/estates.geojson" \
  "$work/city/facilities6.geojson" "$working_crs" "$kinds" "$snap_m" "$max_m" "$work/pandana.csv" 2> "$work/pandana.stderr"
grep -E '^ +[0-9.]+ s ' "$work/pandana.stderr"

echo "== agreement (walking distance per estate × kind, 0.01 m)"
"$venv/bin/python" tests/bench/compare_distances.py "$work/network.csv" "$work/pandana.csv"

echo "== gapmap stages (network run $n_run, elapsed s since start of analysis)"
grep -E 'loaded|built|network|computed|written' "$work/$n_run.stderr" | grep -o 'elapsed_s=[0-9.]*.*' | head -20 || true

s_s=$(seconds "$work/$s_run.stderr"); n_s=$(seconds "$work/$n_run.stderr"); p_s=$(seconds "$work/pandana.stderr")
s_m=$(rss_mib "$work/$s_run.stderr"); n_m=$(rss_mib "$work/$n_run.stderr"); p_m=$(rss_mib "$work/pandana.stderr")
echo "== results ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD))"
printf "%-26s %8s %8s %12s\n" tool "wall s" "other" "peak RSS MiB"
printf "%-26s %8s %8s %12s\n" "gapmap straight" "$s_s" "$(seconds "$work/straight-1.stderr")/$(seconds "$work/straight-2.stderr")" "$s_m"
printf "%-26s %8s %8s %12s\n" "gapmap network" "$n_s" "$(seconds "$work/network-1.stderr")/$(seconds "$work/network-2.stderr")" "$n_m"
printf "%-26s %8s %8s %12s\n" "pandana" "$p_s" "" "$p_m"
awk -v s="$s_s" -v n="$n_s" -v p="$p_s" 'BEGIN {
  printf "pandana / gapmap network: %.1fx (target >= 5x)\n", p / n
  printf "gapmap network / straight: %.2fx (target <= 3x)\n", n / s }'
