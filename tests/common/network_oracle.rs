//! Brute-force oracle for walking distances: the street graph rebuilt from the lines by the rules
//! of issue 12 written out plainly (linear scans, `Vec` of coordinates, `geo::Euclidean`), all
//! pairs of shortest paths by Floyd–Warshall, entries and joins by scanning every node and edge.
//! Nothing here uses gapmap's graph, R-trees or searches.

use geo::{Coord, Distance, Euclidean, Intersects, Line, LineString, Point};

use gapmap::model::{Estate, Facility, KindId};

use super::oracle::OracleCell;

/// A street graph as the oracle builds it.
#[derive(Debug, Clone)]
pub struct OracleGraph {
    /// Node positions, input vertices first (in order of first appearance), then split points.
    pub nodes: Vec<Coord<f64>>,
    /// Undirected edges `(a, b, length)`.
    pub edges: Vec<(usize, usize, f64)>,
    /// Dangling ends joined to a node or an edge.
    pub snapped_ends: usize,
}

fn dist(a: Coord<f64>, b: Coord<f64>) -> f64 {
    Euclidean.distance(Point::from(a), Point::from(b))
}

/// The parameter in [0, 1] of the point of segment `a`–`b` nearest to `p`.
fn param(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    let len_sq = (b.x - a.x) * (b.x - a.x) + (b.y - a.y) * (b.y - a.y);
    if len_sq == 0.0 {
        return 0.0;
    }
    (((p.x - a.x) * (b.x - a.x) + (p.y - a.y) * (b.y - a.y)) / len_sq).clamp(0.0, 1.0)
}

/// Builds the graph the issue specifies:
/// - one node per distinct vertex, one edge per segment between distinct vertices;
/// - each dangling end (a line end with one incident edge), lowest node first, is joined by an
///   edge of its own length to the nearest input vertex within `snap_m` other than itself and
///   its one neighbour (lowest index on ties; a pair joined from both ends gets one edge);
/// - failing that, to the nearest point of the nearest input segment within `snap_m` not
///   incident to it (lowest segment on ties), which splits that segment — unless that point is
///   the segment's end, where nothing is joined.
///
/// Candidates are the input vertices and segments: a split made for one end is not a target
/// for another.
pub fn build_graph(lines: &[LineString<f64>], snap_m: f64) -> OracleGraph {
    let mut nodes: Vec<Coord<f64>> = Vec::new();
    let node_of = |nodes: &mut Vec<Coord<f64>>, c: Coord<f64>| -> usize {
        if let Some(i) = nodes.iter().position(|n| n.x == c.x && n.y == c.y) {
            i
        } else {
            nodes.push(c);
            nodes.len() - 1
        }
    };
    let mut edges: Vec<(usize, usize, f64)> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    for line in lines {
        let ids: Vec<usize> = line.0.iter().map(|&c| node_of(&mut nodes, c)).collect();
        for w in ids.windows(2) {
            if w[0] != w[1] {
                edges.push((w[0], w[1], dist(nodes[w[0]], nodes[w[1]])));
            }
        }
        if let (Some(&first), Some(&last)) = (ids.first(), ids.last()) {
            ends.push(first);
            ends.push(last);
        }
    }
    if snap_m <= 0.0 {
        return OracleGraph { nodes, edges, snapped_ends: 0 };
    }
    let input_nodes = nodes.len();
    let input_edges = edges.clone();
    let degree = |n: usize| input_edges.iter().filter(|e| e.0 == n || e.1 == n).count();
    let mut dangling: Vec<usize> = ends.into_iter().filter(|&n| degree(n) == 1).collect();
    dangling.sort_unstable();
    dangling.dedup();

    let mut joins: Vec<(usize, usize, f64)> = Vec::new();
    let mut splits: Vec<(usize, f64, usize)> = Vec::new(); // (segment, t, new node)
    let mut snapped_ends = 0;
    for &d in &dangling {
        let p = nodes[d];
        let only = input_edges.iter().find(|e| e.0 == d || e.1 == d).expect("degree 1");
        let neighbour = if only.0 == d { only.1 } else { only.0 };
        let mut best_node: Option<(f64, usize)> = None;
        for n in 0..input_nodes {
            if n == d || n == neighbour {
                continue;
            }
            let dn = dist(p, nodes[n]);
            if dn <= snap_m && best_node.is_none_or(|(bd, _)| dn < bd) {
                best_node = Some((dn, n));
            }
        }
        if let Some((dn, n)) = best_node {
            let already = joins.iter().any(|j| (j.0 == d && j.1 == n) || (j.0 == n && j.1 == d));
            if !already {
                joins.push((d, n, dn));
            }
            snapped_ends += 1;
            continue;
        }
        let mut best_edge: Option<(f64, usize)> = None;
        for (i, &(a, b, _)) in input_edges.iter().enumerate() {
            if a == d || b == d {
                continue;
            }
            let de = Euclidean.distance(&Point::from(p), &Line::new(nodes[a], nodes[b]));
            if de <= snap_m && best_edge.is_none_or(|(bd, _)| de < bd) {
                best_edge = Some((de, i));
            }
        }
        if let Some((de, i)) = best_edge {
            let (a, b, _) = input_edges[i];
            let t = param(p, nodes[a], nodes[b]);
            if t <= 0.0 || t >= 1.0 {
                continue;
            }
            let c = Coord { x: nodes[a].x + t * (nodes[b].x - nodes[a].x), y: nodes[a].y + t * (nodes[b].y - nodes[a].y) };
            nodes.push(c);
            splits.push((i, t, nodes.len() - 1));
            joins.push((d, nodes.len() - 1, de));
            snapped_ends += 1;
        }
    }
    // Replace each split segment by the chain through its split points.
    let mut out: Vec<(usize, usize, f64)> = Vec::new();
    for (i, &(a, b, len)) in input_edges.iter().enumerate() {
        let mut points: Vec<(f64, usize)> = splits.iter().filter(|s| s.0 == i).map(|s| (s.1, s.2)).collect();
        if points.is_empty() {
            out.push((a, b, len));
            continue;
        }
        points.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut prev = a;
        for (_, n) in points {
            out.push((prev, n, dist(nodes[prev], nodes[n])));
            prev = n;
        }
        out.push((prev, b, dist(nodes[prev], nodes[b])));
    }
    out.extend(joins);
    OracleGraph { nodes, edges: out, snapped_ends }
}

impl OracleGraph {
    /// Shortest distance between every pair of nodes (Floyd–Warshall; infinite when apart).
    pub fn all_pairs(&self) -> Vec<Vec<f64>> {
        let n = self.nodes.len();
        let mut d = vec![vec![f64::INFINITY; n]; n];
        for (i, row) in d.iter_mut().enumerate() {
            row[i] = 0.0;
        }
        for &(a, b, len) in &self.edges {
            d[a][b] = d[a][b].min(len);
            d[b][a] = d[b][a].min(len);
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    let via = d[i][k] + d[k][j];
                    if via < d[i][j] {
                        d[i][j] = via;
                    }
                }
            }
        }
        d
    }

    /// Where an estate enters: every node inside or on its polygon (cost 0), plus the node
    /// outside nearest to it (cost: that distance), by scanning all nodes.
    pub fn entries(&self, estate: &Estate) -> Vec<(usize, f64)> {
        let mut entries: Vec<(usize, f64)> = Vec::new();
        let mut outside: Option<(usize, f64)> = None;
        for (i, &c) in self.nodes.iter().enumerate() {
            let p = Point::from(c);
            if estate.geometry.intersects(&p) {
                entries.push((i, 0.0));
            } else {
                let d = Euclidean.distance(&p, &estate.geometry);
                if outside.is_none_or(|(_, bd)| d < bd) {
                    outside = Some((i, d));
                }
            }
        }
        entries.extend(outside);
        entries
    }

    /// Where a point joins: the orthogonal projection onto the nearest edge, scanning all
    /// edges. `(edge, along from its first end, snap distance)`.
    pub fn join(&self, p: Point<f64>) -> Option<(usize, f64, f64)> {
        let mut best: Option<(usize, f64, f64)> = None;
        for (i, &(a, b, len)) in self.edges.iter().enumerate() {
            let snap = Euclidean.distance(&p, &Line::new(self.nodes[a], self.nodes[b]));
            if best.is_none_or(|(_, _, bs)| snap < bs) {
                best = Some((i, param(p.0, self.nodes[a], self.nodes[b]) * len, snap));
            }
        }
        best
    }

    /// Walking distance from `entries` to the join of `p` over the all-pairs matrix `d`.
    pub fn distance_to(&self, d: &[Vec<f64>], entries: &[(usize, f64)], p: Point<f64>) -> f64 {
        let Some((e, along, snap)) = self.join(p) else { return f64::INFINITY };
        let (a, b, len) = self.edges[e];
        entries
            .iter()
            .map(|&(n, cost)| cost + (d[n][a] + along).min(d[n][b] + (len - along)) + snap)
            .fold(f64::INFINITY, f64::min)
    }
}

/// Every open facility's walking distance from the estate (reachable ones only), per kind.
pub fn network_oracle(graph: &OracleGraph, all_pairs: &[Vec<f64>], estate: &Estate, facilities: &[Facility], kind: KindId, year: Option<i32>) -> OracleCell {
    let entries = graph.entries(estate);
    let distances_m: Vec<(usize, f64)> = facilities
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == kind && f.open_in(year))
        .map(|(i, f)| (i, graph.distance_to(all_pairs, &entries, f.location)))
        .filter(|(_, d)| d.is_finite())
        .collect();
    let nearest_m = distances_m.iter().map(|(_, d)| *d).reduce(f64::min);
    OracleCell { nearest_m, distances_m }
}
