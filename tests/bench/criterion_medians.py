#!/usr/bin/env python3
"""Prints the medians of the last criterion run as a Markdown table (for RESULTS.md).

Usage: python3 tests/bench/criterion_medians.py [target/criterion]

Criterion's terminal `time:` line is the slope or mean estimate; the median (with its 95 %
bootstrap interval) is read from `<bench>/new/estimates.json` instead.
"""
import json
import pathlib
import sys


def fmt_time(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(count: float, ns: float, kind: str) -> str:
    per_s = count / (ns / 1e9)
    if kind == "Bytes":
        return f"{per_s / 2**20:.3g} MiB/s"
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if per_s >= scale:
            return f"{per_s / scale:.3g} {unit}elem/s"
    return f"{per_s:.3g} elem/s"


def main() -> None:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    rows = []
    for bench in sorted(root.glob("**/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        median = json.loads((bench.parent / "estimates.json").read_text())["median"]
        ci = median["confidence_interval"]
        throughput = meta.get("throughput") or {}
        rate = ""
        for kind, count in throughput.items():
            rate = fmt_rate(count, median["point_estimate"], kind)
        rows.append((meta["group_id"], meta.get("function_id") or "", meta.get("value_str") or "",
                     fmt_time(median["point_estimate"]),
                     f"{fmt_time(ci['lower_bound'])} – {fmt_time(ci['upper_bound'])}", rate))
    print("| group | function | size | median | 95 % CI of median | throughput at median |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
