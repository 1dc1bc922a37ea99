//! Trial facilities ("what if one stood here?"): the estates a point would newly cover.
//!
//! A trial point newly covers the estates of a kind that no facility covers now (in the view's
//! year, by the dataset's metric) and that lie within the kind's radius of the point, measured as
//! a facility standing there would be. Per view and kind, built on first use and kept with the
//! view ([`TrialIndex`]):
//!
//! - straight line: an R-tree of the uncovered estates' boxes (their centroids', when distances
//!   are from the centroid) widened by the radius, so a point query is one stabbing query plus an
//!   exact distance to the few estates whose widened box holds the point. This is
//!   [`StraightLine::estates_within`](crate::analysis::StraightLine)'s test, restricted to the
//!   demand, so a trial and a plan's `covers` agree to the estate.
//! - walking network: the metric's bounded search from the point
//!   ([`CoverageMetric::estates_within`]), filtered by the uncovered flags kept here.

use geo::Coord;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;

use crate::analysis::{AnalysisError, CoverageMetric, CoverageTable, DistanceFrom};
use crate::model::{point_multipolygon_distance_m, Estate, KindId};

/// The uncovered estates of one kind in one view, ready for trial points.
#[derive(Debug)]
pub struct TrialIndex {
    /// Radius of the kind in the view (metres).
    pub radius_m: f64,
    /// Per estate: no facility of the kind covers it now.
    pub uncovered: Vec<bool>,
    /// Estates not covered now.
    pub uncovered_count: usize,
    /// Straight line only: the uncovered estates' boxes widened by the radius.
    tree: Option<RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>>,
    distance_from: DistanceFrom,
}

impl TrialIndex {
    /// The uncovered estates of `kind` in `table`; with `straight`, their widened boxes too.
    ///
    /// # Complexity
    /// O(n log n) for n uncovered estates (the R-tree's bulk load).
    ///
    /// # Panics
    /// When `kind` is not in `table`, or there are 2^32 estates or more.
    #[must_use]
    pub fn build(estates: &[Estate], table: &CoverageTable, kind: KindId, straight: bool) -> Self {
        let radius_m = table.radii_m[kind.index()];
        let distance_from = table.params.distance_from;
        let uncovered: Vec<bool> = (0..estates.len()).map(|e| !table.get(e, kind).covered).collect();
        let uncovered_count = uncovered.iter().filter(|u| **u).count();
        let tree = straight.then(|| {
            let boxes = estates
                .iter()
                .enumerate()
                .filter(|(e, _)| uncovered[*e])
                .filter_map(|(e, estate)| {
                    let (lo, hi) = match distance_from {
                        DistanceFrom::Boundary => {
                            let r = estate.bounds()?;
                            (r.min(), r.max())
                        }
                        DistanceFrom::Centroid => {
                            let c = estate.centroid()?;
                            (c.0, c.0)
                        }
                    };
                    let rect = Rectangle::from_corners([lo.x - radius_m, lo.y - radius_m], [hi.x + radius_m, hi.y + radius_m]);
                    Some(GeomWithData::new(rect, u32::try_from(e).expect("fewer than 2^32 estates")))
                })
                .collect();
            RTree::bulk_load(boxes)
        });
        Self { radius_m, uncovered, uncovered_count, tree, distance_from }
    }

    /// For each point (working CRS), the estates it would newly cover with their distances,
    /// sorted by estate: by the R-tree for straight lines, else by `metric`'s search.
    ///
    /// # Errors
    /// When `metric` was prepared for other estates.
    pub fn newly_covered(&self, estates: &[Estate], metric: &dyn CoverageMetric, points: &[Coord<f64>]) -> Result<Vec<Vec<(u32, f64)>>, AnalysisError> {
        let Some(tree) = &self.tree else {
            let within = metric.estates_within(estates, points, self.radius_m)?;
            return Ok(within.into_iter().map(|list| list.into_iter().filter(|&(e, _)| self.uncovered[e as usize]).collect()).collect());
        };
        Ok(points
            .iter()
            .map(|p| {
                let mut found: Vec<(u32, f64)> = tree
                    .locate_all_at_point(&[p.x, p.y])
                    .filter_map(|b| {
                        let estate = &estates[b.data as usize];
                        let d = match self.distance_from {
                            DistanceFrom::Boundary => point_multipolygon_distance_m(*p, &estate.geometry),
                            DistanceFrom::Centroid => estate.centroid().map_or(f64::INFINITY, |c| (c.x() - p.x).hypot(c.y() - p.y)),
                        };
                        (d <= self.radius_m).then_some((b.data, d))
                    })
                    .collect();
                found.sort_unstable_by_key(|x| x.0);
                found
            })
            .collect())
    }
}
