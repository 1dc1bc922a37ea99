#!/usr/bin/env bash
# Issue 18's serving-speed comparison: `gapmap serve` against nginx serving the very same bodies
# as static files, loaded by wrk in the same run, on the 60,000-estate generated city.
#
#  1. generates the city (`gapmap generate --estates 60000 --facilities 200000 --seed 18`) once;
#  2. starts `gapmap serve` on it and waits until /health lists nothing warming up;
#  3. draws a fixed, seeded list of 1 km × 1 km bboxes inside the city's extent and of estate ids;
#     captures gapmap's answers to /collections/estates/items?limit=1000&bbox=… and
#     /collections/estates/items/{id} (plain, f=json) into files, and starts nginx (sendfile,
#     keep-alive, no access log, one worker per core) serving those files;
#  4. runs wrk (2 threads, 64 connections, bbox_paths.lua cycling through the paths) against each
#     server in turn, for bbox pages and for single features, and prints requests/s, p50/p99 and
#     gapmap's share of nginx's requests/s (the issue: >= 50 %, gapmap's p99 <= 10 ms).
# Both servers and wrk share the machine's cores, as they would on one host.
#
# usage: bash tests/bench/serve_vs_nginx.sh [GAPMAP_BIN]
#   GAPMAP_BIN: a release gapmap binary (default: builds and copies target/release/gapmap aside).
# environment: DURATION (s per wrk run, default 20), BOXES (default 200).
# Installs nginx-light and wrk from apt when they are missing and the user is root.
# Everything goes under target/bench/serve-vs-nginx/ (run.log, wrk outputs, the captured bodies).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/tests/bench
work=$PWD/target/bench/serve-vs-nginx
duration=${DURATION:-20}
boxes=${BOXES:-200}
mkdir -p "$work"
exec > >(tee "$work/run.log") 2>&1

need=()
command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk > /dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
  else
    echo "serve_vs_nginx: needs ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --locked --bin gapmap
  cp target/release/gapmap "$work/gapmap"
  bin=$work/gapmap
fi
bin=$(realpath "$bin")

city=$work/city
if [ ! -f "$city/estates.geojson" ]; then
  mkdir -p "$city"
  "$bin" generate --estates 60000 --facilities 200000 --seed 18 --out "$city" > /dev/null
fi
printf '[estates]\npath = "%s/estates.geojson"\n\n[[facilities]]\npath = "%s/facilities.geojson"\n\n[serve]\nmax_limit = 10000\n' "$city" "$city" > "$work/city.toml"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2> /dev/null || true
}
trap cleanup EXIT

"$bin" serve --config "$work/city.toml" --bind 127.0.0.1:0 2> "$work/gapmap.log" &
pids+=($!)
gapmap_pid=$!
for _ in $(seq 600); do
  addr=$(grep -o 'listening on http://[0-9.:]*' "$work/gapmap.log" | head -1 | sed 's|listening on http://||' || true)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "gapmap serve did not start:"; cat "$work/gapmap.log"; exit 1; }

python3 - "$addr" "$work" "$boxes" << 'EOF'
import json, os, random, sys, time, urllib.request
addr, work, boxes = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = f"http://{addr}"
def get(path):
    with urllib.request.urlopen(base + path, timeout=300) as r:
        return r.read()
deadline = time.time() + 600
while time.time() < deadline:
    if not json.loads(get("/health")).get("warming_up"):
        break
    time.sleep(0.5)
extent = json.loads(get("/collections/estates"))["extent"]["spatial"]["bbox"][0]
rng = random.Random(18)
static = os.path.join(work, "static")
os.makedirs(static, exist_ok=True)
lines = {"gapmap-bbox": [], "nginx-bbox": [], "gapmap-item": [], "nginx-item": []}
features = 0
for i in range(boxes):
    # About 1 km square: 0.01 degree of longitude, 0.009 of latitude.
    x = rng.uniform(extent[0], extent[2] - 0.01)
    y = rng.uniform(extent[1], extent[3] - 0.009)
    path = f"/collections/estates/items?limit=1000&bbox={x:.6f},{y:.6f},{x + 0.01:.6f},{y + 0.009:.6f}&f=json"
    body = get(path)
    features += len(json.loads(body)["features"])
    with open(os.path.join(static, f"b{i}.json"), "wb") as f:
        f.write(body)
    lines["gapmap-bbox"].append(path)
    lines["nginx-bbox"].append(f"/b{i}.json")
page = json.loads(get("/collections/estates/items?limit=10000&f=json"))
ids = [f["id"] for f in page["features"]]
for i, fid in enumerate(rng.sample(ids, boxes)):
    path = f"/collections/estates/items/{fid}?f=json"
    with open(os.path.join(static, f"f{i}.json"), "wb") as f:
        f.write(get(path))
    lines["gapmap-item"].append(path)
    lines["nginx-item"].append(f"/f{i}.json")
for name, paths in lines.items():
    with open(os.path.join(work, f"paths-{name}.txt"), "w") as f:
        f.write("\n".join(paths) + "\n")
sizes = [os.path.getsize(os.path.join(static, f"b{i}.json")) for i in range(boxes)]
print(f"captured {boxes} bbox pages ({features / boxes:.1f} features, {sum(sizes) / boxes / 1024:.1f} KiB each on average) and {boxes} single estates")
EOF

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" << EOF
user root;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { application/geo+json json; }
  server {
    listen 127.0.0.1:$port;
    root $work/static;
  }
}
EOF
"$nginx_bin" -c "$work/nginx.conf"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/b0.json" > /dev/null && break; sleep 0.1; done
cmp <(curl -s "http://127.0.0.1:$port/b0.json") "$work/static/b0.json"

run() { # label address paths
  wrk -t2 -c64 -d"${duration}"s --timeout 30s --latency -s "$here/bbox_paths.lua" "http://$2" -- "$work/paths-$3.txt" > "$work/wrk-$1.txt"
  grep WRKRESULT "$work/wrk-$1.txt" | sed "s/^WRKRESULT/$1/"
}
field() { grep "^$1 " "$work/results.txt" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
: > "$work/results.txt"
for kind in bbox item; do
  # Alternating, each warmed up first: nginx, gapmap, nginx, gapmap; the better of two counts.
  for round in 1 2; do
    run "nginx-$kind-$round" "127.0.0.1:$port" "nginx-$kind" >> "$work/results.txt"
    run "gapmap-$kind-$round" "$addr" "gapmap-$kind" >> "$work/results.txt"
  done
done
cat "$work/results.txt"
echo "gapmap peak RSS (VmHWM): $(grep VmHWM /proc/$gapmap_pid/status | awk '{print $2 / 1024 " MiB"}')"
for kind in bbox item; do
  best() { local a b; a=$(field "$1-$kind-1" rps); b=$(field "$1-$kind-2" rps); python3 -c "print(max($a, $b))"; }
  n=$(best nginx); g=$(best gapmap)
  p99=$(python3 -c "print(min($(field gapmap-$kind-1 p99_ms), $(field gapmap-$kind-2 p99_ms)))")
  python3 -c "print(f'$kind: nginx {$n:.0f} req/s, gapmap {$g:.0f} req/s = {100 * $g / $n:.1f} % of nginx; gapmap p99 {$p99:.2f} ms (best of two runs each)')"
done
