#!/usr/bin/env bash
# Installs what gapmap needs on Debian 12 and is missing: GDAL, PROJ, libclang and pkg-config to
# build, cmake and g++ for HiGHS (the site-planning solver, built from source by highs-sys); gdal-bin (ogrinfo/ogr2ogr) and osmium-tool for the real-client tests; chromium and a
# small CJK font for the web map's browser test, node for the style validator and playwright-core;
# PostgreSQL 15 with PostGIS 3 for the PostGIS tests (tests/postgis.rs starts its own throwaway
# cluster with the binaries in /usr/lib/postgresql/15/bin; no server needs to be running); nginx-light
# for the replicas test (tests/replicas.rs starts its own nginx from deploy/nginx.conf; the
# Debian service is not used) and wrk for the serving benchmarks (tests/bench/*.sh).
# Then the npm packages of web/ (npm ci from the committed package-lock.json).
# Runs apt only when root; otherwise says exactly what to install. Idempotent.
set -euo pipefail

packages=(libgdal-dev libproj-dev libclang-dev pkg-config cmake g++ gdal-bin osmium-tool chromium fonts-wqy-microhei postgresql-15 postgresql-15-postgis-3 nginx-light wrk)
# node ≥ 20 (playwright-core needs it); Debian's nodejs only when there is no node at all.
command -v node >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]} (installing them needs root; this runs as $(id -un))" >&2
    echo "setup: run   sudo apt-get install -y ${missing[*]}   and try again" >&2
    exit 1
  fi
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

# The OpenAPI checkers of tests/openapi_validate.rs (pinned there too), in a venv under target/.
venv="$(cd "$(dirname "$0")/.." && pwd)/target/venv-openapi"
if ! "$venv/bin/python" -c "import openapi_spec_validator, schemathesis" 2>/dev/null; then
  echo "setup: installing openapi-spec-validator and schemathesis into target/venv-openapi" >&2
  python3 -m venv "$venv" || { echo "setup: python3 -m venv failed; run   sudo apt-get install -y python3-venv   and try again" >&2; exit 1; }
  "$venv/bin/pip" install -q openapi-spec-validator==0.9.0 schemathesis==4.32.5 >&2 \
    || { echo "setup: pip could not install openapi-spec-validator and schemathesis into $venv (is PyPI reachable?); tests/openapi_validate.rs needs them" >&2; exit 1; }
fi

# The web map's npm packages: the MapLibre style validator, playwright-core, maplibre-gl and the
# glyph font (web/package-lock.json). Skipped when node_modules already matches the lock file.
cd "$(dirname "$0")/../web"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "setup: node $(node --version 2>/dev/null || echo missing) is too old; playwright-core needs node 20 or later" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "setup: npm not found; install it (apt-get install npm) and try again" >&2; exit 1; }
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.gapmap-lock-sha256 || $(cat node_modules/.gapmap-lock-sha256) != "$lock_sum" ]]; then
  echo "setup: installing the web map's npm packages (npm ci in web/)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > node_modules/.gapmap-lock-sha256
fi
