//! Coverage summaries per kind: overall and per district.
//!
//! Percentages are of estates (or households) with known values; an estate without a
//! `households` value counts in estate figures but not in household figures.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{AnalysisParams, CoverageTable};
use crate::model::{Catalogue, Estate, Facility, KindId};

/// Coverage of one kind over a set of estates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindSummary {
    /// Kind key.
    pub kind: String,
    /// Service radius used (metres).
    pub radius_m: f64,
    /// Facilities of the kind counted (open in the analysis year; in the district when per district).
    pub facilities: usize,
    /// Their summed capacity (kind's unit).
    pub capacity: f64,
    /// Estates considered.
    pub estates: usize,
    /// Estates within the radius of a facility.
    pub estates_covered: usize,
    /// `estates_covered / estates × 100`, 0 when there are no estates.
    pub estates_covered_pct: f64,
    /// Households of those estates.
    pub households: u64,
    /// Households of covered estates.
    pub households_covered: u64,
    /// `households_covered / households × 100`, 0 when there are no households.
    pub households_covered_pct: f64,
    /// Estates whose capacity within the radius falls short of the kind's ratio.
    pub estates_short: usize,
    /// Summed shortfall (kind's unit).
    pub shortfall_total: f64,
}

/// Summary for one district.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistrictSummary {
    /// District name as in the estates' `district` property.
    pub district: String,
    /// Per kind, in catalogue order.
    pub kinds: Vec<KindSummary>,
}

/// Summaries of a coverage table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// How the table was computed.
    pub params: AnalysisParams,
    /// Per kind over all estates.
    pub overall: Vec<KindSummary>,
    /// Per district, sorted by name; estates without a district are left out of this list.
    pub districts: Vec<DistrictSummary>,
}

/// Summarises a coverage table.
///
/// # Complexity
/// O(E · K + F).
#[must_use]
pub fn summarize(
    estates: &[Estate],
    facilities: &[Facility],
    table: &CoverageTable,
    catalogue: &Catalogue,
) -> Summary {
    let stock = FacilityStock::count(facilities, catalogue.len(), table.params.year);
    let all: Vec<usize> = (0..estates.len()).collect();
    let overall = summarize_set(estates, &stock.overall, table, catalogue, &all);

    let mut by_district: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in estates.iter().enumerate() {
        if let Some(d) = e.district.as_deref() {
            by_district.entry(d).or_default().push(i);
        }
    }
    let districts = by_district
        .into_iter()
        .map(|(district, members)| DistrictSummary {
            district: district.to_owned(),
            kinds: summarize_set(
                estates,
                stock.by_district.get(district).unwrap_or(&stock.none),
                table,
                catalogue,
                &members,
            ),
        })
        .collect();
    Summary { params: table.params, overall, districts }
}

/// Facilities (count, capacity) per kind open in the analysis year: overall and per district.
struct FacilityStock<'a> {
    overall: Vec<(usize, f64)>,
    by_district: HashMap<&'a str, Vec<(usize, f64)>>,
    none: Vec<(usize, f64)>,
}

impl<'a> FacilityStock<'a> {
    fn count(facilities: &'a [Facility], kinds: usize, year: Option<i32>) -> Self {
        let mut stock = Self { overall: vec![(0, 0.0); kinds], by_district: HashMap::new(), none: vec![(0, 0.0); kinds] };
        for f in facilities.iter().filter(|f| f.open_in(year)) {
            let k = f.kind.index();
            let capacity = f.capacity.unwrap_or(0.0);
            stock.overall[k].0 += 1;
            stock.overall[k].1 += capacity;
            if let Some(d) = f.district.as_deref() {
                let row = stock.by_district.entry(d).or_insert_with(|| vec![(0, 0.0); kinds]);
                row[k].0 += 1;
                row[k].1 += capacity;
            }
        }
        stock
    }
}

fn summarize_set(
    estates: &[Estate],
    stock: &[(usize, f64)],
    table: &CoverageTable,
    catalogue: &Catalogue,
    members: &[usize],
) -> Vec<KindSummary> {
    catalogue
        .kinds
        .iter()
        .enumerate()
        .map(|(k, spec)| {
            let kind = KindId(u16::try_from(k).expect("validated: < 65536 kinds"));
            let (facility_count, capacity) = stock[k];
            let mut s = KindSummary {
                kind: spec.key.clone(),
                radius_m: table.radii_m[k],
                facilities: facility_count,
                capacity,
                estates: members.len(),
                estates_covered: 0,
                estates_covered_pct: 0.0,
                households: 0,
                households_covered: 0,
                households_covered_pct: 0.0,
                estates_short: 0,
                shortfall_total: 0.0,
            };
            for &i in members {
                let cell = table.get(i, kind);
                let h = u64::from(estates[i].households.unwrap_or(0));
                s.households += h;
                if cell.covered {
                    s.estates_covered += 1;
                    s.households_covered += h;
                }
                if let Some(short) = cell.shortfall.filter(|&x| x > 0.0) {
                    s.estates_short += 1;
                    s.shortfall_total += short;
                }
            }
            #[expect(clippy::cast_precision_loss, reason = "estate and household totals are far below 2^52")]
            {
                s.estates_covered_pct = pct(s.estates_covered as f64, s.estates as f64);
                s.households_covered_pct = pct(s.households_covered as f64, s.households as f64);
            }
            s
        })
        .collect()
}

/// `part / whole × 100`, 0 when `whole` is 0: the percentage every coverage figure uses.
pub(super) fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole * 100.0
    } else {
        0.0
    }
}
