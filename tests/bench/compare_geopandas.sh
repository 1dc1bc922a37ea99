#!/usr/bin/env bash
# Whole-program benchmark: `gapmap analyze` (GeoJSON in, CSV out) against GeoPandas
# (`sjoin_nearest` + a `dwithin` join) on the same generated city, in the same run.
# Checks that the two CSVs agree to 0.01 m, then prints wall-clock times, peak RSS and ratios.
#
# usage: bash tests/bench/compare_geopandas.sh [ESTATES=300000] [FACILITIES=1000000]
set -euo pipefail
cd "$(dirname "$0")/../.."
estates=${1:-300000}
facilities=${2:-1000000}
work=target/bench/geopandas-$estates-$facilities
mkdir -p "$work"

bash scripts/setup.sh
if ! [ -x /usr/bin/time ]; then
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq time >/dev/null; else echo "install the Debian package 'time'" >&2; exit 1; fi
fi
venv=target/bench/venv
if ! [ -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "geopandas>=1.0" pyogrio pyproj shapely pandas
fi
cargo build --release --locked -q
bin=target/release/gapmap

if ! [ -f "$work/city/facilities.geojson" ]; then
  $bin generate --estates "$estates" --facilities "$facilities" --seed 42 --out "$work/city"
fi
radii=$("$venv/bin/python" -c 'import tomllib,json; c=tomllib.load(open("data/standards/gb50180-2018.toml","rb")); print(json.dumps({k["key"]: k["radius_m"] for k in c["kind"]}))')

echo "== gapmap analyze ($estates estates, $facilities facilities)"
/usr/bin/time -v $bin analyze --estates "$work/city/estates.geojson" --facilities "$work/city/facilities.geojson" \
  --out "$work/gapmap.csv" 2> "$work/gapmap.stderr"
working_crs=$(grep -o 'in EPSG:[0-9]*' "$work/gapmap.stderr" | head -1 | cut -c4-)
echo "working CRS: $working_crs"

echo "== GeoPandas"
/usr/bin/time -v "$venv/bin/python" tests/bench/geopandas_coverage.py "$work/city/estates.geojson" \
  "$work/city/facilities.geojson" "$working_crs" "$radii" "$work/geopandas.csv" 2> "$work/geopandas.stderr"

echo "== agreement"
"$venv/bin/python" tests/bench/compare_csv.py "$work/gapmap.csv" "$work/geopandas.csv" "$radii"

seconds() { # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:03.21" -> seconds
  grep 'Elapsed (wall clock)' "$1" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'
}
rss_mib() { grep 'Maximum resident set size' "$1" | awk '{printf "%.0f", $NF/1024}'; }
g_s=$(seconds "$work/gapmap.stderr"); p_s=$(seconds "$work/geopandas.stderr")
g_m=$(rss_mib "$work/gapmap.stderr"); p_m=$(rss_mib "$work/geopandas.stderr")
echo "== results ($(nproc) cores, $(git rev-parse --short HEAD))"
printf "%-10s %10s %12s\n" tool "wall s" "peak RSS MiB"
printf "%-10s %10s %12s\n" gapmap "$g_s" "$g_m" geopandas "$p_s" "$p_m"
awk -v g="$g_s" -v p="$p_s" 'BEGIN { printf "speed-up: %.1fx\n", p / g }'
