//! Trial facilities ("what if one stood here?"): the estates a point would newly cover.
//!
//! A trial point newly covers the estates of a kind that no facility covers now (in the view's
//! year, by the dataset's metric) and that lie within the kind's radius of the point, measured as
//! a facility standing there would be. Per view and kind, built on first use and kept with the
//! view ([`TrialIndex`]):
//!
//! - straight line: an [`EstateReach`] of the uncovered estates, the index
//!   [`StraightLine::estates_within`](crate::analysis::StraightLine) uses, restricted to the
//!   demand, so a trial and a plan's `covers` agree to the estate.
//! - walking network: the metric's bounded search from the point
//!   ([`CoverageMetric::estates_within`]), filtered by the uncovered flags kept here.

use geo::Coord;

use crate::analysis::{AnalysisError, CoverageMetric, CoverageTable, EstateReach};
use crate::model::{Estate, KindId};

/// The uncovered estates of one kind in one view, ready for trial points.
#[derive(Debug)]
pub struct TrialIndex {
    /// Radius of the kind in the view (metres).
    pub radius_m: f64,
    /// Per estate: no facility of the kind covers it now.
    pub uncovered: Vec<bool>,
    /// Estates not covered now.
    pub uncovered_count: usize,
    /// Straight line only: the uncovered estates, indexed.
    reach: Option<EstateReach>,
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
        let uncovered: Vec<bool> = (0..estates.len()).map(|e| !table.get(e, kind).covered).collect();
        let uncovered_count = uncovered.iter().filter(|u| **u).count();
        let reach = straight.then(|| EstateReach::build(estates, |e| uncovered[e], table.params.distance_from, radius_m));
        Self { radius_m, uncovered, uncovered_count, reach }
    }

    /// For each point (working CRS), the estates it would newly cover with their distances,
    /// sorted by estate: by the R-tree for straight lines, else by `metric`'s search.
    ///
    /// # Errors
    /// When `metric` was prepared for other estates.
    pub fn newly_covered(&self, estates: &[Estate], metric: &dyn CoverageMetric, points: &[Coord<f64>]) -> Result<Vec<Vec<(u32, f64)>>, AnalysisError> {
        let Some(reach) = &self.reach else {
            let within = metric.estates_within(estates, points, self.radius_m)?;
            return Ok(within.into_iter().map(|list| list.into_iter().filter(|&(e, _)| self.uncovered[e as usize]).collect()).collect());
        };
        Ok(points.iter().map(|p| reach.within(estates, *p)).collect())
    }
}
