//! Coverage analysis: for every estate × facility kind, the nearest facility, the distance to it,
//! what lies within the kind's service radius and the capacity shortfall; then summaries.
//!
//! Pure functions over [`crate::model`] and [`crate::index`]: no I/O, planar metres in and out.

mod accessibility;
mod coverage;
mod demand;
mod distance;
mod error;
mod metric;
mod network;
mod summary;
mod timeline;
mod trend;

pub use accessibility::{compute_accessibility, kind_accessibility, two_step_fca, AccessDecay, Accessibility};
pub use coverage::{compute_coverage, required_capacity, AnalysisParams, CoverageTable, KindCoverage, Nearest, Progress};
pub use demand::{Demand, RecordedHouseholds};
pub use distance::{
    point_multipolygon_distance_m, Anchor, Outline, BoundaryDistance, CentroidDistance, DistanceFrom,
    DistanceMetric,
};
pub use error::AnalysisError;
pub use metric::{CoverageMetric, EstateReach, MetricKind, StraightLine};
pub use network::{NetworkMetric, NetworkParams};
pub use summary::{summarize, summarize_with, DistrictSummary, KindSummary, Summary, SummaryBasis};
pub use timeline::{CoverageTimeline, YearSpan};
pub use trend::{
    compute_trend, compute_trend_with, DistrictTrend, FacilityTarget, Gap, KindYear, RenovationTarget, RenovationYear, Targets, Trend,
    TrendError, TrendKind, TrendParams, DEFAULT_RENOVATION_BUILT_BEFORE, MAX_YEARS,
};
