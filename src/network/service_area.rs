//! Network service areas: the street pieces reachable on foot within a radius of any facility of
//! a kind, partial edges included.

use geo::{Coord, Line};

use super::search::{nearest_sources, EdgeFacilities, OnEdge};
use super::StreetGraph;

/// A reachable piece of one edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReachableSegment {
    /// The edge.
    pub edge: u32,
    /// The piece in the working CRS (metres).
    pub line: Line<f64>,
}

/// The street pieces within `radius_m` walking distance of the facilities `take` accepts.
///
/// # Complexity
/// One multi-source Dijkstra bounded by the radius: O(k log k) for the k nodes within reach.
///
/// # Examples
/// ```
/// use gapmap::network::{reachable_segments, GraphParams, StreetGraph, search::EdgeFacilities, FacilityJoin};
/// use gapmap::model::{Facility, FeatureId, KindId};
/// let g = StreetGraph::build(&[geo::wkt! { LINESTRING(0. 0.,100. 0.,200. 0.) }], GraphParams::default());
/// let f = Facility { id: FeatureId::Int(1), kind: KindId(0), name: None, capacity: None, opened_year: None, planned: false,
///     district: None, location: geo::point!(x: 50.0, y: 0.0), extra: vec![] };
/// let on = EdgeFacilities::build(&g, &[f], &[Some(FacilityJoin { edge: 0, along_m: 50.0, snap_m: 0.0 })]);
/// let pieces = reachable_segments(&g, &on, 80.0, |_| true);
/// let length: f64 = pieces.iter().map(|s| geo::Euclidean.length(&s.line)).sum();
/// # use geo::Length;
/// assert!((length - 130.0).abs() < 1e-9); // 50 m back to x = 0, 80 m forward to x = 130
/// ```
#[must_use]
///
/// # Panics
/// With more than 2^32 edges.
pub fn reachable_segments(graph: &StreetGraph, on_edges: &EdgeFacilities, radius_m: f64, take: impl Fn(&OnEdge) -> bool) -> Vec<ReachableSegment> {
    let sources = on_edges.iter().filter(|(_, f)| take(f)).flat_map(|(e, f)| {
        let edge = graph.edges()[e as usize];
        [(edge.a, f.from_a_m, f.facility), (edge.b, f.from_b_m, f.facility)]
    });
    let reached = nearest_sources(graph, sources, radius_m);
    let mut out = Vec::new();
    let mut intervals: Vec<(f64, f64)> = Vec::new();
    for (i, edge) in graph.edges().iter().enumerate() {
        let e = u32::try_from(i).expect("< 2^32 edges");
        let len = edge.length_m;
        intervals.clear();
        let reach_a = radius_m - reached.dist_m[edge.a as usize];
        let reach_b = radius_m - reached.dist_m[edge.b as usize];
        if reach_a >= 0.0 {
            intervals.push((0.0, reach_a.min(len)));
        }
        if reach_b >= 0.0 {
            intervals.push(((len - reach_b).max(0.0), len));
        }
        for f in on_edges.on(e).iter().filter(|f| take(f)) {
            // from_a = along + snap, from_b = len - along + snap
            let snap_m = ((f.from_a_m + f.from_b_m - len) / 2.0).max(0.0);
            let along = f.from_a_m - snap_m;
            let left = radius_m - snap_m;
            if left >= 0.0 {
                intervals.push(((along - left).max(0.0), (along + left).min(len)));
            }
        }
        if intervals.is_empty() {
            continue;
        }
        intervals.sort_by(|x, y| x.0.total_cmp(&y.0));
        let (a, b) = (graph.nodes()[edge.a as usize], graph.nodes()[edge.b as usize]);
        let at = |m: f64| {
            let t = if len > 0.0 { m / len } else { 0.0 };
            Coord { x: a.x + t * (b.x - a.x), y: a.y + t * (b.y - a.y) }
        };
        let mut current = intervals[0];
        for &(s, t) in &intervals[1..] {
            if s <= current.1 {
                current.1 = current.1.max(t);
            } else {
                out.push(ReachableSegment { edge: e, line: Line::new(at(current.0), at(current.1)) });
                current = (s, t);
            }
        }
        out.push(ReachableSegment { edge: e, line: Line::new(at(current.0), at(current.1)) });
    }
    out
}
