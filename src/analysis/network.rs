//! Walking-distance coverage on the street network.
//!
//! Network distance(estate, kind) = min over the estate's entries n and the kind's facilities f of
//! entry cost(n) + shortest path(n, join(f)) + snap(f) ([`crate::network`] defines entries and
//! joins). Per kind, two searches give every figure, neither an all-pairs matrix:
//! 1. from each open facility of the kind, a Dijkstra bounded by the kind's radius: every estate
//!    entry it settles within the radius gives that estate the facility, so `count_within`,
//!    `capacity_within` and, for covered estates, the nearest come from these searches;
//! 2. one multi-source Dijkstra from all the kind's facilities over the whole graph (up to
//!    `max_m`) gives the remaining estates their nearest facility — beyond the radius, so they
//!    are not covered.
//!
//! Searching from the facilities costs Σ_k F_k · ball(R_k): each kind's facilities times the
//! streets within its own radius. Searching from the estates instead costs E · ball(R_max) for
//! every kind with the largest radius (1000 m for schools and health centres), several times more
//! in a city with fewer schools than estates. The pairs found are sorted by estate and facility
//! before they are summed, so results do not depend on thread scheduling.

use rayon::prelude::*;

use super::coverage::{KindCoverage, Nearest, Progress};
use super::{AnalysisError, CoverageMetric, MetricKind};
use crate::model::{Catalogue, DistanceFrom, Estate, Facility};
use crate::network::search::{nearest_sources, EdgeFacilities, Scratch};
use crate::network::{EntryParams, GraphParams, GraphStats, NetworkAccess, StreetGraph};

/// How the walking network is built and searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkParams {
    /// Dangling line ends and gates join the network within this distance (metres).
    pub snap_m: f64,
    /// Nearest facilities further than this walk are not searched for (metres; infinite: all).
    /// Facilities within a kind's radius are always found.
    pub max_m: f64,
    /// Walking speed for walking minutes (metres per minute; 80 by default, about 4.8 km/h).
    pub speed_m_per_min: f64,
    /// Boundary or centroid entries.
    pub distance_from: DistanceFrom,
}

impl Default for NetworkParams {
    fn default() -> Self {
        Self { snap_m: 1.0, max_m: f64::INFINITY, speed_m_per_min: 80.0, distance_from: DistanceFrom::Boundary }
    }
}

/// Walking distance along a street graph, prepared for one list of estates and facilities.
#[derive(Debug, Clone)]
pub struct NetworkMetric {
    graph: StreetGraph,
    access: NetworkAccess,
    on_edges: EdgeFacilities,
    /// Capacity per facility (0 when unknown), for the sums within the radius.
    capacities: Vec<f64>,
    /// Estate entries by node (CSR): `node_entries[node_entry_offsets[n]..node_entry_offsets[n + 1]]`.
    node_entry_offsets: Vec<u32>,
    node_entries: Vec<(u32, f64)>,
    params: NetworkParams,
    /// The edges' R-tree for joining points that are not facilities (trial points, candidates,
    /// `/coverage`), built on first use and kept: rebuilding it per call was ~150 ms of a
    /// one-point query on a 60,000-estate city.
    edge_tree: std::sync::OnceLock<rstar::RTree<crate::network::SegmentEntry>>,
}

impl NetworkMetric {
    /// Builds the graph of `lines` (working CRS), then the entries of `estates` (at `gates` where
    /// an estate has some) and the joins of `facilities`.
    ///
    /// # Complexity
    /// O((V + E · v + F) log V) for V street vertices, E estates of v vertices, F facilities.
    #[must_use]
    pub fn build(lines: &[geo::LineString<f64>], gates: &[geo::Coord<f64>], estates: &[Estate], facilities: &[Facility], params: NetworkParams) -> Self {
        let started = std::time::Instant::now();
        let graph = StreetGraph::build(lines, GraphParams { snap_m: params.snap_m });
        tracing::debug!(elapsed_s = started.elapsed().as_secs_f64(), nodes = graph.node_count(), "street graph built");
        Self::on_graph(graph, gates, estates, facilities, params)
    }

    /// The same on a graph already built.
    #[must_use]
    pub fn on_graph(graph: StreetGraph, gates: &[geo::Coord<f64>], estates: &[Estate], facilities: &[Facility], params: NetworkParams) -> Self {
        let started = std::time::Instant::now();
        let access = NetworkAccess::build(&graph, estates, facilities, gates, EntryParams { distance_from: params.distance_from, snap_m: params.snap_m });
        tracing::debug!(elapsed_s = started.elapsed().as_secs_f64(), "estate entries and facility joins built");
        let on_edges = EdgeFacilities::build(&graph, facilities, access.joins());
        let capacities = facilities.iter().map(|f| f.capacity.unwrap_or(0.0)).collect();
        let (node_entry_offsets, node_entries) = entries_by_node(&graph, &access);
        tracing::debug!(elapsed_s = started.elapsed().as_secs_f64(), "network metric ready");
        Self { graph, access, on_edges, capacities, node_entry_offsets, node_entries, params, edge_tree: std::sync::OnceLock::new() }
    }

    /// The street graph.
    #[must_use]
    pub fn graph(&self) -> &StreetGraph {
        &self.graph
    }

    /// Estate entries and facility joins.
    #[must_use]
    pub fn access(&self) -> &NetworkAccess {
        &self.access
    }

    /// Facilities by the edge they join.
    #[must_use]
    pub fn on_edges(&self) -> &EdgeFacilities {
        &self.on_edges
    }

    /// The parameters it was built with.
    #[must_use]
    pub fn params(&self) -> NetworkParams {
        self.params
    }

    /// Graph figures for load reports and summaries.
    #[must_use]
    pub fn stats(&self) -> GraphStats {
        self.graph.stats()
    }

    /// Walking distance from `sources` `(node, initial cost)` to every facility of each kind
    /// within `bound_m`: per kind the facilities found, as `(facility, distance)`, sorted by
    /// facility. `found` is cleared first.
    fn reach(&self, scratch: &mut Scratch, sources: impl IntoIterator<Item = (u32, f64)>, bound_m: f64, year: Option<i32>, found: &mut Vec<(u16, u32, f64)>) {
        found.clear();
        let graph = &self.graph;
        let on_edges = &self.on_edges;
        scratch.settle(graph, sources, bound_m, |node, d| {
            for &(_, e) in graph.neighbours(node) {
                let facilities = on_edges.on(e);
                if facilities.is_empty() {
                    continue;
                }
                let from_a = graph.edges()[e as usize].a == node;
                for f in facilities {
                    let cost = d + if from_a { f.from_a_m } else { f.from_b_m };
                    if cost <= bound_m && f.open_in(year) {
                        found.push((f.kind, f.facility, cost));
                    }
                }
            }
        });
        // Each facility once, at its least cost (it is met from both ends of its edge).
        found.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)).then(x.2.total_cmp(&y.2)));
        found.dedup_by_key(|x| (x.0, x.1));
    }

    /// Coverage of a point that is not an estate (a clicked location): it enters the network where
    /// a facility there would join it. Per kind in catalogue order, as [`CoverageMetric::measure`]
    /// gives for an estate; `None` when the network has no edge.
    #[must_use]
    pub fn measure_point(&self, p: geo::Coord<f64>, catalogue: &Catalogue, year: Option<i32>) -> Option<Vec<KindCoverage>> {
        let edge_tree = self.edge_tree.get_or_init(|| self.graph.edge_tree());
        let join = NetworkAccess::join_point(&self.graph, edge_tree, p)?;
        let edge = self.graph.edges()[join.edge as usize];
        let entries = [(edge.a, join.snap_m + join.along_m), (edge.b, join.snap_m + (edge.length_m - join.along_m).max(0.0))];
        let mut scratch = Scratch::new(self.graph.node_count());
        let mut row = self.measure_row(&mut scratch, &entries, catalogue, year, &mut Vec::new());
        let missing: Vec<usize> = (0..catalogue.len()).filter(|&k| row[k].nearest.is_none()).collect();
        for k in missing {
            let nearest = self.kind_nearest(k, year);
            row[k].nearest = best_entry(entries.iter().copied(), &nearest).filter(|n| n.distance_m <= self.params.max_m);
        }
        Some(row)
    }

    fn bound_m(catalogue: &Catalogue) -> f64 {
        catalogue.kinds.iter().map(|k| k.radius_m).fold(0.0, f64::max)
    }

    /// One estate's row: everything within the largest radius.
    fn measure_row(&self, scratch: &mut Scratch, entries: &[(u32, f64)], catalogue: &Catalogue, year: Option<i32>, found: &mut Vec<(u16, u32, f64)>) -> Vec<KindCoverage> {
        let bound_m = Self::bound_m(catalogue);
        self.reach(scratch, entries.iter().copied(), bound_m, year, found);
        let mut row = vec![KindCoverage::EMPTY; catalogue.len()];
        for &(kind, facility, d) in found.iter() {
            let Some(cell) = row.get_mut(kind as usize) else { continue };
            let radius_m = catalogue.kinds[kind as usize].radius_m;
            if d <= radius_m {
                cell.count_within += 1;
                cell.capacity_within += self.on_edges_capacity(facility);
            }
            // Sorted by facility within a kind, so a strict `<` keeps the lowest on ties.
            if cell.nearest.is_none_or(|n| d < n.distance_m) {
                cell.nearest = Some(Nearest { facility, distance_m: d });
            }
        }
        for (cell, spec) in row.iter_mut().zip(&catalogue.kinds) {
            cell.covered = cell.nearest.is_some_and(|n| n.distance_m <= spec.radius_m);
        }
        row
    }

    fn on_edges_capacity(&self, facility: u32) -> f64 {
        self.capacities[facility as usize]
    }

    /// Distance from every node to the nearest open facility of kind `k`, up to `max_m`.
    fn kind_nearest(&self, k: usize, year: Option<i32>) -> crate::network::search::NearestSources {
        let sources = self.on_edges.iter().filter(|(_, f)| f.kind as usize == k && f.open_in(year)).flat_map(|(e, f)| {
            let edge = self.graph.edges()[e as usize];
            [(edge.a, f.from_a_m, f.facility), (edge.b, f.from_b_m, f.facility)]
        });
        nearest_sources(&self.graph, sources, self.params.max_m)
    }
}

/// The nearest facility through the best of `entries`, from a whole-graph search.
fn best_entry(entries: impl IntoIterator<Item = (u32, f64)>, nearest: &crate::network::search::NearestSources) -> Option<Nearest> {
    let mut best: Option<Nearest> = None;
    for (n, cost) in entries {
        let d = cost + nearest.dist_m[n as usize];
        let label = nearest.label[n as usize];
        if d.is_finite() && best.is_none_or(|b| d.total_cmp(&b.distance_m).then(label.cmp(&b.facility)).is_lt()) {
            best = Some(Nearest { facility: label, distance_m: d });
        }
    }
    best
}

/// Facilities per parallel task.
const CHUNK: usize = 256;

/// One search state per worker thread, reused by every search of one measurement: a state per
/// task zeroed two node-sized arrays each time (page clearing was 11 % of a 60,000-estate run).
struct ScratchPool(Vec<std::sync::Mutex<Scratch>>);

impl ScratchPool {
    fn new(nodes: usize) -> Self {
        Self((0..rayon::current_num_threads().max(1)).map(|_| std::sync::Mutex::new(Scratch::new(nodes))).collect())
    }

    /// The calling worker's state (uncontended; a caller outside the pool shares the first).
    fn get(&self) -> std::sync::MutexGuard<'_, Scratch> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.0.len();
        // A panic inside a search leaves a state whose stamps are still valid: take it anyway.
        self.0[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An estate reached from a facility: (estate, facility, distance in metres).
type Pair = (u32, u32, f64);

impl NetworkMetric {
    /// Kind `k`'s coverage of every estate (slice order): within `radius_m` from each open
    /// facility's bounded search; the nearest beyond it from one whole-graph search.
    fn measure_kind(&self, estates: usize, k: usize, radius_m: f64, year: Option<i32>, scratches: &ScratchPool) -> Vec<KindCoverage> {
        let mut column = vec![KindCoverage::EMPTY; estates];
        let open = self.on_edges.iter().any(|(_, f)| usize::from(f.kind) == k && f.open_in(year));
        if !open {
            return column;
        }
        // 1. Within the radius, from each facility; beside it, on another worker, the
        // whole-graph search that step 2 needs (it does not depend on step 1).
        let (pairs, nearest) = rayon::join(|| self.pairs_within(k, radius_m, year, scratches), || self.kind_nearest(k, year));
        for run in pairs.chunk_by(|x, y| x.0 == y.0) {
            let cell = &mut column[run[0].0 as usize];
            for &(_, facility, d) in run {
                cell.count_within += 1;
                cell.capacity_within += self.capacities[facility as usize];
                // Sorted by facility, so a strict `<` keeps the lowest on ties.
                if cell.nearest.is_none_or(|n| d < n.distance_m) {
                    cell.nearest = Some(Nearest { facility, distance_m: d });
                }
            }
            cell.covered = true;
        }
        drop(pairs);
        // 2. The nearest beyond the radius, from the whole-graph search.
        for (e, cell) in column.iter_mut().enumerate() {
            if cell.nearest.is_none() {
                let entries = self.access.entries(e).iter().map(|x| (x.node, x.cost_m));
                // max_m bounds the whole walk, entry cost included, not only the graph part.
                cell.nearest = best_entry(entries, &nearest).filter(|n| n.distance_m <= self.params.max_m);
            }
        }
        column
    }

    /// Estates within `radius_m` of each open facility of kind `k`, sorted by estate and
    /// facility, each pair once at its least distance.
    fn pairs_within(&self, k: usize, radius_m: f64, year: Option<i32>, scratches: &ScratchPool) -> Vec<Pair> {
        let graph = &self.graph;
        let sources: Vec<(u32, &crate::network::search::OnEdge)> =
            self.on_edges.iter().filter(|(_, f)| usize::from(f.kind) == k && f.open_in(year)).collect();
        let chunks: Vec<Vec<Pair>> = sources
            .par_chunks(CHUNK)
            .map(|chunk| {
                    let mut scratch = scratches.get();
                    let scratch = &mut *scratch;
                    let mut out = Vec::new();
                    for &(e, f) in chunk {
                        let edge = graph.edges()[e as usize];
                        scratch.settle(graph, [(edge.a, f.from_a_m), (edge.b, f.from_b_m)], radius_m, |node, d| {
                            for &(estate, cost_m) in self.entries_at(node) {
                                let total = d + cost_m;
                                if total <= radius_m {
                                    out.push((estate, f.facility, total));
                                }
                            }
                        });
                    }
                    out
            })
            .collect();
        let mut pairs: Vec<Pair> = chunks.into_iter().flatten().collect();
        pairs.par_sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)).then(x.2.total_cmp(&y.2)));
        pairs.dedup_by_key(|x| (x.0, x.1));
        pairs
    }

    /// `(estate, entry cost)` of the entries at `node`.
    #[inline]
    fn entries_at(&self, node: u32) -> &[(u32, f64)] {
        let n = node as usize;
        &self.node_entries[self.node_entry_offsets[n] as usize..self.node_entry_offsets[n + 1] as usize]
    }
}

/// Estates' entries grouped by node (CSR): what a search from a facility meets at each node.
fn entries_by_node(graph: &StreetGraph, access: &NetworkAccess) -> (Vec<u32>, Vec<(u32, f64)>) {
    let n = graph.node_count();
    let mut offsets = vec![0u32; n + 1];
    for e in 0..access.estates() {
        for entry in access.entries(e) {
            offsets[entry.node as usize + 1] += 1;
        }
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let mut fill = offsets.clone();
    let mut items = vec![(0u32, 0.0f64); offsets[n] as usize];
    for e in 0..access.estates() {
        let estate = u32::try_from(e).expect("fewer than 2^32 estates");
        for entry in access.entries(e) {
            let slot = &mut fill[entry.node as usize];
            items[*slot as usize] = (estate, entry.cost_m);
            *slot += 1;
        }
    }
    (offsets, items)
}

impl NetworkMetric {
    /// Estates within `radius_m` of a point joined to the network like a facility:
    /// `(estate, distance)` sorted by estate; empty when the network has no edge.
    fn estates_near_point(&self, scratch: &mut Scratch, edge_tree: &rstar::RTree<crate::network::SegmentEntry>, p: geo::Coord<f64>, radius_m: f64) -> Vec<(u32, f64)> {
        let Some(join) = NetworkAccess::join_point(&self.graph, edge_tree, p) else { return Vec::new() };
        let edge = self.graph.edges()[join.edge as usize];
        let sources = [(edge.a, join.snap_m + join.along_m), (edge.b, join.snap_m + (edge.length_m - join.along_m).max(0.0))];
        let mut found = Vec::new();
        scratch.settle(&self.graph, sources, radius_m, |node, d| {
            for &(estate, cost_m) in self.entries_at(node) {
                let total = d + cost_m;
                if total <= radius_m {
                    found.push((estate, total));
                }
            }
        });
        found.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
        found.dedup_by_key(|x| x.0);
        found
    }
}

impl CoverageMetric for NetworkMetric {
    fn facility_pairs(&self, estates: &[Estate], catalogue: &Catalogue, kind: crate::model::KindId, year: Option<i32>) -> Result<Vec<(u32, u32, f64)>, AnalysisError> {
        if estates.len() != self.access.estates() {
            return Err(AnalysisError::NetworkMismatch { what: "estates", prepared: self.access.estates(), given: estates.len() });
        }
        let scratches = ScratchPool::new(self.graph.node_count());
        Ok(self.pairs_within(kind.index(), catalogue.spec(kind).radius_m, year, &scratches))
    }

    fn estates_within(&self, estates: &[Estate], points: &[geo::Coord<f64>], radius_m: f64) -> Result<Vec<Vec<(u32, f64)>>, AnalysisError> {
        if estates.len() != self.access.estates() {
            return Err(AnalysisError::NetworkMismatch { what: "estates", prepared: self.access.estates(), given: estates.len() });
        }
        let edge_tree = self.edge_tree.get_or_init(|| self.graph.edge_tree());
        let scratches = ScratchPool::new(self.graph.node_count());
        Ok(points.par_iter().map(|p| self.estates_near_point(&mut scratches.get(), edge_tree, *p, radius_m)).collect())
    }

    fn kind(&self) -> MetricKind {
        MetricKind::Network
    }

    fn distance_from(&self) -> DistanceFrom {
        self.params.distance_from
    }

    fn measure(&self, estates: &[Estate], catalogue: &Catalogue, year: Option<i32>, progress: &dyn Progress) -> Result<Vec<KindCoverage>, AnalysisError> {
        if estates.len() != self.access.estates() {
            return Err(AnalysisError::NetworkMismatch { what: "estates", prepared: self.access.estates(), given: estates.len() });
        }
        let kinds = catalogue.len();
        if let Some(k) = self.on_edges.iter().map(|(_, f)| usize::from(f.kind)).max().filter(|&k| k >= kinds) {
            return Err(AnalysisError::CatalogueMismatch { index: k + 1, catalogue: kinds });
        }
        let scratches = ScratchPool::new(self.graph.node_count());
        // Kinds side by side: each kind's whole-graph search is one core's work, and beside the
        // other kinds' bounded searches no core waits for it.
        let columns: Vec<Vec<KindCoverage>> = catalogue
            .kinds
            .par_iter()
            .enumerate()
            .map(|(k, spec)| {
                let column = self.measure_kind(estates.len(), k, spec.radius_m, year, &scratches);
                // Progress in estates: each kind is a share of the work.
                progress.advance(estates.len() as u64 / kinds as u64);
                column
            })
            .collect();
        progress.advance((estates.len() as u64).checked_rem(kinds as u64).unwrap_or(estates.len() as u64));
        let mut cells = vec![KindCoverage::EMPTY; estates.len() * kinds];
        for (k, column) in columns.into_iter().enumerate() {
            for (e, cell) in column.into_iter().enumerate() {
                cells[e * kinds + k] = cell;
            }
        }
        Ok(cells)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, clippy::float_cmp, reason = "tests panic on unexpected errors; the walks compared are sums of exact lengths")]

    use super::*;
    use crate::analysis::{compute_coverage, RecordedHouseholds, StraightLine};
    use crate::model::{FeatureId, KindId, KindSpec, LivingCircle};

    fn catalogue(radii: &[f64]) -> Catalogue {
        Catalogue {
            name: "t".into(),
            residents_per_household: 2.5,
            kinds: radii
                .iter()
                .enumerate()
                .map(|(i, &r)| KindSpec {
                    key: format!("k{i}"),
                    label_zh: String::new(),
                    label_en: String::new(),
                    radius_m: r,
                    circle: LivingCircle::FiveMin,
                    ratio: None,
                    capacity_unit: None,
                    clause: "t".into(),
                    confirmed: false,
                    osm: vec![],
                    amap_types: vec![],
                    keywords: vec![],
                })
                .collect(),
        }
    }

    fn facility(id: i64, kind: u16, x: f64, y: f64, opened: Option<i32>) -> Facility {
        Facility { id: FeatureId::Int(id), kind: KindId(kind), name: None, capacity: Some(10.0), opened_year: opened, planned: false, district: None, location: geo::point!(x: x, y: y), extra: vec![] }
    }

    /// A comb: a main street along y = 0 and a cul-de-sac up x = 100; the estate sits beside the
    /// cul-de-sac's end, the facility across a wall the street goes round.
    #[test]
    fn walking_distance_follows_the_streets() {
        let main = geo::wkt! { LINESTRING(0. 0.,100. 0.,200. 0.,300. 0.) };
        let up = geo::wkt! { LINESTRING(100. 0.,100. 150.) };
        let up2 = geo::wkt! { LINESTRING(300. 0.,300. 150.) };
        let estate = Estate {
            id: FeatureId::Int(1),
            name: None,
            district: None,
            households: Some(10),
            built_year: None,
            renovation_year: None,
            geometry: geo::wkt! { MULTIPOLYGON(((110. 140.,150. 140.,150. 180.,110. 180.,110. 140.))) },
            extra: vec![],
        };
        // 20 m beside the other cul-de-sac, 140 m across in a straight line
        let facilities = vec![facility(1, 0, 290.0, 150.0, None), facility(2, 1, 290.0, 150.0, Some(2030))];
        let metric = NetworkMetric::build(&[main, up, up2], &[], std::slice::from_ref(&estate), &facilities, NetworkParams::default());
        let catalogue = catalogue(&[300.0, 1000.0]);
        let table = compute_coverage(std::slice::from_ref(&estate), &metric, &catalogue, None, &RecordedHouseholds, &()).unwrap();
        // entry: the node (100,150) 10 m from the estate; 150 down, 200 along, 150 up, 10 across
        let walk = 10.0 + 150.0 + 200.0 + 150.0 + 10.0;
        let cell = table.get(0, KindId(0));
        assert_eq!(cell.nearest.unwrap().distance_m, walk);
        assert!(!cell.covered);
        assert_eq!(cell.count_within, 0);
        let cell = table.get(0, KindId(1));
        assert!(cell.covered && cell.count_within == 1 && cell.capacity_within == 10.0);
        // not open yet in 2025
        let table = compute_coverage(std::slice::from_ref(&estate), &metric, &catalogue, Some(2025), &RecordedHouseholds, &()).unwrap();
        assert!(table.get(0, KindId(1)).nearest.is_none());
        // straight line says covered
        let straight = StraightLine::new(&facilities, DistanceFrom::Boundary);
        let table = compute_coverage(std::slice::from_ref(&estate), &straight, &catalogue, None, &RecordedHouseholds, &()).unwrap();
        assert!(table.get(0, KindId(0)).covered);
        // the pairs within the radius: facility 1 (kind 1, 1000 m) at the walk, in both metrics
        assert_eq!(metric.facility_pairs(std::slice::from_ref(&estate), &catalogue, KindId(1), None).unwrap(), vec![(0, 1, walk)]);
        assert!(metric.facility_pairs(std::slice::from_ref(&estate), &catalogue, KindId(0), None).unwrap().is_empty());
        let pairs = straight.facility_pairs(std::slice::from_ref(&estate), &catalogue, KindId(0), None).unwrap();
        assert_eq!(pairs.len(), 1);
        assert!((pairs[0].2 - 140.0).abs() < 1e-9, "{pairs:?}");
        // a clicked point at the estate's entry node sees the same walk, less the entry cost
        let row = metric.measure_point(geo::coord! { x: 100.0, y: 150.0 }, &catalogue, None).unwrap();
        assert_eq!(row[0].nearest.unwrap().distance_m, walk - 10.0);
    }
}
