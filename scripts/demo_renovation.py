#!/usr/bin/env python3
"""Writes the demo city's renovation programme: data/demo/projects.csv, surveys.csv, wishes.csv.

    python3 scripts/demo_renovation.py data/demo

Deterministic (one seeded random.Random, estates read in id order), standard library only. It
reads data/demo/estates.geojson (written by `gapmap generate`) and follows it:

- One project per estate that has a `renovation_year` (2016-2025), in that year's batch, so the
  programme report and `gapmap report`'s renovation table (which counts renovation_year) agree,
  and targets.toml's [[renovation]] rows (40/40/45/50 estates for 2018-2021) are measured
  against the same estates. The demo city has 3,000 estates, so it cannot reproduce the
  Shijiazhuang report's 1,820 estates in 2018-2021 (../shared/DOMAIN.md); it keeps the report's
  proportions instead: Xuecheng's 3.5 million m2 for 38,000 households (about 92 m2 a
  household, here 80-100), and its batch tables' columns (street, estates, buildings,
  households, floor area, investment, % complete). Each inner district (长安区, 桥西区, 新华区,
  裕华区) holds 162-170 estates built before 2006, like Xuecheng's 160 (with 52,000-69,000
  households against Xuecheng's 38,000: the generator's estates are larger); 55 or so of each
  are renovated 2016-2025.
- Streets (街道/镇): each district's estates in four bands west to east, named after the
  district's real streets or towns.
- Category and items per the State Council's 2020 list: basic (pipes, roofs, walls...),
  improvement (+ elevators, parking, e-bike charging...), upgrade (+ day care, nursery,
  community service, market: catalogue kinds).
- Investment: floor area x 350/450/550 yuan a m2 by category, plus 600,000 yuan per elevator;
  recorded by source as data/demo/gapmap.toml's [[programme.funding]] rules split it
  (70,000 yuan per elevator from the city first; basic: city 20 / district 15 / utility 65 as
  DOMAIN.md's utility retrofits), except one project in twenty, where the utility company paid
  10 points less and the district made it up: the report's funding differences.
- Status: batches up to 2024 are accepted once they pass the 80 % satisfaction gate; the 2025
  batch is partly under way. Satisfaction surveys are 85-98 % satisfied, except: seven projects
  reworked after a first survey below the gate (70-79 %) and passed on a second; two still below
  the gate (completed, awaiting rework); one accepted at 78 % (the contradiction the report
  flags); one surveyed at exactly 80 % (40 of 50: passes). Surveys are dated in the batch's last
  quarter or the next spring, never after 2026-06-30.
- Wishes (问需于民): every renovated estate and 200 old estates not yet renovated, 2-5 items each
  from a weighted list, each asked by 3-30 % of the households.
"""

import csv
import json
import random
import sys
from pathlib import Path

SEED = 2021
STREETS = {
    "长安区": ["建北街道", "青园街道", "广安街道", "育才街道"],
    "桥西区": ["东里街道", "中山路街道", "南长街街道", "维明街道"],
    "新华区": ["革新街街道", "东焦街道", "西苑街道", "合作路街道"],
    "裕华区": ["裕兴街道", "裕强街道", "东苑街道", "建通街道"],
    "鹿泉区": ["获鹿镇", "铜冶镇", "寺家庄镇", "上庄镇"],
    "栾城区": ["栾城镇", "冶河镇", "窦妪镇", "楼底镇"],
    "藁城区": ["廉州镇", "兴安镇", "贾市庄镇", "岗上镇"],
    "高新区": ["长江街道", "太行街道", "天山街道", "黄河街道"],
}
BASIC = ["pipes", "roof", "facade", "road", "lighting", "fire", "security", "drainage"]
IMPROVEMENT = ["parking_spaces", "ebike_charger", "fitness", "barrier_free", "energy", "delivery_lockers"]
UPGRADE = ["day_care", "nursery", "community_service", "market", "canteen", "health_station"]
RATE_YUAN_PER_M2 = {"basic": 350, "improvement": 450, "upgrade": 550}
ELEVATOR_COST_YUAN = 600_000
ELEVATOR_SUBSIDY_YUAN = 70_000
# Must match data/demo/gapmap.toml's [[programme.funding]] share rules.
SHARES = {
    "basic": {"city": 20, "district": 15, "utility": 65},
    "improvement": {"city": 40, "district": 30, "residents": 30},
    "upgrade": {"city": 50, "district": 50},
}
SOURCES = ["city", "district", "utility", "residents"]
WISH_ITEMS = [
    ("elevator", 30), ("parking_spaces", 24), ("day_care", 18), ("ebike_charger", 16), ("canteen", 12),
    ("fitness", 10), ("ev_charger", 9), ("barrier_free", 8), ("nursery", 6), ("market", 5),
    ("pipes", 5), ("delivery_lockers", 4),
]


def centroid_lon(geometry):
    ring = geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"][0][0]
    return sum(p[0] for p in ring) / len(ring)


def split_by_rules(total, category, elevators):
    """The recorded split, as the rules give it: elevator subsidy first, the rest by shares,
    the last source taking what the others leave (whole yuan)."""
    split = {}
    subsidy = min(total, elevators * ELEVATOR_SUBSIDY_YUAN)
    if subsidy:
        split["city"] = subsidy
    left = total - subsidy
    shares = SHARES[category]
    given = 0
    keys = sorted(shares)
    for n, source in enumerate(keys):
        amount = left - given if n == len(keys) - 1 else round(left * shares[source] / 100)
        given += amount
        split[source] = split.get(source, 0) + amount
    return split


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: demo_renovation.py DATA_DIR")
    out = Path(sys.argv[1])
    with open(out / "estates.geojson", encoding="utf-8") as f:
        features = json.load(f)["features"]
    estates = sorted((f["properties"] | {"lon": centroid_lon(f["geometry"])} for f in features), key=lambda e: e["id"])
    rng = random.Random(SEED)

    street_of = {}
    for district, names in STREETS.items():
        members = sorted((e for e in estates if e["district"] == district), key=lambda e: (e["lon"], e["id"]))
        for i, e in enumerate(members):
            street_of[e["id"]] = names[min(3, i * 4 // max(1, len(members)))]

    renovated = [e for e in estates if e["renovation_year"] is not None]
    projects = []
    seq = {}
    for e in renovated:
        year = e["renovation_year"]
        seq[year] = seq.get(year, 0) + 1
        households = e["households"]
        category = rng.choices(["basic", "improvement", "upgrade"], weights=[50, 35, 15])[0]
        items = rng.sample(BASIC, rng.randint(2, 4))
        elevators = 0
        if category in ("improvement", "upgrade"):
            items += rng.sample(IMPROVEMENT, rng.randint(1, 2))
            if rng.random() < 0.5:
                elevators = rng.randint(1, 4)
        if category == "upgrade":
            items += rng.sample(UPGRADE, 1)
        floor_area = round(households * rng.uniform(80, 100) / 10) * 10
        total = floor_area * RATE_YUAN_PER_M2[category] + elevators * ELEVATOR_COST_YUAN
        split = split_by_rules(total, category, elevators)
        if len(projects) % 20 == 7 and "utility" in split:
            moved = round(split["utility"] * 10 / 65)
            split["utility"] -= moved
            split["district"] += moved
        item_text = ";".join(items + ([f"elevator:{elevators}"] if elevators else []))
        projects.append({
            "id": f"R{year}-{seq[year]:03d}",
            "estate_id": e["id"],
            "batch_year": year,
            "street": street_of[e["id"]],
            "buildings": max(1, -(-households // 36)),
            "households": households,
            "floor_area_m2": floor_area,
            "category": category,
            "items": item_text,
            "split": split,
            "status": None,
            "complete_pct": None,
        })

    # Surveys and statuses.
    surveys = []
    done = [p for p in projects if p["batch_year"] <= 2024]
    special = rng.sample(range(len(done)), 11)
    reworked, failing, contradiction, exact = set(special[:7]), set(special[7:9]), special[9], special[10]

    def survey_date(year, late):
        if late:
            return f"{year + 1}-{rng.randint(4, 6):02d}-{rng.randint(1, 28):02d}"
        return f"{year}-{rng.randint(10, 12):02d}-{rng.randint(1, 28):02d}"

    def add_survey(p, date, pct=None, count=None):
        respondents = max(10, round(p["households"] * rng.uniform(0.25, 0.4)))
        if count is not None:
            respondents, satisfied = count
        else:
            satisfied = min(respondents, round(respondents * pct / 100))
        surveys.append({"project_id": p["id"], "date": date, "respondents": respondents, "satisfied": satisfied})
        return satisfied * 100 >= 80 * respondents

    for i, p in enumerate(done):
        y = p["batch_year"]
        p["complete_pct"] = 100
        if i in reworked:
            while add_survey(p, survey_date(y, False), pct=rng.uniform(70, 79)):
                surveys.pop()
            add_survey(p, survey_date(y, True), pct=rng.uniform(86, 95))
            p["status"] = "accepted"
        elif i in failing:
            while add_survey(p, survey_date(y, True), pct=rng.uniform(72, 79)):
                surveys.pop()
            p["status"] = "completed"
        elif i == contradiction:
            while add_survey(p, survey_date(y, False), pct=78):
                surveys.pop()
            p["status"] = "accepted"
        elif i == exact:
            add_survey(p, survey_date(y, False), count=(50, 40))
            p["status"] = "accepted"
        else:
            add_survey(p, survey_date(y, rng.random() < 0.3), pct=rng.uniform(85, 98))
            p["status"] = "accepted"
    for p in projects:
        if p["batch_year"] == 2025:
            if rng.random() < 0.4:
                p["status"], p["complete_pct"] = "completed", 100
                if rng.random() < 0.6:
                    add_survey(p, f"2026-{rng.randint(3, 6):02d}-{rng.randint(1, 28):02d}", pct=rng.uniform(85, 97))
            else:
                p["status"], p["complete_pct"] = "started", rng.randint(30, 95)

    # Wishes.
    in_projects = {p["estate_id"] for p in projects}
    unrenovated_old = [e for e in estates if e["renovation_year"] is None and e["built_year"] < 2000]
    asking = [e for e in estates if e["id"] in in_projects] + rng.sample(unrenovated_old, 200)
    asking.sort(key=lambda e: e["id"])
    wishes = []
    items, weights = zip(*WISH_ITEMS)
    for e in asking:
        chosen = []
        wanted = rng.randint(2, 5)
        while len(chosen) < wanted:
            item = rng.choices(items, weights=weights)[0]
            if item not in chosen:
                chosen.append(item)
        for item in chosen:
            wishes.append({"estate_id": e["id"], "item": item, "count": max(1, round(e["households"] * rng.uniform(0.03, 0.3)))})

    with open(out / "projects.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "estate_id", "batch_year", "street", "buildings", "households", "floor_area_m2", "category", "items"]
                   + [f"investment_{s}" for s in SOURCES] + ["status", "complete_pct"])
        for p in projects:
            w.writerow([p["id"], p["estate_id"], p["batch_year"], p["street"], p["buildings"], p["households"], p["floor_area_m2"],
                        p["category"], p["items"]] + [p["split"].get(s, "") for s in SOURCES] + [p["status"], p["complete_pct"]])
    with open(out / "surveys.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["project_id", "date", "respondents", "satisfied"], lineterminator="\n")
        w.writeheader()
        w.writerows(surveys)
    with open(out / "wishes.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["estate_id", "item", "count"], lineterminator="\n")
        w.writeheader()
        w.writerows(wishes)
    print(f"demo_renovation: {len(projects)} projects, {len(surveys)} surveys, {len(wishes)} wishes", file=sys.stderr)


if __name__ == "__main__":
    main()
