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

use geo::Coord;
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;
use serde::{Deserialize, Serialize};

use super::coverage::{cover_straight, KindCoverage, Progress};
use super::AnalysisError;
use crate::index::FacilityIndex;
use crate::model::{point_multipolygon_distance_m, Catalogue, DistanceFrom, Estate, Facility, KindId};

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

    /// For points that are not (yet) facilities — candidate sites, a trial location — the estates
    /// within `radius_m` of each, with their distances, measured as a facility standing there
    /// would be: per point, `(estate position, distance in metres)` sorted by estate.
    ///
    /// # Errors
    /// When the metric was prepared for other estates.
    fn estates_within(&self, estates: &[Estate], points: &[Coord<f64>], radius_m: f64) -> Result<Vec<Vec<(u32, f64)>>, AnalysisError>;

    /// Every (estate, facility, distance in metres) with the facility of kind `kind`, open by
    /// `year`, within the kind's radius of the estate; sorted by estate, then facility. What a
    /// catchment score (2SFCA) or a per-facility load needs beyond the nearest and the counts.
    ///
    /// # Errors
    /// When the metric was prepared for other estates or another catalogue.
    fn facility_pairs(&self, estates: &[Estate], catalogue: &Catalogue, kind: KindId, year: Option<i32>) -> Result<Vec<(u32, u32, f64)>, AnalysisError>;
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

    fn facility_pairs(&self, estates: &[Estate], catalogue: &Catalogue, kind: KindId, year: Option<i32>) -> Result<Vec<(u32, u32, f64)>, AnalysisError> {
        let radius_m = catalogue.spec(kind).radius_m;
        let open: Vec<u32> = (0..self.facilities.len())
            .filter(|&f| self.facilities[f].kind == kind && self.facilities[f].open_in(year))
            .map(|f| u32::try_from(f).expect("fewer than 2^32 facilities"))
            .collect();
        let points: Vec<Coord<f64>> = open.iter().map(|&f| self.facilities[f as usize].location.0).collect();
        let within = self.estates_within(estates, &points, radius_m)?;
        let mut pairs: Vec<(u32, u32, f64)> = open.iter().zip(within).flat_map(|(&f, list)| list.into_iter().map(move |(e, d)| (e, f, d))).collect();
        pairs.par_sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        Ok(pairs)
    }

    fn estates_within(&self, estates: &[Estate], points: &[Coord<f64>], radius_m: f64) -> Result<Vec<Vec<(u32, f64)>>, AnalysisError> {
        let reach = EstateReach::build(estates, |_| true, self.distance_from, radius_m);
        Ok(points.par_iter().map(|p| reach.within(estates, *p)).collect())
    }
}

/// The estates within a straight-line radius of any point: an R-tree of the estates' boxes (their
/// centroids', when distances are from the centroid) widened by the radius, so a point query is
/// one stabbing query plus an exact distance to the few estates whose widened box holds the
/// point. [`StraightLine::estates_within`] and the service's trial points both use it, so a trial
/// and a plan's `covers` agree to the estate.
#[derive(Debug)]
pub struct EstateReach {
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    distance_from: DistanceFrom,
    radius_m: f64,
}

impl EstateReach {
    /// Indexes the estates `keep` accepts (by slice position).
    ///
    /// # Complexity
    /// O(n log n) for n estates kept (the bulk load).
    ///
    /// # Panics
    /// With 2^32 estates or more.
    #[must_use]
    pub fn build(estates: &[Estate], keep: impl Fn(usize) -> bool + Sync, distance_from: DistanceFrom, radius_m: f64) -> Self {
        let boxes: Vec<GeomWithData<Rectangle<[f64; 2]>, u32>> = estates
            .par_iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .filter_map(|(i, e)| {
                let (lo, hi) = match distance_from {
                    DistanceFrom::Boundary => {
                        let r = e.bounds()?;
                        (r.min(), r.max())
                    }
                    DistanceFrom::Centroid => {
                        let c = e.centroid()?;
                        (c.0, c.0)
                    }
                };
                let rect = Rectangle::from_corners([lo.x - radius_m, lo.y - radius_m], [hi.x + radius_m, hi.y + radius_m]);
                Some(GeomWithData::new(rect, u32::try_from(i).expect("fewer than 2^32 estates")))
            })
            .collect();
        Self { tree: RTree::bulk_load(boxes), distance_from, radius_m }
    }

    /// The indexed estates within the radius of `p` (inclusive), with their distances, sorted by
    /// estate. `estates` must be the slice the index was built from.
    ///
    /// # Units
    /// Metres, working CRS.
    #[must_use]
    pub fn within(&self, estates: &[Estate], p: Coord<f64>) -> Vec<(u32, f64)> {
        let mut found: Vec<(u32, f64)> = self
            .tree
            .locate_all_at_point(&[p.x, p.y])
            .filter_map(|b| {
                let estate = &estates[b.data as usize];
                let d = match self.distance_from {
                    DistanceFrom::Boundary => point_multipolygon_distance_m(p, &estate.geometry),
                    DistanceFrom::Centroid => estate.centroid().map_or(f64::INFINITY, |c| (c.x() - p.x).hypot(c.y() - p.y)),
                };
                (d <= self.radius_m).then_some((b.data, d))
            })
            .collect();
        found.sort_unstable_by_key(|x| x.0);
        found
    }
}
