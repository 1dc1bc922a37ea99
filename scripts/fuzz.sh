#!/usr/bin/env bash
# Runs each libFuzzer target (fuzz/fuzz_targets) for a bounded time, at the lowest CPU priority.
#
#   bash scripts/fuzz.sh            # every target, 20 s each
#   bash scripts/fuzz.sh 300        # every target, 5 minutes each
#   bash scripts/fuzz.sh 60 cql2_parse geojson_read
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer=address); on a stable toolchain they are
# enabled with RUSTC_BOOTSTRAP=1, which this script sets for the fuzz build only. cargo-fuzz is
# installed when missing. Seeds come from the test fixtures; corpora grow in fuzz/corpus/ and
# crashes land in fuzz/artifacts/<target>/ (both ignored by git): turn each crash into a
# regression test, then delete it. Exits non-zero when a target finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(geojson_read cql2_parse query_string config_toml)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

# Seeds: fixtures for the loader and config, filter and query examples for the others.
mkdir -p fuzz/corpus/{geojson_read,cql2_parse,query_string,config_toml}
cp tests/fixtures/*.geojson tests/fixtures/hostile/*.geojson fuzz/corpus/geojson_read/ 2>/dev/null || true
cp tests/fixtures/hostile/*.toml data/demo/*.toml fuzz/corpus/config_toml/ 2>/dev/null || true
i=0
for f in "households > 100 AND district = '长安区'" "name LIKE 'A%' OR NOT (kind IN ('market', 'parking'))" \
  "S_INTERSECTS(geometry, POLYGON((114 38, 115 38, 115 39, 114 38)))" "capacity BETWEEN 10 AND 20.5" \
  "CASEI(name) = CASEI('x') AND opened_year IS NOT NULL" "S_INTERSECTS(geometry, BBOX(114, 38, 115, 39))" \
  "+name,-households" "GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))"; do
  printf '%s' "$f" > "fuzz/corpus/cql2_parse/seed$i"; i=$((i + 1))
done
i=0
for q in "limit=10&offset=5&f=json" "bbox=114,38,115,39&bbox-crs=EPSG:4326" "filter=households%20%3E%20100&filter-lang=cql2-text" \
  "sortby=-households&crs=EPSG:3857" "datetime=2010-01-01/..&kind=market" "lon=114.5&lat=38.04" "year=2021&f=html"; do
  # The first byte picks the route.
  printf '%b%s' "\\x0$i" "$q" > "fuzz/corpus/query_string/seed$i"; i=$((i + 1))
done

nice -n 19 cargo fuzz build -O
status=0
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  log="fuzz/artifacts/$t.log"
  mkdir -p "fuzz/artifacts/$t"
  # -rss_limit_mb: the router target keeps a small city in memory; 2 GiB is far above it.
  if ! nice -n 19 cargo fuzz run -O "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 2>&1 | tee "$log" | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done)" ; then
    :
  fi
  if grep -qE "^(==[0-9]+==ERROR|SUMMARY: libFuzzer|thread '.*' panicked)" "$log"; then
    echo "fuzz: $t found a crash; see $log and fuzz/artifacts/$t/" >&2
    status=1
  fi
done
exit "$status"
