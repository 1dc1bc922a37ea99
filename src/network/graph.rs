//! The street graph: nodes at distinct vertices, undirected edges per segment, CSR adjacency.
//!
//! Nodes are found by exact coordinates (after reprojection, two lines share a node exactly when
//! they share a vertex), so lines crossing without a shared vertex — a bridge over a street, a
//! tunnel under it — stay unconnected, as OSM models them. Digitising leaves gaps: a line end
//! that no other line touches (a *dangling end*) is joined to the nearest other node within
//! `snap_m`, or else to the nearest point of another edge within it, which splits that edge.
//! The join is an edge of its own length, so snapping never shortens a walk.
//!
//! Adjacency is compressed (CSR: one offsets array, one array of `(neighbour, edge)`), which keeps
//! a Dijkstra's inner loop on two contiguous arrays.

use std::collections::HashMap;

use rayon::prelude::*;

use geo::{Coord, LineString};
use rstar::primitives::GeomWithData;
use rstar::{PointDistance, RTree, RTreeObject, AABB};

/// How the graph is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphParams {
    /// Dangling ends are joined to a node or an edge within this distance (metres).
    pub snap_m: f64,
}

impl Default for GraphParams {
    fn default() -> Self {
        Self { snap_m: 1.0 }
    }
}

/// What the load report says of a graph.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GraphStats {
    /// Nodes.
    pub nodes: usize,
    /// Undirected edges (after snapping and splitting).
    pub edges: usize,
    /// Summed edge length.
    ///
    /// # Units
    /// Metres.
    pub length_m: f64,
    /// Number of connected components.
    pub components: usize,
    /// Node counts of the largest components, largest first (at most five).
    pub largest_components: Vec<usize>,
    /// Dangling ends joined to another node or edge within `snap_m`.
    pub snapped_ends: usize,
}

/// An undirected street segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// One end (node index).
    pub a: u32,
    /// The other end.
    pub b: u32,
    /// Planar length.
    ///
    /// # Units
    /// Metres.
    pub length_m: f64,
}

/// The walking graph.
///
/// # Examples
/// ```
/// use gapmap::network::{GraphParams, StreetGraph};
/// // a T: the stem's end stops 0.5 m short of the bar and is snapped onto it
/// let bar = geo::wkt! { LINESTRING(0. 0.,100. 0.) };
/// let stem = geo::wkt! { LINESTRING(50. 0.5,50. 80.) };
/// let graph = StreetGraph::build(&[bar, stem], GraphParams { snap_m: 1.0 });
/// let stats = graph.stats();
/// assert_eq!((stats.nodes, stats.components, stats.snapped_ends), (5, 1, 1));
/// // bar split in two, the stem, the 0.5 m join
/// assert_eq!(stats.edges, 4);
/// ```
#[derive(Debug, Clone)]
pub struct StreetGraph {
    nodes: Vec<Coord<f64>>,
    edges: Vec<Edge>,
    /// `adjacency[offsets[n]..offsets[n + 1]]`: `(neighbour, edge)` of node `n`.
    offsets: Vec<u32>,
    adjacency: Vec<(u32, u32)>,
    /// `adjacency`'s edge lengths, beside it: a search's inner loop reads them in order instead
    /// of looking each edge up.
    arc_length_m: Vec<f64>,
    /// Component id per node.
    component: Vec<u32>,
    snapped_ends: usize,
}

/// A segment in the edge tree.
pub(crate) type SegmentEntry = GeomWithData<Segment, u32>;

/// A segment for the R-tree of edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Segment {
    pub a: [f64; 2],
    pub b: [f64; 2],
}

impl RTreeObject for Segment {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(self.a, self.b)
    }
}

impl PointDistance for Segment {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        let (_, d2) = project(*p, self.a, self.b);
        d2
    }
}

/// The parameter `t` in [0, 1] of the point of segment `a`–`b` nearest to `p`, and the squared
/// distance to it.
pub(crate) fn project(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> (f64, f64) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len_sq = dx * dx + dy * dy;
    let t = if len_sq > 0.0 { (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len_sq).clamp(0.0, 1.0) } else { 0.0 };
    let (ex, ey) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    (t, ex * ex + ey * ey)
}

fn xy(c: Coord<f64>) -> [f64; 2] {
    [c.x, c.y]
}

fn dist(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// Hash key of a coordinate: its bits, with -0.0 read as 0.0.
fn key(c: Coord<f64>) -> (u64, u64) {
    ((c.x + 0.0).to_bits(), (c.y + 0.0).to_bits())
}

impl StreetGraph {
    /// Builds the graph of `lines` (working CRS, metres).
    ///
    /// Non-finite coordinates are the loader's to reject; here a vertex repeated in a row adds no
    /// edge, and a line of one distinct vertex adds a lone node.
    ///
    /// # Complexity
    /// O(V log V) for V vertices (hashing, then R-tree searches for the dangling ends).
    #[must_use]
    ///
    /// # Panics
    /// With more than 2^32 nodes or edges.
    pub fn build(lines: &[LineString<f64>], params: GraphParams) -> Self {
        let vertices: usize = lines.iter().map(|l| l.0.len()).sum();
        // foldhash, not SipHash: the node lookup is most of the build's one-core time.
        let mut ids: HashMap<(u64, u64), u32, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(vertices, foldhash::fast::RandomState::default());
        let mut nodes: Vec<Coord<f64>> = Vec::with_capacity(vertices);
        let mut edges: Vec<Edge> = Vec::with_capacity(vertices);
        let mut node_of = |c: Coord<f64>, nodes: &mut Vec<Coord<f64>>| -> u32 {
            *ids.entry(key(c)).or_insert_with(|| {
                nodes.push(c);
                u32::try_from(nodes.len() - 1).expect("fewer than 2^32 nodes")
            })
        };
        // Line ends: candidates for dangling ends.
        let mut ends: Vec<u32> = Vec::new();
        for line in lines {
            let mut prev: Option<u32> = None;
            for &c in &line.0 {
                let n = node_of(c, &mut nodes);
                if let Some(p) = prev {
                    if p != n {
                        edges.push(Edge { a: p, b: n, length_m: dist(nodes[p as usize], c) });
                    }
                }
                prev = Some(n);
            }
            if let (Some(first), Some(last)) = (line.0.first(), line.0.last()) {
                ends.push(node_of(*first, &mut nodes));
                ends.push(node_of(*last, &mut nodes));
            }
        }
        let t0 = std::time::Instant::now();
        tracing::debug!(nodes = nodes.len(), edges = edges.len(), "graph: vertices hashed");
        let snapped_ends = if params.snap_m > 0.0 { snap_dangling(&mut nodes, &mut edges, &ends, params.snap_m) } else { 0 };
        tracing::debug!(elapsed_s = t0.elapsed().as_secs_f64(), "graph: ends snapped");
        let (offsets, adjacency) = csr(nodes.len(), &edges);
        let arc_length_m = adjacency.iter().map(|&(_, e)| edges[e as usize].length_m).collect();
        tracing::debug!(elapsed_s = t0.elapsed().as_secs_f64(), "graph: csr");
        let component = components(nodes.len(), &offsets, &adjacency);
        tracing::debug!(elapsed_s = t0.elapsed().as_secs_f64(), "graph: components");
        Self { nodes, edges, offsets, adjacency, arc_length_m, component, snapped_ends }
    }

    /// Number of nodes.
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Node positions (working CRS, metres).
    #[must_use]
    pub fn nodes(&self) -> &[Coord<f64>] {
        &self.nodes
    }

    /// The edges.
    #[must_use]
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// `(neighbour, edge)` pairs of node `n`.
    #[inline]
    #[must_use]
    pub fn neighbours(&self, n: u32) -> &[(u32, u32)] {
        let n = n as usize;
        &self.adjacency[self.offsets[n] as usize..self.offsets[n + 1] as usize]
    }

    /// `(neighbour, edge length in metres)` of node `n`: what a shortest-path search relaxes.
    #[inline]
    pub fn arcs(&self, n: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        let range = self.offsets[n as usize] as usize..self.offsets[n as usize + 1] as usize;
        self.adjacency[range.clone()].iter().map(|&(w, _)| w).zip(self.arc_length_m[range].iter().copied())
    }

    /// Component id of node `n` (ids are arbitrary but equal within a component).
    #[must_use]
    pub fn component(&self, n: u32) -> u32 {
        self.component[n as usize]
    }

    /// Figures for the load report.
    #[must_use]
    pub fn stats(&self) -> GraphStats {
        let mut sizes: HashMap<u32, usize> = HashMap::new();
        for &c in &self.component {
            *sizes.entry(c).or_default() += 1;
        }
        let mut largest: Vec<usize> = sizes.values().copied().collect();
        largest.sort_unstable_by(|a, b| b.cmp(a));
        let components = largest.len();
        largest.truncate(5);
        GraphStats {
            nodes: self.nodes.len(),
            edges: self.edges.len(),
            length_m: self.edges.iter().map(|e| e.length_m).sum(),
            components,
            largest_components: largest,
            snapped_ends: self.snapped_ends,
        }
    }

    /// An R-tree over the nodes, data = node index.
    #[must_use]
    pub(crate) fn node_tree(&self) -> RTree<GeomWithData<[f64; 2], u32>> {
        RTree::bulk_load(
            self.nodes.iter().enumerate().map(|(i, &c)| GeomWithData::new(xy(c), u32::try_from(i).expect("< 2^32 nodes"))).collect(),
        )
    }

    /// An R-tree over the edges, data = edge index.
    #[must_use]
    pub(crate) fn edge_tree(&self) -> RTree<SegmentEntry> {
        edge_tree(&self.nodes, &self.edges)
    }
}

fn edge_tree(nodes: &[Coord<f64>], edges: &[Edge]) -> RTree<SegmentEntry> {
    RTree::bulk_load(
        edges
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let segment = Segment { a: xy(nodes[e.a as usize]), b: xy(nodes[e.b as usize]) };
                GeomWithData::new(segment, u32::try_from(i).expect("< 2^32 edges"))
            })
            .collect(),
    )
}

/// Joins each dangling end (a line end of degree 1) to the nearest non-adjacent node within
/// `snap_m`, else to the nearest point on a non-incident edge within it (splitting that edge).
/// Returns how many ends were joined.
#[expect(clippy::too_many_lines, reason = "finding the ends' neighbours, then joining and splitting in one deterministic order")]
fn snap_dangling(nodes: &mut Vec<Coord<f64>>, edges: &mut Vec<Edge>, ends: &[u32], snap_m: f64) -> usize {
    let mut degree = vec![0u32; nodes.len()];
    for e in edges.iter() {
        degree[e.a as usize] += 1;
        degree[e.b as usize] += 1;
    }
    let mut dangling: Vec<u32> = ends.iter().copied().filter(|&n| degree[n as usize] == 1).collect();
    dangling.sort_unstable();
    dangling.dedup();
    if dangling.is_empty() {
        return 0;
    }
    // The one neighbour of each dangling end.
    let mut neighbour: HashMap<u32, u32> = dangling.iter().map(|&d| (d, u32::MAX)).collect();
    for e in edges.iter() {
        if let Some(n) = neighbour.get_mut(&e.a) {
            *n = e.b;
        }
        if let Some(n) = neighbour.get_mut(&e.b) {
            *n = e.a;
        }
    }
    // Only the few dangling ends need neighbours: index them (a small tree), and let every node
    // and edge look for the ends near it, in parallel. Bulk-loading trees of all nodes and edges
    // for a few thousand queries cost more than the queries.
    let ends_tree: RTree<GeomWithData<[f64; 2], u32>> =
        RTree::bulk_load(dangling.iter().map(|&d| GeomWithData::new(xy(nodes[d as usize]), d)).collect());
    let snap_sq = snap_m * snap_m;
    let neighbour = &neighbour;
    let (near_nodes, near_edges) = rayon::join(
        || {
            // (end, squared distance, node) for every other, non-adjacent node within snap_m.
            let mut found: Vec<(u32, f64, u32)> = nodes
                .par_iter()
                .enumerate()
                .flat_map_iter(|(i, &c)| {
                    let n = u32::try_from(i).expect("< 2^32 nodes");
                    let at = xy(c);
                    ends_tree
                        .locate_within_distance(at, snap_sq)
                        .filter(move |end| end.data != n && neighbour[&end.data] != n)
                        .map(move |end| (end.data, end.distance_2(&at), n))
                        .collect::<Vec<_>>()
                })
                .collect();
            // Per end, the nearest; ties to the lowest node index.
            found.par_sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)).then(x.2.cmp(&y.2)));
            found.dedup_by_key(|x| x.0);
            found
        },
        || {
            // (end, squared distance, edge, t) for every non-incident edge within snap_m.
            let mut found: Vec<(u32, f64, u32, f64)> = edges
                .par_iter()
                .enumerate()
                .flat_map_iter(|(i, e)| {
                    let i = u32::try_from(i).expect("< 2^32 edges");
                    let (a, b) = (xy(nodes[e.a as usize]), xy(nodes[e.b as usize]));
                    let envelope = AABB::from_corners(
                        [a[0].min(b[0]) - snap_m, a[1].min(b[1]) - snap_m],
                        [a[0].max(b[0]) + snap_m, a[1].max(b[1]) + snap_m],
                    );
                    ends_tree
                        .locate_in_envelope_intersecting(&envelope)
                        .filter(move |end| e.a != end.data && e.b != end.data)
                        .filter_map(move |end| {
                            let (t, d2) = project(*end.geom(), a, b);
                            (d2 <= snap_sq).then_some((end.data, d2, i, t))
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            found.par_sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)).then(x.2.cmp(&y.2)));
            found.dedup_by_key(|x| x.0);
            found
        },
    );
    let nearest_node: HashMap<u32, (f64, u32)> = near_nodes.into_iter().map(|(d, d2, n)| (d, (d2, n))).collect();
    let nearest_edge: HashMap<u32, (f64, u32, f64)> = near_edges.into_iter().map(|(d, d2, e, t)| (d, (d2, e, t))).collect();
    let mut joins: Vec<Edge> = Vec::new();
    let mut joined_pairs: std::collections::HashSet<(u32, u32)> = std::collections::HashSet::new();
    // Splits per edge: (t, new node).
    let mut splits: HashMap<u32, Vec<(f64, u32)>> = HashMap::new();
    let mut snapped = 0;
    for &d in &dangling {
        // Nearest other node within snap_m: deterministic on ties (lowest index).
        if let Some(&(d2, n)) = nearest_node.get(&d) {
            let pair = (d.min(n), d.max(n));
            if joined_pairs.insert(pair) {
                joins.push(Edge { a: d, b: n, length_m: d2.sqrt() });
            }
            snapped += 1;
            continue;
        }
        if let Some(&(d2, e, t)) = nearest_edge.get(&d) {
            let edge = edges[e as usize];
            // The nearest point is an end of the edge: that node is adjacent to d (else it would
            // have been found above), so there is nothing to join.
            if t <= 0.0 || t >= 1.0 {
                continue;
            }
            let (a, b) = (nodes[edge.a as usize], nodes[edge.b as usize]);
            let c = Coord { x: a.x + t * (b.x - a.x), y: a.y + t * (b.y - a.y) };
            let n = u32::try_from(nodes.len()).expect("fewer than 2^32 nodes");
            nodes.push(c);
            splits.entry(e).or_default().push((t, n));
            joins.push(Edge { a: d, b: n, length_m: d2.sqrt() });
            snapped += 1;
        }
    }
    // Each split edge becomes a chain through its new nodes, in order along it.
    let mut split_edges: Vec<u32> = splits.keys().copied().collect();
    split_edges.sort_unstable();
    for e in split_edges {
        let mut points = splits.remove(&e).expect("key from the map");
        points.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let edge = edges[e as usize];
        let mut prev = edge.a;
        let mut chain = Vec::with_capacity(points.len() + 1);
        for &(_, n) in &points {
            chain.push(Edge { a: prev, b: n, length_m: dist(nodes[prev as usize], nodes[n as usize]) });
            prev = n;
        }
        chain.push(Edge { a: prev, b: edge.b, length_m: dist(nodes[prev as usize], nodes[edge.b as usize]) });
        edges[e as usize] = chain[0];
        edges.extend_from_slice(&chain[1..]);
    }
    edges.extend(joins);
    snapped
}

fn csr(n: usize, edges: &[Edge]) -> (Vec<u32>, Vec<(u32, u32)>) {
    let mut offsets = vec![0u32; n + 1];
    for e in edges {
        offsets[e.a as usize + 1] += 1;
        offsets[e.b as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut adjacency = vec![(0u32, 0u32); offsets[n] as usize];
    for (i, e) in edges.iter().enumerate() {
        let i = u32::try_from(i).expect("< 2^32 edges");
        adjacency[fill[e.a as usize] as usize] = (e.b, i);
        fill[e.a as usize] += 1;
        adjacency[fill[e.b as usize] as usize] = (e.a, i);
        fill[e.b as usize] += 1;
    }
    (offsets, adjacency)
}

/// Component id per node: the lowest node index of the component.
fn components(n: usize, offsets: &[u32], adjacency: &[(u32, u32)]) -> Vec<u32> {
    let mut component = vec![u32::MAX; n];
    let mut stack = Vec::new();
    for start in 0..n {
        if component[start] != u32::MAX {
            continue;
        }
        let id = u32::try_from(start).expect("< 2^32 nodes");
        component[start] = id;
        stack.push(start);
        while let Some(v) = stack.pop() {
            for &(w, _) in &adjacency[offsets[v] as usize..offsets[v + 1] as usize] {
                if component[w as usize] == u32::MAX {
                    component[w as usize] = id;
                    stack.push(w as usize);
                }
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_lines_without_a_shared_vertex_stay_apart() {
        let a = geo::wkt! { LINESTRING(0. 0.,100. 0.) };
        let b = geo::wkt! { LINESTRING(50. -50.,50. 50.) };
        let g = StreetGraph::build(&[a, b], GraphParams::default());
        assert_eq!(g.stats().components, 2);
        assert_eq!(g.stats().snapped_ends, 0);
    }

    #[test]
    fn shared_vertices_connect_and_repeated_vertices_add_nothing() {
        let a = geo::wkt! { LINESTRING(0. 0.,50. 0.,50. 0.,100. 0.) };
        let b = geo::wkt! { LINESTRING(50. -50.,50. 0.,50. 50.) };
        let g = StreetGraph::build(&[a, b], GraphParams::default());
        let s = g.stats();
        assert_eq!((s.nodes, s.edges, s.components), (5, 4, 1));
        assert!((s.length_m - 200.0).abs() < 1e-9);
    }

    #[test]
    fn a_dangling_end_joins_the_nearest_node_within_snap() {
        let a = geo::wkt! { LINESTRING(0. 0.,100. 0.) };
        let b = geo::wkt! { LINESTRING(100.6 0.,200. 0.) };
        let g = StreetGraph::build(&[a.clone(), b.clone()], GraphParams { snap_m: 1.0 });
        let s = g.stats();
        assert_eq!((s.components, s.edges), (1, 3));
        // both ends are dangling and find each other: one join, two ends snapped
        assert_eq!(s.snapped_ends, 2);
        let apart = StreetGraph::build(&[a, b], GraphParams { snap_m: 0.5 });
        assert_eq!(apart.stats().components, 2);
    }

    #[test]
    fn two_ends_splitting_one_edge_make_a_chain() {
        let bar = geo::wkt! { LINESTRING(0. 0.,100. 0.) };
        let s1 = geo::wkt! { LINESTRING(70. 0.5,70. 50.) };
        let s2 = geo::wkt! { LINESTRING(30. -0.5,30. -50.) };
        let g = StreetGraph::build(&[bar, s1, s2], GraphParams { snap_m: 1.0 });
        let s = g.stats();
        assert_eq!((s.components, s.snapped_ends, s.edges), (1, 2, 7));
        assert!((s.length_m - (100.0 + 49.5 + 49.5 + 1.0)).abs() < 1e-9);
    }
}
