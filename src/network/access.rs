//! Where estates enter the network and where facilities join it.
//!
//! - An estate is entered at its **gates** when the data marks them (points tagged as entrances
//!   or gates lying on or within `snap_m` of its boundary, each taken at the network node nearest
//!   to it within `snap_m`). Otherwise at **every node inside or on its polygon** (cost 0) plus
//!   the **node nearest to its boundary from outside** (cost: that distance), the way out of a
//!   compound whose inner paths are not mapped. With `distance_from = centroid`, at the node
//!   nearest the centroid, costing the straight distance to it.
//! - A facility joins at the **orthogonal projection onto its nearest edge** (any component):
//!   the snap distance, plus the distance along the edge to either end.

use geo::{Coord, MultiPolygon};
use rayon::prelude::*;
use rstar::{PointDistance, RTree};

use super::graph::{project, StreetGraph};
use crate::model::{point_multipolygon_distance_m, DistanceFrom};
use crate::model::{Estate, Facility};

/// How estates enter the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryParams {
    /// Boundary or centroid: as for straight-line distances.
    pub distance_from: DistanceFrom,
    /// A gate counts for an estate within this distance of its boundary, and is taken at the
    /// network node within this distance of it (metres).
    pub snap_m: f64,
}

impl Default for EntryParams {
    fn default() -> Self {
        Self { distance_from: DistanceFrom::Boundary, snap_m: 1.0 }
    }
}

/// One way into the network from an estate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstateEntry {
    /// Network node.
    pub node: u32,
    /// Distance from the estate to the node (0 inside).
    ///
    /// # Units
    /// Metres.
    pub cost_m: f64,
}

/// Where a facility joins the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacilityJoin {
    /// The edge it joins.
    pub edge: u32,
    /// Distance along the edge from its end `a` to the join point (metres).
    pub along_m: f64,
    /// Straight distance from the facility to the join point (metres).
    pub snap_m: f64,
}

/// Estate entries and facility joins, computed once per dataset: a year filter or a catalogue
/// radius does not change them.
#[derive(Debug, Clone)]
pub struct NetworkAccess {
    /// `entries[entry_offsets[e]..entry_offsets[e + 1]]` are estate `e`'s.
    entry_offsets: Vec<u32>,
    entries: Vec<EstateEntry>,
    /// Per facility (slice position); `None` when the graph has no edge.
    joins: Vec<Option<FacilityJoin>>,
    /// Estates entered at gates.
    pub gated_estates: usize,
    /// Estates with no entry (empty geometry or an empty network).
    pub unreachable_estates: usize,
    /// How estates entered.
    pub params: EntryParams,
}

impl NetworkAccess {
    /// Computes every estate's entries and every facility's join.
    ///
    /// `gates` are points marked as estate entrances (working CRS).
    ///
    /// # Complexity
    /// O((E · v + F) log N) for E estates of v vertices, F facilities, N nodes; parallel.
    #[must_use]
    ///
    /// # Panics
    /// With more than 2^32 estate entries.
    pub fn build(graph: &StreetGraph, estates: &[Estate], facilities: &[Facility], gates: &[Coord<f64>], params: EntryParams) -> Self {
        // Both trees at once: each bulk load is one sort-heavy task (0.1 s at 300,000 nodes).
        let (node_tree, edge_tree) = rayon::join(|| graph.node_tree(), || graph.edge_tree());
        // Gates are taken at the node nearest them within snap_m; gates off the network are no use.
        let snap_sq = params.snap_m * params.snap_m;
        let gate_nodes: Vec<GateNode> = gates
            .iter()
            .filter_map(|g| {
                let p = [g.x, g.y];
                node_tree
                    .nearest_neighbor(&p)
                    .filter(|n| n.distance_2(&p) <= snap_sq)
                    .map(|n| GateNode { xy: *g, node: n.data })
            })
            .collect();
        let gate_tree: RTree<rstar::primitives::GeomWithData<[f64; 2], u32>> =
            RTree::bulk_load(gate_nodes.iter().map(|g| rstar::primitives::GeomWithData::new([g.xy.x, g.xy.y], g.node)).collect());

        let per_estate: Vec<(Vec<EstateEntry>, bool)> = estates
            .par_iter()
            .map(|estate| estate_entries(graph, &node_tree, &gate_tree, estate, params))
            .collect();
        let mut entry_offsets = Vec::with_capacity(estates.len() + 1);
        entry_offsets.push(0u32);
        let mut entries = Vec::new();
        let (mut gated_estates, mut unreachable_estates) = (0, 0);
        for (list, was_gated) in per_estate {
            gated_estates += usize::from(was_gated);
            unreachable_estates += usize::from(list.is_empty());
            entries.extend(list);
            entry_offsets.push(u32::try_from(entries.len()).expect("fewer than 2^32 entries"));
        }
        let joins = facilities
            .par_iter()
            .map(|f| Self::join_point(graph, &edge_tree, f.location.0))
            .collect();
        Self { entry_offsets, entries, joins, gated_estates, unreachable_estates, params }
    }

    /// Entries of estate `e` (slice position).
    #[must_use]
    pub fn entries(&self, e: usize) -> &[EstateEntry] {
        &self.entries[self.entry_offsets[e] as usize..self.entry_offsets[e + 1] as usize]
    }

    /// Number of estates the entries were computed for.
    #[must_use]
    pub fn estates(&self) -> usize {
        self.entry_offsets.len() - 1
    }

    /// The join of every facility, by slice position.
    #[must_use]
    pub fn joins(&self) -> &[Option<FacilityJoin>] {
        &self.joins
    }

    /// Where a point (a facility, a clicked location) would join the network.
    #[must_use]
    pub(crate) fn join_point(graph: &StreetGraph, edge_tree: &RTree<super::graph::SegmentEntry>, p: Coord<f64>) -> Option<FacilityJoin> {
        let p = [p.x, p.y];
        edge_tree.nearest_neighbor(&p).map(|seg| {
            let edge = graph.edges()[seg.data as usize];
            let (t, d2) = project(p, seg.geom().a, seg.geom().b);
            FacilityJoin { edge: seg.data, along_m: t * edge.length_m, snap_m: d2.sqrt() }
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct GateNode {
    xy: Coord<f64>,
    node: u32,
}

type NodeTree = RTree<rstar::primitives::GeomWithData<[f64; 2], u32>>;

/// An estate's entries and whether they are its gates.
fn estate_entries(graph: &StreetGraph, nodes: &NodeTree, gates: &NodeTree, estate: &Estate, params: EntryParams) -> (Vec<EstateEntry>, bool) {
    let Some(rect) = estate.bounds() else { return (Vec::new(), false) };
    if params.distance_from == DistanceFrom::Centroid {
        let Some(c) = estate.centroid() else { return (Vec::new(), false) };
        let p = [c.x(), c.y()];
        let entry = nodes.nearest_neighbor(&p).map(|n| EstateEntry { node: n.data, cost_m: n.distance_2(&p).sqrt() });
        return (entry.into_iter().collect(), false);
    }
    let geometry = &estate.geometry;
    let (lo, hi) = (rect.min(), rect.max());
    let margin = params.snap_m;
    let envelope = rstar::AABB::from_corners([lo.x - margin, lo.y - margin], [hi.x + margin, hi.y + margin]);
    // Gates on or within snap_m of the boundary.
    let mut gate_entries: Vec<EstateEntry> = Vec::new();
    for g in gates.locate_in_envelope_intersecting(&envelope) {
        let at = Coord { x: g.geom()[0], y: g.geom()[1] };
        let to_estate = point_multipolygon_distance_m(at, geometry);
        if to_boundary_m(at, geometry, to_estate) <= params.snap_m {
            let node_xy = graph.nodes()[g.data as usize];
            gate_entries.push(EstateEntry { node: g.data, cost_m: point_multipolygon_distance_m(node_xy, geometry) });
        }
    }
    if !gate_entries.is_empty() {
        return (dedup(gate_entries), true);
    }
    // Every node inside or on the polygon, then the nearest outside.
    let mut entries: Vec<EstateEntry> = Vec::new();
    let inner = rstar::AABB::from_corners([lo.x, lo.y], [hi.x, hi.y]);
    for n in nodes.locate_in_envelope_intersecting(&inner) {
        let c = Coord { x: n.geom()[0], y: n.geom()[1] };
        if point_multipolygon_distance_m(c, geometry) == 0.0 {
            entries.push(EstateEntry { node: n.data, cost_m: 0.0 });
        }
    }
    if let Some(outside) = nearest_outside(nodes, geometry, rect) {
        entries.push(outside);
    }
    (dedup(entries), false)
}

/// The distance from `p` to the rings of `geometry`, given its distance to the polygon (0 inside).
fn to_boundary_m(p: Coord<f64>, geometry: &MultiPolygon<f64>, to_polygon_m: f64) -> f64 {
    if to_polygon_m > 0.0 {
        return to_polygon_m;
    }
    let mut best_sq = f64::INFINITY;
    for polygon in geometry {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for w in ring.0.windows(2) {
                let (_, d2) = project([p.x, p.y], [w[0].x, w[0].y], [w[1].x, w[1].y]);
                best_sq = best_sq.min(d2);
            }
        }
    }
    best_sq.sqrt()
}

/// The node outside `geometry` nearest to it, by a best-first walk from the bounding box's centre
/// that stops once no node further out can be nearer to the polygon.
fn nearest_outside(nodes: &NodeTree, geometry: &MultiPolygon<f64>, rect: geo::Rect<f64>) -> Option<EstateEntry> {
    let centre = rect.center();
    let reach_m = 0.5 * rect.width().hypot(rect.height());
    let mut best: Option<EstateEntry> = None;
    for (n, d2) in nodes.nearest_neighbor_iter_with_distance_2(&[centre.x, centre.y]) {
        // Every point of the polygon is within reach of the centre.
        if let Some(b) = best {
            if d2.sqrt() - reach_m > b.cost_m {
                break;
            }
        }
        let c = Coord { x: n.geom()[0], y: n.geom()[1] };
        let d = point_multipolygon_distance_m(c, geometry);
        if d > 0.0 && best.is_none_or(|b| d.total_cmp(&b.cost_m).then(n.data.cmp(&b.node)).is_lt()) {
            best = Some(EstateEntry { node: n.data, cost_m: d });
        }
    }
    best
}

/// One entry per node, the cheapest.
fn dedup(mut entries: Vec<EstateEntry>) -> Vec<EstateEntry> {
    entries.sort_by(|a, b| a.node.cmp(&b.node).then(a.cost_m.total_cmp(&b.cost_m)));
    entries.dedup_by_key(|e| e.node);
    entries
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]
    use super::*;
    use crate::model::{FeatureId, KindId};
    use crate::network::GraphParams;

    fn estate(wkt: MultiPolygon<f64>) -> Estate {
        Estate {
            id: FeatureId::Int(1),
            name: None,
            district: None,
            households: None,
            built_year: None,
            renovation_year: None,
            geometry: wkt,
            extra: vec![],
        }
    }

    #[test]
    fn inside_nodes_and_the_nearest_outside_node_enter() {
        // a street through the estate and one 20 m south of it
        let through = geo::wkt! { LINESTRING(-50. 50.,50. 50.,150. 50.) };
        let south = geo::wkt! { LINESTRING(0. -20.,100. -20.) };
        let g = StreetGraph::build(&[through, south], GraphParams::default());
        let e = estate(geo::wkt! { MULTIPOLYGON(((0. 0.,100. 0.,100. 100.,0. 100.,0. 0.))) });
        let access = NetworkAccess::build(&g, std::slice::from_ref(&e), &[], &[], EntryParams::default());
        let entries = access.entries(0);
        assert_eq!(entries.iter().filter(|x| x.cost_m == 0.0).count(), 1);
        // the nearest outside: (0,-20) and (100,-20) at 20 m tie with... (-50,50), (150,50) at 50 m
        let outside: Vec<_> = entries.iter().filter(|x| x.cost_m > 0.0).collect();
        assert_eq!(outside.len(), 1);
        assert!((outside[0].cost_m - 20.0).abs() < 1e-12);
    }

    #[test]
    fn gates_replace_the_other_entries() {
        let through = geo::wkt! { LINESTRING(-50. 50.,0. 50.,50. 50.) };
        let g = StreetGraph::build(&[through], GraphParams::default());
        let e = estate(geo::wkt! { MULTIPOLYGON(((0. 0.,100. 0.,100. 100.,0. 100.,0. 0.))) });
        let gate = geo::coord! { x: 0.0, y: 50.0 };
        let access = NetworkAccess::build(&g, std::slice::from_ref(&e), &[], &[gate], EntryParams::default());
        assert_eq!(access.gated_estates, 1);
        let entries = access.entries(0);
        assert_eq!(entries.len(), 1);
        assert_eq!(g.nodes()[entries[0].node as usize], gate);
    }

    #[test]
    fn a_facility_joins_its_nearest_edge_by_projection() {
        let street = geo::wkt! { LINESTRING(0. 0.,100. 0.) };
        let g = StreetGraph::build(&[street], GraphParams::default());
        let f = Facility {
            id: FeatureId::Int(1),
            kind: KindId(0),
            name: None,
            capacity: None,
            opened_year: None,
            planned: false,
            district: None,
            location: geo::point!(x: 30.0, y: 4.0),
            extra: vec![],
        };
        let access = NetworkAccess::build(&g, &[], &[f], &[], EntryParams::default());
        let j = access.joins()[0].unwrap();
        assert!((j.along_m - 30.0).abs() < 1e-12 && (j.snap_m - 4.0).abs() < 1e-12);
    }
}
