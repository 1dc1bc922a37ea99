//! Year-by-year programme series: facilities opened, cumulative stock, coverage at each year's
//! end, targets against actuals and renovation progress — the figures of a city's annual report
//! on its old-estate renovation and facility programme.
//!
//! Coverage at the end of year `y` is [`compute_coverage`](super::compute_coverage) over the
//! facilities open by then (the metric measuring with `Some(y)`: straight line or walking
//! network), read from a [`CoverageTimeline`] of the period and the year before it (the first
//! year's change needs it): one measurement per year in which a facility opens, so a century-long
//! period costs what its opening years cost. Each table is reduced to counts at once, so memory
//! holds the timeline and one coverage table whatever the period's length.
//!
//! Districts: openings count by the *facility's* `district`, coverage and renovation by the
//! *estate's* (as in [`summarize`](super::summarize)); estates without a district appear in the
//! city-wide rows only.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize, Serializer};

use super::{AnalysisError, CoverageMetric, CoverageTable, CoverageTimeline, DistanceFrom, MetricKind, RecordedHouseholds, YearSpan};
use super::summary::{tally, SummaryBasis, Tally};
use crate::model::{Catalogue, Estate, Facility, FeatureId, KindId};

/// Estates built before this year form the renovation stock by default (the national programme
/// covers estates built before 2000; Xuecheng counts its stock before 2006, so it is a setting).
pub const DEFAULT_RENOVATION_BUILT_BEFORE: i32 = 2000;

/// Longest period a trend covers, a guard against a mistyped year (`--from 201`).
pub const MAX_YEARS: i32 = 100;

/// What period and which conventions a trend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TrendParams {
    /// First year reported.
    pub from: i32,
    /// Last year reported (the report year).
    pub to: i32,
    /// Where distances are measured from (set from the metric by [`compute_trend`]).
    pub distance_from: DistanceFrom,
    /// Straight line or walking network (set from the metric by [`compute_trend`]).
    pub metric: MetricKind,
    /// Estates with `built_year` before this form the renovation stock.
    pub renovation_built_before: i32,
}

impl TrendParams {
    /// The period `from..=to` with boundary distances and the default renovation stock.
    #[must_use]
    pub fn new(from: i32, to: i32) -> Self {
        Self { from, to, distance_from: DistanceFrom::Boundary, metric: MetricKind::Straight, renovation_built_before: DEFAULT_RENOVATION_BUILT_BEFORE }
    }

    /// Checks the period: `from` not after `to`, at most [`MAX_YEARS`] years.
    ///
    /// # Errors
    /// [`TrendError::Period`].
    pub fn check_period(&self) -> Result<(), TrendError> {
        if self.from > self.to || self.to - self.from >= MAX_YEARS {
            return Err(TrendError::Period { from: self.from, to: self.to });
        }
        Ok(())
    }

    /// The years reported, `from..=to`.
    pub fn years(&self) -> impl Iterator<Item = i32> {
        self.from..=self.to
    }
}

/// A facility target: what a city planned to build or reach in one year, for one kind, city-wide
/// or in one district. Every figure is optional; a target row sets at least one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacilityTarget {
    /// Year the target is for.
    pub year: i32,
    /// Catalogue kind key.
    pub kind: String,
    /// District; `None` for the whole city.
    pub district: Option<String>,
    /// New facilities to open in the year.
    pub new_facilities: Option<u64>,
    /// Capacity to add in the year, in the kind's unit.
    pub capacity_added: Option<f64>,
    /// Share of estates to be covered at year end, percent ("full coverage" = 100).
    pub coverage_estates_pct: Option<f64>,
    /// Share of households to be covered at year end, percent.
    pub coverage_households_pct: Option<f64>,
}

/// A renovation target: estates and households to renovate in one year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenovationTarget {
    /// Year the target is for.
    pub year: i32,
    /// District; `None` for the whole city.
    pub district: Option<String>,
    /// Estates to renovate in the year.
    pub estates: Option<u64>,
    /// Households to renovate in the year.
    pub households: Option<u64>,
}

/// A city's targets (read by [`crate::report::targets`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Facility targets.
    pub facilities: Vec<FacilityTarget>,
    /// Renovation targets.
    pub renovation: Vec<RenovationTarget>,
}

/// A kind as the trend reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendKind {
    /// Catalogue key.
    pub key: String,
    /// English label.
    pub label_en: String,
    /// Chinese label.
    pub label_zh: String,
    /// Service radius used.
    ///
    /// # Units
    /// Metres.
    pub radius_m: f64,
    /// Unit of capacity figures (`places`, `spaces`, `m2`…).
    pub capacity_unit: Option<String>,
}

/// One kind in one year, city-wide or in one district.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindYear {
    /// The year.
    pub year: i32,
    /// Kind key.
    pub kind: String,
    /// District; `None` city-wide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Facilities with `opened_year` = `year`.
    pub opened: u64,
    /// Their summed capacity (unknown counts 0), in the kind's unit.
    pub capacity_added: f64,
    /// Facilities open at year end (`opened_year <= year` or no opening year).
    pub facilities_total: u64,
    /// Their summed capacity.
    pub capacity_total: f64,
    /// Estates considered.
    pub estates: u64,
    /// Estates covered at year end.
    pub estates_covered: u64,
    /// `estates_covered / estates × 100` (0 without estates).
    pub estates_covered_pct: f64,
    /// Change of `estates_covered` since the previous year's end.
    pub estates_covered_change: i64,
    /// Change of `estates_covered_pct`, percentage points.
    pub estates_covered_pct_change: f64,
    /// Estates not covered at year end.
    pub estates_uncovered: u64,
    /// Households of the estates considered.
    pub households: u64,
    /// Households of covered estates.
    pub households_covered: u64,
    /// `households_covered / households × 100` (0 without households).
    pub households_covered_pct: f64,
    /// Change of `households_covered` since the previous year's end.
    pub households_covered_change: i64,
    /// Change of `households_covered_pct`, percentage points.
    pub households_covered_pct_change: f64,
    /// Target of new facilities, if one was set.
    pub target_new_facilities: Option<u64>,
    /// `opened / target × 100` (`None` without a target or when it is 0).
    pub new_facilities_achieved_pct: Option<f64>,
    /// Target of capacity added.
    pub target_capacity_added: Option<f64>,
    /// `capacity_added / target × 100`.
    pub capacity_added_achieved_pct: Option<f64>,
    /// Target share of estates covered, percent.
    pub target_coverage_estates_pct: Option<f64>,
    /// `estates_covered_pct >= target`.
    pub coverage_estates_met: Option<bool>,
    /// Target share of households covered, percent.
    pub target_coverage_households_pct: Option<f64>,
    /// `households_covered_pct >= target`.
    pub coverage_households_met: Option<bool>,
}

/// Renovation progress in one year, city-wide or in one district.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenovationYear {
    /// The year.
    pub year: i32,
    /// District; `None` city-wide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// Estates with `renovation_year` = `year`.
    pub estates_renovated: u64,
    /// Their households.
    pub households_renovated: u64,
    /// Estates renovated from the first reported year to this one.
    pub estates_cumulative: u64,
    /// Their households.
    pub households_cumulative: u64,
    /// Estates in the renovation stock (built before [`TrendParams::renovation_built_before`]).
    pub stock_estates: u64,
    /// Their households.
    pub stock_households: u64,
    /// Stock estates renovated by year end (in any year).
    pub stock_done_estates: u64,
    /// Their households.
    pub stock_done_households: u64,
    /// `stock_done_estates / stock_estates × 100`.
    pub stock_done_estates_pct: f64,
    /// `stock_done_households / stock_households × 100`.
    pub stock_done_households_pct: f64,
    /// Target of estates renovated in the year.
    pub target_estates: Option<u64>,
    /// `estates_renovated / target × 100`.
    pub estates_achieved_pct: Option<f64>,
    /// Target of households renovated in the year.
    pub target_households: Option<u64>,
    /// `households_renovated / target × 100`.
    pub households_achieved_pct: Option<f64>,
}

/// One district's series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistrictTrend {
    /// District name.
    pub district: String,
    /// Per year (ascending), then kind (catalogue order).
    pub kinds: Vec<KindYear>,
    /// Per year (ascending).
    pub renovation: Vec<RenovationYear>,
}

/// An estate not covered by a kind at the end of the report year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    /// Kind key.
    pub kind: String,
    /// Estate id.
    #[serde(serialize_with = "serialize_id")]
    pub estate_id: FeatureId,
    /// Position of the estate in the estate slice the trend was computed from.
    #[serde(skip)]
    pub estate_index: usize,
    /// Estate name.
    pub name: Option<String>,
    /// Estate district.
    pub district: Option<String>,
    /// Estate households.
    pub households: Option<u32>,
    /// Distance to the nearest open facility of the kind; `None` when none is open.
    ///
    /// # Units
    /// Metres.
    pub nearest_m: Option<f64>,
    /// Id of that facility.
    #[serde(serialize_with = "serialize_opt_id")]
    pub nearest_facility: Option<FeatureId>,
}

/// Writes an id as a JSON number or string, as the source had it.
fn serialize_id<S: Serializer>(id: &FeatureId, s: S) -> Result<S::Ok, S::Error> {
    match id {
        FeatureId::Int(n) => s.serialize_i64(*n),
        FeatureId::Text(t) => s.serialize_str(t),
    }
}

#[expect(clippy::ref_option, reason = "serde's serialize_with signature")]
fn serialize_opt_id<S: Serializer>(id: &Option<FeatureId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => serialize_id(id, s),
        None => s.serialize_none(),
    }
}

/// Everything the annual report states, per year of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// Period and conventions.
    pub params: TrendParams,
    /// Kinds, in catalogue order.
    pub kinds: Vec<TrendKind>,
    /// Districts of the estates, sorted.
    pub districts: Vec<String>,
    /// City-wide, per year (ascending) then kind (catalogue order).
    pub overall: Vec<KindYear>,
    /// City-wide renovation, per year.
    pub renovation: Vec<RenovationYear>,
    /// Per district, sorted by name.
    pub by_district: Vec<DistrictTrend>,
    /// Estates uncovered at the end of the report year: by kind (catalogue order), then most
    /// households first, then estate id.
    pub gaps: Vec<Gap>,
    /// Targets that match nothing (unknown district, year outside the period); the report
    /// lists them so a typo is not silently ignored.
    pub unmatched_targets: Vec<String>,
}

impl Trend {
    /// The city-wide row of `kind` in `year`.
    #[must_use]
    pub fn row(&self, year: i32, kind: &str) -> Option<&KindYear> {
        self.overall.iter().find(|r| r.year == year && r.kind == kind)
    }

    /// The city-wide renovation row of `year`.
    #[must_use]
    pub fn renovation_row(&self, year: i32) -> Option<&RenovationYear> {
        self.renovation.iter().find(|r| r.year == year)
    }
}

/// Why a trend cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrendError {
    /// The period is empty or implausibly long.
    #[error("the report period {from}–{to} is invalid: the first year must not be after the report year, and at most {MAX_YEARS} years are reported")]
    Period {
        /// First year.
        from: i32,
        /// Last year.
        to: i32,
    },
    /// The coverage analysis failed.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
}

/// Coverage counts of a set of estates for one kind.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    estates: u64,
    estates_covered: u64,
    households: u64,
    households_covered: u64,
}

impl Counts {
    fn estates_pct(self) -> f64 {
        pct(self.estates_covered, self.estates)
    }

    fn households_pct(self) -> f64 {
        pct(self.households_covered, self.households)
    }
}

/// Facilities opened in a year and open at its end, for one kind.
#[derive(Debug, Clone, Copy, Default)]
struct Stock {
    opened: u64,
    capacity_added: f64,
    total: u64,
    capacity_total: f64,
}

/// Computes the year series of `params`' period.
///
/// `targets` are matched by year, kind and district; a target naming a kind outside the
/// catalogue, a district no estate has, or a year outside the period goes to
/// [`Trend::unmatched_targets`].
///
/// # Errors
/// [`TrendError::Period`] for an empty or over-long period; [`TrendError::Analysis`] when the
/// catalogue is invalid.
///
/// # Complexity
/// O((Y + 1) · (E · K · log F + F)) for Y years; each year's coverage is parallel over estates.
///
/// # Examples
/// ```
/// use gapmap::analysis::{compute_trend, StraightLine, Targets, TrendParams};
/// use gapmap::model::*;
/// let catalogue = Catalogue { name: "t".into(), residents_per_household: 2.5, kinds: vec![KindSpec {
///     key: "nursery".into(), label_zh: "托儿所".into(), label_en: "Nursery".into(), radius_m: 300.0,
///     circle: LivingCircle::FiveMin, ratio: None, capacity_unit: Some("places".into()),
///     clause: "t".into(), confirmed: false, osm: vec![], amap_types: vec![], keywords: vec![] }] };
/// let estate = Estate { id: FeatureId::Int(1), name: None, district: None, households: Some(100),
///     built_year: Some(1990), renovation_year: Some(2021), extra: vec![],
///     geometry: geo::wkt! { MULTIPOLYGON(((0. 0.,100. 0.,100. 100.,0. 100.,0. 0.))) } };
/// let nursery = Facility { id: FeatureId::Int(7), kind: KindId(0), name: None, capacity: Some(60.0),
///     opened_year: Some(2021), planned: false, district: None, location: geo::point!(x: 200.0, y: 50.0), extra: vec![] };
/// let facilities = [nursery];
/// let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
/// let trend = compute_trend(&[estate], &facilities, &metric, &catalogue, TrendParams::new(2020, 2021),
///     &Targets::default()).unwrap();
/// let (y2020, y2021) = (trend.row(2020, "nursery").unwrap(), trend.row(2021, "nursery").unwrap());
/// assert_eq!((y2020.estates_covered, y2021.estates_covered, y2021.opened), (0, 1, 1));
/// assert_eq!(y2021.estates_covered_pct_change, 100.0);
/// assert_eq!(trend.renovation_row(2021).unwrap().stock_done_estates_pct, 100.0);
/// ```
pub fn compute_trend(
    estates: &[Estate],
    facilities: &[Facility],
    metric: &dyn CoverageMetric,
    catalogue: &Catalogue,
    params: TrendParams,
    targets: &Targets,
) -> Result<Trend, TrendError> {
    compute_trend_with(estates, facilities, metric, None, catalogue, params, targets)
}

/// [`compute_trend`], reading coverage from `timeline` when it answers the whole period (the
/// service keeps one), else from a timeline of the period built here: one measurement per year in
/// which a facility opens, not one per year of the period.
///
/// # Errors
/// As [`compute_trend`].
#[expect(clippy::too_many_lines, reason = "one pass over the period's rows, overall and per district; splitting it would pass a dozen locals around")]
pub fn compute_trend_with(
    estates: &[Estate],
    facilities: &[Facility],
    metric: &dyn CoverageMetric,
    timeline: Option<&CoverageTimeline>,
    catalogue: &Catalogue,
    params: TrendParams,
    targets: &Targets,
) -> Result<Trend, TrendError> {
    params.check_period()?;
    let params = TrendParams { distance_from: metric.distance_from(), metric: metric.kind(), ..params };
    catalogue.validate().map_err(AnalysisError::from)?;
    let kinds = catalogue.len();
    let districts: Vec<String> = estates.iter().filter_map(|e| e.district.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let district_pos: HashMap<&str, usize> = districts.iter().enumerate().map(|(i, d)| (d.as_str(), i)).collect();
    let estate_district: Vec<Option<usize>> =
        estates.iter().map(|e| e.district.as_deref().and_then(|d| district_pos.get(d).copied())).collect();
    // Year `from - 1` is computed only as the baseline of the first year's change.
    let years: Vec<i32> = (params.from - 1..=params.to).collect();

    let mut overall_cov: Vec<Vec<Counts>> = Vec::with_capacity(years.len());
    let mut district_cov: Vec<Vec<Vec<Counts>>> = Vec::with_capacity(years.len());
    let mut gaps = Vec::new();
    let built;
    let timeline = match timeline {
        Some(t) if t.answers(Some(params.from - 1)) && t.answers(Some(params.to)) => t,
        _ => {
            built = CoverageTimeline::build(estates, facilities, metric, catalogue, YearSpan { from: Some(params.from - 1), to: Some(params.to) }, &())?;
            &built
        }
    };
    let basis = SummaryBasis::new(estates, facilities);
    for &year in &years {
        let table = timeline
            .table_at(Some(year), estates, catalogue, &RecordedHouseholds)?
            .ok_or(AnalysisError::YearOutsideTimeline { year })?;
        let (overall, by_district) = count_covered(&basis, estates, &table);
        overall_cov.push(overall);
        district_cov.push(by_district);
        if year == params.to {
            gaps = find_gaps(estates, facilities, catalogue, &table);
        }
    }

    let (overall_stock, district_stock) = count_stock(facilities, kinds, &years, &district_pos, districts.len());
    let mut matcher = TargetMatcher::new(targets, catalogue, &district_pos, params);

    let row = |y: usize, k: usize, district: Option<usize>, cov: &[Vec<Counts>], stock: &[Vec<Stock>], matcher: &mut TargetMatcher| {
        let spec = &catalogue.kinds[k];
        let (now, before, s) = (cov[y][k], cov[y - 1][k], stock[y][k]);
        let mut r = KindYear {
            year: years[y],
            kind: spec.key.clone(),
            district: district.map(|d| districts[d].clone()),
            opened: s.opened,
            capacity_added: s.capacity_added,
            facilities_total: s.total,
            capacity_total: s.capacity_total,
            estates: now.estates,
            estates_covered: now.estates_covered,
            estates_covered_pct: now.estates_pct(),
            estates_covered_change: signed(now.estates_covered) - signed(before.estates_covered),
            estates_covered_pct_change: now.estates_pct() - before.estates_pct(),
            estates_uncovered: now.estates - now.estates_covered,
            households: now.households,
            households_covered: now.households_covered,
            households_covered_pct: now.households_pct(),
            households_covered_change: signed(now.households_covered) - signed(before.households_covered),
            households_covered_pct_change: now.households_pct() - before.households_pct(),
            target_new_facilities: None,
            new_facilities_achieved_pct: None,
            target_capacity_added: None,
            capacity_added_achieved_pct: None,
            target_coverage_estates_pct: None,
            coverage_estates_met: None,
            target_coverage_households_pct: None,
            coverage_households_met: None,
        };
        if let Some(t) = matcher.facility(years[y], k, district) {
            apply_facility_target(&mut r, t);
        }
        r
    };

    let mut overall = Vec::with_capacity((years.len() - 1) * kinds);
    for y in 1..years.len() {
        for k in 0..kinds {
            overall.push(row(y, k, None, &overall_cov, &overall_stock, &mut matcher));
        }
    }
    let renovation_all: Vec<&Estate> = estates.iter().collect();
    let renovation = renovation_series(&renovation_all, params, None, &mut matcher);
    let by_district = districts
        .iter()
        .enumerate()
        .map(|(d, name)| {
            let cov: Vec<Vec<Counts>> = district_cov.iter().map(|per_year| per_year[d].clone()).collect();
            let stock: Vec<Vec<Stock>> = district_stock.iter().map(|per_year| per_year[d].clone()).collect();
            let mut kind_rows = Vec::with_capacity((years.len() - 1) * kinds);
            for y in 1..years.len() {
                for k in 0..kinds {
                    kind_rows.push(row(y, k, Some(d), &cov, &stock, &mut matcher));
                }
            }
            let members: Vec<&Estate> = estates.iter().zip(&estate_district).filter(|(_, ed)| **ed == Some(d)).map(|(e, _)| e).collect();
            DistrictTrend { district: name.clone(), kinds: kind_rows, renovation: renovation_series(&members, params, Some(d), &mut matcher) }
        })
        .collect();

    Ok(Trend {
        params,
        kinds: trend_kinds(catalogue),
        unmatched_targets: matcher.unmatched(&districts),
        districts,
        overall,
        renovation,
        by_district,
        gaps,
    })
}

fn trend_kinds(catalogue: &Catalogue) -> Vec<TrendKind> {
    catalogue
        .kinds
        .iter()
        .map(|k| TrendKind {
            key: k.key.clone(),
            label_en: k.label_en.clone(),
            label_zh: k.label_zh.clone(),
            radius_m: k.radius_m,
            capacity_unit: k.capacity_unit.clone(),
        })
        .collect()
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).expect("counts are far below 2^63")
}

#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn pct(part: u64, whole: u64) -> f64 {
    super::summary::pct(part as f64, whole as f64)
}

fn achieved(actual: f64, target: Option<f64>) -> Option<f64> {
    target.filter(|&t| t > 0.0).map(|t| actual / t * 100.0)
}

#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn achieved_count(actual: u64, target: Option<u64>) -> Option<f64> {
    achieved(actual as f64, target.map(|t| t as f64))
}

fn apply_facility_target(r: &mut KindYear, t: &FacilityTarget) {
    r.target_new_facilities = t.new_facilities;
    r.new_facilities_achieved_pct = achieved_count(r.opened, t.new_facilities);
    r.target_capacity_added = t.capacity_added;
    r.capacity_added_achieved_pct = achieved(r.capacity_added, t.capacity_added);
    r.target_coverage_estates_pct = t.coverage_estates_pct;
    r.coverage_estates_met = t.coverage_estates_pct.map(|p| r.estates_covered_pct >= p);
    r.target_coverage_households_pct = t.coverage_households_pct;
    r.coverage_households_met = t.coverage_households_pct.map(|p| r.households_covered_pct >= p);
}

/// Coverage counts per kind: city-wide and per district, districts in name order (that of
/// `compute_trend`'s district list), from the summary's one-pass tally.
fn count_covered(basis: &SummaryBasis, estates: &[Estate], table: &CoverageTable) -> (Vec<Counts>, Vec<Vec<Counts>>) {
    let (overall, by_district) = tally(basis, table, table.kinds());
    let counts = |n: usize, tallies: &[Tally]| -> Vec<Counts> {
        tallies
            .iter()
            .map(|t| Counts {
                estates: n as u64,
                estates_covered: t.estates_covered as u64,
                households: t.households,
                households_covered: t.households_covered,
            })
            .collect()
    };
    (counts(estates.len(), &overall), by_district.values().map(|d| counts(d.estates, &d.tallies)).collect())
}

/// Openings and stock per year × kind: city-wide and per year × district × kind (by the
/// facility's district).
fn count_stock(
    facilities: &[Facility],
    kinds: usize,
    years: &[i32],
    district_pos: &HashMap<&str, usize>,
    districts: usize,
) -> (Vec<Vec<Stock>>, Vec<Vec<Vec<Stock>>>) {
    let mut overall = vec![vec![Stock::default(); kinds]; years.len()];
    let mut by_district = vec![vec![vec![Stock::default(); kinds]; districts]; years.len()];
    for f in facilities {
        let k = f.kind.index();
        if k >= kinds {
            continue;
        }
        let capacity = f.capacity.unwrap_or(0.0);
        let d = f.district.as_deref().and_then(|d| district_pos.get(d).copied());
        for (y, &year) in years.iter().enumerate() {
            let add = |s: &mut Stock| {
                if f.opened_year == Some(year) {
                    s.opened += 1;
                    s.capacity_added += capacity;
                }
                if f.open_in(Some(year)) {
                    s.total += 1;
                    s.capacity_total += capacity;
                }
            };
            add(&mut overall[y][k]);
            if let Some(d) = d {
                add(&mut by_district[y][d][k]);
            }
        }
    }
    (overall, by_district)
}

/// Renovation rows of the period for a set of estates.
fn renovation_series(estates: &[&Estate], params: TrendParams, district: Option<usize>, matcher: &mut TargetMatcher) -> Vec<RenovationYear> {
    params
        .years()
        .map(|year| {
            let mut r = RenovationYear {
                year,
                district: district.map(|d| matcher.district_name(d)),
                estates_renovated: 0,
                households_renovated: 0,
                estates_cumulative: 0,
                households_cumulative: 0,
                stock_estates: 0,
                stock_households: 0,
                stock_done_estates: 0,
                stock_done_households: 0,
                stock_done_estates_pct: 0.0,
                stock_done_households_pct: 0.0,
                target_estates: None,
                estates_achieved_pct: None,
                target_households: None,
                households_achieved_pct: None,
            };
            for e in estates {
                let h = u64::from(e.households.unwrap_or(0));
                if e.renovation_year == Some(year) {
                    r.estates_renovated += 1;
                    r.households_renovated += h;
                }
                if e.renovation_year.is_some_and(|y| (params.from..=year).contains(&y)) {
                    r.estates_cumulative += 1;
                    r.households_cumulative += h;
                }
                if e.built_year.is_some_and(|b| b < params.renovation_built_before) {
                    r.stock_estates += 1;
                    r.stock_households += h;
                    if e.renovation_year.is_some_and(|y| y <= year) {
                        r.stock_done_estates += 1;
                        r.stock_done_households += h;
                    }
                }
            }
            r.stock_done_estates_pct = pct(r.stock_done_estates, r.stock_estates);
            r.stock_done_households_pct = pct(r.stock_done_households, r.stock_households);
            if let Some(t) = matcher.renovation(year, district) {
                r.target_estates = t.estates;
                r.estates_achieved_pct = achieved_count(r.estates_renovated, t.estates);
                r.target_households = t.households;
                r.households_achieved_pct = achieved_count(r.households_renovated, t.households);
            }
            r
        })
        .collect()
}

/// Targets by (year, kind, district) and (year, district), recording which were used.
struct TargetMatcher<'a> {
    facility: HashMap<(i32, usize, Option<usize>), (usize, &'a FacilityTarget)>,
    renovation: HashMap<(i32, Option<usize>), (usize, &'a RenovationTarget)>,
    used_facility: Vec<bool>,
    used_renovation: Vec<bool>,
    targets: &'a Targets,
    district_names: Vec<String>,
}

impl<'a> TargetMatcher<'a> {
    fn new(targets: &'a Targets, catalogue: &Catalogue, district_pos: &HashMap<&str, usize>, params: TrendParams) -> Self {
        let mut district_names = vec![String::new(); district_pos.len()];
        for (name, &i) in district_pos {
            (*name).clone_into(&mut district_names[i]);
        }
        let in_period = |y: i32| (params.from..=params.to).contains(&y);
        let mut facility = HashMap::new();
        for (i, t) in targets.facilities.iter().enumerate() {
            let Some(kind) = catalogue.kind_id(&t.kind) else { continue };
            let district = match t.district.as_deref() {
                None => None,
                Some(d) => match district_pos.get(d) {
                    Some(&d) => Some(d),
                    None => continue,
                },
            };
            if in_period(t.year) {
                facility.entry((t.year, kind.index(), district)).or_insert((i, t));
            }
        }
        let mut renovation = HashMap::new();
        for (i, t) in targets.renovation.iter().enumerate() {
            let district = match t.district.as_deref() {
                None => None,
                Some(d) => match district_pos.get(d) {
                    Some(&d) => Some(d),
                    None => continue,
                },
            };
            if in_period(t.year) {
                renovation.entry((t.year, district)).or_insert((i, t));
            }
        }
        Self {
            facility,
            renovation,
            used_facility: vec![false; targets.facilities.len()],
            used_renovation: vec![false; targets.renovation.len()],
            targets,
            district_names,
        }
    }

    fn district_name(&self, d: usize) -> String {
        self.district_names[d].clone()
    }

    fn facility(&mut self, year: i32, kind: usize, district: Option<usize>) -> Option<&'a FacilityTarget> {
        let &(i, t) = self.facility.get(&(year, kind, district))?;
        self.used_facility[i] = true;
        Some(t)
    }

    fn renovation(&mut self, year: i32, district: Option<usize>) -> Option<&'a RenovationTarget> {
        let &(i, t) = self.renovation.get(&(year, district))?;
        self.used_renovation[i] = true;
        Some(t)
    }

    fn unmatched(&self, districts: &[String]) -> Vec<String> {
        let why = |year: i32, district: Option<&str>| match district {
            Some(d) if !districts.iter().any(|x| x == d) => format!("no estate is in district `{d}`"),
            _ => format!("{year} is outside the report period"),
        };
        let mut out = Vec::new();
        for (t, used) in self.targets.facilities.iter().zip(&self.used_facility) {
            if !used {
                let place = t.district.as_deref().map_or_else(String::new, |d| format!(" in {d}"));
                out.push(format!("target {} {}{place}: {}", t.year, t.kind, why(t.year, t.district.as_deref())));
            }
        }
        for (t, used) in self.targets.renovation.iter().zip(&self.used_renovation) {
            if !used {
                let place = t.district.as_deref().map_or_else(String::new, |d| format!(" in {d}"));
                out.push(format!("renovation target {}{place}: {}", t.year, why(t.year, t.district.as_deref())));
            }
        }
        out
    }
}

/// Estates uncovered per kind, most households first.
fn find_gaps(estates: &[Estate], facilities: &[Facility], catalogue: &Catalogue, table: &CoverageTable) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for (k, spec) in catalogue.kinds.iter().enumerate() {
        let kind = KindId(u16::try_from(k).expect("validated: < 65536 kinds"));
        let mut rows: Vec<Gap> = estates
            .iter()
            .enumerate()
            .filter(|(i, _)| !table.get(*i, kind).covered)
            .map(|(i, e)| {
                let nearest = table.get(i, kind).nearest;
                Gap {
                    kind: spec.key.clone(),
                    estate_id: e.id.clone(),
                    estate_index: i,
                    name: e.name.clone(),
                    district: e.district.clone(),
                    households: e.households,
                    nearest_m: nearest.map(|n| n.distance_m),
                    nearest_facility: nearest.map(|n| facilities[n.facility as usize].id.clone()),
                }
            })
            .collect();
        rows.sort_by(|a, b| b.households.cmp(&a.households).then_with(|| a.estate_id.cmp(&b.estate_id)));
        gaps.extend(rows);
    }
    gaps
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, clippy::float_cmp, reason = "tests panic on unexpected errors; the compared values are exact")]

    use super::*;
    use crate::analysis::StraightLine;
    use crate::model::{FeatureId, KindSpec, LivingCircle};

    fn catalogue() -> Catalogue {
        let kind = |key: &str| KindSpec {
            key: key.into(),
            label_zh: key.into(),
            label_en: key.into(),
            radius_m: 100.0,
            circle: LivingCircle::FiveMin,
            ratio: None,
            capacity_unit: None,
            clause: "t".into(),
            confirmed: false,
            osm: vec![],
            amap_types: vec![],
            keywords: vec![],
        };
        Catalogue { name: "t".into(), residents_per_household: 2.5, kinds: vec![kind("a"), kind("b")] }
    }

    fn estate(id: i64, x: f64, district: &str, households: u32, built: i32, renovated: Option<i32>) -> Estate {
        Estate {
            id: FeatureId::Int(id),
            name: None,
            district: Some(district.into()),
            households: Some(households),
            built_year: Some(built),
            renovation_year: renovated,
            extra: vec![],
            geometry: geo::MultiPolygon(vec![geo::Rect::new(geo::coord! { x: x, y: 0.0 }, geo::coord! { x: x + 10.0, y: 10.0 }).to_polygon()]),
        }
    }

    fn facility(id: i64, kind: u16, x: f64, opened: Option<i32>, district: &str) -> Facility {
        Facility {
            id: FeatureId::Int(id),
            kind: KindId(kind),
            name: None,
            capacity: Some(10.0),
            opened_year: opened,
            planned: false,
            district: Some(district.into()),
            location: geo::point!(x: x, y: 5.0),
            extra: vec![],
        }
    }

    #[test]
    fn openings_stock_coverage_and_renovation() {
        let estates = [estate(1, 0.0, "N", 100, 1990, Some(2020)), estate(2, 1000.0, "S", 300, 2005, Some(2021)), estate(3, 2000.0, "S", 50, 1980, None)];
        let facilities = [
            facility(10, 0, 20.0, None, "N"),         // always open, covers estate 1
            facility(11, 0, 1050.0, Some(2021), "S"), // covers estate 2 from 2021
            facility(12, 1, 5000.0, Some(2020), "S"), // covers nobody
        ];
        let targets = Targets {
            facilities: vec![
                FacilityTarget { year: 2021, kind: "a".into(), district: None, new_facilities: Some(2), capacity_added: None, coverage_estates_pct: Some(50.0), coverage_households_pct: Some(90.0) },
                FacilityTarget { year: 2021, kind: "a".into(), district: Some("S".into()), new_facilities: Some(1), capacity_added: Some(20.0), coverage_estates_pct: None, coverage_households_pct: None },
            ],
            renovation: vec![RenovationTarget { year: 2021, district: None, estates: Some(2), households: None }],
        };
        let trend = compute_trend(&estates, &facilities, &StraightLine::new(&facilities, DistanceFrom::Boundary), &catalogue(), TrendParams::new(2020, 2021), &targets).unwrap();
        assert_eq!(trend.districts, ["N", "S"]);
        let a2020 = trend.row(2020, "a").unwrap();
        let a2021 = trend.row(2021, "a").unwrap();
        assert_eq!((a2020.opened, a2020.facilities_total, a2020.estates_covered), (0, 1, 1));
        assert_eq!((a2021.opened, a2021.facilities_total, a2021.estates_covered, a2021.households_covered), (1, 2, 2, 400));
        assert_eq!((a2021.estates_covered_change, a2021.households_covered_change), (1, 300));
        assert_eq!(a2021.new_facilities_achieved_pct, Some(50.0));
        assert_eq!((a2021.coverage_estates_met, a2021.coverage_households_met), (Some(true), Some(false)));
        let b2020 = trend.row(2020, "b").unwrap();
        assert_eq!((b2020.opened, b2020.estates_covered, b2020.estates_uncovered), (1, 0, 3));

        let south = &trend.by_district[1];
        let a2021_south = south.kinds.iter().find(|r| r.year == 2021 && r.kind == "a").unwrap();
        assert_eq!((a2021_south.opened, a2021_south.estates, a2021_south.estates_covered), (1, 2, 1));
        assert_eq!((a2021_south.new_facilities_achieved_pct, a2021_south.capacity_added_achieved_pct), (Some(100.0), Some(50.0)));

        let r2021 = trend.renovation_row(2021).unwrap();
        assert_eq!((r2021.estates_renovated, r2021.households_renovated, r2021.estates_cumulative), (1, 300, 2));
        // Stock: estates 1 and 3 (built before 2000); estate 2 is renovated but not stock.
        assert_eq!((r2021.stock_estates, r2021.stock_done_estates, r2021.stock_done_households), (2, 1, 100));
        assert_eq!(r2021.estates_achieved_pct, Some(50.0));

        // Gaps of 2021: estate 3 for `a` (nearest: facility 11), all three for `b`, most households first.
        let gaps: Vec<(&str, String, Option<String>)> =
            trend.gaps.iter().map(|g| (g.kind.as_str(), g.estate_id.to_string(), g.nearest_facility.as_ref().map(ToString::to_string))).collect();
        assert_eq!(
            gaps,
            [
                ("a", "3".into(), Some("11".into())),
                ("b", "2".into(), Some("12".into())),
                ("b", "1".into(), Some("12".into())),
                ("b", "3".into(), Some("12".into())),
            ]
        );
        assert!((trend.gaps[0].nearest_m.unwrap() - 950.0).abs() < 1e-9);
        assert!(trend.unmatched_targets.is_empty());
    }

    #[test]
    fn rejects_bad_periods() {
        let err = compute_trend(&[], &[], &StraightLine::new(&[], DistanceFrom::Boundary), &catalogue(), TrendParams::new(2022, 2021), &Targets::default()).unwrap_err();
        assert_eq!(err, TrendError::Period { from: 2022, to: 2021 });
        assert!(compute_trend(&[], &[], &StraightLine::new(&[], DistanceFrom::Boundary), &catalogue(), TrendParams::new(1900, 2021), &Targets::default()).is_err());
        let empty = compute_trend(&[], &[], &StraightLine::new(&[], DistanceFrom::Boundary), &catalogue(), TrendParams::new(2021, 2021), &Targets::default()).unwrap();
        assert_eq!(empty.overall.len(), 2);
        assert_eq!(empty.overall[0].estates_covered_pct, 0.0);
    }
}
