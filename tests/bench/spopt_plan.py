"""The peers of `gapmap plan`: the same maximal covering instance, built independently in Python
and solved by spopt's MCLP, by PuLP + HiGHS, or by highspy directly.

The instance, as `gapmap plan --kind KIND --count K` states it:
- estates and facilities read from GeoJSON (pyogrio) and projected with pyproj to WORKING_CRS
  (the CRS gapmap chose; the driver reads it from gapmap's JSON);
- demand: the estates with no facility of KIND within RADIUS metres of the estate (shapely
  `dwithin` on the polygon: boundary distance, 0 inside), weighted by `households`;
- candidates: `centroids` (every estate's area centroid in WORKING_CRS, gapmap's default) or a
  point GeoJSON (CRS84) given to both tools;
- coverage: candidate c covers demand estate d when the boundary distance from d's polygon to c is
  at most RADIUS (inclusive, as GEOS `isWithinDistance`).

Modes:
- `spopt`: `spopt.locate.MCLP.from_cost_matrix` on a dense demand × candidate distance matrix,
  solved through PuLP's HiGHS interface (the solver gapmap links, so the comparison is of the
  pipelines, not of solvers). The matrix holds the exact boundary distance of every pair within
  the radius and +inf elsewhere: the same coverage matrix as a full GEOS distance matrix at a
  fraction of its cost, so spopt's time is a lower bound on what a full matrix would take.
- `pulp`: the integer program gapmap solves (x binary, 0 <= y <= 1, y_d <= sum of x over the
  candidates covering d, sum x <= K), built sparsely in PuLP and solved by pulp.HiGHS.
- `highspy`: the same program handed to highspy as one sparse matrix.
- `candidates`: writes the centroids of every STRIDE-th demand estate (file order) as a CRS84
  point GeoJSON to OUT (the candidate file every tool is given), then exits.

HiGHS runs with gapmap's options in every mode: mip_rel_gap 0, mip_abs_gap 1e-9, one thread.

usage: spopt_plan.py MODE ESTATES FACILITIES CANDIDATES WORKING_CRS KIND RADIUS K OUT_JSON
       spopt_plan.py candidates ESTATES FACILITIES KIND RADIUS STRIDE WORKING_CRS OUT_GEOJSON
Writes OUT_JSON: objective_households, sites (candidate ids), stage seconds and sizes.
"""
import json
import sys
import time

T0 = time.perf_counter()
STAGES = {}


def stage(name, since):
    now = time.perf_counter()
    STAGES[name] = round(now - since, 3)
    print(f"[{now - T0:8.2f} s] {name}: {now - since:.2f} s", file=sys.stderr, flush=True)
    return now


import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402



def uncovered(polys, facilities, radius):
    """Indices of the estates with no facility within `radius` of the polygon (boundary, 0 inside)."""
    hit, _ = shapely.STRtree(facilities.geometry.to_numpy()).query(polys, predicate="dwithin", distance=radius)
    covered = np.zeros(len(polys), dtype=bool)
    covered[hit] = True
    return np.flatnonzero(~covered)


if sys.argv[1] == "candidates":
    estates_path, facilities_path, kind, radius, stride, working_crs, out_path = sys.argv[2:9]
    estates = gpd.read_file(estates_path, engine="pyogrio", columns=["id"]).to_crs(working_crs)
    facilities = gpd.read_file(facilities_path, engine="pyogrio", columns=["kind"])
    facilities = facilities[facilities["kind"] == kind].to_crs(working_crs)
    picked = estates.iloc[uncovered(estates.geometry.to_numpy(), facilities, float(radius))[:: int(stride)]]
    points = gpd.GeoDataFrame({"id": [f"c{i}" for i in picked["id"]]}, geometry=picked.geometry.centroid.to_numpy(), crs=working_crs)
    points.to_crs("OGC:CRS84").to_file(out_path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=9)
    print(f"wrote {len(points)} candidates (the centroid of every {stride}th uncovered estate) to {out_path}", file=sys.stderr)
    sys.exit(0)

mode, estates_path, facilities_path, candidates, working_crs, kind, radius, k, out_path = sys.argv[1:10]
radius, k = float(radius), int(k)
assert mode in ("spopt", "pulp", "highspy"), mode
HIGHS_OPTIONS = {"mip_rel_gap": 0.0, "mip_abs_gap": 1e-9, "threads": 1}

t = T0
estates = gpd.read_file(estates_path, engine="pyogrio", columns=["id", "households"]).to_crs(working_crs)
facilities = gpd.read_file(facilities_path, engine="pyogrio", columns=["kind"])
facilities = facilities[facilities["kind"] == kind].to_crs(working_crs)
if candidates == "centroids":
    cand_ids = estates["id"].astype(str).to_numpy()
    cand_xy = estates.geometry.centroid.to_numpy()
else:
    cands = gpd.read_file(candidates, engine="pyogrio", columns=["id"]).to_crs(working_crs)
    cand_ids = cands["id"].astype(str).to_numpy()
    cand_xy = cands.geometry.to_numpy()
t = stage("load", t)

# Demand: estates with no facility of the kind within the radius of the polygon.
polys = estates.geometry.to_numpy()
demand = uncovered(polys, facilities, radius)
weights = estates["households"].fillna(0).to_numpy(dtype=float)[demand]
demand_polys = polys[demand]
# Cover pairs: (demand row, candidate column) within the radius.
d_idx, c_idx = shapely.STRtree(demand_polys).query(cand_xy, predicate="dwithin", distance=radius)[::-1]
t = stage("demand_and_pairs", t)
n_dem, n_cand = len(demand), len(cand_xy)
print(f"{n_dem} demand estates ({weights.sum():.0f} households), {n_cand} candidates, {len(d_idx)} cover pairs",
      file=sys.stderr, flush=True)

if mode == "spopt":
    import pulp
    from spopt.locate import MCLP

    t = stage("import_spopt", t)
    cost = np.full((n_dem, n_cand), np.inf)
    cost[d_idx, c_idx] = shapely.distance(demand_polys[d_idx], cand_xy[c_idx])
    t = stage("distance_matrix", t)
    model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=min(k, n_cand))
    del cost
    t = stage("build", t)
    model.solve(pulp.HiGHS(msg=False, gapRel=0.0, gapAbs=1e-9, threads=1))
    t = stage("solve", t)
    chosen = np.array([j for j in range(n_cand) if model.fac_vars[j].value() > 0.5], dtype=int)
    status = pulp.LpStatus[model.problem.status]
elif mode == "pulp":
    import pulp

    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat=pulp.LpBinary) for j in range(n_cand)]
    y = [pulp.LpVariable(f"y{i}", lowBound=0, upBound=1) for i in range(n_dem)]
    prob += pulp.LpAffineExpression(zip(y, weights))
    order = np.argsort(d_idx, kind="stable")
    rows = np.split(c_idx[order], np.searchsorted(d_idx[order], np.arange(1, n_dem)))
    for i, cs in enumerate(rows):
        prob += pulp.LpAffineExpression([(y[i], 1.0)] + [(x[j], -1.0) for j in cs]) <= 0
    prob += pulp.LpAffineExpression((v, 1.0) for v in x) <= k
    t = stage("build", t)
    prob.solve(pulp.HiGHS(msg=False, gapRel=0.0, gapAbs=1e-9, threads=1))
    t = stage("solve", t)
    chosen = np.array([j for j in range(n_cand) if x[j].value() > 0.5], dtype=int)
    status = pulp.LpStatus[prob.status]
else:
    import highspy
    import scipy.sparse as sp

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for key, value in HIGHS_OPTIONS.items():
        h.setOptionValue(key, value)
    inf = highspy.kHighsInf
    # Columns: x (n_cand, integer), then y (n_dem); rows: one per demand point, then the count.
    a = sp.coo_matrix(
        (np.concatenate([np.ones(n_dem), -np.ones(len(d_idx)), np.ones(n_cand)]),
         (np.concatenate([np.arange(n_dem), d_idx, np.full(n_cand, n_dem)]),
          np.concatenate([n_cand + np.arange(n_dem), c_idx, np.arange(n_cand)]))),
        shape=(n_dem + 1, n_cand + n_dem)).tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cand + n_dem, n_dem + 1
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.concatenate([np.zeros(n_cand), weights])
    lp.col_lower_ = np.zeros(n_cand + n_dem)
    lp.col_upper_ = np.ones(n_cand + n_dem)
    lp.row_lower_ = np.full(n_dem + 1, -inf)
    lp.row_upper_ = np.concatenate([np.zeros(n_dem), [float(k)]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cand + [highspy.HighsVarType.kContinuous] * n_dem
    h.passModel(lp)
    t = stage("build", t)
    h.run()
    t = stage("solve", t)
    status = h.modelStatusToString(h.getModelStatus())
    chosen = np.flatnonzero(np.asarray(h.getSolution().col_value[:n_cand]) > 0.5)

# The objective recomputed from the chosen sites, in whole households.
hit = np.zeros(n_dem, dtype=bool)
hit[d_idx[np.isin(c_idx, chosen)]] = True
objective = float(weights[hit].sum())
stage("total", T0)
doc = {
    "mode": mode, "status": status, "objective_households": objective, "demand_estates": int(n_dem),
    "demand_households": float(weights.sum()), "candidates": int(n_cand), "cover_pairs": int(len(d_idx)),
    "sites": sorted(cand_ids[chosen].tolist()), "stages_s": STAGES,
}
json.dump(doc, open(out_path, "w"), indent=1)
print(f"{mode}: {status}, {len(chosen)} sites, {objective:.0f} of {weights.sum():.0f} households", file=sys.stderr)
