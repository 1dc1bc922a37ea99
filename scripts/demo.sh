#!/usr/bin/env bash
# Sets up the machine and runs gapmap's main job on the embedded demo city.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked
mkdir -p target/demo
./target/release/gapmap analyze --config data/demo/gapmap.toml --out target/demo/coverage.csv
./target/release/gapmap analyze --config data/demo/gapmap.toml --out target/demo/summary.json
./target/release/gapmap analyze --config data/demo/gapmap.toml --out target/demo/estates.geojson
echo "demo: wrote target/demo/coverage.csv, summary.json and estates.geojson" >&2
