#!/usr/bin/env bash
# Load and fault test of `gapmap serve`, on the loopback only, bounded in time:
#
#   wrk, 64 connections for 30 s, on items pages of estates/facilities/gaps, while a reloader
#   swaps the config file between two datasets (A and B) every second and POSTs /admin/reload;
#   once, half-way, the config points at a corrupt dataset and the reload must fail cleanly
#   (422) with the previous data still served. Memory (VmRSS) is sampled every second.
#
# Checks: no failed or non-200 request; every response's X-Gapmap-Data-Version header equals
# its body's dataVersion; every data version shows one dataset only (numberMatched per
# collection equal to that of the dataset its reload loaded); the corrupt reload answered 422
# and did not change the version; RSS after the run within a bound of RSS after warm-up.
#
#   bash tests/bench/load_and_fault.sh            # DURATION=30 CONNECTIONS=64 ESTATES=3000
#   DURATION=10 bash tests/bench/load_and_fault.sh
#
# Needs wrk and curl (apt-get install wrk curl); builds the release binary if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${DURATION:-30}"
connections="${CONNECTIONS:-64}"
estates="${ESTATES:-3000}"
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "load_and_fault: $tool is missing; apt-get install $tool" >&2; exit 1; }
done
bin=target/release/gapmap
if [[ ! -x $bin || -n ${BUILD:-} ]]; then
  cargo build --release --locked --bin gapmap
fi
work="$(mktemp -d -t gapmap-load-XXXXXX)"
out=target/load_and_fault
mkdir -p "$out"
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== data: A ($estates estates), B ($((estates + 500)) estates), corrupt" >&2
"$bin" generate --estates "$estates" --facilities $((estates * 3)) --seed 1 --out "$work/a" >/dev/null 2>&1
"$bin" generate --estates $((estates + 500)) --facilities $(((estates + 500) * 3)) --seed 2 --out "$work/b" >/dev/null 2>&1
mkdir -p "$work/corrupt"
head -c 100000 "$work/a/estates.geojson" > "$work/corrupt/estates.geojson"
cp "$work/a/facilities.geojson" "$work/corrupt/facilities.geojson"
for d in a b corrupt; do
  printf '[estates]\npath = "%s/estates.geojson"\n[[facilities]]\npath = "%s/facilities.geojson"\n[analysis]\non_invalid = "warn"\n[serve]\nbind = "127.0.0.1:0"\n' \
    "$d" "$d" > "$work/config-$d.toml"
done
swap_config() { cp "$work/config-$1.toml" "$work/gapmap.toml.new" && mv -f "$work/gapmap.toml.new" "$work/gapmap.toml"; }
swap_config a

token="load-and-fault-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
GAPMAP_ADMIN_TOKEN="$token" RUST_LOG=gapmap=warn "$bin" serve --config "$work/gapmap.toml" --bind 127.0.0.1:0 2> "$out/server.log" &
server_pid=$!
addr=""
for _ in $(seq 1 600); do
  addr="$(sed -n 's/^listening on http:\/\/\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$out/server.log" | head -1)"
  [[ -n $addr ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $addr ]] || { echo "load_and_fault: the server did not start" >&2; exit 1; }
base="http://$addr"
echo "== serving on $base (pid $server_pid)" >&2

# What each dataset looks like: numberMatched per collection.
matched() { curl -sf "$base/collections/$1/items?limit=1" | sed -n 's/.*"numberMatched":\([0-9]*\).*/\1/p'; }
declare -A expect_a expect_b
for c in estates facilities gaps; do expect_a[$c]="$(matched "$c")"; done

reload() {  # prints "HTTP_STATUS DATA_VERSION"
  local body
  body="$(curl -s -o - -w ' %{http_code}' -X POST -H "Authorization: Bearer $token" "$base/admin/reload")"
  local code="${body##* }"
  local version
  version="$(sed -n 's/.*"data_version":\([0-9]*\).*/\1/p' <<<"$body")"
  echo "$code ${version:--}"
}
# Learn B's counts once, then return to A, before the clock starts. Data versions are digests of
# the content: A's is the same every time A is loaded, B's every time B is.
version_a="$(curl -sf "$base/health" | sed -n 's/.*"data_version":\([0-9]*\).*/\1/p')"
swap_config b; read -r code v < <(reload); [[ $code == 200 ]] || { echo "reload to B failed: $code" >&2; exit 1; }
for c in estates facilities gaps; do expect_b[$c]="$(matched "$c")"; done
declare -A version_dataset=(["$version_a"]=a ["$v"]=b)
swap_config a; read -r code v < <(reload); version_dataset[$v]=a

# Warm-up, then the RSS baseline.
wrk -t2 -c"$connections" -d3s "$base/collections/estates/items?limit=20" >/dev/null
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
rss_start="$(rss)"

echo "== wrk -t2 -c$connections -d${duration}s with reloads every second" >&2
: > "$out/rss.txt"
( for _ in $(seq 1 $((duration + 2))); do echo "$(date +%s) $(rss)" >> "$out/rss.txt"; sleep 1; done ) &
sampler=$!
wrk -t2 -c"$connections" -d"${duration}s" --latency -s tests/bench/load_and_fault.lua "$base" > "$out/wrk.txt" 2>&1 &
wrk_pid=$!
: > "$out/reloads.txt"
next=b
corrupt_at=$((duration / 2))
for i in $(seq 1 $((duration - 1))); do
  sleep 1
  if [[ $i -eq $corrupt_at ]]; then
    before="$(curl -sf "$base/health" | sed -n 's/.*"data_version":\([0-9]*\).*/\1/p')"
    swap_config corrupt
    read -r code v < <(reload)
    after="$(curl -sf "$base/health" | sed -n 's/.*"data_version":\([0-9]*\).*/\1/p')"
    echo "$i corrupt $code before=$before after=$after" >> "$out/reloads.txt"
    continue
  fi
  swap_config "$next"
  read -r code v < <(reload)
  echo "$i $next $code $v" >> "$out/reloads.txt"
  [[ $code == 200 ]] && version_dataset[$v]=$next
  next=$([[ $next == a ]] && echo b || echo a)
done
wait "$wrk_pid"
wait "$sampler"
rss_end="$(rss)"
cat "$out/wrk.txt" > "$out/summary.txt"

# Checks.
fail=0
lua="$(grep '^LUA requests' "$out/wrk.txt")"
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$lua"; }
requests="$(field requests)"; non200="$(field non200)"; mismatches="$(field header_body_mismatches)"
unparsed="$(field unparsed)"; socket_errors="$(field socket_errors)"; timeouts="$(field timeouts)"
[[ $non200 -eq 0 && $socket_errors -eq 0 && $timeouts -eq 0 && $unparsed -eq 0 ]] || { echo "FAIL: failed requests" >&2; fail=1; }
[[ $mismatches -eq 0 ]] || { echo "FAIL: header/body version mismatches" >&2; fail=1; }
mixed=0
while read -r _ version collection count n; do
  ds="${version_dataset[$version]:-}"
  if [[ -z $ds ]]; then echo "FAIL: version $version was never loaded by a reload ($n responses)" >&2; mixed=$((mixed + n)); continue; fi
  if [[ $ds == a ]]; then want="${expect_a[$collection]}"; else want="${expect_b[$collection]}"; fi
  if [[ $count != "$want" ]]; then
    echo "FAIL: version $version ($ds) served $collection with numberMatched $count, expected $want ($n responses)" >&2
    mixed=$((mixed + n))
  fi
done < <(grep '^SEEN ' "$out/wrk.txt")
[[ $mixed -eq 0 ]] || fail=1
versions_seen="$(grep -c '^SEEN ' "$out/wrk.txt" || true)"
ok_reloads="$(awk '$3 == 200' "$out/reloads.txt" | wc -l)"
bad_reloads="$(awk '$2 != "corrupt" && $3 != 200' "$out/reloads.txt" | wc -l)"
corrupt_line="$(grep corrupt "$out/reloads.txt")"
read -r _ _ corrupt_code before after <<<"$corrupt_line"
[[ $corrupt_code == 422 && ${before#before=} == "${after#after=}" ]] || { echo "FAIL: corrupt reload: $corrupt_line" >&2; fail=1; }
[[ $bad_reloads -eq 0 ]] || { echo "FAIL: $bad_reloads good reloads failed" >&2; fail=1; }
rss_min="$(awk '{print $2}' "$out/rss.txt" | sort -n | head -1)"
rss_max="$(awk '{print $2}' "$out/rss.txt" | sort -n | tail -1)"
# "Flat": a swap briefly holds two datasets, so RSS saw-tooths up to about twice the post-warm-up
# value; it must stay under 2.5 times that, and the mean of the last third of the samples
# within 25 % of the middle third's (no upward trend).
bound_kib=$((rss_start * 5 / 2))
[[ $rss_max -le $bound_kib ]] || { echo "FAIL: RSS peaked at $rss_max KiB, over 2.5 x $rss_start KiB" >&2; fail=1; }
read -r rss_mid rss_last < <(awk '{v[NR] = $2} END {t = int(NR / 3); for (i = t + 1; i <= 2 * t; i++) m += v[i]; for (i = 2 * t + 1; i <= NR; i++) l += v[i]; printf "%d %d\n", m / t, l / (NR - 2 * t)}' "$out/rss.txt")
[[ $((rss_last * 4)) -le $((rss_mid * 5)) ]] || { echo "FAIL: RSS trends up: mean $rss_mid KiB in the middle third, $rss_last KiB in the last" >&2; fail=1; }
reload_failures_metric="$(curl -sf "$base/metrics" | awk '/^gapmap_reload_failures_total/ {print $2}')"

{
  echo "load_and_fault: $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) cores"
  echo "  wrk: $connections connections, ${duration}s: requests=$requests ($(sed -n 's/^Requests\/sec: *//p' "$out/wrk.txt") req/s) non200=$non200 socket_errors=$socket_errors timeouts=$timeouts"
  grep '^LUA latency' "$out/wrk.txt" | sed 's/^LUA /  /'
  echo "  header/body version mismatches=$mismatches, responses showing another version's data=$mixed, (version, collection, numberMatched) combinations=$versions_seen"
  echo "  reloads: ok=$ok_reloads, corrupt: $corrupt_line, gapmap_reload_failures_total=$reload_failures_metric"
  echo "  RSS KiB: after warm-up=$rss_start min=$rss_min max=$rss_max end=$rss_end; mean middle third=$rss_mid last third=$rss_last"
  [[ $fail -eq 0 ]] && echo "  PASS" || echo "  FAIL"
} | tee -a "$out/summary.txt"
exit "$fail"
