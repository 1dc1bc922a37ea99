#!/usr/bin/env bash
# Installs what gapmap needs on Debian 12 and is missing: GDAL, PROJ, libclang and pkg-config to
# build; gdal-bin (ogrinfo/ogr2ogr) and osmium-tool for the real-client tests.
# Runs apt only when root; otherwise says exactly what to install.
set -euo pipefail

packages=(libgdal-dev libproj-dev libclang-dev pkg-config gdal-bin osmium-tool)
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
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run   sudo apt-get install -y ${missing[*]}   and try again" >&2
    exit 1
  fi
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
