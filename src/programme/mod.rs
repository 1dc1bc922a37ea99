//! The renovation programme (老旧小区改造): yearly batches of projects by street, residents'
//! satisfaction surveys, their wishes before design, and the rules that split the money.
//!
//! Pure: records in, figures out, no I/O ([`crate::io::programme`] reads the files). [`analyze`]
//! computes, per project, the funding split by rule ([`split_funding`]) and the satisfaction gate
//! ([`apply_gate`]); per batch year, district and street the totals ([`Totals`]); progress
//! against the renovation targets and the old stock ([`progress`]); and the wishes ranked per
//! estate, district and city ([`rank_wishes`]); and the link to coverage ([`link_gaps`]): the
//! facility gaps of renovated estates the renovation closed and those still open. Every figure is a plain sum or count over the
//! rows, so tests recompute each one from the raw rows.

mod coverage;
mod funding;
mod gate;
mod model;
mod summary;
mod wishes;

use serde::Serialize;

pub use coverage::{item_kinds, link_gaps, GapInput, GapLink, ItemOutcome, KindGaps, KindPairs, RenovationGaps};
pub use funding::{split_funding, FundingSplit};
pub use gate::{apply_gate, survey_project, Gate, GateResult, DEFAULT_GATE_PCT};
pub use model::{Category, Date, FundingRule, Item, Project, RuleScope, Satisfied, Status, Subsidy, SubsidyBasis, Survey, SurveyTarget, Wish};
pub use summary::{progress, totals, BatchRow, ProgressRow, Stock, Totals};
pub use wishes::{rank_wishes, wish_weights, RankedWish, WishRanking, WishScope};

use crate::analysis::RenovationTarget;

/// Everything [`analyze`] needs.
#[derive(Debug, Clone, Copy)]
pub struct ProgrammeInput<'a> {
    /// Projects (those batched after the report year already left out).
    pub projects: &'a [Project],
    /// Surveys.
    pub surveys: &'a [Survey],
    /// Wishes.
    pub wishes: &'a [Wish],
    /// Funding rules, in config order.
    pub rules: &'a [FundingRule],
    /// The satisfaction gate.
    ///
    /// # Units
    /// Percent.
    pub gate_pct: f64,
    /// Renovation targets.
    pub targets: &'a [RenovationTarget],
    /// Years progress is reported for.
    pub from: i32,
    /// The report year.
    pub to: i32,
    /// The renovation stock.
    pub stock: Stock,
    /// Ids of the stock's estates.
    pub in_stock: &'a std::collections::BTreeSet<crate::model::FeatureId>,
}

/// One project with its funding split and gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectResult {
    /// The project.
    pub project: Project,
    /// Its money by rule.
    pub funding: FundingSplit,
    /// Its gate.
    pub gate: GateResult,
}

/// The programme's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Programme {
    /// The gate used.
    ///
    /// # Units
    /// Percent.
    pub gate_pct: f64,
    /// First year of the progress table.
    pub from: i32,
    /// Report year.
    pub to: i32,
    /// Projects in input order.
    pub projects: Vec<ProjectResult>,
    /// All projects.
    pub total: Totals,
    /// Per batch year.
    pub by_year: Vec<BatchRow>,
    /// Per batch year and district.
    pub by_district: Vec<BatchRow>,
    /// Per batch year, district and street.
    pub by_street: Vec<BatchRow>,
    /// Progress against targets and the stock.
    pub progress: Vec<ProgressRow>,
    /// The stock.
    pub stock: Stock,
    /// Wishes ranked: city, districts, estates.
    pub wishes: Vec<WishRanking>,
    /// Funding sources in order of the money they give (largest first).
    pub sources: Vec<String>,
}

/// Computes the programme's figures.
///
/// # Complexity
/// O(surveys × projects + projects × rules + w log w).
#[must_use]
pub fn analyze(input: &ProgrammeInput<'_>) -> Programme {
    let projects = input.projects;
    let funding: Vec<FundingSplit> = projects.iter().map(|p| split_funding(p, input.rules)).collect();
    let gates = apply_gate(projects, input.surveys, input.gate_pct);
    let all: Vec<usize> = (0..projects.len()).collect();
    let total = totals(&all, projects, &funding, &gates);
    let by_year = summary::group_rows(projects, &funding, &gates, |p| p.batch_year, |y, t| BatchRow { year: *y, district: None, street: None, totals: t });
    let by_district = summary::group_rows(projects, &funding, &gates, |p| (p.batch_year, p.district.clone()), |(y, d), t| BatchRow { year: *y, district: d.clone(), street: None, totals: t });
    let by_street = summary::group_rows(
        projects,
        &funding,
        &gates,
        |p| (p.batch_year, p.district.clone(), p.street.clone()),
        |(y, d, s), t| BatchRow { year: *y, district: d.clone(), street: s.clone(), totals: t },
    );
    let mut sources: Vec<(String, f64)> = total.funding_yuan.iter().map(|(s, y)| (s.clone(), *y)).collect();
    for (s, y) in &total.investment_yuan {
        if !total.funding_yuan.contains_key(s) {
            sources.push((s.clone(), *y));
        }
    }
    sources.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Programme {
        gate_pct: input.gate_pct,
        from: input.from,
        to: input.to,
        progress: progress(projects, input.targets, input.from..=input.to, input.stock, input.in_stock),
        projects: projects.iter().cloned().zip(funding).zip(gates).map(|((project, funding), gate)| ProjectResult { project, funding, gate }).collect(),
        total,
        by_year,
        by_district,
        by_street,
        stock: input.stock,
        wishes: rank_wishes(input.wishes),
        sources: sources.into_iter().map(|(s, _)| s).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn project(id: &str, estate: i64, year: i32, status: Status) -> Project {
        Project {
            id: id.into(),
            estate_id: estate.into(),
            estate_name: None,
            district: Some("d".into()),
            batch_year: year,
            street: Some("s".into()),
            buildings: 2,
            households: 100,
            floor_area_m2: 5000.0,
            category: Category::Improvement,
            items: Item::parse_list("pipes;elevator:3").expect("valid"),
            investment_yuan: BTreeMap::from([("city".into(), 300_000.0), ("district".into(), 700_000.0)]),
            investment_total_yuan: None,
            status,
            complete_pct: 100.0,
        }
    }

    fn survey(target: &str, satisfied: Satisfied, respondents: u32) -> Survey {
        Survey { target: SurveyTarget::Project(target.into()), date: Date::parse("2021-10-01").expect("date"), respondents, satisfied }
    }

    #[test]
    fn gate_passes_at_exactly_the_gate_and_fails_just_below() {
        let projects = [project("a", 1, 2021, Status::Accepted), project("b", 2, 2021, Status::Accepted), project("c", 3, 2021, Status::Completed), project("d", 4, 2021, Status::Accepted)];
        let surveys = [survey("a", Satisfied::Count(4), 5), survey("b", Satisfied::Pct(79.99), 100), survey("c", Satisfied::Pct(80.0), 10)];
        let gates = apply_gate(&projects, &surveys, DEFAULT_GATE_PCT);
        assert_eq!(gates.iter().map(|g| g.gate).collect::<Vec<_>>(), [Gate::Passed, Gate::Failed, Gate::Passed, Gate::NoSurvey]);
        assert_eq!(gates.iter().map(|g| g.contradiction).collect::<Vec<_>>(), [false, true, false, true]);
    }

    #[test]
    fn elevator_subsidy_comes_first_and_the_split_adds_up() {
        let rules = [
            FundingRule { scope: RuleScope::Item("elevator".into()), shares_pct: BTreeMap::new(), subsidy: Some(Subsidy { basis: SubsidyBasis::Unit, yuan_per: 70_000.0, source: "city".into(), cap_yuan: Some(200_000.0) }) },
            FundingRule { scope: RuleScope::Category(Category::Improvement), shares_pct: BTreeMap::from([("district".into(), 40.0), ("residents".into(), 60.0)]), subsidy: None },
        ];
        let split = split_funding(&project("a", 1, 2021, Status::Started), &rules);
        // 3 elevators × 70,000 = 210,000, capped at 200,000; the other 800,000 split 40/60.
        assert!((split.by_source_yuan["city"] - 200_000.0).abs() < 1e-6);
        assert!((split.by_source_yuan["district"] - 320_000.0).abs() < 1e-6);
        assert!((split.by_source_yuan["residents"] - 480_000.0).abs() < 1e-6);
        assert!((split.by_source_yuan.values().sum::<f64>() - 1_000_000.0).abs() < 1e-6);
        let diff = split.difference_yuan.expect("recorded by source");
        assert!((diff["district"] - (320_000.0 - 700_000.0)).abs() < 1e-6);
    }

    #[test]
    fn estate_surveys_count_for_the_latest_batch_up_to_their_year() {
        let projects = [project("old", 7, 2018, Status::Accepted), project("new", 7, 2021, Status::Started)];
        let s = Survey { target: SurveyTarget::Estate(7.into()), date: Date::parse("2020-05-01").expect("date"), respondents: 10, satisfied: Satisfied::Count(9) };
        assert_eq!(survey_project(&s, &projects), Some(0));
        let s = Survey { date: Date::parse("2022-01-01").expect("date"), ..s };
        assert_eq!(survey_project(&s, &projects), Some(1));
    }

    #[test]
    fn dates_from_unix_days() {
        assert_eq!(Date::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_unix_days(18_993).to_string(), "2022-01-01");
        assert_eq!(Date::from_unix_days(11_016).to_string(), "2000-02-29");
    }
}
