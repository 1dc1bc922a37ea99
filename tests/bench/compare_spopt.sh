#!/usr/bin/env bash
# Whole-program benchmark of site planning (issue 13): `gapmap plan --kind day_care --count 50`
# against spopt's MCLP, PuLP + HiGHS and highspy on the same instance, built independently in
# Python (tests/bench/spopt_plan.py), in the same run. Every tool runs end to end as one process
# (loading the GeoJSON included) under /usr/bin/time -v; the script checks that all exact solves
# reach the same objective (households newly covered) and prints wall time, CPU time (user + sys:
# steadier than wall on a shared machine), peak RSS and ratios to gapmap.
#
# Two instances on the generated city (`gapmap generate --estates E --facilities F --seed 42`):
# - `centroids`: gapmap's default, every estate's centroid a candidate (60,000 × 13,586 demand
#   estates). spopt cannot take it in reasonable time: MCLP.from_cost_matrix needs a dense demand ×
#   candidate matrix (815 M cells: 6.5 GB of float64, and again for its 0/1 copy) and builds one
#   PuLP term per cell in Python (measured 6.6-9.7 µs a cell on the `stride` instance: 1.5-2.2 h).
#   gapmap, PuLP and highspy only.
# - `stride`: the centroids of every STRIDE-th demand estate (default 10: 1,359 candidates), written
#   once as a CRS84 point file and given to every tool; sized so spopt's dense model builds in
#   minutes. Demand estates' own centroids, so every candidate covers something and sites overlap.
#
# usage: [GAPMAP_BIN=path] [STRIDE=10] [RUNS=2] bash tests/bench/compare_spopt.sh [ESTATES=60000] [FACILITIES=200000]
set -euo pipefail
cd "$(dirname "$0")/../.."
estates=${1:-60000}
facilities=${2:-200000}
stride=${STRIDE:-10}
runs=${RUNS:-2}
kind=day_care
count=50
work=target/bench/spopt-$estates-$facilities
mkdir -p "$work"

bash scripts/setup.sh
if ! [ -x /usr/bin/time ]; then
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -qq time >/dev/null; else echo "install the Debian package 'time'" >&2; exit 1; fi
fi
venv=target/bench/venv-spopt
if ! [ -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "spopt>=0.7" "pulp>=3" "highspy>=1.7" "geopandas>=1.0" pyogrio pyproj "shapely>=2" scipy pandas
fi
# GAPMAP_BIN: a release binary copied aside, when others rebuild target/release meanwhile.
bin=${GAPMAP_BIN:-target/release/gapmap}
[[ -n ${GAPMAP_BIN:-} ]] || cargo build --release --locked -q
py=(/usr/bin/time -v "$venv/bin/python" tests/bench/spopt_plan.py)

if ! [ -f "$work/city/facilities.geojson" ]; then
  echo "== generate ($estates estates, $facilities facilities)"
  $bin generate --estates "$estates" --facilities "$facilities" --seed 42 --out "$work/city"
fi
city=(--estates "$work/city/estates.geojson" --facilities "$work/city/facilities.geojson")
files=("$work/city/estates.geojson" "$work/city/facilities.geojson")

seconds() { # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:03.21" -> seconds
  grep 'Elapsed (wall clock)' "$1" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'
}
rss_mib() { grep 'Maximum resident set size' "$1" | awk '{printf "%.0f", $NF/1024}'; }
cpu_s() { grep -E '(User|System) time' "$1" | awk '{ s += $NF } END { printf "%.2f", s }'; }
same_sites() { # gapmap's sites against a peer's (ties may pick another optimum of equal weight)
  "$venv/bin/python" -c "
import json, sys
g = sorted(s['id'] for s in json.load(open(sys.argv[1]))['sites']); p = json.load(open(sys.argv[2]))['sites']
print('   sites: the same set' if g == p else f'   sites: {len(set(g) & set(p))} of {len(g)} in common (another optimum)')" "$1" "$2"
}
field() { "$venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
gapmap_plan() { # instance candidates run
  RUST_LOG=gapmap=info /usr/bin/time -v $bin plan "${city[@]}" --kind $kind --count $count --candidates "$2" \
    --out "$work/gapmap-$1.json" 2> "$work/gapmap-$1-$3.stderr"
  echo "   run $3: $(seconds "$work/gapmap-$1-$3.stderr") s, $(field "$work/gapmap-$1.json" solver), $(field "$work/gapmap-$1.json" objective_households) households"
}
best_gapmap() { # the run with the smallest wall time
  local best="" best_s=""
  for r in $(seq 1 "$runs"); do
    local s; s=$(seconds "$work/gapmap-$1-$r.stderr")
    if [[ -z $best ]] || awk -v a="$s" -v b="$best_s" 'BEGIN { exit !(a < b) }'; then best=$r; best_s=$s; fi
  done
  echo "$work/gapmap-$1-$best.stderr"
}

echo "== gapmap plan, centroids ($runs runs; the faster counts)"
for r in $(seq 1 "$runs"); do gapmap_plan centroids centroids "$r"; done
working_crs=$(field "$work/gapmap-centroids.json" working_crs)
radius=$(field "$work/gapmap-centroids.json" radius_m)
echo "working CRS $working_crs, radius $radius m"
for mode in pulp highspy; do
  echo "== $mode, centroids"
  "${py[@]}" $mode "${files[@]}" centroids "$working_crs" $kind "$radius" $count "$work/$mode-centroids.json" 2> "$work/$mode-centroids.stderr"
  grep -E '^\[|demand estates|households$' "$work/$mode-centroids.stderr"
done

cands=$work/candidates-every$stride.geojson
if ! [ -f "$cands" ]; then
  "$venv/bin/python" tests/bench/spopt_plan.py candidates "${files[@]}" $kind "$radius" "$stride" "$working_crs" "$cands"
fi
echo "== gapmap plan, every ${stride}th demand centroid ($runs runs)"
for r in $(seq 1 "$runs"); do gapmap_plan stride "$cands" "$r"; done
for mode in spopt pulp highspy; do
  echo "== $mode, every ${stride}th demand centroid"
  "${py[@]}" $mode "${files[@]}" "$cands" "$working_crs" $kind "$radius" $count "$work/$mode-stride.json" 2> "$work/$mode-stride.stderr"
  grep -E '^\[|demand estates|households$' "$work/$mode-stride.stderr"
done

echo "== gapmap stages (fastest run of each instance)"
for inst in centroids stride; do
  echo "-- $inst"
  grep -E 'INFO' "$(best_gapmap $inst)" | sed -e 's/\x1b\[[0-9;]*m//g' | cut -c1-200 | head -20 || true
done

echo "== agreement and results ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD))"
ok=1
for inst in centroids stride; do
  g_err=$(best_gapmap $inst)
  g_s=$(seconds "$g_err"); g_obj=$(field "$work/gapmap-$inst.json" objective_households)
  echo "-- $inst: $(field "$work/gapmap-$inst.json" candidate_count) candidates, $(field "$work/gapmap-$inst.json" demand_estates) demand estates"
  g_c=$(cpu_s "$g_err")
  printf "%-10s %8s %8s %12s %10s %8s %14s %14s\n" tool "wall s" "CPU s" "peak RSS MiB" objective solver "wall / gapmap" "CPU / gapmap"
  printf "%-10s %8s %8s %12s %10s %8s %14s %14s\n" gapmap "$g_s" "$g_c" "$(rss_mib "$g_err")" "$g_obj" "$(field "$work/gapmap-$inst.json" solver)" 1.0 1.0
  modes=(pulp highspy); [[ $inst == stride ]] && modes=(spopt pulp highspy)
  for mode in "${modes[@]}"; do
    m_s=$(seconds "$work/$mode-$inst.stderr"); m_c=$(cpu_s "$work/$mode-$inst.stderr"); m_obj=$(field "$work/$mode-$inst.json" objective_households)
    printf "%-10s %8s %8s %12s %10s %8s %14s %14s\n" "$mode" "$m_s" "$m_c" "$(rss_mib "$work/$mode-$inst.stderr")" "$m_obj" \
      "$(field "$work/$mode-$inst.json" status)" "$(awk -v m="$m_s" -v g="$g_s" 'BEGIN { printf "%.1fx", m / g }')" \
      "$(awk -v m="$m_c" -v g="$g_c" 'BEGIN { printf "%.1fx", m / g }')"
    if ! awk -v a="$m_obj" -v b="$g_obj" 'BEGIN { exit !(a == b) }'; then echo "   DISAGREE: $mode $m_obj vs gapmap $g_obj"; ok=0; fi
    same_sites "$work/gapmap-$inst.json" "$work/$mode-$inst.json"
  done
done
[[ $ok == 1 ]] && echo "agreement: every exact solve reaches gapmap's objective" || { echo "agreement: FAILED" >&2; exit 1; }
