use geo::Coord;
use rstar::primitives::GeomWithData;
use rayon::prelude::*;
use rstar::{RStarInsertionStrategy, RTree, RTreeParams};

use super::PackedTree;
use crate::model::{Facility, KindId};

/// A facility position (working CRS, metres) carrying what a coverage search needs of it.
pub type IndexedFacility = GeomWithData<[f64; 2], FacilityEntry>;

/// What the tree holds of a facility besides its position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacilityEntry {
    /// Position of the facility in the input slice.
    pub facility: u32,
    /// Its capacity, 0 when unknown. Held in the tree because fetching it from the facility
    /// slice was a cache miss per candidate: a third of the coverage search's time on the
    /// 300,000-estate bench.
    pub capacity: f64,
}

/// Node sizes of the facility trees.
#[derive(Debug, Clone, Copy)]
pub struct FacilityParams;

impl RTreeParams for FacilityParams {
    const MIN_SIZE: usize = NODE / 2;
    const MAX_SIZE: usize = NODE;
    const REINSERTION_COUNT: usize = NODE / 3;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

const NODE: usize = 16;

/// The tree of one kind.
pub type FacilityTree = RTree<IndexedFacility, FacilityParams>;

/// Per-kind R-trees of facilities.
///
/// # Examples
/// ```
/// use gapmap::index::FacilityIndex;
/// use gapmap::model::{Facility, FeatureId, KindId};
/// let f = |id: i64, x: f64| Facility { id: FeatureId::Int(id), kind: KindId(0), name: None,
///     capacity: None, opened_year: None, planned: false, district: None, location: geo::point!(x: x, y: 0.0), extra: vec![] };
/// let facilities = vec![f(1, 0.0), f(2, 100.0), f(3, 250.0)];
/// let index = FacilityIndex::build(&facilities, 1, None);
/// let (idx, d_m) = index.nearest(KindId(0), geo::coord! { x: 90.0, y: 0.0 }).unwrap();
/// assert_eq!((idx, d_m), (1, 10.0));
/// assert_eq!(index.within(KindId(0), geo::coord! { x: 0.0, y: 0.0 }, 100.0).count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct FacilityIndex {
    trees: Vec<FacilityTree>,
    /// Each tree flattened, for the coverage search's range queries.
    packed: Vec<PackedTree>,
    /// Only facilities open by this year are indexed (`None`: all).
    year: Option<i32>,
}

impl FacilityIndex {
    /// Builds one tree per kind from the facilities open in `year` (`None`: all of them).
    ///
    /// Facilities whose kind is `>= kinds` are ignored (the loader never produces them).
    ///
    /// # Complexity
    /// O(n log n) bulk loading, the kinds' trees in parallel.
    ///
    /// # Panics
    /// When there are more than `u32::MAX` facilities.
    #[must_use]
    pub fn build(facilities: &[Facility], kinds: usize, year: Option<i32>) -> Self {
        let mut per_kind: Vec<Vec<IndexedFacility>> = vec![Vec::new(); kinds];
        for (i, f) in facilities.iter().enumerate() {
            if !f.open_in(year) {
                continue;
            }
            if let Some(bucket) = per_kind.get_mut(f.kind.index()) {
                let i = u32::try_from(i).expect("more than u32::MAX facilities");
                bucket.push(GeomWithData::new([f.location.x(), f.location.y()], FacilityEntry { facility: i, capacity: f.capacity.unwrap_or(0.0) }));
            }
        }
        // One tree per kind in parallel: 0.2 s sequentially on the 300k-estate bench, whose two
        // largest kinds hold 40 % of the facilities. Bulk loading is deterministic for a given input
        // order, so the trees are those of a sequential build (checked on that bench).
        let trees: Vec<FacilityTree> = per_kind.into_par_iter().map(FacilityTree::bulk_load_with_params).collect();
        let packed = trees.par_iter().map(PackedTree::new).collect();
        Self { trees, packed, year }
    }

    /// The year the index was built for (`None`: every facility).
    #[must_use]
    pub fn year(&self) -> Option<i32> {
        self.year
    }

    /// The tree of one kind, flattened: the same nodes in flat arrays (see [`PackedTree`]).
    ///
    /// # Panics
    /// When `kind` is outside the catalogue the index was built for.
    #[must_use]
    pub fn packed(&self, kind: KindId) -> &PackedTree {
        &self.packed[kind.index()]
    }

    /// The tree of one kind (empty for a kind with no facilities).
    ///
    /// # Panics
    /// When `kind` is outside the catalogue the index was built for.
    #[must_use]
    pub fn tree(&self, kind: KindId) -> &FacilityTree {
        &self.trees[kind.index()]
    }

    /// Number of indexed facilities of `kind`.
    #[must_use]
    pub fn len(&self, kind: KindId) -> usize {
        self.tree(kind).size()
    }

    /// Number of kinds.
    #[must_use]
    pub fn kinds(&self) -> usize {
        self.trees.len()
    }

    /// The nearest facility of `kind` to `xy`: its slice position and distance.
    ///
    /// # Units
    /// `xy` and the distance in metres (working CRS).
    ///
    /// # Complexity
    /// O(log n) expected.
    #[must_use]
    pub fn nearest(&self, kind: KindId, xy: Coord<f64>) -> Option<(u32, f64)> {
        self.tree(kind)
            .nearest_neighbor_iter_with_distance_2(&[xy.x, xy.y])
            .next()
            .map(|(f, d_sq)| (f.data.facility, d_sq.sqrt()))
    }

    /// Facilities of `kind` within `radius_m` of `xy` (inclusive), in no particular order.
    ///
    /// # Units
    /// Metres.
    pub fn within(
        &self,
        kind: KindId,
        xy: Coord<f64>,
        radius_m: f64,
    ) -> impl Iterator<Item = &IndexedFacility> {
        // rstar takes a squared radius; callers think in metres.
        self.tree(kind).locate_within_distance([xy.x, xy.y], radius_m * radius_m)
    }
}
