#!/usr/bin/env python3
"""Serve memory, start-up and the year slider (issue 18), measured on a running `gapmap serve`.

Starts `gapmap serve --config CONFIG --bind 127.0.0.1:0` (a release binary), then reports:
- start-up: seconds from the start until /health answers 200;
- RSS after loading, after the background coverage timeline is built (the log line
  "coverage timeline built"), after each year of the slider is asked for once
  (`/collections/estates/items?limit=1&year=Y`, then a 1 km bbox page of that year), and its peak;
- per year: the latency of the first request for it (a year not seen before) and of a repeat;
- the load's phases (log lines with `elapsed_ms`) and the served data's heap bytes by part
  (`gapmap_served_heap_bytes` in /metrics) after loading and at the end.

    python3 tests/bench/serve_years.py GAPMAP_BIN CONFIG [FIRST_YEAR LAST_YEAR]

Standard library only; loopback only; bounded in time (each request 120 s at most).
"""
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def get(base, path):
    started = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=120) as r:
        body = r.read()
        return r.status, body, time.perf_counter() - started


def print_heap(base, when):
    _, body, _ = get(base, "/metrics")
    parts = re.findall(r'gapmap_served_heap_bytes\{part="([a-z_]+)"\} (\d+)', body.decode())
    if parts:
        print(f"served heap {when}: " + ", ".join(f"{p} {int(b) / 2**20:.1f} MiB" for p, b in parts))


def main():
    binary, config = sys.argv[1], sys.argv[2]
    first, last = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (1990, 2025)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [binary, "serve", "--config", config, "--bind", "127.0.0.1:0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={"RUST_LOG": "gapmap=info", "PATH": "/usr/bin:/bin"},
    )
    log, base, timeline_at = [], None, [None]
    peak = [0.0]

    def read_log():
        for line in proc.stderr:
            log.append(line)
            if "coverage timeline built" in line and timeline_at[0] is None:
                timeline_at[0] = time.perf_counter() - started

    threading.Thread(target=read_log, daemon=True).start()

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], rss_mib(proc.pid))
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    try:
        while base is None:
            if proc.poll() is not None:
                sys.exit("gapmap serve stopped:\n" + "".join(log[-20:]))
            for line in log:
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    base = m.group(1)
            time.sleep(0.02)
        while True:
            try:
                status, _, _ = get(base, "/health")
                if status == 200:
                    break
            except Exception:
                pass
            time.sleep(0.02)
        health_s = time.perf_counter() - started
        loaded = rss_mib(proc.pid)
        print(f"/health answered {health_s:.2f} s after start; RSS {loaded:.0f} MiB")
        for line in list(log):
            if "elapsed_ms" in line:
                print("  " + line.strip().split("gapmap::")[-1])
        print_heap(base, "after loading")
        while timeline_at[0] is None and time.perf_counter() - started < 600:
            time.sleep(0.1)
        print(f"coverage timeline built {timeline_at[0]:.2f} s after start; RSS {rss_mib(proc.pid):.0f} MiB")
        for line in log:
            if "coverage timeline built" in line:
                print("  " + line.strip().split("gapmap::")[-1])
        _, body, _ = get(base, "/collections/estates")
        extent = json.loads(body)["extent"]["spatial"]["bbox"][0]
        cx, cy = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
        # About 1 km square at the centre.
        bbox = f"{cx - 0.005},{cy - 0.0045},{cx + 0.005},{cy + 0.0045}"
        firsts, repeats = [], []
        for year in range(first, last + 1):
            _, _, t1 = get(base, f"/collections/estates/items?limit=1&year={year}")
            _, page, t2 = get(base, f"/collections/estates/items?limit=1000&bbox={bbox}&year={year}")
            _, _, t3 = get(base, f"/collections/estates/items?limit=1000&bbox={bbox}&year={year}")
            firsts.append(t1)
            repeats.append(t3)
            n = len(json.loads(page)["features"])
            print(f"year {year}: first {t1 * 1000:.0f} ms, bbox page ({n} features) {t2 * 1000:.0f} ms, repeat {t3 * 1000:.1f} ms; RSS {rss_mib(proc.pid):.0f} MiB")
        firsts.sort()
        print(
            f"{len(firsts)} years: first request median {firsts[len(firsts) // 2] * 1000:.0f} ms, max {firsts[-1] * 1000:.0f} ms; "
            f"RSS after loading {loaded:.0f} MiB, after every year {rss_mib(proc.pid):.0f} MiB, peak {peak[0]:.0f} MiB"
        )
        print_heap(base, "at the end")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
