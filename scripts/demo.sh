#!/usr/bin/env bash
# Sets up the machine, analyses the embedded demo city (data/demo) into target/demo/, then starts
# the service on it: http://127.0.0.1:8080 (override with GAPMAP_BIND). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked
mkdir -p target/demo
./target/release/gapmap analyze --config data/demo/gapmap.toml --out target/demo/coverage.csv
./target/release/gapmap analyze --config data/demo/gapmap.toml --out target/demo/summary.json
./target/release/gapmap analyze --config data/demo/gapmap.toml --out target/demo/estates.geojson
echo "demo: wrote target/demo/coverage.csv, summary.json and estates.geojson; starting the service" >&2
exec ./target/release/gapmap serve --config data/demo/gapmap.toml
