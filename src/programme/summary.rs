//! Batch aggregates per year, district and street, and progress against the renovation targets.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::funding::FundingSplit;
use super::gate::{Gate, GateResult};
use super::model::{Project, Status};
use crate::analysis::RenovationTarget;
use crate::model::FeatureId;

/// Totals over a group of projects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Projects.
    pub projects: usize,
    /// Distinct estates.
    pub estates: usize,
    /// Buildings.
    pub buildings: u64,
    /// Households.
    pub households: u64,
    /// Floor area.
    ///
    /// # Units
    /// Square metres.
    pub floor_area_m2: f64,
    /// Recorded investment by source (projects recording a split).
    ///
    /// # Units
    /// Yuan.
    pub investment_yuan: BTreeMap<String, f64>,
    /// Recorded investment, all projects (totals or sums by source).
    ///
    /// # Units
    /// Yuan.
    pub investment_total_yuan: f64,
    /// The rules' split by source.
    ///
    /// # Units
    /// Yuan.
    pub funding_yuan: BTreeMap<String, f64>,
    /// Money no share rule covers.
    ///
    /// # Units
    /// Yuan.
    pub unassigned_yuan: f64,
    /// The rules' split minus the recorded split, by source, over the projects that record
    /// their investment by source.
    ///
    /// # Units
    /// Yuan.
    pub difference_yuan: BTreeMap<String, f64>,
    /// Work done, weighted by floor area (by project where no project has a floor area), 0–100.
    pub complete_pct: f64,
    /// Projects by status.
    pub by_status: BTreeMap<Status, usize>,
    /// Projects passing the gate.
    pub gate_passed: usize,
    /// Projects failing the gate (rework).
    pub gate_failed: usize,
    /// Projects with no survey yet.
    pub no_survey: usize,
    /// Projects "accepted" without passing.
    pub contradictions: usize,
}

impl Totals {
    /// Projects accepted.
    #[must_use]
    pub fn accepted(&self) -> usize {
        self.by_status.get(&Status::Accepted).copied().unwrap_or(0)
    }
}

/// Totals of the projects `members` (indexes into the parallel slices).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "project counts are far below 2^52")]
pub fn totals(members: &[usize], projects: &[Project], funding: &[FundingSplit], gates: &[GateResult]) -> Totals {
    let mut t = Totals::default();
    let mut estates: BTreeSet<&FeatureId> = BTreeSet::new();
    let mut weighted = 0.0;
    let mut plain = 0.0;
    for &i in members {
        let p = &projects[i];
        t.projects += 1;
        estates.insert(&p.estate_id);
        t.buildings += u64::from(p.buildings);
        t.households += u64::from(p.households);
        t.floor_area_m2 += p.floor_area_m2;
        for (s, y) in &p.investment_yuan {
            *t.investment_yuan.entry(s.clone()).or_default() += y;
        }
        t.investment_total_yuan += p.total_investment_yuan();
        for (s, y) in &funding[i].by_source_yuan {
            *t.funding_yuan.entry(s.clone()).or_default() += y;
        }
        t.unassigned_yuan += funding[i].unassigned_yuan;
        for (s, y) in funding[i].difference_yuan.iter().flatten() {
            *t.difference_yuan.entry(s.clone()).or_default() += y;
        }
        weighted += p.complete_pct * p.floor_area_m2;
        plain += p.complete_pct;
        *t.by_status.entry(p.status).or_default() += 1;
        match gates[i].gate {
            Gate::Passed => t.gate_passed += 1,
            Gate::Failed => t.gate_failed += 1,
            Gate::NoSurvey => t.no_survey += 1,
        }
        t.contradictions += usize::from(gates[i].contradiction);
    }
    t.estates = estates.len();
    t.complete_pct = if t.floor_area_m2 > 0.0 {
        weighted / t.floor_area_m2
    } else if t.projects > 0 {
        plain / t.projects as f64
    } else {
        0.0
    };
    t
}

/// One group's row: a batch year, optionally narrowed to a district or a street.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRow {
    /// Batch year.
    pub year: i32,
    /// District (district rows).
    pub district: Option<String>,
    /// Street (street rows; with the district it lies in).
    pub street: Option<String>,
    /// The totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Groups projects by `key` and totals each group, in key order.
pub(super) fn group_rows<K: Ord + Clone>(
    projects: &[Project],
    funding: &[FundingSplit],
    gates: &[GateResult],
    key: impl Fn(&Project) -> K,
    row: impl Fn(&K, Totals) -> BatchRow,
) -> Vec<BatchRow> {
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, p) in projects.iter().enumerate() {
        groups.entry(key(p)).or_default().push(i);
    }
    groups.iter().map(|(k, members)| row(k, totals(members, projects, funding, gates))).collect()
}

/// The renovation stock progress is measured against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stock {
    /// Estates needing renovation (built before the stock year).
    pub estates: u64,
    /// Their households.
    pub households: u64,
    /// Estates built before this year form the stock.
    pub built_before: i32,
}

/// A year's progress: the batch against the year's target, and the cumulative share of the stock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgressRow {
    /// Year.
    pub year: i32,
    /// District; `None` for the city.
    pub district: Option<String>,
    /// Estates in the year's batch.
    pub estates: u64,
    /// Households in the year's batch.
    pub households: u64,
    /// Target estates.
    pub target_estates: Option<u64>,
    /// Target households.
    pub target_households: Option<u64>,
    /// Estates as % of target.
    pub estates_achieved_pct: Option<f64>,
    /// Households as % of target.
    pub households_achieved_pct: Option<f64>,
    /// Distinct estates in any batch up to this year.
    pub cumulative_estates: u64,
    /// Of those, estates of the old stock.
    pub cumulative_stock_estates: u64,
    /// Stock estates in a batch up to this year as a share of the stock (city rows only), 0–100.
    pub stock_done_pct: Option<f64>,
}

#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// Progress per year (city, and each district that has a target), from the projects of
/// `years` and the targets; `in_stock` holds the ids of the old stock's estates.
///
/// # Complexity
/// O(years × projects × log projects).
#[must_use]
pub fn progress(projects: &[Project], targets: &[RenovationTarget], years: std::ops::RangeInclusive<i32>, stock: Stock, in_stock: &BTreeSet<FeatureId>) -> Vec<ProgressRow> {
    let mut scopes: Vec<Option<String>> = vec![None];
    let districts: BTreeSet<&String> = targets.iter().filter_map(|t| t.district.as_ref()).collect();
    scopes.extend(districts.into_iter().cloned().map(Some));
    let mut rows = Vec::new();
    for scope in scopes {
        let in_scope = |p: &&Project| scope.is_none() || p.district == scope;
        for year in years.clone() {
            let batch: Vec<&Project> = projects.iter().filter(in_scope).filter(|p| p.batch_year == year).collect();
            let estates = batch.iter().map(|p| &p.estate_id).collect::<BTreeSet<_>>().len() as u64;
            let households: u64 = batch.iter().map(|p| u64::from(p.households)).sum();
            let done: BTreeSet<&FeatureId> = projects.iter().filter(in_scope).filter(|p| p.batch_year <= year).map(|p| &p.estate_id).collect();
            let cumulative = done.len() as u64;
            let cumulative_stock = done.iter().filter(|e| in_stock.contains(**e)).count() as u64;
            let target = targets.iter().find(|t| t.year == year && t.district == scope);
            let target_estates = target.and_then(|t| t.estates);
            let target_households = target.and_then(|t| t.households);
            if scope.is_some() && target.is_none() {
                continue;
            }
            rows.push(ProgressRow {
                year,
                district: scope.clone(),
                estates,
                households,
                target_estates,
                target_households,
                estates_achieved_pct: target_estates.and_then(|t| pct(estates, t)),
                households_achieved_pct: target_households.and_then(|t| pct(households, t)),
                cumulative_estates: cumulative,
                cumulative_stock_estates: cumulative_stock,
                stock_done_pct: if scope.is_none() { pct(cumulative_stock, stock.estates) } else { None },
            });
        }
    }
    rows
}
