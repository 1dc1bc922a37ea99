//! Estate × kind coverage.
//!
//! For each estate and kind, R-tree range searches around the estate's [`Anchor`] (walks of the
//! kind's tree flattened, [`PackedTree::within_distance`], in rstar's order with a reused stack):
//! 1. the circle `radius + reach` holds every facility within the radius; if one is found, the
//!    nearest facility is in there too — the common, covered case costs one search;
//! 2. otherwise the nearest facility found so far — or, when the circle was empty, a neighbour's
//!    nearest facility nearby, else the one rstar's `nearest_neighbor` finds nearest the anchor —
//!    bounds the answer, and the circle `bound + reach` is searched.
//!
//! Per candidate, the bounds `|anchor - p| - reach <= d <= |anchor - p| + gap` settle most cases,
//! then the estate's [`Outline`] (bounding box, extreme vertices) settles most of the rest; the
//! exact [`DistanceMetric`] distance is computed only where they leave the answer open.
//! Best-first searches (`nearest_neighbor`, `nearest_neighbor_iter`) pay heap operations per
//! node; on the 300,000-estate bench running them for every estate × kind took twice as long.
//! Estates are processed in parallel with rayon, every kind for one estate, in the Hilbert order
//! of their anchors: neighbours query the same tree nodes one after another, so those stay in
//! cache, and a neighbour's nearest facility bounds the search of an estate with an empty first
//! circle. On the 300,000-estate bench (ids in no spatial order) this took the search from 4.8
//! to 2.8 CPU-s, together with 16-entry tree nodes and capacities held in the tree. (Measured
//! before the tree held capacities, a Hilbert order kind by kind was slower than id order.)

use rayon::prelude::*;
use serde::Serialize;

use super::{AnalysisError, Anchor, BoundaryDistance, CentroidDistance, CoverageMetric, Demand, DistanceFrom, DistanceMetric, MetricKind, Outline};

use crate::index::{FacilityIndex, FacilityTree, IndexedFacility, PackedTree};
use crate::model::{Catalogue, Estate, KindId};

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
    /// Straight line or walking network.
    pub metric: MetricKind,
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
///
/// Either the cells themselves (a fresh analysis: 72 bytes a cell), or, for a year read from a
/// [`CoverageTimeline`](super::CoverageTimeline), the position of each cell's step in the
/// timeline (4 bytes a cell) and the capacity each cell requires, shared by every year. Both
/// answer [`CoverageTable::get`] alike; equality compares the cells, not the representation.
#[derive(Clone)]
pub struct CoverageTable {
    kinds: usize,
    estates: usize,
    cells: Cells,
    /// How this table was computed.
    pub params: AnalysisParams,
    /// Radius used per kind, in catalogue order (metres).
    pub radii_m: Vec<f64>,
}

/// A cell without its required capacity, in 24 bytes instead of 72 (the shortfall follows from
/// the required capacity, kept apart).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PackedCell {
    distance_m: f64,
    capacity_within: f64,
    /// Nearest facility (slice position); `u32::MAX` when none.
    facility: u32,
    /// `count_within`, and `covered` in the top bit.
    count_covered: u32,
}

const COVERED_BIT: u32 = 1 << 31;

impl PackedCell {
    pub(super) fn new(cell: &KindCoverage) -> Self {
        // Fewer than 2^31 facilities of a kind within a radius: the count never reaches the bit.
        Self {
            facility: cell.nearest.map_or(u32::MAX, |n| n.facility),
            count_covered: cell.count_within.min(COVERED_BIT - 1) | if cell.covered { COVERED_BIT } else { 0 },
            distance_m: cell.nearest.map_or(f64::INFINITY, |n| n.distance_m),
            capacity_within: cell.capacity_within,
        }
    }

    /// The cell, without required capacity and shortfall.
    pub(super) fn cell(&self) -> KindCoverage {
        KindCoverage {
            nearest: (self.facility != u32::MAX).then_some(Nearest { facility: self.facility, distance_m: self.distance_m }),
            count_within: self.count_covered & !COVERED_BIT,
            capacity_within: self.capacity_within,
            covered: self.count_covered & COVERED_BIT != 0,
            required: None,
            shortfall: None,
        }
    }
}

/// The cell `cell` with the required capacity `required` (NaN: none) and its shortfall, as
/// [`table_from_cells`] fills them.
fn with_required(mut cell: KindCoverage, required: f64) -> KindCoverage {
    if !required.is_nan() {
        cell.required = Some(required);
        cell.shortfall = Some((required - cell.capacity_within).max(0.0));
    }
    cell
}

#[derive(Clone)]
enum Cells {
    Owned(Vec<KindCoverage>),
    /// The cells packed, and the capacity each requires (NaN: none).
    Packed { cells: Vec<PackedCell>, required: std::sync::Arc<[f64]> },
    Steps {
        timeline: std::sync::Arc<super::CoverageTimeline>,
        /// Per cell, the position of its state in the timeline's steps (`u32::MAX`: no state,
        /// [`KindCoverage::EMPTY`]).
        steps: Vec<u32>,
        /// Per cell, the capacity it requires (NaN: none), as [`required_capacity`] computes it.
        required: std::sync::Arc<[f64]>,
    },
}

impl std::fmt::Debug for CoverageTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let representation = match &self.cells {
            Cells::Owned(_) => "cells",
            Cells::Packed { .. } => "packed cells",
            Cells::Steps { .. } => "timeline steps",
        };
        f.debug_struct("CoverageTable")
            .field("estates", &self.estates)
            .field("kinds", &self.kinds)
            .field("representation", &representation)
            .field("params", &self.params)
            .field("radii_m", &self.radii_m)
            .finish()
    }
}

impl PartialEq for CoverageTable {
    fn eq(&self, other: &Self) -> bool {
        self.kinds == other.kinds
            && self.estates == other.estates
            && self.params == other.params
            && self.radii_m == other.radii_m
            && (0..self.estates).all(|e| (0..self.kinds).all(|k| self.cell(e * self.kinds + k) == other.cell(e * self.kinds + k)))
    }
}

impl CoverageTable {
    /// Coverage of estate `estate` (slice position) by `kind`.
    ///
    /// # Panics
    /// When either is out of range.
    #[must_use]
    pub fn get(&self, estate: usize, kind: KindId) -> KindCoverage {
        assert!(kind.index() < self.kinds, "kind {} out of range ({} kinds)", kind.index(), self.kinds);
        self.cell(estate * self.kinds + kind.index())
    }

    /// Whether `estate` is covered by `kind`: [`KindCoverage::covered`] of
    /// [`CoverageTable::get`], without the rest of the cell.
    ///
    /// # Panics
    /// When `kind` is beyond the table's kinds or `estate` beyond its estates.
    #[must_use]
    #[inline]
    pub fn covered(&self, estate: usize, kind: KindId) -> bool {
        self.covered_and_shortfall(estate, kind).0
    }

    /// [`KindCoverage::covered`] and [`KindCoverage::shortfall`] of [`CoverageTable::get`],
    /// without the rest of the cell (what the summaries count).
    ///
    /// # Panics
    /// When `kind` is beyond the table's kinds or `estate` beyond its estates.
    #[must_use]
    #[inline]
    pub fn covered_and_shortfall(&self, estate: usize, kind: KindId) -> (bool, Option<f64>) {
        assert!(kind.index() < self.kinds, "kind {} out of range ({} kinds)", kind.index(), self.kinds);
        let c = estate * self.kinds + kind.index();
        let packed = |cell: &PackedCell, required: f64| {
            let shortfall = (!required.is_nan()).then(|| (required - cell.capacity_within).max(0.0));
            (cell.count_covered & COVERED_BIT != 0, shortfall)
        };
        match &self.cells {
            Cells::Owned(cells) => (cells[c].covered, cells[c].shortfall),
            Cells::Packed { cells, required } => packed(&cells[c], required[c]),
            Cells::Steps { timeline, steps, required } => {
                if let Some(cell) = timeline.step(steps[c]) {
                    packed(cell, required[c])
                } else {
                    let cell = self.cell(c);
                    (cell.covered, cell.shortfall)
                }
            }
        }
    }

    /// Cell `c` (estate-major).
    #[inline]
    fn cell(&self, c: usize) -> KindCoverage {
        match &self.cells {
            Cells::Owned(cells) => cells[c],
            Cells::Packed { cells, required } => with_required(cells[c].cell(), required[c]),
            Cells::Steps { timeline, steps, required } => with_required(timeline.state(steps[c]), required[c]),
        }
    }

    /// The same table in 24 bytes a cell instead of 72, its required capacities kept apart
    /// ([`CoverageTable::required`]); a table already compact is returned as it is. What a
    /// service keeps of a year it serves.
    #[must_use]
    pub fn into_packed(self) -> Self {
        let Cells::Owned(cells) = self.cells else { return self };
        let required: std::sync::Arc<[f64]> = cells.par_iter().map(|c| c.required.unwrap_or(f64::NAN)).collect::<Vec<f64>>().into();
        let packed = cells.par_iter().map(PackedCell::new).collect();
        Self { cells: Cells::Packed { cells: packed, required }, ..self }
    }

    /// The table with its cells in order in memory, for passes over every cell: a table read
    /// from a timeline (whose cells' states lie scattered over its years) read out packed, 24
    /// bytes a cell, each state read once; a table of cells or packed cells as it is.
    #[must_use]
    pub fn in_order(&self) -> std::borrow::Cow<'_, Self> {
        match &self.cells {
            Cells::Owned(_) | Cells::Packed { .. } => std::borrow::Cow::Borrowed(self),
            Cells::Steps { timeline, steps, required } => {
                let empty = PackedCell::new(&KindCoverage::EMPTY);
                let cells = steps.par_iter().with_min_len(4096).map(|&p| timeline.step(p).copied().unwrap_or(empty)).collect();
                std::borrow::Cow::Owned(Self { cells: Cells::Packed { cells, required: std::sync::Arc::clone(required) }, radii_m: self.radii_m.clone(), ..*self })
            }
        }
    }

    /// Per cell, the capacity required (NaN: none), when the table keeps them apart (packed,
    /// or read from a timeline); to share with other tables of the same estates.
    #[must_use]
    pub fn required(&self) -> Option<&std::sync::Arc<[f64]>> {
        match &self.cells {
            Cells::Owned(_) => None,
            Cells::Packed { required, .. } | Cells::Steps { required, .. } => Some(required),
        }
    }

    /// A table of no estates and no kinds (a placeholder until a dataset's first table is
    /// computed).
    #[must_use]
    pub fn empty(params: AnalysisParams) -> Self {
        Self { kinds: 0, estates: 0, cells: Cells::Owned(Vec::new()), params, radii_m: Vec::new() }
    }

    /// The table of one year of a timeline: per cell, the position of its state there.
    pub(super) fn from_steps(timeline: std::sync::Arc<super::CoverageTimeline>, estates: usize, steps: Vec<u32>, required: std::sync::Arc<[f64]>, radii_m: Vec<f64>, params: AnalysisParams) -> Self {
        let kinds = radii_m.len();
        debug_assert_eq!(steps.len(), estates * kinds);
        debug_assert_eq!(required.len(), estates * kinds);
        Self { kinds, estates, cells: Cells::Steps { timeline, steps, required }, params, radii_m }
    }

    /// Bytes the table holds on the heap. A timeline's table counts its step positions, not
    /// the timeline or the required capacities it shares with the other years.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let cells = match &self.cells {
            Cells::Owned(cells) => cells.capacity() * size_of::<KindCoverage>(),
            Cells::Packed { cells, required } => cells.capacity() * size_of::<PackedCell>() + required.len() * size_of::<f64>(),
            Cells::Steps { steps, .. } => steps.capacity() * size_of::<u32>(),
        };
        cells + self.radii_m.capacity() * size_of::<f64>()
    }

    /// All kinds' coverage of one estate, in catalogue order (borrowed from a fresh analysis,
    /// assembled from a timeline's).
    #[must_use]
    pub fn estate(&self, estate: usize) -> std::borrow::Cow<'_, [KindCoverage]> {
        let range = estate * self.kinds..(estate + 1) * self.kinds;
        match &self.cells {
            Cells::Owned(cells) => std::borrow::Cow::Borrowed(&cells[range]),
            Cells::Packed { .. } | Cells::Steps { .. } => std::borrow::Cow::Owned(range.map(|c| self.cell(c)).collect()),
        }
    }

    /// Number of estates.
    #[must_use]
    pub fn estates(&self) -> usize {
        self.estates
    }

    /// Number of kinds.
    #[must_use]
    pub fn kinds(&self) -> usize {
        self.kinds
    }
}

/// Per estate × kind (estate-major), the capacity the estate requires of the kind under
/// `demand`: the kind's ratio applied to its households; NaN where the kind has no ratio or the
/// estate no households. Coverage tables fill `required` and `shortfall` from it.
#[must_use]
pub fn required_capacity(estates: &[Estate], catalogue: &Catalogue, demand: &dyn Demand) -> Vec<f64> {
    let kinds = catalogue.len();
    let mut required = vec![f64::NAN; estates.len() * kinds];
    if catalogue.kinds.iter().any(|k| k.ratio.is_some()) && kinds > 0 {
        required.par_chunks_mut(kinds).zip(estates.par_iter()).for_each(|(row, estate)| {
            let Some(h) = demand.households(estate) else { return };
            for (cell, spec) in row.iter_mut().zip(&catalogue.kinds) {
                if let Some(ratio) = spec.ratio {
                    *cell = ratio.required(h, catalogue.residents_per_household);
                }
            }
        });
    }
    required
}

/// Computes coverage of every estate by every kind of the catalogue, measured by `metric`,
/// counting the facilities open by `year` (`None`: all).
///
/// # Errors
/// [`AnalysisError::CatalogueMismatch`] when the metric was prepared for another catalogue, or
/// another estate or facility list.
///
/// # Complexity
/// That of the metric's [`CoverageMetric::measure`]; for [`StraightLine`](super::StraightLine)
/// O(E · K · (log F + c · v)) where c is the candidates within radius and v the estate's vertices;
/// parallel over estates.
///
/// # Examples
/// ```
/// use gapmap::analysis::{compute_coverage, RecordedHouseholds, StraightLine};
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
///     opened_year: None, planned: false, district: None, location: geo::point!(x: 200.0, y: 50.0), extra: vec![] };
/// let facilities = vec![car_park];
/// let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
/// let table = compute_coverage(&[estate], &metric, &catalogue, None, &RecordedHouseholds, &()).unwrap();
/// let cell = table.get(0, KindId(0));
/// assert_eq!(cell.nearest.unwrap().distance_m, 100.0);
/// assert!(cell.covered);
/// assert_eq!(cell.shortfall, Some(40.0));
/// ```
pub fn compute_coverage(
    estates: &[Estate],
    metric: &dyn CoverageMetric,
    catalogue: &Catalogue,
    year: Option<i32>,
    demand: &dyn Demand,
    progress: &dyn Progress,
) -> Result<CoverageTable, AnalysisError> {
    catalogue.validate()?;
    let cells = metric.measure(estates, catalogue, year, progress)?;
    Ok(table_from_cells(estates, cells, catalogue, demand, AnalysisParams { distance_from: metric.distance_from(), year, metric: metric.kind() }))
}

/// The table of measured `cells` (estate-major, catalogue order), with each estate's required
/// capacity and shortfall under `demand` filled in.
pub(super) fn table_from_cells(estates: &[Estate], mut cells: Vec<KindCoverage>, catalogue: &Catalogue, demand: &dyn Demand, params: AnalysisParams) -> CoverageTable {
    let kinds = catalogue.len();
    // The capacity each estate requires, where the kind has a ratio and the estate households.
    if catalogue.kinds.iter().any(|k| k.ratio.is_some()) && kinds > 0 {
        cells.par_chunks_mut(kinds).zip(estates.par_iter()).for_each(|(row, estate)| {
            let Some(h) = demand.households(estate) else { return };
            for (cell, spec) in row.iter_mut().zip(&catalogue.kinds) {
                if let Some(ratio) = spec.ratio {
                    let required = ratio.required(h, catalogue.residents_per_household);
                    cell.required = Some(required);
                    cell.shortfall = Some((required - cell.capacity_within).max(0.0));
                }
            }
        });
    }
    CoverageTable { kinds, estates: estates.len(), cells: Cells::Owned(cells), params, radii_m: catalogue.kinds.iter().map(|k| k.radius_m).collect() }
}

/// Straight-line coverage through the index (no demand: [`compute_coverage`] adds it).
pub(super) fn cover_straight(
    estates: &[Estate],
    index: &FacilityIndex,
    catalogue: &Catalogue,
    distance_from: DistanceFrom,
    progress: &dyn Progress,
) -> Vec<KindCoverage> {
    match distance_from {
        DistanceFrom::Boundary => cover_all(estates, index, catalogue, &BoundaryDistance, progress),
        DistanceFrom::Centroid => cover_all(estates, index, catalogue, &CentroidDistance, progress),
    }
}

/// Estates per parallel task.
const CHUNK: usize = 256;
/// Estates per block whose cells are gathered before being put in place.
const BLOCK: usize = 32_768;

fn cover_all<M: DistanceMetric>(
    estates: &[Estate],
    index: &FacilityIndex,
    catalogue: &Catalogue,
    metric: &M,
    progress: &dyn Progress,
) -> Vec<KindCoverage> {
    let anchors: Vec<Option<Anchor>> = estates.par_iter().map(|e| metric.anchor(e)).collect();
    let kinds = catalogue.len();
    let trees: Vec<Trees<'_>> = (0..kinds)
        .map(|k| {
            let kind = KindId(u16::try_from(k).expect("validated: < 65536 kinds"));
            Trees { tree: index.tree(kind), packed: index.packed(kind) }
        })
        .collect();
    let order = hilbert_order(&anchors);
    // Each block's rows are computed in parallel, task by task, and put in place while the next
    // block is computed (one thread copying rows left the other core idle: 0.1 s on the
    // 300,000-estate bench, as was filling the table on one thread).
    let compute = |block: &[u32]| -> Vec<Vec<KindCoverage>> {
        block
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut scratch = Scratch { stack: Vec::new(), candidates: Vec::new() };
                let mut hints = vec![None; kinds];
                let mut out = Vec::with_capacity(chunk.len() * kinds);
                for &e in chunk {
                    let (estate, anchor) = (&estates[e as usize], &anchors[e as usize]);
                    for ((spec, tree), hint) in catalogue.kinds.iter().zip(&trees).zip(&mut hints) {
                        let cell = match anchor {
                            Some(anchor) => cover_one(estate, anchor, *tree, spec.radius_m, metric, &mut scratch, hint),
                            None => KindCoverage::EMPTY,
                        };
                        out.push(cell);
                    }
                }
                out
            })
            .collect()
    };
    let put = |cells: &mut [KindCoverage], block: &[u32], rows: Vec<Vec<KindCoverage>>| {
        for (chunk, out) in block.chunks(CHUNK).zip(rows) {
            for (&e, row) in chunk.iter().zip(out.chunks_exact(kinds.max(1))) {
                let e = e as usize;
                cells[e * kinds..(e + 1) * kinds].copy_from_slice(row);
            }
        }
        progress.advance(block.len() as u64);
    };
    let mut cells = Vec::new();
    cells.par_extend(rayon::iter::repeat_n(KindCoverage::EMPTY, estates.len() * kinds));
    let mut pending: Option<(&[u32], Vec<Vec<KindCoverage>>)> = None;
    for block in order.chunks(BLOCK) {
        let (rows, ()) = rayon::join(
            || compute(block),
            || {
                if let Some((done, rows)) = pending.take() {
                    put(&mut cells, done, rows);
                }
            },
        );
        pending = Some((block, rows));
    }
    if let Some((done, rows)) = pending {
        put(&mut cells, done, rows);
    }
    cells
}

/// Estate positions in the Hilbert order of their anchors, estates without one last: nearby
/// estates query the same tree nodes one after another, so those stay in cache.
fn hilbert_order(anchors: &[Option<Anchor>]) -> Vec<u32> {
    let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for a in anchors.iter().flatten() {
        min = [min[0].min(a.xy.x), min[1].min(a.xy.y)];
        max = [max[0].max(a.xy.x), max[1].max(a.xy.y)];
    }
    let side = (max[0] - min[0]).max(max[1] - min[1]).max(f64::MIN_POSITIVE);
    let cell = |v: f64, lo: f64| {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 0..=65535")]
        let c = (((v - lo) / side) * 65_535.0).clamp(0.0, 65_535.0) as u32;
        c
    };
    let mut keyed: Vec<(u64, u32)> = anchors
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let key = a.map_or(u64::MAX, |a| u64::from(hilbert_d(cell(a.xy.x, min[0]), cell(a.xy.y, min[1]))));
            (key, u32::try_from(i).expect("fewer than 2^32 estates"))
        })
        .collect();
    keyed.par_sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Position of cell `(x, y)` along the Hilbert curve filling a 65,536 × 65,536 grid.
fn hilbert_d(mut x: u32, mut y: u32) -> u32 {
    let mut d = 0u32;
    let mut s = 1u32 << 15;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        // Rotate the quadrant so the curve stays continuous.
        if ry == 0 {
            if rx == 1 {
                x = (s - 1).wrapping_sub(x) & 0xFFFF;
                y = (s - 1).wrapping_sub(y) & 0xFFFF;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s >>= 1;
    }
    d
}

impl KindCoverage {
    /// No facility found.
    pub(crate) const EMPTY: Self = Self {
        nearest: None,
        count_within: 0,
        capacity_within: 0.0,
        covered: false,
        required: None,
        shortfall: None,
    };
}

/// A kind's tree, and its flat copy that range searches walk.
#[derive(Clone, Copy)]
struct Trees<'t> {
    tree: &'t FacilityTree,
    packed: &'t PackedTree,
}

/// A facility of one kind: its slice position and where it stands.
#[derive(Clone, Copy)]
struct Found {
    facility: u32,
    xy: [f64; 2],
}

impl Found {
    fn of(f: &IndexedFacility) -> Self {
        Self { facility: f.data.facility, xy: *f.geom() }
    }
}

/// The nearest facility found so far.
#[derive(Clone, Copy)]
struct Best {
    found: Found,
    distance_m: f64,
}

/// Coverage of one estate by one kind. `hint` is the nearest facility of the kind to the
/// estate processed before (a neighbour, in Hilbert order); it is updated to this estate's.
fn cover_one<M: DistanceMetric>(
    estate: &Estate,
    anchor: &Anchor,
    trees: Trees<'_>,
    radius_m: f64,
    metric: &M,
    scratch: &mut Scratch,
    hint: &mut Option<Found>,
) -> KindCoverage {
    let mut cell = KindCoverage::EMPTY;
    if trees.packed.is_empty() {
        return cell;
    }
    let query = [anchor.xy.x, anchor.xy.y];
    let mut best: Option<Best> = None;

    // Pass 1, the circle `radius + reach` around the anchor: it holds every facility within the
    // radius, and when one is found the nearest facility is among them too (anything nearer to
    // the estate lies within the circle).
    let search_m = radius_m + anchor.reach_m + Outline::MARGIN_M;
    let mut scan = Scan { estate, anchor, radius_m, metric, tree: trees.packed, best: &mut best, cell: &mut cell };
    scan.run(query, search_m, scratch);

    // Pass 2, only for an uncovered estate: the nearest facility found so far bounds the answer;
    // anything nearer lies within `bound + reach` of the anchor. With none found, any facility
    // gives a bound: the neighbour's nearest when it is close (most estates with an empty first
    // circle, on the 300,000-estate bench), else the one nearest the anchor, whose best-first
    // search in the rstar tree costs several times a circle's.
    if best.is_none_or(|b| b.distance_m > radius_m) {
        let bound_m = if let Some(b) = best {
            b.distance_m
        } else {
            // Within four times the first circle's radius: twice (as before) sent more estates
            // to `nearest_neighbor`, 3 % of the coverage time on the 300,000-estate bench;
            // eight times was no faster than four.
            let near = |f: &Found| {
                let (dx, dy) = (f.xy[0] - query[0], f.xy[1] - query[1]);
                dx * dx + dy * dy <= 16.0 * search_m * search_m
            };
            let first = match hint.filter(near) {
                Some(h) => h,
                None => Found::of(trees.tree.nearest_neighbor(&query).expect("the tree is not empty")),
            };
            let bound_m = metric.distance_m(estate, anchor, geo::coord! { x: first.xy[0], y: first.xy[1] });
            consider(&mut best, first, bound_m);
            bound_m
        };
        let mut ignored = KindCoverage::EMPTY;
        let search_m = bound_m + anchor.reach_m + Outline::MARGIN_M;
        let mut scan = Scan { estate, anchor, radius_m, metric, tree: trees.packed, best: &mut best, cell: &mut ignored };
        scan.run(query, search_m, scratch);
    }
    *hint = best.map(|b| b.found).or(*hint);
    cell.nearest = best.map(|b| Nearest { facility: b.found.facility, distance_m: b.distance_m });
    cell.covered = best.is_some_and(|b| b.distance_m <= radius_m);
    cell
}

/// Ties go to the lower slice position, so results do not depend on tree layout.
#[expect(clippy::float_cmp, reason = "an exact tie is what the slice position breaks")]
fn consider(best: &mut Option<Best>, found: Found, distance_m: f64) {
    let better = best.is_none_or(|b| {
        distance_m < b.distance_m || (distance_m == b.distance_m && found.facility < b.found.facility)
    });
    if better {
        *best = Some(Best { found, distance_m });
    }
}

/// Buffers reused from one search to the next.
struct Scratch {
    /// Nodes still to visit.
    stack: Vec<u32>,
    /// The leaves found by one search, in tree order, with their distance from the anchor.
    candidates: Vec<(u32, f64)>,
}

/// The state of one search: refines `best` and counts the facilities within `radius_m` into
/// `cell`. Per candidate the bounds `|anchor - p| - reach <= d <= |anchor - p| + gap` settle most
/// cases; the exact distance is computed only where they leave the answer open.
struct Scan<'a, M> {
    estate: &'a Estate,
    anchor: &'a Anchor,
    radius_m: f64,
    metric: &'a M,
    tree: &'a PackedTree,
    best: &'a mut Option<Best>,
    cell: &'a mut KindCoverage,
}

impl<M: DistanceMetric> Scan<'_, M> {
    /// Visits the facilities within `search_m` of the anchor, in tree order. They are gathered
    /// first: the smallest of their upper bounds bounds the answer, so that only facilities
    /// whose lower bound is below it need an exact distance, whatever order the tree yields
    /// them in.
    fn run(&mut self, query: [f64; 2], search_m: f64, scratch: &mut Scratch) {
        let anchor = self.anchor;
        let Scratch { stack, candidates } = scratch;
        candidates.clear();
        // The best so far and every candidate's `|anchor - p| + gap` bound the answer (the
        // outline's tighter upper bounds were measured to cost more than they save here).
        let mut bound_m = self.best.map_or(f64::INFINITY, |b| b.distance_m);
        self.tree.within_distance(query, search_m * search_m, stack, |leaf, d2| {
            let d_anchor_m = d2.sqrt();
            bound_m = bound_m.min(d_anchor_m + anchor.gap_m);
            candidates.push((leaf, d_anchor_m));
        });
        // Widened so that it also bounds the exact distances as computed.
        let bound_m = bound_m + Outline::MARGIN_M;
        for &(leaf, d_anchor_m) in candidates.iter() {
            self.visit(leaf, d_anchor_m, bound_m);
        }
    }

    /// One facility at `d_anchor_m` from the anchor; none nearer than `bound_m` needs looking at
    /// for the nearest.
    #[inline]
    fn visit(&mut self, leaf: u32, d_anchor_m: f64, bound_m: f64) {
        let (anchor, radius_m) = (self.anchor, self.radius_m);
        let xy = self.tree.point(leaf);
        let p = geo::coord! { x: xy[0], y: xy[1] };
        // Widened: the circle's bounds hold for real numbers, and `d_anchor_m` is rounded.
        let lower_m = d_anchor_m - anchor.reach_m - Outline::MARGIN_M;
        let upper_m = d_anchor_m + anchor.gap_m + Outline::MARGIN_M;
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
                consider(self.best, Found { facility: self.tree.entry(leaf).facility, xy }, distance_m);
                distance_m <= radius_m
            } else {
                upper_m <= radius_m
            }
        } else {
            upper_m <= radius_m
        };
        if within {
            self.cell.count_within += 1;
            self.cell.capacity_within += self.tree.entry(leaf).capacity;
        }
    }
}
