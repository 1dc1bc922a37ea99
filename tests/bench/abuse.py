#!/usr/bin/env python3
"""Hostile clients against `gapmap serve` (issue #14, items 1-3), loopback only, bounded in time.

usage: python3 tests/bench/abuse.py BIN [SECONDS]
  BIN: a release gapmap binary (copy target/release/gapmap aside first: others rebuild it).
  SECONDS: how long the abuse lasts (default 60).
Item 1's distinct `year=` views: single years 1800-2199 (the items endpoint takes one year).
environment: ESTATES (60000), FACILITIES (200000), IDLE (idle connections, 15000), UNREAD
  (clients that never read an items?limit=10000 page, 200), YEARS (clients asking distinct
  year= ranges, 4), SERVE (extra lines for the [serve] table).

Works in target/bench/abuse/ (generates the city there on first use). All three abuses run at
once: (1) distinct `year=` ranges, one request after another per client; (2) UNREAD connections
asking for the largest page with a 4 KiB receive buffer and never reading, opened again every
20 s; (3) IDLE connections that send nothing. A probe asks /health on a new connection every
100 ms. Prints the server's RSS before (idle, after a warm-up), peak and after (10 s after the
clients are gone), its open descriptors (peak), the /health latency (p50, p99, max, failures)
and what the abusers got.
"""

import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def get(addr, path, timeout=10.0):
    """Status of GET path on a new connection, and the time to the whole answer."""
    started = time.monotonic()
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: abuse\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    head = b"".join(chunks[:1])[:32].split()
    return (int(head[1]) if len(head) > 1 else 0), time.monotonic() - started


def main():
    binary = os.path.realpath(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    estates = int(os.environ.get("ESTATES", 60000))
    facilities = int(os.environ.get("FACILITIES", 200000))
    n_idle = int(os.environ.get("IDLE", 15000))
    n_unread = int(os.environ.get("UNREAD", 200))
    n_years = int(os.environ.get("YEARS", 4))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n_idle = min(n_idle, hard - n_unread - 200)

    work = os.path.join(REPO, "target", "bench", "abuse")
    city = os.path.join(work, f"city-{estates}-{facilities}")
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(os.path.join(city, "facilities.geojson")):
        subprocess.run([binary, "generate", "--estates", str(estates), "--facilities", str(facilities), "--seed", "14", "--out", city], check=True)
    config = os.path.join(work, "gapmap.toml")
    with open(config, "w") as f:
        f.write(f'[estates]\npath = "{city}/estates.geojson"\n\n[[facilities]]\npath = "{city}/facilities.geojson"\n\n[serve]\nmax_limit = 10000\n{os.environ.get("SERVE", "")}\n')
    log = open(os.path.join(work, "serve.stderr"), "w+")
    server = subprocess.Popen([binary, "serve", "--config", config, "--bind", "127.0.0.1:0"], stderr=log, env={**os.environ, "RUST_LOG": "info"})
    try:
        run(server, log, seconds, n_idle, n_unread, n_years)
    finally:
        server.kill()
        server.wait()


def run(server, log, seconds, n_idle, n_unread, n_years):
    pid = server.pid
    started = time.monotonic()
    addr = None
    while addr is None and time.monotonic() - started < 600:
        log.seek(0)
        m = re.search(r"listening on http://([0-9.]+):(\d+)", log.read())
        if m:
            addr = (m.group(1), int(m.group(2)))
        elif server.poll() is not None:
            sys.exit("gapmap serve exited; see target/bench/abuse/serve.stderr")
        else:
            time.sleep(0.2)
    if addr is None:
        sys.exit("gapmap serve did not listen within 600 s")
    log.seek(0)
    cap = re.search(r"max_connections=(\d+)", log.read())
    print(f"server pid {pid} on {addr[0]}:{addr[1]}, started in {time.monotonic() - started:.0f} s, connection cap {cap.group(1) if cap else '?'}")

    # Warm up: a page of each size the abuse asks for, read whole.
    page = "/collections/estates/items?limit=10000"
    for path in [page, page, "/collections/estates/items?limit=1&year=2001", "/health"]:
        get(addr, path, timeout=120)
    time.sleep(2)
    before = rss_mib(pid)
    fds_before = descriptors(pid)
    print(f"idle: RSS {before:.0f} MiB, {fds_before} descriptors open")

    stop = threading.Event()
    stats = {"rss_peak": before, "fds_peak": fds_before, "health": [], "health_fail": 0, "years": {}, "unread_opened": 0, "idle_opened": 0, "idle_refused": 0}
    lock = threading.Lock()

    def sample():
        while not stop.is_set():
            try:
                r, d = rss_mib(pid), descriptors(pid)
            except (FileNotFoundError, ProcessLookupError):
                return
            with lock:
                stats["rss_peak"] = max(stats["rss_peak"], r)
                stats["fds_peak"] = max(stats["fds_peak"], d)
            time.sleep(0.1)

    def probe():
        while not stop.is_set():
            t = time.monotonic()
            try:
                status, took = get(addr, "/health", timeout=2.0)
                with lock:
                    if status == 200:
                        stats["health"].append(took)
                        if took > 0.1:
                            stats.setdefault("slow_at", []).append(f"{t - t_abuse:.1f} s: {took * 1000:.0f} ms")
                    else:
                        stats["health_fail"] += 1
            except OSError:
                with lock:
                    stats["health_fail"] += 1
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))

    def years(worker):
        # Item 1: a distinct year range each time.
        i = 0
        while not stop.is_set():
            year = 1800 + (i * n_years + worker) % 400
            i += 1
            try:
                status, _ = get(addr, f"/collections/estates/items?limit=1&year={year}", timeout=30)
            except OSError:
                status = "error"
            with lock:
                stats["years"][status] = stats["years"].get(status, 0) + 1

    def unread():
        # Item 2: clients that never read their page; a new wave every 20 s.
        wave = []
        while not stop.is_set():
            for s in wave:
                s.close()
            wave = []
            for _ in range(n_unread):
                try:
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.settimeout(5)
                    s.connect(addr)
                    s.sendall(f"GET {page} HTTP/1.1\r\nHost: abuse\r\n\r\n".encode())
                    wave.append(s)
                    with lock:
                        stats["unread_opened"] += 1
                except OSError:
                    pass
            stop.wait(20)
        for s in wave:
            s.close()

    idle_socks = []

    def idle():
        # Item 3: connections that never send a byte, opened as fast as the server accepts.
        for _ in range(n_idle):
            if stop.is_set():
                return
            try:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(addr)
                idle_socks.append(s)
                with lock:
                    stats["idle_opened"] += 1
            except OSError:
                with lock:
                    stats["idle_refused"] += 1

    t_abuse = time.monotonic()
    threads = [threading.Thread(target=f, daemon=True) for f in (sample, probe, unread, idle)]
    threads += [threading.Thread(target=years, args=(w,), daemon=True) for w in range(n_years)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=35)
    for s in idle_socks:
        s.close()
    time.sleep(10)
    after = rss_mib(pid)
    fds_after = descriptors(pid)
    h = sorted(stats["health"])
    q = lambda p: h[min(len(h) - 1, int(p * len(h)))] * 1000 if h else float("nan")
    print(f"abuse for {seconds:.0f} s: {stats['idle_opened']} idle connections, {stats['unread_opened']} unread items?limit=10000 requests, year= requests by status {dict(sorted(stats['years'].items(), key=str))}")
    print(f"RSS: before {before:.0f} MiB, peak {stats['rss_peak']:.0f} MiB ({stats['rss_peak'] / before:.2f}x), after {after:.0f} MiB ({after / before:.2f}x)")
    print(f"descriptors: before {fds_before}, peak {stats['fds_peak']}, after {fds_after}")
    if stats.get("slow_at"):
        print("slow /health answers (time into the abuse: latency):", ", ".join(stats["slow_at"][:20]))
    print(f"/health: {len(h)} answered, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {q(1.0):.1f} ms, over 100 ms {sum(1 for x in h if x > 0.1)}, failed {stats['health_fail']}")


if __name__ == "__main__":
    main()
