//! The funding split of a project by rule, and its difference from what was recorded.
//!
//! A project's money is its recorded investment. Subsidies come first: every rule with a subsidy
//! that applies (in config order) pays units × amount (per elevator) or floor area × amount (per
//! m²), at most its cap and at most what is left. The rest is split by **one** share rule: the
//! first item rule with shares naming one of the project's items, else the first rule with
//! shares for its category. One rule, because projects record their investment per source, not
//! per item, so a split by item would need costs the spreadsheets do not hold. Money no rule
//! shares is reported as unassigned, never spread silently.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{FundingRule, Project, RuleScope, SubsidyBasis};

/// A project's money by source as the rules split it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundingSplit {
    /// The amount split: the project's recorded investment.
    ///
    /// # Units
    /// Yuan.
    pub total_yuan: f64,
    /// By source, from the rules (subsidies included).
    ///
    /// # Units
    /// Yuan.
    pub by_source_yuan: BTreeMap<String, f64>,
    /// Subsidies within `by_source_yuan`.
    ///
    /// # Units
    /// Yuan.
    pub subsidy_yuan: f64,
    /// Money no share rule covers.
    ///
    /// # Units
    /// Yuan.
    pub unassigned_yuan: f64,
    /// Index of the share rule used.
    pub share_rule: Option<usize>,
    /// Rule minus recorded, per source, when the project records its investment by source.
    ///
    /// # Units
    /// Yuan.
    pub difference_yuan: Option<BTreeMap<String, f64>>,
}

/// Splits a project's investment by the rules.
///
/// # Complexity
/// O(rules × items).
///
/// # Examples
/// ```
/// use std::collections::BTreeMap;
/// use gapmap::programme::{split_funding, Category, FundingRule, Project, RuleScope, Status};
/// let rule = FundingRule {
///     scope: RuleScope::Category(Category::Basic),
///     shares_pct: BTreeMap::from([("city".into(), 20.0), ("district".into(), 15.0), ("utility".into(), 65.0)]),
///     subsidy: None,
/// };
/// let project = Project {
///     id: "p".into(), estate_id: 1.into(), estate_name: None, district: None, batch_year: 2021,
///     street: None, buildings: 1, households: 10, floor_area_m2: 1000.0, category: Category::Basic,
///     items: vec![], investment_yuan: BTreeMap::new(), investment_total_yuan: Some(1_000_000.0),
///     status: Status::Started, complete_pct: 50.0,
/// };
/// let split = split_funding(&project, &[rule]);
/// assert_eq!(split.by_source_yuan["utility"], 650_000.0);
/// # assert_eq!(split.by_source_yuan["city"], 200_000.0);
/// ```
#[must_use]
pub fn split_funding(project: &Project, rules: &[FundingRule]) -> FundingSplit {
    let total = project.total_investment_yuan();
    let mut by_source: BTreeMap<String, f64> = BTreeMap::new();
    let mut left = total;
    let mut subsidy_yuan = 0.0;
    for rule in rules.iter().filter(|r| r.applies_to(project)) {
        let Some(s) = &rule.subsidy else { continue };
        let units = match (s.basis, &rule.scope) {
            (SubsidyBasis::Unit, RuleScope::Item(key)) => f64::from(project.item_units(key)),
            (SubsidyBasis::Unit, RuleScope::Category(_)) => 0.0,
            (SubsidyBasis::SquareMetre, _) => project.floor_area_m2,
        };
        let amount = (units * s.yuan_per).min(s.cap_yuan.unwrap_or(f64::INFINITY)).min(left).max(0.0);
        if amount > 0.0 {
            *by_source.entry(s.source.clone()).or_default() += amount;
            subsidy_yuan += amount;
            left -= amount;
        }
    }
    let with_shares = |want_item: bool| {
        rules.iter().position(|r| !r.shares_pct.is_empty() && matches!(r.scope, RuleScope::Item(_)) == want_item && r.applies_to(project))
    };
    let share_rule = with_shares(true).or_else(|| with_shares(false));
    let mut unassigned = 0.0;
    match share_rule {
        Some(i) => {
            let shares = &rules[i].shares_pct;
            let mut given = 0.0;
            let last = shares.len() - 1;
            for (n, (source, pct)) in shares.iter().enumerate() {
                // The last source takes what the others leave, so the split adds up exactly.
                let amount = if n == last { left - given } else { left * pct / 100.0 };
                given += amount;
                *by_source.entry(source.clone()).or_default() += amount;
            }
        }
        None => unassigned = left,
    }
    let difference = (!project.investment_yuan.is_empty()).then(|| {
        let mut d: BTreeMap<String, f64> = by_source.clone();
        for (source, recorded) in &project.investment_yuan {
            *d.entry(source.clone()).or_default() -= recorded;
        }
        d
    });
    FundingSplit { total_yuan: total, by_source_yuan: by_source, subsidy_yuan, unassigned_yuan: unassigned, share_rule, difference_yuan: difference }
}
