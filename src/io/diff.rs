//! `gapmap diff`: what a scenario changes against a baseline, estate by estate and kind by kind,
//! and its three outputs (CSV rows, GeoJSON of the changed estates, JSON totals and lists).
//!
//! Both sides are coverage tables of their own loads (the baseline without the planned
//! facilities and the scenario with them, or two configs). Estates are matched by id and kinds
//! by key, so the two sides may come from different files, catalogues or radii; only the
//! covered flag decides a change, as a planner reads a gap map.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use geo::Geometry;
use serde::Serialize;

use super::crs::Transformer;
use super::write::{fmt_number, write_atomically, OutFeature};
use super::WriteError;
use crate::analysis::{CoverageTable, DistanceFrom, MetricKind};
use crate::model::{AttrValue, Catalogue, Estate, Facility, FeatureId, KindId};

/// One side of a comparison: its estates, facilities, catalogue and coverage table.
#[derive(Debug, Clone, Copy)]
pub struct DiffSide<'a> {
    /// Estates (working CRS), in table order.
    pub estates: &'a [Estate],
    /// Facilities the table's nearest positions index.
    pub facilities: &'a [Facility],
    /// The catalogue the table was computed with.
    pub catalogue: &'a Catalogue,
    /// The coverage table.
    pub table: &'a CoverageTable,
}

/// How an estate's coverage of a kind changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Not covered in the baseline, covered in the scenario.
    Covered,
    /// Covered in the baseline, not in the scenario (a facility closed, a radius shrank).
    Uncovered,
}

impl Change {
    /// `covered` or `uncovered`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Covered => "covered",
            Self::Uncovered => "uncovered",
        }
    }
}

/// One estate × kind whose covered flag changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedCell {
    /// Position of the estate in the scenario's estates.
    pub estate: usize,
    /// Kind key.
    pub kind: String,
    /// Which way.
    pub change: Change,
    /// The estate's households (scenario side).
    pub households: Option<u32>,
    /// Distance to the nearest facility of the kind before and after (metres).
    pub before_m: Option<f64>,
    /// See `before_m`.
    pub after_m: Option<f64>,
    /// The nearest facility's id before and after.
    pub nearest_before: Option<FeatureId>,
    /// See `nearest_before`.
    pub nearest_after: Option<FeatureId>,
    /// Whether the nearest facility after is a planned one.
    pub nearest_after_planned: bool,
}

/// Per kind totals and lists of the JSON document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindDiff {
    /// Kind key.
    pub kind: String,
    /// The kind's radius in the baseline and the scenario (metres).
    pub radius_m_before: f64,
    /// See `radius_m_before`.
    pub radius_m_after: f64,
    /// Estates covered in the scenario and not in the baseline.
    pub estates_newly_covered: usize,
    /// Estates covered in the baseline and not in the scenario.
    pub estates_newly_uncovered: usize,
    /// Households of the newly covered estates.
    pub households_gained: u64,
    /// Households of the newly uncovered estates.
    pub households_lost: u64,
    /// `households_gained - households_lost`.
    pub households_net: i64,
    /// Ids of the newly covered estates, sorted.
    pub newly_covered: Vec<String>,
    /// Ids of the newly uncovered estates, sorted.
    pub newly_uncovered: Vec<String>,
}

/// The comparison: every changed estate × kind and the per-kind totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageDiff {
    /// `gapmap x.y.z`.
    pub generator: String,
    /// What the baseline is (`without the planned facilities`, a config path).
    pub baseline: String,
    /// What the scenario is.
    pub scenario: String,
    /// How distances were measured on both sides.
    pub metric: MetricKind,
    /// Where distances were measured from on both sides.
    pub distance_from: DistanceFrom,
    /// Only facilities opened by this year counted (both sides).
    pub year: Option<i32>,
    /// Estates present on both sides (matched by id).
    pub estates_compared: usize,
    /// Ids of estates only in the baseline (not compared).
    pub estates_only_in_baseline: Vec<String>,
    /// Ids of estates only in the scenario (not compared).
    pub estates_only_in_scenario: Vec<String>,
    /// Planned facilities per side.
    pub planned_facilities_before: usize,
    /// See `planned_facilities_before`.
    pub planned_facilities_after: usize,
    /// Per kind present on both sides, in the baseline catalogue's order.
    pub kinds: Vec<KindDiff>,
    /// Every change, sorted by estate id then kind key (not in the JSON: its lists say it).
    #[serde(skip)]
    pub changes: Vec<ChangedCell>,
}

/// Compares `baseline` with `scenario`: per kind key on both sides, the estates (matched by id)
/// whose covered flag differs.
///
/// # Panics
/// When a catalogue has more kinds than a [`KindId`] holds (validated catalogues cannot).
///
/// # Complexity
/// O(E · K) plus sorting the changes.
#[must_use]
pub fn compare_coverage(baseline: &DiffSide<'_>, scenario: &DiffSide<'_>) -> CoverageDiff {
    let scenario_by_id: HashMap<&FeatureId, usize> = scenario.estates.iter().enumerate().map(|(i, e)| (&e.id, i)).collect();
    let baseline_ids: std::collections::HashSet<&FeatureId> = baseline.estates.iter().map(|e| &e.id).collect();
    let pairs: Vec<(usize, usize)> = baseline.estates.iter().enumerate().filter_map(|(b, e)| scenario_by_id.get(&e.id).map(|&s| (b, s))).collect();
    let mut only_baseline: Vec<&FeatureId> = baseline.estates.iter().map(|e| &e.id).filter(|id| !scenario_by_id.contains_key(id)).collect();
    let mut only_scenario: Vec<&FeatureId> = scenario.estates.iter().map(|e| &e.id).filter(|id| !baseline_ids.contains(id)).collect();
    only_baseline.sort();
    only_scenario.sort();

    let mut kinds = Vec::new();
    let mut changes = Vec::new();
    for (kb, spec) in baseline.catalogue.kinds.iter().enumerate() {
        let Some(ks) = scenario.catalogue.kind_id(&spec.key) else { continue };
        let kb = KindId(u16::try_from(kb).expect("validated catalogue"));
        let mut totals = KindDiff {
            kind: spec.key.clone(),
            radius_m_before: spec.radius_m,
            radius_m_after: scenario.catalogue.spec(ks).radius_m,
            estates_newly_covered: 0,
            estates_newly_uncovered: 0,
            households_gained: 0,
            households_lost: 0,
            households_net: 0,
            newly_covered: Vec::new(),
            newly_uncovered: Vec::new(),
        };
        let mut covered_ids: Vec<&FeatureId> = Vec::new();
        let mut uncovered_ids: Vec<&FeatureId> = Vec::new();
        for &(b, s) in &pairs {
            let before = baseline.table.get(b, kb);
            let after = scenario.table.get(s, ks);
            if before.covered == after.covered {
                continue;
            }
            let estate = &scenario.estates[s];
            let households = u64::from(estate.households.unwrap_or(0));
            let change = if after.covered {
                totals.estates_newly_covered += 1;
                totals.households_gained += households;
                covered_ids.push(&estate.id);
                Change::Covered
            } else {
                totals.estates_newly_uncovered += 1;
                totals.households_lost += households;
                uncovered_ids.push(&estate.id);
                Change::Uncovered
            };
            changes.push(ChangedCell {
                estate: s,
                kind: spec.key.clone(),
                change,
                households: estate.households,
                before_m: before.nearest.map(|n| n.distance_m),
                after_m: after.nearest.map(|n| n.distance_m),
                nearest_before: before.nearest.map(|n| baseline.facilities[n.facility as usize].id.clone()),
                nearest_after: after.nearest.map(|n| scenario.facilities[n.facility as usize].id.clone()),
                nearest_after_planned: after.nearest.is_some_and(|n| scenario.facilities[n.facility as usize].planned),
            });
        }
        covered_ids.sort();
        uncovered_ids.sort();
        totals.newly_covered = covered_ids.iter().map(ToString::to_string).collect();
        totals.newly_uncovered = uncovered_ids.iter().map(ToString::to_string).collect();
        totals.households_net = i64::try_from(totals.households_gained).unwrap_or(i64::MAX) - i64::try_from(totals.households_lost).unwrap_or(i64::MAX);
        kinds.push(totals);
    }
    changes.sort_by(|a, b| scenario.estates[a.estate].id.cmp(&scenario.estates[b.estate].id).then_with(|| a.kind.cmp(&b.kind)));
    CoverageDiff {
        generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
        baseline: String::new(),
        scenario: String::new(),
        metric: scenario.table.params.metric,
        distance_from: scenario.table.params.distance_from,
        year: scenario.table.params.year,
        estates_compared: pairs.len(),
        estates_only_in_baseline: only_baseline.iter().map(ToString::to_string).collect(),
        estates_only_in_scenario: only_scenario.iter().map(ToString::to_string).collect(),
        planned_facilities_before: baseline.facilities.iter().filter(|f| f.planned).count(),
        planned_facilities_after: scenario.facilities.iter().filter(|f| f.planned).count(),
        kinds,
        changes,
    }
}

/// The CSV header of `gapmap diff --out x.csv`.
pub const DIFF_CSV_HEADER: &str = "estate_id,kind,change,households,distance_before_m,distance_after_m,nearest_before_id,nearest_after_id,nearest_after_planned";

/// Writes one row per changed estate × kind ([`DIFF_CSV_HEADER`]), sorted by estate id then
/// kind key; distances in metres with at most 4 decimals, empty when the side has no facility
/// of the kind.
///
/// # Errors
/// [`WriteError`] on I/O failure.
pub fn write_diff_csv(path: &Path, diff: &CoverageDiff, scenario_estates: &[Estate]) -> Result<(), WriteError> {
    let mut text = String::with_capacity(64 * (diff.changes.len() + 1));
    text.push_str(DIFF_CSV_HEADER);
    text.push('\n');
    let opt = |x: Option<f64>| x.map(fmt_number).unwrap_or_default();
    let id = |x: Option<&FeatureId>| x.map(|id| csv_field(&id.to_string())).unwrap_or_default();
    for c in &diff.changes {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{}",
            csv_field(&scenario_estates[c.estate].id.to_string()),
            c.kind,
            c.change.as_str(),
            c.households.map(|h| h.to_string()).unwrap_or_default(),
            opt(c.before_m),
            opt(c.after_m),
            id(c.nearest_before.as_ref()),
            id(c.nearest_after.as_ref()),
            c.nearest_after_planned,
        );
    }
    write_atomically(path, |w| w.write_all(text.as_bytes()).map_err(|source| WriteError::Io { path: path.to_owned(), source }))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The changed estates as features in CRS84: `id`, `name`, `district`, `households`, then per
/// kind with any change `{kind}_change` (`covered`, `uncovered` or null), `{kind}_before_m` and
/// `{kind}_after_m` (nearest distances, to the millimetre), sorted by estate id.
///
/// # Errors
/// [`WriteError::Crs`] when the working CRS cannot be converted to CRS84.
pub fn diff_features(diff: &CoverageDiff, scenario_estates: &[Estate], working_crs: &str) -> Result<Vec<OutFeature>, WriteError> {
    let kinds: Vec<&str> = diff.kinds.iter().filter(|k| k.estates_newly_covered + k.estates_newly_uncovered > 0).map(|k| k.kind.as_str()).collect();
    // The changes are sorted by estate id: one run per estate.
    let runs: Vec<&[ChangedCell]> = diff.changes.chunk_by(|a, b| a.estate == b.estate).collect();
    let to_crs84 = Transformer::to_crs84(working_crs).map_err(|e| WriteError::Crs(e.to_string()))?;
    let mut geometries: Vec<geo::MultiPolygon<f64>> = runs.iter().map(|r| scenario_estates[r[0].estate].geometry.clone()).collect();
    let mut coords = super::coords::flatten(geometries.iter());
    to_crs84.apply(&mut coords).map_err(|e| WriteError::Crs(e.to_string()))?;
    super::coords::unflatten(geometries.iter_mut(), coords);
    let round_mm = |x: Option<f64>| x.filter(|x| x.is_finite()).map_or(AttrValue::Null, |x| AttrValue::Float((x * 1000.0).round() / 1000.0));
    Ok(runs
        .iter()
        .zip(geometries)
        .map(|(run, geometry)| {
            let estate = &scenario_estates[run[0].estate];
            let mut p = vec![
                ("id".to_owned(), match &estate.id {
                    FeatureId::Int(n) => AttrValue::Int(*n),
                    FeatureId::Text(s) => AttrValue::Text(s.clone()),
                }),
                ("name".to_owned(), estate.name.clone().map_or(AttrValue::Null, AttrValue::Text)),
                ("district".to_owned(), estate.district.clone().map_or(AttrValue::Null, AttrValue::Text)),
                ("households".to_owned(), estate.households.map_or(AttrValue::Null, |h| AttrValue::Int(i64::from(h)))),
            ];
            for kind in &kinds {
                let cell = run.iter().find(|c| c.kind == *kind);
                p.push((format!("{kind}_change"), cell.map_or(AttrValue::Null, |c| AttrValue::Text(c.change.as_str().to_owned()))));
                p.push((format!("{kind}_before_m"), round_mm(cell.and_then(|c| c.before_m))));
                p.push((format!("{kind}_after_m"), round_mm(cell.and_then(|c| c.after_m))));
            }
            OutFeature { geometry: Geometry::MultiPolygon(geometry), properties: p }
        })
        .collect())
}

/// Writes [`diff_features`] as a GeoJSON FeatureCollection named `changes`.
///
/// # Errors
/// [`WriteError`].
pub fn write_diff_geojson(path: &Path, diff: &CoverageDiff, scenario_estates: &[Estate], working_crs: &str) -> Result<(), WriteError> {
    let features = diff_features(diff, scenario_estates, working_crs)?;
    super::geojson::write_feature_collection(path, &features, Some("changes"))
}
