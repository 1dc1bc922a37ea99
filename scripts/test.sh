#!/usr/bin/env bash
# Sets up the machine and runs every test: unit, integration, property, real-data and doc tests,
# then each cargo-fuzz target for a fixed number of runs (scripts/fuzz.sh --ci).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [[ ! -d ../shared/realdata ]]; then
  echo "test: ../shared/realdata is missing; the real-data tests read it from beside the repository" >&2
  exit 1
fi
# --all-targets includes tests/styles.rs (MapLibre's style validator) and tests/browser.rs (the web
# map in headless chromium), which need what setup.sh installed: node, web/node_modules, chromium.
# A one-off run (CI, a fresh clone) gains nothing from incremental artefacts, which would add
# several GB to target/.
if [[ -n "${CI:-}" ]]; then export CARGO_INCREMENTAL=0; fi
cargo test --locked --all-targets
cargo test --locked --doc
# Each libFuzzer target briefly: a crash (panic, timeout, runaway memory) fails the run. The first
# run installs cargo-fuzz into target/cargo-fuzz and builds the targets in target/fuzz; see the
# script's header for the cost.
bash scripts/fuzz.sh --ci
