#!/usr/bin/env bash
# Runs each libFuzzer target (fuzz/fuzz_targets) for a bounded time or number of runs, at the
# lowest CPU priority.
#
#   bash scripts/fuzz.sh            # every target, 20 s each
#   bash scripts/fuzz.sh 300        # every target, 5 minutes each
#   bash scripts/fuzz.sh 60 cql2_parse geojson_read
#   bash scripts/fuzz.sh --ci       # every target for a fixed number of runs (scripts/test.sh)
#
# Toolchain: cargo-fuzz $CARGO_FUZZ_VERSION is installed into target/cargo-fuzz (not ~/.cargo)
# when that version is not there. The fuzz build has a target directory of its own, target/fuzz
# ($FUZZ_TARGET_DIR overrides it): its compiler flags differ from the main build's, so sharing
# would rebuild everything each time. cargo-fuzz passes nightly-only flags; on a stable toolchain
# they are enabled with RUSTC_BOOTSTRAP=1, which this script sets for the fuzz build only.
#
# Sanitizer: none by default ($FUZZ_SANITIZER=address brings AddressSanitizer back). The fuzzed
# code (GeoJSON reader, CQL2 parser, query parsing and the router, config) is safe Rust; gapmap's
# only `unsafe` is in the GDAL reader, which no target reaches. libFuzzer still catches what can
# go wrong there: a panic (abort), a hang (-timeout) and runaway memory (-rss_limit_mb). Without
# ASan the cold build costs a quarter less CPU and the targets run several times faster
# (geojson_read from the seeds: 500,000 runs in 12 s without ASan, about 85 s with it).
# Cold costs measured on the 2-core dev machine with 3 other engineers compiling (load average
# 5-11, so wall times are high), `nice`, a fresh target directory, cargo's registry cache warm:
#   cargo install cargo-fuzz --locked --version 0.13.2     90 s wall,  63 s user +  5 s sys
#   cargo fuzz build -O (ASan)                           1538 s wall, 548 s user + 28 s sys
#   cargo fuzz build -O -s none                          1089 s wall, 392 s user + 29 s sys
#   fresh clone, `bash scripts/fuzz.sh --ci` (install + build + runs)
#                                                        1099 s wall, 469 s user + 35 s sys
#   `bash scripts/fuzz.sh --ci` once built                   49 s wall,  32 s user +  2 s sys
#
# Seeds come from the test fixtures; corpora grow in fuzz/corpus/ and crashes land in
# fuzz/artifacts/<target>/ (both ignored by git): turn each crash into a regression test, then
# delete it. Exits non-zero when a target finds a crash (or the fuzz build fails).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ci=false
if [[ ${1:-} == --ci ]]; then
  ci=true
  shift
  seconds=""
else
  seconds="${1:-20}"
  shift || true
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(geojson_read cql2_parse query_string config_toml)
fi
# --ci: runs per target, about 10-20 s each on the dev machine from the seed corpus
# (query_string sends every input through the whole router: ~1,000 runs/s against ~40,000 for the
# GeoJSON reader and the config and ~100,000 for the CQL2 parser, without ASan);
# -max_total_time caps a slow machine or a large local corpus, -seed makes the run repeatable.
declare -A ci_runs=([geojson_read]=500000 [cql2_parse]=1000000 [query_string]=15000 [config_toml]=500000)

CARGO_FUZZ_VERSION=0.13.2
export PATH="$root/target/cargo-fuzz/bin:$PATH"
if [[ $(cargo fuzz --version 2>/dev/null) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into target/cargo-fuzz" >&2
  nice -n 19 cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$root/target/cargo-fuzz" --force
fi
export RUSTC_BOOTSTRAP=1
build_flags=(-O -s "${FUZZ_SANITIZER:-none}" --target-dir "${FUZZ_TARGET_DIR:-$root/target/fuzz}")

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

nice -n 19 cargo fuzz build "${build_flags[@]}"
passed=0
failed=0
for t in "${targets[@]}"; do
  if $ci; then
    limit=(-runs="${ci_runs[$t]:-100000}" -max_total_time=60 -seed=1)
    echo "== fuzz $t for ${ci_runs[$t]:-100000} runs"
  else
    limit=(-max_total_time="$seconds")
    echo "== fuzz $t for ${seconds}s"
  fi
  log="fuzz/artifacts/$t.log"
  mkdir -p "fuzz/artifacts/$t"
  # -rss_limit_mb: the router target keeps a small city in memory; 2 GiB is far above it.
  rc=0
  nice -n 19 cargo fuzz run "${build_flags[@]}" "$t" -- "${limit[@]}" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 > "$log" 2>&1 || rc=$?
  grep -E "^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ?ERROR|SUMMARY|artifact_prefix|Test unit written)" "$log" || true
  if ((rc != 0)) || grep -qE "^(==[0-9]+== ?ERROR|SUMMARY: |thread '.*' panicked)" "$log"; then
    echo "fuzz: $t failed (exit $rc); see $log and fuzz/artifacts/$t/" >&2
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
