"""Helpers for tests/bench/serve_vs_pygeoapi.sh (standard library only).

  bboxes ESTATES.geojson N SEED OUT   a fixed, seeded list of N bboxes inside the city, each
                                      intersecting MIN..MAX estates (by bounding box); one
                                      `minx,miny,maxx,maxy` per line; also OUT-partial.txt and
                                      OUT-full.txt (one box each, under / over 1,000 estates)
  extent ESTATES.geojson              the estates' extent as a YAML flow list (for pygeoapi)
  compare URL_A URL_B                 fetches one items page from each server and checks that
                                      numberMatched, numberReturned and the feature ids agree
  free-port                           a free TCP port on 127.0.0.1
  table RESULTS.tsv                   the results as a Markdown table, with throughput ratios
  static PORT BODY                    a minimal keep-alive HTTP/1.1 server that answers every
                                      GET with the bytes of BODY (a bandwidth ceiling for wrk)
"""

import json
import math
import random
import socket
import sys
import threading
import urllib.request

MIN_ESTATES = 300
MAX_ESTATES = 3000


def feature_boxes(path):
    with open(path, "rb") as f:
        data = json.load(f)
    boxes = []

    def walk(c, acc):
        if isinstance(c[0], (int, float)):
            acc[0] = min(acc[0], c[0])
            acc[1] = min(acc[1], c[1])
            acc[2] = max(acc[2], c[0])
            acc[3] = max(acc[3], c[1])
        else:
            for x in c:
                walk(x, acc)

    for feat in data["features"]:
        acc = [float("inf"), float("inf"), float("-inf"), float("-inf")]
        walk(feat["geometry"]["coordinates"], acc)
        boxes.append(acc)
    return boxes


def extent_of(boxes):
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def cmd_extent(path):
    e = extent_of(feature_boxes(path))
    print("[[%.7f, %.7f, %.7f, %.7f]]" % tuple(e))


def cmd_bboxes(path, n, seed, out):
    """Boxes centred on randomly drawn estates, 3–12 km a side (aspect 2:3 to 3:2), kept when
    they lie inside the city extent and intersect MIN_ESTATES..MAX_ESTATES estate boxes."""
    boxes = feature_boxes(path)
    ext = extent_of(boxes)
    lat0 = (ext[1] + ext[3]) / 2
    m_per_deg_lat = 111_320.0
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat0))
    cx = [(b[0] + b[2]) / 2 for b in boxes]
    cy = [(b[1] + b[3]) / 2 for b in boxes]
    rng = random.Random(seed)
    chosen = []
    tries = 0
    while len(chosen) < n:
        tries += 1
        if tries > 100_000:
            sys.exit(f"could not find {n} boxes with {MIN_ESTATES}..{MAX_ESTATES} estates; found {len(chosen)}")
        i = rng.randrange(len(boxes))
        side = rng.uniform(3_000.0, 12_000.0)
        aspect = rng.uniform(2 / 3, 3 / 2)
        w = side * math.sqrt(aspect) / m_per_deg_lon
        h = side / math.sqrt(aspect) / m_per_deg_lat
        b = [round(cx[i] - w / 2, 6), round(cy[i] - h / 2, 6), round(cx[i] + w / 2, 6), round(cy[i] + h / 2, 6)]
        if b[0] < ext[0] or b[1] < ext[1] or b[2] > ext[2] or b[3] > ext[3]:
            continue
        count = sum(1 for e in boxes if e[0] <= b[2] and e[2] >= b[0] and e[1] <= b[3] and e[3] >= b[1])
        if MIN_ESTATES <= count <= MAX_ESTATES:
            chosen.append((b, count))
    with open(out, "w") as f:
        for b, _ in chosen:
            f.write("%.6f,%.6f,%.6f,%.6f\n" % tuple(b))
    # One box for a partial page and one for a full 1,000-feature page, for the agreement check.
    stem = out[:-4] if out.endswith(".txt") else out
    partial = next(b for b, c in chosen if c < 900)
    full = next(b for b, c in chosen if c >= 1200)
    for name, b in (("partial", partial), ("full", full)):
        with open(f"{stem}-{name}.txt", "w") as f:
            f.write("%.6f,%.6f,%.6f,%.6f\n" % tuple(b))
    counts = sorted(c for _, c in chosen)
    full = sum(1 for c in counts if c >= 1000)
    print(
        f"{n} bboxes (seed {seed}) inside the city extent {['%.4f' % x for x in ext]}: "
        f"{counts[0]}..{counts[-1]} estates each (median {counts[len(counts) // 2]}), "
        f"{full} of {n} fill a 1,000-feature page"
    )


def fetch(url):
    req = urllib.request.Request(url, headers={"Accept": "application/geo+json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        body = r.read()
    return json.loads(body), len(body)


def cmd_compare(url_a, url_b):
    a, size_a = fetch(url_a)
    b, size_b = fetch(url_b)
    ids_a = [f["id"] for f in a["features"]]
    ids_b = [f["id"] for f in b["features"]]
    print(f"  gapmap:   numberMatched {a.get('numberMatched')}, numberReturned {a.get('numberReturned')}, {size_a:,} bytes")
    print(f"  pygeoapi: numberMatched {b.get('numberMatched')}, numberReturned {b.get('numberReturned')}, {size_b:,} bytes")
    problems = []
    if a.get("numberMatched") != b.get("numberMatched"):
        problems.append("numberMatched differs")
    if len(ids_a) != len(ids_b):
        problems.append("numberReturned differs")
    if ids_a != ids_b:
        only_a = sorted(set(ids_a) - set(ids_b), key=str)[:10]
        only_b = sorted(set(ids_b) - set(ids_a), key=str)[:10]
        if set(ids_a) == set(ids_b):
            problems.append("same ids in a different order")
        else:
            problems.append(f"ids differ: only gapmap {only_a}, only pygeoapi {only_b}")
    if problems:
        print("  MISMATCH: " + "; ".join(problems))
        sys.exit(1)
    print(f"  agree: {len(ids_a)} feature ids, in the same order")


def cmd_free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def cmd_table(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            label, server, limit, conns, secs, kv = line.rstrip("\n").split("\t")
            r = dict(x.split("=", 1) for x in kv.split())
            r.update(label=label, server=server, limit=int(limit), conns=int(conns), secs=int(secs))
            rows.append(r)

    def rate(x):
        return f"{x:,.1f}" if x >= 10 else f"{x:.3g}"

    def ms(x):
        return f"{x / 1000:,.1f} s" if x >= 10_000 else f"{x:,.1f}"

    print(
        "| server | limit | conns | duration | requests | req/s | p50 ms | p90 ms | p99 ms | max ms "
        "| MB/response | MB/s | errors | CPU s: server / wrk / other (of available) | server CPU ms/request |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|")
    for r in rows:
        n = int(r["requests"])
        dur = int(r["duration_us"]) / 1e6
        mb = int(r["bytes"]) / 1e6
        errs = {k[4:]: int(v) for k, v in r.items() if k.startswith("err_") and int(v)}
        cpu = (
            f"{float(r['cpu_server_s']):.1f} / {float(r['cpu_wrk_s']):.1f} / {float(r['cpu_other_s']):.1f} ({float(r['cpu_avail_s']):.0f})"
            if "cpu_server_s" in r
            else "–"
        )
        per = f"{float(r['cpu_server_s']) * 1000 / n:,.2f}" if "cpu_server_s" in r and n else "–"
        print(
            f"| {r['label']} | {r['limit']} | {r['conns']} | {r['secs']} s | {n:,} | {rate(float(r['rps']))} | "
            f"{ms(float(r['p50_ms']))} | {ms(float(r['p90_ms']))} | {ms(float(r['p99_ms']))} | {ms(float(r['max_ms']))} | "
            f"{(mb / n if n else 0):.3f} | {mb / dur:,.1f} | {', '.join(f'{k} {v}' for k, v in errs.items()) or 'none'} | {cpu} | {per} |"
        )
    print()
    by = {(r["server"], r["limit"], r["conns"]): r for r in rows}
    for limit in sorted({r["limit"] for r in rows}, reverse=True):
        g = by.get(("gapmap", limit, 64))
        p = by.get(("pygeoapi", limit, 64))
        if g and p and float(p["rps"]) == 0:
            print(f"limit={limit}, 64 connections: pygeoapi completed no request in {p['secs']} s; no ratio")
        if g and p and float(p["rps"]) > 0:
            ratio = float(g["rps"]) / float(p["rps"])
            verdict = "meets" if ratio >= 20 else "misses"
            p99 = float(g["p99_ms"])
            print(
                f"limit={limit}, 64 connections: gapmap {float(g['rps']):,.1f} req/s vs pygeoapi {rate(float(p['rps']))} req/s "
                f"= {ratio:,.0f}x ({verdict} the 20x target); gapmap p99 {p99:,.1f} ms "
                f"({'meets' if p99 <= 10 else 'misses'} the 10 ms target)"
            )
            if "cpu_server_s" in g and "cpu_server_s" in p and int(g["requests"]) and int(p["requests"]):
                cg = float(g["cpu_server_s"]) / int(g["requests"])
                cp = float(p["cpu_server_s"]) / int(p["requests"])
                print(
                    f"  per server CPU second (robust to other load on the machine): gapmap {cg * 1000:.2f} ms/request, "
                    f"pygeoapi {cp:.2f} s/request = {cp / cg:,.0f}x"
                )


def cmd_static(port, body_path):
    with open(body_path, "rb") as f:
        body = f.read()
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: application/geo+json\r\ncontent-length: %d\r\n\r\n" % len(body)
    ).encode()
    response = head + body

    def handle(conn):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(response)
        except OSError:
            pass
        finally:
            conn.close()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(1024)
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "bboxes":
        cmd_bboxes(args[0], int(args[1]), int(args[2]), args[3])
    elif cmd == "extent":
        cmd_extent(args[0])
    elif cmd == "compare":
        cmd_compare(args[0], args[1])
    elif cmd == "free-port":
        cmd_free_port()
    elif cmd == "table":
        cmd_table(args[0])
    elif cmd == "static":
        cmd_static(args[0], args[1])
    else:
        sys.exit(__doc__)
