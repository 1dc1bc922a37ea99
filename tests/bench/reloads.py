#!/usr/bin/env python3
"""Resident memory across reloads (issue 14, item 6), measured on a running `gapmap serve`.

Starts `gapmap serve --config CONFIG --bind 127.0.0.1:0` with an admin token, waits until /health
says nothing is warming up (the coverage timeline and service areas are built in the background
after every load), and records RSS; then asks POST /admin/reload RELOADS times, each time waiting
for the new data to be served and warmed up, and records RSS after each. Prints RSS per reload and
the last one against the first, fresh one (the issue's target: within 10 %).

The data version is a digest of the content: reloading unchanged data builds the new dataset, finds
the same version and keeps the snapshot already serving (dropping the new one), so each reload here
measures a load and a drop, not a swap; change the data between reloads to measure swaps.

    python3 tests/bench/reloads.py GAPMAP_BIN CONFIG [RELOADS]

Standard library only; loopback only; bounded in time (each wait 300 s at most).
"""
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request

TOKEN = "bench-reload-token-0123456789"


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def health(base):
    with urllib.request.urlopen(base + "/health", timeout=30) as r:
        return json.loads(r.read())


def settled(base, deadline):
    """Waits until the data served has nothing warming up."""
    while time.perf_counter() < deadline:
        try:
            h = health(base)
            if not h.get("warming_up"):
                return h
        except Exception:
            pass
        time.sleep(0.2)
    sys.exit("the data did not settle in time")


def main():
    binary, config = sys.argv[1], sys.argv[2]
    reloads = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    proc = subprocess.Popen(
        [binary, "serve", "--config", config, "--bind", "127.0.0.1:0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={"RUST_LOG": "gapmap=warn", "PATH": "/usr/bin:/bin", "GAPMAP_ADMIN_TOKEN": TOKEN},
    )
    log, base = [], None
    threading.Thread(target=lambda: [log.append(line) for line in proc.stderr], daemon=True).start()
    try:
        while base is None:
            if proc.poll() is not None:
                sys.exit("gapmap serve stopped:\n" + "".join(log[-20:]))
            for line in list(log):
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    base = m.group(1)
            time.sleep(0.05)
        h = settled(base, time.perf_counter() + 300)
        fresh = rss_mib(proc.pid)
        print(f"fresh (version {h['data_version']}): RSS {fresh:.0f} MiB")
        for i in range(1, reloads + 1):
            started = time.perf_counter()
            req = urllib.request.Request(base + "/admin/reload", method="POST", headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(req, timeout=300) as r:
                answer = json.loads(r.read())
            h = settled(base, time.perf_counter() + 300)
            changed = "changed" if answer.get("changed") else "unchanged, snapshot kept"
            print(f"reload {i} (version {h['data_version']}, {changed}): {time.perf_counter() - started:.1f} s to serve and warm up; RSS {rss_mib(proc.pid):.0f} MiB")
        last = rss_mib(proc.pid)
        print(f"after {reloads} reloads: RSS {last:.0f} MiB, {last / fresh:.2f}x the fresh start")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
