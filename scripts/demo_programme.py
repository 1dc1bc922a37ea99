#!/usr/bin/env python3
"""Rewrites opening years (and capacities) of the demo city's facilities so that given numbers of
facilities of each kind open in given years, as a city's programme report states them.

    python3 scripts/demo_programme.py data/demo/programme.toml data/demo/facilities.geojson

Input: a facilities GeoJSON written by `gapmap generate` (one feature per line) and a programme:

    [[opened]]
    year = 2021
    kind = "nursery"
    count = 48          # exactly this many facilities of the kind open in the year
    capacity = 7262     # optional: and their capacities sum to this

Rules (deterministic, no randomness, standard library only):
- Too few openings: facilities of the kind are moved into the year from the other years, taken
  round-robin over those years ordered by distance from the year (the later year first on a
  tie), lowest id first within a year, so that no single neighbouring year is emptied.
- Too many: the surplus (highest ids first) moves out round-robin over the same year order.
- Years named by another programme row of the same kind are neither donors nor recipients.
- Capacity: the capacities of the year's facilities are shifted by equal shares of the difference
  in steps of 10 within the generated range, then by one step each in id order; the first that
  can takes the remainder.
- A programme that already holds changes nothing, so running the script twice is harmless.

Only the `opened_year` and `capacity` values in the changed lines are rewritten; everything else
(coordinates, other properties, line layout) stays byte for byte.
"""

import json
import re
import sys
import tomllib
from collections import defaultdict

CAPACITY_STEP = 10
# The generator's capacity ranges (src/generate.rs, KIND_DETAILS) for kinds a programme may set.
CAPACITY_RANGE = {
    "day_care": (150, 800),
    "nursery": (40, 200),
    "kindergarten": (90, 360),
    "community_service": (200, 1000),
    "market": (20, 150),
    "parking": (30, 400),
    "ev_charger": (2, 20),
}


def fail(message):
    sys.exit(f"demo_programme: {message}")


def load_programme(path):
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    unknown = set(doc) - {"opened"}
    if unknown:
        fail(f"{path}: unknown tables {sorted(unknown)}; use [[opened]]")
    rows = []
    seen = set()
    for i, row in enumerate(doc.get("opened", [])):
        extra = set(row) - {"year", "kind", "count", "capacity"}
        if extra:
            fail(f"{path}: [[opened]] #{i + 1}: unknown keys {sorted(extra)}")
        for key in ("year", "kind", "count"):
            if key not in row:
                fail(f"{path}: [[opened]] #{i + 1}: missing `{key}`")
        if (row["year"], row["kind"]) in seen:
            fail(f"{path}: [[opened]] #{i + 1}: {row['year']} {row['kind']} is listed twice")
        seen.add((row["year"], row["kind"]))
        if row["count"] < 0 or row.get("capacity", 0) < 0:
            fail(f"{path}: [[opened]] #{i + 1}: negative figures")
        rows.append(row)
    return rows


def year_order(year, years):
    """Years other than `year`, nearest first, the later one first on a tie."""
    return sorted((y for y in years if y != year), key=lambda y: (abs(y - year), -y))


def round_robin(pools, count):
    """Takes `count` items from the pools (lists, in order) one pool at a time, cycling."""
    taken = []
    positions = [0] * len(pools)
    while len(taken) < count:
        progressed = False
        for p, pool in enumerate(pools):
            if len(taken) == count:
                break
            if positions[p] < len(pool):
                taken.append(pool[positions[p]])
                positions[p] += 1
                progressed = True
        if not progressed:
            break
    return taken


def main():
    if len(sys.argv) != 3:
        fail("usage: demo_programme.py PROGRAMME.toml FACILITIES.geojson")
    programme_path, facilities_path = sys.argv[1], sys.argv[2]
    programme = load_programme(programme_path)
    with open(facilities_path, encoding="utf-8") as f:
        lines = f.read().split("\n")

    features = {}  # id -> dict(line=, kind=, year=, capacity=)
    for n, line in enumerate(lines):
        if not line.startswith('{"type":"Feature"'):
            continue
        props = json.loads(line.rstrip(","))["properties"]
        features[props["id"]] = {
            "line": n,
            "kind": props["kind"],
            "year": props["opened_year"],
            "capacity": props["capacity"],
        }
    if not features:
        fail(f"{facilities_path}: no features found (expected `gapmap generate` output)")

    fixed = defaultdict(set)  # kind -> years the programme sets
    for row in programme:
        fixed[row["kind"]].add(row["year"])

    changed = set()
    for row in programme:
        year, kind, count = row["year"], row["kind"], row["count"]
        of_kind = sorted(i for i, f in features.items() if f["kind"] == kind)
        if not of_kind:
            fail(f"no facility of kind `{kind}`")
        by_year = defaultdict(list)
        for i in of_kind:
            by_year[features[i]["year"]].append(i)
        all_years = set(by_year) | set(range(min(by_year), max(by_year) + 1))
        order = [y for y in year_order(year, all_years) if y not in fixed[kind]]
        current = by_year.get(year, [])
        if len(current) < count:
            pools = [by_year.get(y, []) for y in order]
            donors = round_robin(pools, count - len(current))
            if len(donors) < count - len(current):
                fail(f"{kind}: {count} openings in {year} asked for, only {len(of_kind)} facilities exist")
            for i in donors:
                features[i]["year"] = year
                changed.add(i)
        elif len(current) > count:
            surplus = sorted(current, reverse=True)[: len(current) - count]
            for k, i in enumerate(surplus):
                features[i]["year"] = order[k % len(order)]
                changed.add(i)

        if "capacity" in row:
            chosen = sorted(i for i in of_kind if features[i]["year"] == year)
            lo, hi = CAPACITY_RANGE.get(kind, (0, float("inf")))
            diff = row["capacity"] - sum(features[i]["capacity"] for i in chosen)
            caps = {i: features[i]["capacity"] for i in chosen}

            def shift(i, delta):
                new = min(hi, max(lo, caps[i] + delta))
                moved = new - caps[i]
                caps[i] = new
                return moved

            # Equal shares in steps of 10 until less than one step per facility is left ...
            while abs(diff) >= CAPACITY_STEP * len(chosen):
                share = int(diff / len(chosen) / CAPACITY_STEP) * CAPACITY_STEP
                moved = sum(shift(i, share) for i in chosen)
                if moved == 0:
                    break
                diff -= moved
            # ... then one step each, in id order, then the remainder on the first that takes it.
            for i in chosen:
                if abs(diff) < CAPACITY_STEP:
                    break
                diff -= shift(i, CAPACITY_STEP if diff > 0 else -CAPACITY_STEP)
            for i in chosen:
                if diff == 0:
                    break
                diff -= shift(i, diff)
            for i in chosen:
                if caps[i] != features[i]["capacity"]:
                    features[i]["capacity"] = caps[i]
                    changed.add(i)
            if diff != 0:
                fail(f"{kind}: capacities of {count} facilities cannot sum to {row['capacity']} within {lo}–{hi}")

    for i in sorted(changed):
        f = features[i]
        line = lines[f["line"]]
        line, n_year = re.subn(r'"opened_year":-?\d+', f'"opened_year":{f["year"]}', line, count=1)
        line, n_cap = re.subn(r'"capacity":-?[\d.]+', f'"capacity":{f["capacity"]}', line, count=1)
        if n_year != 1 or n_cap != 1:
            fail(f"facility {i}: unexpected line layout")
        lines[f["line"]] = line

    if changed:
        with open(facilities_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
    summary = ", ".join(
        f"{r['year']} {r['kind']}: {sum(1 for f in features.values() if f['kind'] == r['kind'] and f['year'] == r['year'])}"
        + (
            f" ({sum(f['capacity'] for f in features.values() if f['kind'] == r['kind'] and f['year'] == r['year'])} capacity)"
            if "capacity" in r
            else ""
        )
        for r in programme
    )
    print(f"demo_programme: {len(changed)} facilities rewritten; {summary}", file=sys.stderr)


if __name__ == "__main__":
    main()
