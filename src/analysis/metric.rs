//! The coverage metric: how "within the radius" and "nearest" are measured.
//!
//! A metric answers, for every estate and every kind at once, the nearest facility and what lies
//! within the kind's radius. Per-point distances ([`DistanceMetric`](super::DistanceMetric)) cannot
//! serve a graph search, which is cheapest run from many sources at once; so analysis, summaries,
//! trend, reports and the service take a [`CoverageMetric`] and never ask which one it is.
//!
//! - [`StraightLine`]: planar distance from the boundary (0 inside) or the centroid, through the
//!   facility R-trees.
//! - [`NetworkMetric`](super::NetworkMetric): walking distance along the street graph.

use serde::{Deserialize, Serialize};

use super::coverage::{cover_straight, KindCoverage, Progress};
use super::AnalysisError;
use crate::index::FacilityIndex;
use crate::model::{Catalogue, DistanceFrom, Estate, Facility};

/// Which metric results were measured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Straight line in the working CRS.
    #[default]
    Straight,
    /// Walking distance along the street network (GB 50180-2018's 步行距离).
    Network,
}

impl MetricKind {
    /// The name recorded with results: `straight` or `network`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Straight => "straight",
            Self::Network => "network",
        }
    }
}

impl std::str::FromStr for MetricKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "straight" => Ok(Self::Straight),
            "network" => Ok(Self::Network),
            other => Err(format!("metric must be `straight` or `network`, not `{other}`")),
        }
    }
}

/// Measures coverage of estates by facilities: nearest facility and what lies within each
/// kind's radius.
pub trait CoverageMetric: Sync {
    /// Which metric this is.
    fn kind(&self) -> MetricKind;
    /// Where distances are measured from.
    fn distance_from(&self) -> DistanceFrom;
    /// Per estate × kind (estate-major, catalogue order): `nearest`, `count_within`,
    /// `capacity_within` and `covered`, counting only facilities open by `year` (`None`: all).
    /// `required` and `shortfall` are left `None`; [`compute_coverage`](super::compute_coverage)
    /// fills them.
    ///
    /// # Errors
    /// When the metric was prepared for other estates, facilities or catalogue.
    fn measure(&self, estates: &[Estate], catalogue: &Catalogue, year: Option<i32>, progress: &dyn Progress) -> Result<Vec<KindCoverage>, AnalysisError>;
}

/// Straight-line distance through per-kind R-trees.
#[derive(Debug, Clone, Copy)]
pub struct StraightLine<'a> {
    facilities: &'a [Facility],
    index: Option<&'a FacilityIndex>,
    distance_from: DistanceFrom,
}

impl<'a> StraightLine<'a> {
    /// Straight-line coverage of `facilities`; each measurement builds the index it needs.
    #[must_use]
    pub fn new(facilities: &'a [Facility], distance_from: DistanceFrom) -> Self {
        Self { facilities, index: None, distance_from }
    }

    /// The same, reusing `index` when a measurement asks for the year it was built for.
    #[must_use]
    pub fn with_index(facilities: &'a [Facility], index: &'a FacilityIndex, distance_from: DistanceFrom) -> Self {
        Self { facilities, index: Some(index), distance_from }
    }
}

impl CoverageMetric for StraightLine<'_> {
    fn kind(&self) -> MetricKind {
        MetricKind::Straight
    }

    fn distance_from(&self) -> DistanceFrom {
        self.distance_from
    }

    fn measure(&self, estates: &[Estate], catalogue: &Catalogue, year: Option<i32>, progress: &dyn Progress) -> Result<Vec<KindCoverage>, AnalysisError> {
        let built;
        let index = match self.index {
            Some(index) if index.year() == year && index.kinds() == catalogue.len() => index,
            Some(index) if index.kinds() != catalogue.len() => {
                return Err(AnalysisError::CatalogueMismatch { index: index.kinds(), catalogue: catalogue.len() });
            }
            _ => {
                built = FacilityIndex::build(self.facilities, catalogue.len(), year);
                &built
            }
        };
        Ok(cover_straight(estates, index, catalogue, self.distance_from, progress))
    }
}
