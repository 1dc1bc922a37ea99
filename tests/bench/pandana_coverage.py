"""The peer of `gapmap analyze --metric network`: walking distance per estate × kind with pandana.

Builds the same graph as gapmap from streets.geojson, by the same rules, written independently:
- vertices reprojected to the working CRS gapmap chose (pyproj), one node per distinct vertex
  (numbered in order of first appearance, as gapmap does, so ties break alike), one undirected
  edge per segment between distinct vertices, weight = planar length;
- each dangling end (a line end with one incident edge), lowest node first, joined by an edge
  of its own length to the nearest other input vertex within SNAP_M that is not its one
  neighbour (scipy cKDTree), else to the nearest point of the nearest input segment within
  SNAP_M not incident to it (shapely STRtree), splitting that segment; none at a segment end;
- each facility joins its nearest segment (any component) at the orthogonal projection: the
  segment is split there and the facility hangs on the split point by an edge of the snap
  length, with a node at the facility itself, because pandana maps a POI to its nearest node;
- each estate enters at every node inside or on it (cost 0) plus the nearest node outside it
  (cost: the distance), found with shapely.
Then per kind `Network.nearest_pois(MAX_DISTANCE, kind, num_pois=1)` from every node (weights in
centimetres: pandana keeps whole thousandths of a weight), and per
estate the minimum over its entries of entry cost + node distance. Writes estate_id, kind,
distance_m (empty when no facility is within MAX_DISTANCE) and prints the time of each stage.

usage: pandana_coverage.py STREETS ESTATES FACILITIES WORKING_CRS KINDS_JSON SNAP_M MAX_DISTANCE OUT_CSV
"""
import json
import sys
import time

import geopandas as gpd
import numpy as np
import pandana
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

t0 = time.perf_counter()
streets_path, estates_path, facilities_path, working_crs, kinds_json, snap_m, max_distance, out_path = sys.argv[1:9]
kinds = json.loads(kinds_json)
snap_m = float(snap_m)
max_distance = float(max_distance)


def stage(what):
    print(f"  {time.perf_counter() - t0:7.2f} s  {what}", file=sys.stderr, flush=True)


# --- the street graph --------------------------------------------------------------------
with open(streets_path, "rb") as f:
    features = json.load(f)["features"]
lengths = np.fromiter((len(ft["geometry"]["coordinates"]) for ft in features), dtype=np.int64, count=len(features))
lonlat = np.array([c for ft in features for c in ft["geometry"]["coordinates"]], dtype=np.float64)
to_working = pyproj.Transformer.from_crs("OGC:CRS84", working_crs, always_xy=True)
x, y = to_working.transform(lonlat[:, 0], lonlat[:, 1])
x = np.asarray(x) + 0.0  # -0.0 and 0.0 are one node
y = np.asarray(y) + 0.0
# node id per vertex, numbered by first appearance
pairs = np.ascontiguousarray(np.column_stack([x, y])).view(np.dtype((np.void, 16))).ravel()
_, first, inverse = np.unique(pairs, return_index=True, return_inverse=True)
order = np.argsort(first, kind="stable")
rank = np.empty_like(order)
rank[order] = np.arange(len(order))
vertex_node = rank[inverse.ravel()]
node_x = x[first[order]].copy()
node_y = y[first[order]].copy()
# segments: consecutive vertices of one line, distinct nodes
line_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
same_line = np.ones(len(vertex_node), dtype=bool)
same_line[line_start] = False
seg_b_idx = np.nonzero(same_line)[0]
ea = vertex_node[seg_b_idx - 1]
eb = vertex_node[seg_b_idx]
keep = ea != eb
ea, eb = ea[keep], eb[keep]
ends = np.concatenate([vertex_node[line_start], vertex_node[line_start + lengths - 1]])
n_input_nodes = len(node_x)
stage(f"read and reprojected {len(features)} lines: {n_input_nodes} nodes, {len(ea)} segments")

new_x, new_y = [], []  # split points
joins = []  # (a, b, length)
splits = {}  # segment -> [(t, node)]
snapped = 0
if snap_m > 0:
    degree = np.bincount(np.concatenate([ea, eb]), minlength=n_input_nodes)
    dangling = np.unique(ends[degree[ends] == 1])
    # the one neighbour of each dangling end
    neighbour = np.full(n_input_nodes, -1, dtype=np.int64)
    is_d = np.zeros(n_input_nodes, dtype=bool)
    is_d[dangling] = True
    neighbour[ea[is_d[ea]]] = eb[is_d[ea]]
    neighbour[eb[is_d[eb]]] = ea[is_d[eb]]
    kd = cKDTree(np.column_stack([node_x, node_y]))
    seg_geoms = shapely.linestrings(np.stack([np.column_stack([node_x[ea], node_y[ea]]), np.column_stack([node_x[eb], node_y[eb]])], axis=1))
    seg_tree = shapely.STRtree(seg_geoms)
    joined = set()
    near_nodes = kd.query_ball_point(np.column_stack([node_x[dangling], node_y[dangling]]), snap_m)
    for d, cands in zip(dangling.tolist(), near_nodes):
        px, py = node_x[d], node_y[d]
        best = None
        for n in cands:
            if n == d or n == neighbour[d]:
                continue
            d2 = (node_x[n] - px) ** 2 + (node_y[n] - py) ** 2
            if d2 <= snap_m * snap_m and (best is None or (d2, n) < best):
                best = (d2, n)
        if best is not None:
            pair = (min(d, best[1]), max(d, best[1]))
            if pair not in joined:
                joined.add(pair)
                joins.append((d, best[1], float(np.sqrt(best[0]))))
            snapped += 1
            continue
        best = None
        for s in seg_tree.query(shapely.points(px, py), predicate="dwithin", distance=snap_m).tolist():
            a, b = ea[s], eb[s]
            if a == d or b == d:
                continue
            ax, ay, bx, by = node_x[a], node_y[a], node_x[b], node_y[b]
            dx, dy = bx - ax, by - ay
            ll = dx * dx + dy * dy
            t = min(max(((px - ax) * dx + (py - ay) * dy) / ll, 0.0), 1.0) if ll > 0 else 0.0
            d2 = (ax + t * dx - px) ** 2 + (ay + t * dy - py) ** 2
            if d2 <= snap_m * snap_m and (best is None or (d2, s) < best[:2]):
                best = (d2, s, t)
        if best is not None:
            d2, s, t = best
            if t <= 0.0 or t >= 1.0:
                continue
            a, b = ea[s], eb[s]
            node = n_input_nodes + len(new_x)
            new_x.append(node_x[a] + t * (node_x[b] - node_x[a]))
            new_y.append(node_y[a] + t * (node_y[b] - node_y[a]))
            splits.setdefault(s, []).append((t, node))
            joins.append((d, node, float(np.sqrt(d2))))
            snapped += 1
node_x = np.concatenate([node_x, np.array(new_x)])
node_y = np.concatenate([node_y, np.array(new_y)])
# replace split segments by chains
keep = np.ones(len(ea), dtype=bool)
extra_a, extra_b = [], []
for s, points in splits.items():
    keep[s] = False
    prev = ea[s]
    for _, n in sorted(points):
        extra_a.append(prev)
        extra_b.append(n)
        prev = n
    extra_a.append(prev)
    extra_b.append(eb[s])
ga = np.concatenate([ea[keep], np.array(extra_a, dtype=np.int64)])
gb = np.concatenate([eb[keep], np.array(extra_b, dtype=np.int64)])
gw = np.hypot(node_x[ga] - node_x[gb], node_y[ga] - node_y[gb])
if joins:
    j = np.array(joins)
    ga = np.concatenate([ga, j[:, 0].astype(np.int64)])
    gb = np.concatenate([gb, j[:, 1].astype(np.int64)])
    gw = np.concatenate([gw, j[:, 2]])
stage(f"graph: {len(node_x)} nodes, {len(ga)} edges, {snapped} snapped ends")

# --- facility joins: split the nearest edge at the projection, hang the facility on it --------
facilities = gpd.read_file(facilities_path, engine="pyogrio", columns=["id", "kind"]).to_crs(working_crs)
facilities = facilities[facilities["kind"].isin(kinds)].reset_index(drop=True)
fx = facilities.geometry.x.to_numpy()
fy = facilities.geometry.y.to_numpy()
edge_geoms = shapely.linestrings(np.stack([np.column_stack([node_x[ga], node_y[ga]]), np.column_stack([node_x[gb], node_y[gb]])], axis=1))
(fi, ei), fd = shapely.STRtree(edge_geoms).query_nearest(shapely.points(fx, fy), return_distance=True, all_matches=False)
# all_matches=False: one nearest edge per facility (ties: any; they give the same distance)
order = np.argsort(fi, kind="stable")
fi, ei, fd = fi[order], ei[order], fd[order]
ax, ay, bx, by = node_x[ga[ei]], node_y[ga[ei]], node_x[gb[ei]], node_y[gb[ei]]
dx, dy = bx - ax, by - ay
ll = dx * dx + dy * dy
t = np.clip(((fx[fi] - ax) * dx + (fy[fi] - ay) * dy) / np.where(ll > 0, ll, 1.0), 0.0, 1.0)
px, py = ax + t * dx, ay + t * dy
snap = np.hypot(fx[fi] - px, fy[fi] - py)
n0 = len(node_x)
# the projection point: an end of the edge when it falls there, else a new node
proj = np.where(t <= 0.0, ga[ei], np.where(t >= 1.0, gb[ei], n0 + np.arange(len(fi))))
fac_node = n0 + len(fi) + np.arange(len(fi))
all_x = np.concatenate([node_x, px, fx[fi]])
all_y = np.concatenate([node_y, py, fy[fi]])
split_edges = pd.DataFrame({"edge": ei, "t": t, "node": proj})
split_edges = split_edges[(split_edges["t"] > 0) & (split_edges["t"] < 1)].sort_values(["edge", "t"], kind="stable")
keep = np.ones(len(ga), dtype=bool)
keep[split_edges["edge"].unique()] = False
ca, cb = [], []
for e, grp in split_edges.groupby("edge", sort=False):
    chain = [ga[e], *grp["node"].tolist(), gb[e]]
    ca.extend(chain[:-1])
    cb.extend(chain[1:])
ca, cb = np.array(ca, dtype=np.int64), np.array(cb, dtype=np.int64)
fa = np.concatenate([ga[keep], ca, proj])
fb = np.concatenate([gb[keep], cb, fac_node])
fw = np.concatenate([gw[keep], np.hypot(all_x[ca] - all_x[cb], all_y[ca] - all_y[cb]), snap])
stage(f"{len(fi)} facilities joined: {len(all_x)} nodes, {len(fa)} edges")

# pandana's contraction hierarchies keep whole thousandths of an edge weight: in metres, each
# edge loses up to 1 mm (1.5 cm over a 1.5 km walk, measured). Weights in centimetres keep 10 µm.
SCALE = 100.0
net = pandana.Network(pd.Series(all_x), pd.Series(all_y), pd.Series(fa), pd.Series(fb), pd.DataFrame({"length": fw * SCALE}), twoway=True)
stage("pandana network built (contraction hierarchies)")

# --- estate entries ----------------------------------------------------------------------
estates = gpd.read_file(estates_path, engine="pyogrio", columns=["id"]).to_crs(working_crs)
polys = estates.geometry.values
street_nodes = shapely.points(node_x, node_y)  # graph nodes before facility joins: as gapmap
node_tree = shapely.STRtree(street_nodes)
ins_e, ins_n = node_tree.query(polys, predicate="intersects")
entries = [pd.DataFrame({"estate": ins_e, "node": ins_n, "cost": 0.0})]
# nearest node outside: nodes within a growing distance, distance > 0, minimum per estate
todo = np.arange(len(polys))
reach = 100.0
while len(todo):
    e_idx, n_idx = node_tree.query(polys[todo], predicate="dwithin", distance=reach)
    d = shapely.distance(polys[todo][e_idx], street_nodes[n_idx])
    cand = pd.DataFrame({"estate": todo[e_idx], "node": n_idx, "cost": d})
    cand = cand[cand["cost"] > 0].sort_values(["estate", "cost", "node"], kind="stable").drop_duplicates("estate")
    entries.append(cand)
    todo = np.setdiff1d(todo, cand["estate"].to_numpy())
    reach *= 4
    if reach > 1e7:
        break
entries = pd.concat(entries, ignore_index=True)
stage(f"{len(estates)} estates: {len(entries)} entries")

# --- nearest facility per kind -------------------------------------------------------------
out = []
for kind in kinds:
    sel = (facilities["kind"].to_numpy()[fi] == kind)
    net.set_pois(kind, max_distance * SCALE, 1, pd.Series(fx[fi][sel]), pd.Series(fy[fi][sel]))
    near = net.nearest_pois(max_distance * SCALE, kind, num_pois=1)[1].reindex(np.arange(len(all_x))).to_numpy()
    # pandana reports max_distance where none is found within it
    near = np.where(near >= max_distance * SCALE, np.inf, near / SCALE)
    total = entries["cost"].to_numpy() + near[entries["node"].to_numpy()]
    best = pd.Series(total).groupby(entries["estate"].to_numpy()).min().reindex(np.arange(len(estates)), fill_value=np.inf)
    out.append(pd.DataFrame({"estate_id": estates["id"].to_numpy(), "kind": kind, "distance_m": best.replace(np.inf, np.nan).to_numpy()}))
    stage(f"nearest {kind}")
pd.concat(out, ignore_index=True).sort_values(["estate_id", "kind"], kind="stable").to_csv(out_path, index=False, float_format="%.4f")
stage("written")
