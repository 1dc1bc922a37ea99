//! Estate × kind coverage.
//!
//! For each estate and kind, R-tree range searches around the estate's [`Anchor`] (a walk of
//! the rstar tree in `locate_within_distance`'s order, with a reused stack):
//! 1. the circle `radius + reach` holds every facility within the radius; if one is found, the
//!    nearest facility is in there too — the common, covered case costs one search;
//! 2. otherwise the nearest facility found so far — or, when the circle was empty, the one rstar's
//!    `nearest_neighbor` finds nearest the anchor — bounds the answer, and the circle
//!    `bound + reach` is searched.
//!
//! Per candidate, the bounds `|anchor - p| - reach <= d <= |anchor - p| + gap` settle most cases,
//! then the estate's [`Outline`] (bounding box, extreme vertices) settles most of the rest; the
//! exact [`DistanceMetric`] distance is computed only where they leave the answer open.
//! Best-first searches (`nearest_neighbor`, `nearest_neighbor_iter`) pay heap operations per
//! node; on the 300,000-estate bench running them for every estate × kind took twice as long.
//! Estates are processed in parallel with rayon; results are estate-major.

use rayon::prelude::*;
use serde::Serialize;

use super::{AnalysisError, Anchor, Outline, BoundaryDistance, CentroidDistance, Demand, DistanceFrom, DistanceMetric};
use rstar::{RTree, RTreeNode, AABB};

use crate::index::{FacilityIndex, IndexedFacility};
use crate::model::{Catalogue, Estate, Facility, KindId};

/// Reports work done, so the CLI can draw a progress bar without the core knowing about it.
pub trait Progress: Sync {
    /// `n` more estates are done.
    fn advance(&self, n: u64);
}

impl Progress for () {
    fn advance(&self, _n: u64) {}
}

/// The knobs of one analysis run, recorded with its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AnalysisParams {
    /// Where distances are measured from.
    pub distance_from: DistanceFrom,
    /// Only facilities opened in or before this year count (`None`: all).
    pub year: Option<i32>,
}

/// The facility nearest to an estate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Nearest {
    /// Position of the facility in the facility slice.
    pub facility: u32,
    /// Distance from the estate.
    ///
    /// # Units
    /// Metres.
    pub distance_m: f64,
}

/// Coverage of one estate by one kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KindCoverage {
    /// Nearest facility of the kind; `None` when the kind has no (open) facilities.
    pub nearest: Option<Nearest>,
    /// Facilities of the kind within the service radius (inclusive).
    pub count_within: u32,
    /// Summed capacity of those facilities (unknown capacity counts 0), in the kind's unit.
    pub capacity_within: f64,
    /// `distance_m <= radius_m`.
    pub covered: bool,
    /// Capacity the estate requires under the kind's ratio; `None` without a ratio or households.
    pub required: Option<f64>,
    /// `max(0, required - capacity_within)`; `None` when `required` is.
    pub shortfall: Option<f64>,
}

/// Coverage of every estate by every kind, estate-major.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageTable {
    kinds: usize,
    cells: Vec<KindCoverage>,
    /// How this table was computed.
    pub params: AnalysisParams,
    /// Radius used per kind, in catalogue order (metres).
    pub radii_m: Vec<f64>,
}

impl CoverageTable {
    /// Coverage of estate `estate` (slice position) by `kind`.
    ///
    /// # Panics
    /// When either is out of range.
    #[must_use]
    pub fn get(&self, estate: usize, kind: KindId) -> &KindCoverage {
        &self.cells[estate * self.kinds + kind.index()]
    }

    /// All kinds' coverage of one estate, in catalogue order.
    #[must_use]
    pub fn estate(&self, estate: usize) -> &[KindCoverage] {
        &self.cells[estate * self.kinds..(estate + 1) * self.kinds]
    }

    /// Number of estates.
    #[must_use]
    pub fn estates(&self) -> usize {
        self.cells.len().checked_div(self.kinds).unwrap_or(0)
    }

    /// Number of kinds.
    #[must_use]
    pub fn kinds(&self) -> usize {
        self.kinds
    }
}

/// Computes coverage of every estate by every kind of the catalogue.
///
/// `index` must be built from `facilities` with the same catalogue and `params.year`
/// ([`FacilityIndex::build`]).
///
/// # Errors
/// [`AnalysisError::CatalogueMismatch`] when the index does not match the catalogue.
///
/// # Complexity
/// O(E · K · (log F + c · v)) where c is the candidates within radius and v the estate's vertices;
/// parallel over estates.
///
/// # Examples
/// ```
/// use gapmap::analysis::{compute_coverage, AnalysisParams, RecordedHouseholds};
/// use gapmap::index::FacilityIndex;
/// use gapmap::model::*;
/// let catalogue = Catalogue { name: "t".into(), residents_per_household: 2.5, kinds: vec![KindSpec {
///     key: "parking".into(), label_zh: "停车场".into(), label_en: "Parking".into(), radius_m: 150.0,
///     circle: LivingCircle::FiveMin, ratio: Some(CapacityRatio { amount: 1.0, per: RatioBasis::Household }),
///     capacity_unit: Some("spaces".into()), clause: "t".into(), confirmed: false,
///     osm: vec![], amap_types: vec![], keywords: vec![] }] };
/// let estate = Estate { id: FeatureId::Int(1), name: None, district: None, households: Some(100),
///     built_year: None, renovation_year: None, extra: vec![],
///     geometry: geo::wkt! { MULTIPOLYGON(((0. 0.,100. 0.,100. 100.,0. 100.,0. 0.))) } };
/// let car_park = Facility { id: FeatureId::Int(7), kind: KindId(0), name: None, capacity: Some(60.0),
///     opened_year: None, district: None, location: geo::point!(x: 200.0, y: 50.0), extra: vec![] };
/// let facilities = vec![car_park];
/// let index = FacilityIndex::build(&facilities, 1, None);
/// let table = compute_coverage(&[estate], &facilities, &index, &catalogue,
///     AnalysisParams::default(), &RecordedHouseholds, &()).unwrap();
/// let cell = table.get(0, KindId(0));
/// assert_eq!(cell.nearest.unwrap().distance_m, 100.0);
/// assert!(cell.covered);
/// assert_eq!(cell.shortfall, Some(40.0));
/// ```
pub fn compute_coverage(
    estates: &[Estate],
    facilities: &[Facility],
    index: &FacilityIndex,
    catalogue: &Catalogue,
    params: AnalysisParams,
    demand: &dyn Demand,
    progress: &dyn Progress,
) -> Result<CoverageTable, AnalysisError> {
    catalogue.validate()?;
    if index.kinds() != catalogue.len() {
        return Err(AnalysisError::CatalogueMismatch {
            index: index.kinds(),
            catalogue: catalogue.len(),
        });
    }
    let cells = match params.distance_from {
        DistanceFrom::Boundary => {
            cover_all(estates, facilities, index, catalogue, &BoundaryDistance, demand, progress)
        }
        DistanceFrom::Centroid => {
            cover_all(estates, facilities, index, catalogue, &CentroidDistance, demand, progress)
        }
    };
    Ok(CoverageTable {
        kinds: catalogue.len(),
        cells,
        params,
        radii_m: catalogue.kinds.iter().map(|k| k.radius_m).collect(),
    })
}

const CHUNK: usize = 512;

fn cover_all<M: DistanceMetric>(
    estates: &[Estate],
    facilities: &[Facility],
    index: &FacilityIndex,
    catalogue: &Catalogue,
    metric: &M,
    demand: &dyn Demand,
    progress: &dyn Progress,
) -> Vec<KindCoverage> {
    let anchors: Vec<Option<Anchor>> = estates.par_iter().map(|e| metric.anchor(e)).collect();
    let kinds = catalogue.len();
    let mut cells = vec![KindCoverage::EMPTY; estates.len() * kinds];
    // Kind by kind: one kind's tree stays hot in cache while every estate queries it; cycling
    // through all trees per estate evicts them (measured on the 300,000-estate bench).
    for (k, spec) in catalogue.kinds.iter().enumerate() {
        let kind = KindId(u16::try_from(k).expect("validated: < 65536 kinds"));
        let tree = index.tree(kind);
        // Estates in input (id) order: a Hilbert order of the anchors was measured slower on the
        // 300,000-estate bench, its random access to the estates costing more than the tree
        // locality gained.
        let column: Vec<KindCoverage> = estates
            .par_chunks(CHUNK)
            .zip(anchors.par_chunks(CHUNK))
            .flat_map_iter(|(chunk, chunk_anchors)| {
                let mut scratch = Scratch { stack: Vec::new(), candidates: Vec::new() };
                let out: Vec<KindCoverage> = chunk
                    .iter()
                    .zip(chunk_anchors)
                    .map(|(estate, anchor)| {
                        let mut cell = match anchor {
                            Some(anchor) => cover_one(estate, anchor, facilities, tree, spec.radius_m, metric, &mut scratch),
                            None => KindCoverage::EMPTY,
                        };
                        if let (Some(ratio), Some(h)) = (spec.ratio, demand.households(estate)) {
                            let required = ratio.required(h, catalogue.residents_per_household);
                            cell.required = Some(required);
                            cell.shortfall = Some((required - cell.capacity_within).max(0.0));
                        }
                        cell
                    })
                    .collect();
                out
            })
            .collect();
        for (e, cell) in column.into_iter().enumerate() {
            cells[e * kinds + k] = cell;
        }
        // Progress is in estates: each kind finished is 1/kinds of every estate.
        let done = |kinds_done: usize| (estates.len() * kinds_done / kinds) as u64;
        progress.advance(done(k + 1) - done(k));
    }
    cells
}

impl KindCoverage {
    const EMPTY: Self = Self {
        nearest: None,
        count_within: 0,
        capacity_within: 0.0,
        covered: false,
        required: None,
        shortfall: None,
    };
}

fn cover_one<'t, M: DistanceMetric>(
    estate: &Estate,
    anchor: &Anchor,
    facilities: &[Facility],
    tree: &'t RTree<IndexedFacility>,
    radius_m: f64,
    metric: &M,
    scratch: &mut Scratch<'t>,
) -> KindCoverage {
    let mut cell = KindCoverage::EMPTY;
    if tree.size() == 0 {
        return cell;
    }
    let query = [anchor.xy.x, anchor.xy.y];
    let mut best: Option<Nearest> = None;

    // Pass 1, the circle `radius + reach` around the anchor: it holds every facility within the
    // radius, and when one is found the nearest facility is among them too (anything nearer to
    // the estate lies within the circle).
    let search_m = radius_m + anchor.reach_m;
    let mut scan = Scan { estate, anchor, facilities, radius_m, metric, best: &mut best, cell: &mut cell };
    scan.run(tree, query, search_m, scratch);

    // Pass 2, only for an uncovered estate: the nearest facility found so far, or else the one
    // nearest the anchor, bounds the answer; anything nearer lies within `bound + reach` of the
    // anchor.
    if best.is_none_or(|b| b.distance_m > radius_m) {
        let bound_m = if let Some(b) = best {
            b.distance_m
        } else {
            let first = tree.nearest_neighbor(&query).expect("the tree is not empty");
            let xy = *first.geom();
            let bound_m = metric.distance_m(estate, anchor, geo::coord! { x: xy[0], y: xy[1] });
            consider(&mut best, first.data, bound_m);
            bound_m
        };
        let mut ignored = KindCoverage::EMPTY;
        let search_m = bound_m + anchor.reach_m;
        let mut scan = Scan { estate, anchor, facilities, radius_m, metric, best: &mut best, cell: &mut ignored };
        scan.run(tree, query, search_m, scratch);
    }
    cell.nearest = best;
    cell.covered = best.is_some_and(|b| b.distance_m <= radius_m);
    cell
}

/// Calls `visit` for every facility within `sqrt(max_d2)` of `query` (inclusive), in exactly
/// the order of rstar's `locate_within_distance` (so capacity sums add up in the same order),
/// walking the tree with the caller's `stack` instead of allocating an iterator per search.
fn within_distance<'t>(
    tree: &'t RTree<IndexedFacility>,
    query: [f64; 2],
    max_d2: f64,
    stack: &mut Vec<&'t RTreeNode<IndexedFacility>>,
    mut visit: impl FnMut(&'t IndexedFacility),
) {
    // rstar's arithmetic: the squared distance to the box's nearest point (0 inside).
    let box_d2 = |envelope: &AABB<[f64; 2]>| {
        let (lower, upper) = (envelope.lower(), envelope.upper());
        let nx = min_inline(upper[0], max_inline(lower[0], query[0]));
        let ny = min_inline(upper[1], max_inline(lower[1], query[1]));
        let (dx, dy) = (nx - query[0], ny - query[1]);
        dx * dx + dy * dy
    };
    let root = tree.root();
    if root.children().is_empty() || box_d2(&root.envelope()) > max_d2 {
        return;
    }
    stack.clear();
    stack.extend(root.children());
    // rstar pops nodes off a stack and pushes a parent's children in order; a run of leaves
    // pushed together therefore comes off in reverse, before anything pushed earlier.
    while let Some(node) = stack.pop() {
        match node {
            RTreeNode::Leaf(f) => {
                let (dx, dy) = (f.geom()[0] - query[0], f.geom()[1] - query[1]);
                if dx * dx + dy * dy <= max_d2 {
                    visit(f);
                }
            }
            RTreeNode::Parent(parent) => {
                if box_d2(&parent.envelope()) <= max_d2 {
                    stack.extend(parent.children());
                }
            }
        }
    }
}

fn min_inline(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

fn max_inline(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// Ties go to the lower slice position, so results do not depend on tree layout.
#[expect(clippy::float_cmp, reason = "an exact tie is what the slice position breaks")]
fn consider(best: &mut Option<Nearest>, facility: u32, distance_m: f64) {
    let better = best.is_none_or(|b| {
        distance_m < b.distance_m || (distance_m == b.distance_m && facility < b.facility)
    });
    if better {
        *best = Some(Nearest { facility, distance_m });
    }
}

/// Buffers reused from one search to the next.
struct Scratch<'t> {
    stack: Vec<&'t RTreeNode<IndexedFacility>>,
    /// The facilities found by one search, in tree order, with their distance from the anchor.
    candidates: Vec<(&'t IndexedFacility, f64)>,
}

/// The state of one search: refines `best` and counts the facilities within `radius_m` into
/// `cell`. Per candidate the bounds `|anchor - p| - reach <= d <= |anchor - p| + gap` settle most
/// cases; the exact distance is computed only where they leave the answer open.
struct Scan<'a, M> {
    estate: &'a Estate,
    anchor: &'a Anchor,
    facilities: &'a [Facility],
    radius_m: f64,
    metric: &'a M,
    best: &'a mut Option<Nearest>,
    cell: &'a mut KindCoverage,
}

impl<M: DistanceMetric> Scan<'_, M> {
    /// Visits the facilities within `search_m` of the anchor, in tree order. They are gathered
    /// first: the smallest of their upper bounds bounds the answer, so that only facilities
    /// whose lower bound is below it need an exact distance, whatever order the tree yields
    /// them in.
    fn run<'t>(&mut self, tree: &'t RTree<IndexedFacility>, query: [f64; 2], search_m: f64, scratch: &mut Scratch<'t>) {
        let anchor = self.anchor;
        let Scratch { stack, candidates } = scratch;
        candidates.clear();
        // The best so far and every candidate's `|anchor - p| + gap` bound the answer (the
        // outline's tighter upper bounds were measured to cost more than they save here).
        let mut bound_m = self.best.map_or(f64::INFINITY, |b| b.distance_m);
        within_distance(tree, query, search_m * search_m, stack, |f| {
            let xy = f.geom();
            let d_anchor_m = (xy[0] - anchor.xy.x).hypot(xy[1] - anchor.xy.y);
            bound_m = bound_m.min(d_anchor_m + anchor.gap_m);
            candidates.push((f, d_anchor_m));
        });
        // Widened so that it also bounds the exact distances as computed.
        let bound_m = bound_m + Outline::MARGIN_M;
        for &(f, d_anchor_m) in candidates.iter() {
            self.visit(f, d_anchor_m, bound_m);
        }
    }

    /// One facility at `d_anchor_m` from the anchor; none nearer than `bound_m` needs looking at
    /// for the nearest.
    #[inline]
    fn visit(&mut self, candidate: &IndexedFacility, d_anchor_m: f64, bound_m: f64) {
        let (anchor, radius_m) = (self.anchor, self.radius_m);
        let xy = *candidate.geom();
        let p = geo::coord! { x: xy[0], y: xy[1] };
        let lower_m = d_anchor_m - anchor.reach_m;
        let upper_m = d_anchor_m + anchor.gap_m;
        let best_m = self.best.map_or(f64::INFINITY, |b| b.distance_m).min(bound_m);
        let unsettled = |lower_m: f64, upper_m: f64| lower_m <= best_m || (lower_m <= radius_m && upper_m > radius_m);
        let within = if unsettled(lower_m, upper_m) {
            // The outline's bounds are tighter but cost more: tried only where the circle's fail.
            let (lower_m, upper_m) = match &anchor.outline {
                Some(outline) => (lower_m.max(outline.lower_m(p)), upper_m.min(outline.upper_m(p))),
                None => (lower_m, upper_m),
            };
            if unsettled(lower_m, upper_m) {
                let distance_m = self.metric.distance_m(self.estate, anchor, p);
                consider(self.best, candidate.data, distance_m);
                distance_m <= radius_m
            } else {
                upper_m <= radius_m
            }
        } else {
            upper_m <= radius_m
        };
        if within {
            self.cell.count_within += 1;
            self.cell.capacity_within += self.facilities[candidate.data as usize].capacity.unwrap_or(0.0);
        }
    }
}
