//! Walking-distance coverage on the street network.
//!
//! Network distance(estate, kind) = min over the estate's entries n and the kind's facilities f of
//! entry cost(n) + shortest path(n, join(f)) + snap(f) ([`crate::network`] defines entries and
//! joins). Two searches give every figure, neither an all-pairs matrix:
//! 1. per estate, one Dijkstra from all its entries at once, bounded by the largest radius among
//!    the kinds with open facilities: every facility within that walk is found with its exact
//!    distance, so `count_within`, `capacity_within` and (when one is found) the nearest come
//!    from this one search for every kind;
//! 2. per kind, and only if some estate found none of it within the bound, one multi-source
//!    Dijkstra from all its facilities over the whole graph (up to `max_m`) gives those estates
//!    their nearest facility — which is then beyond every radius, so they are not covered.
//!
//! The bounded search per estate costs what lies within the radius (a few hundred nodes in a
//! city); the per-facility alternative costs the same per facility, and cities have several
//! times more facilities than estates.

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
    params: NetworkParams,
}

impl NetworkMetric {
    /// Builds the graph of `lines` (working CRS), then the entries of `estates` (at `gates` where
    /// an estate has some) and the joins of `facilities`.
    ///
    /// # Complexity
    /// O((V + E · v + F) log V) for V street vertices, E estates of v vertices, F facilities.
    #[must_use]
    pub fn build(lines: &[geo::LineString<f64>], gates: &[geo::Coord<f64>], estates: &[Estate], facilities: &[Facility], params: NetworkParams) -> Self {
        let graph = StreetGraph::build(lines, GraphParams { snap_m: params.snap_m });
        Self::on_graph(graph, gates, estates, facilities, params)
    }

    /// The same on a graph already built.
    #[must_use]
    pub fn on_graph(graph: StreetGraph, gates: &[geo::Coord<f64>], estates: &[Estate], facilities: &[Facility], params: NetworkParams) -> Self {
        let access = NetworkAccess::build(&graph, estates, facilities, gates, EntryParams { distance_from: params.distance_from, snap_m: params.snap_m });
        let on_edges = EdgeFacilities::build(&graph, facilities, access.joins());
        let capacities = facilities.iter().map(|f| f.capacity.unwrap_or(0.0)).collect();
        Self { graph, access, on_edges, capacities, params }
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
        let edge_tree = self.graph.edge_tree();
        let join = NetworkAccess::join_point(&self.graph, &edge_tree, p)?;
        let edge = self.graph.edges()[join.edge as usize];
        let entries = [(edge.a, join.snap_m + join.along_m), (edge.b, join.snap_m + (edge.length_m - join.along_m).max(0.0))];
        let mut scratch = Scratch::new(self.graph.node_count());
        let mut row = self.measure_row(&mut scratch, &entries, catalogue, year, &mut Vec::new());
        let missing: Vec<usize> = (0..catalogue.len()).filter(|&k| row[k].nearest.is_none()).collect();
        for k in missing {
            let nearest = self.kind_nearest(k, year);
            row[k].nearest = best_entry(&entries, &nearest);
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
            if cell.nearest.is_none_or(|n| d < n.distance_m) && d <= self.params.max_m {
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
fn best_entry(entries: &[(u32, f64)], nearest: &crate::network::search::NearestSources) -> Option<Nearest> {
    let mut best: Option<Nearest> = None;
    for &(n, cost) in entries {
        let d = cost + nearest.dist_m[n as usize];
        let label = nearest.label[n as usize];
        if d.is_finite() && best.is_none_or(|b| d < b.distance_m || (d == b.distance_m && label < b.facility)) {
            best = Some(Nearest { facility: label, distance_m: d });
        }
    }
    best
}

/// Estates per parallel task.
const CHUNK: usize = 64;

impl CoverageMetric for NetworkMetric {
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
        let nodes = self.graph.node_count();
        let positions: Vec<usize> = (0..estates.len()).collect();
        let rows: Vec<Vec<KindCoverage>> = positions
            .par_chunks(CHUNK)
            .map_init(
                || (Scratch::new(nodes), Vec::new(), Vec::new()),
                |(scratch, found, entries), chunk| {
                    let mut out = Vec::with_capacity(chunk.len() * kinds);
                    for &e in chunk {
                        entries.clear();
                        entries.extend(self.access.entries(e).iter().map(|x| (x.node, x.cost_m)));
                        if entries.is_empty() {
                            out.extend(std::iter::repeat_n(KindCoverage::EMPTY, kinds));
                        } else {
                            out.extend(self.measure_row(scratch, entries, catalogue, year, found));
                        }
                    }
                    progress.advance(chunk.len() as u64);
                    out
                },
            )
            .collect();
        let mut cells: Vec<KindCoverage> = rows.into_iter().flatten().collect();
        // Estates with no facility of a kind within the largest radius: their nearest from one
        // whole-graph search per kind.
        for k in 0..kinds {
            let needy: Vec<usize> = (0..estates.len())
                .filter(|&e| cells[e * kinds + k].nearest.is_none() && !self.access.entries(e).is_empty())
                .collect();
            if needy.is_empty() {
                continue;
            }
            let nearest = self.kind_nearest(k, year);
            for e in needy {
                let entries: Vec<(u32, f64)> = self.access.entries(e).iter().map(|x| (x.node, x.cost_m)).collect();
                // Beyond the bounded search, hence beyond every radius: not covered.
                cells[e * kinds + k].nearest = best_entry(&entries, &nearest);
            }
        }
        Ok(cells)
    }
}
