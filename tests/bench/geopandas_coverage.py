"""The peer: the same coverage table as `gapmap analyze --out x.csv`, computed with GeoPandas.

Reads the estates and facilities GeoJSON (pyogrio), projects both to the working CRS gapmap
chose, then per kind: `sjoin_nearest` for the nearest facility and distance (0 inside the estate:
shapely measures polygon-to-point distance from the boundary and 0 for contained points), and a
`dwithin` spatial join for the count and summed capacity within the radius. Writes the same CSV
columns (shortfall left empty: the comparison covers distance, covered, nearest and counts).

usage: geopandas_coverage.py ESTATES FACILITIES WORKING_CRS RADII_JSON OUT_CSV
"""
import json
import sys

import geopandas as gpd
import numpy as np
import pandas as pd

estates_path, facilities_path, working_crs, radii_json, out_path = sys.argv[1:6]
radii = json.loads(radii_json)

estates = gpd.read_file(estates_path, engine="pyogrio", columns=["id"]).to_crs(working_crs)
facilities = gpd.read_file(facilities_path, engine="pyogrio", columns=["id", "kind", "capacity"]).to_crs(working_crs)
facilities["capacity"] = facilities["capacity"].fillna(0.0)

frames = []
for kind in sorted(radii):
    radius = radii[kind]
    fk = facilities[facilities["kind"] == kind][["id", "capacity", "geometry"]].rename(columns={"id": "nearest_id"})
    base = pd.DataFrame({"estate_id": estates["id"].values, "kind": kind})
    if len(fk) == 0:
        base["distance_m"] = np.nan
        base["nearest_id"] = ""
        base["count_within"] = 0
        base["capacity_within"] = 0.0
        frames.append(base)
        continue
    near = gpd.sjoin_nearest(estates[["id", "geometry"]], fk[["nearest_id", "geometry"]], how="left", distance_col="distance_m")
    near = near[~near.index.duplicated(keep="first")]  # ties: any one nearest
    within = gpd.sjoin(estates[["id", "geometry"]], fk, how="inner", predicate="dwithin", distance=radius)
    agg = within.groupby(level=0).agg(count_within=("capacity", "size"), capacity_within=("capacity", "sum"))
    base["distance_m"] = near["distance_m"].values
    base["nearest_id"] = near["nearest_id"].values
    base["count_within"] = agg["count_within"].reindex(estates.index, fill_value=0).values
    base["capacity_within"] = agg["capacity_within"].reindex(estates.index, fill_value=0.0).values
    frames.append(base)

out = pd.concat(frames, ignore_index=True)
out["covered"] = np.where(out["distance_m"] <= out["kind"].map(radii), "true", "false")
out["shortfall"] = ""
out = out.sort_values(["estate_id", "kind"], kind="stable")
out[["estate_id", "kind", "distance_m", "covered", "nearest_id", "count_within", "capacity_within", "shortfall"]].to_csv(
    out_path, index=False, float_format="%.4f"
)
