//! Where new facilities go: the maximal covering location problem (MCLP).
//!
//! After "what is missing" the planner asks "where do we add it": choose K sites (or sites within
//! a budget) among candidates so that the most households without the kind within its radius get
//! one. The problem ([`CoverProblem`]) is a pure set-cover structure built from the analysis's own
//! metric (straight line or walking), so a site covers an estate exactly when `analyze` would say
//! it does.
//!
//! - [`reduce`]: drops what cannot matter (dominated sites, twin demand points merged).
//! - [`greedy`]: lazy greedy, the starting solution and the fallback.
//! - [`solve`]: the exact integer program through HiGHS, with a time limit.

mod exact;
mod greedy;
mod problem;
mod reduce;

pub use exact::{solve, MAX_EXACT_PAIRS};
pub use greedy::greedy;
pub use problem::{CoverProblem, Limits, PlanError, PlanSolution, SolverKind};
pub use reduce::{reduce, Reduced};

use crate::analysis::CoverageTable;
use crate::model::KindId;

/// The demand of a plan: the estates a kind does not cover, and each estate's position among
/// them (what the CLI and `POST /plans` both build a [`CoverProblem`] from).
#[derive(Debug, Clone, PartialEq)]
pub struct DemandSet {
    /// Estate slice positions of the demand, in estate order.
    pub estates: Vec<usize>,
    /// Per estate, its demand position; `u32::MAX` for an estate already covered.
    position: Vec<u32>,
}

impl DemandSet {
    /// The estates of `table` that `kind` does not cover.
    ///
    /// # Panics
    /// With 2^32 estates or more, or a `kind` outside the table.
    #[must_use]
    pub fn uncovered(table: &CoverageTable, kind: KindId) -> Self {
        let estates: Vec<usize> = (0..table.estates()).filter(|&e| !table.get(e, kind).covered).collect();
        let mut position = vec![u32::MAX; table.estates()];
        for (i, &e) in estates.iter().enumerate() {
            position[e] = u32::try_from(i).expect("fewer than 2^32 estates");
        }
        Self { estates, position }
    }

    /// Per candidate, the demand positions among the estates within its radius
    /// ([`CoverageMetric::estates_within`](crate::analysis::CoverageMetric::estates_within)'s answer).
    #[must_use]
    pub fn covers(&self, within: &[Vec<(u32, f64)>]) -> Vec<Vec<u32>> {
        within.iter().map(|list| list.iter().map(|&(e, _)| self.position[e as usize]).filter(|&d| d != u32::MAX).collect()).collect()
    }
}

/// Reduces `problem`, solves the reduced one and maps the sites back to `problem`'s candidates.
///
/// # Examples
/// ```
/// use gapmap::plan::{plan, CoverProblem, Limits, SolverKind};
/// // three estates of 10, 20 and 5 households; site 0 covers the first two, site 1 the last two
/// let p = CoverProblem::new(vec![10.0, 20.0, 5.0], vec![], vec![vec![0, 1], vec![1, 2], vec![2]]).unwrap();
/// let s = plan(&p, Limits { count: Some(1), budget: None }, 10.0);
/// assert_eq!((s.sites.clone(), s.objective, s.solver), (vec![0], 30.0, SolverKind::Exact));
/// ```
#[must_use]
pub fn plan(problem: &CoverProblem, limits: Limits, time_limit_s: f64) -> PlanSolution {
    let reduced = reduce(problem);
    let solution = solve(&reduced.problem, limits, time_limit_s);
    let sites: Vec<u32> = solution.sites.iter().map(|&c| reduced.candidates[c as usize]).collect();
    // Ranked again on the original problem: same sets, so the same gains.
    let ranked = PlanSolution::ranked(problem, &sites, solution.bound, solution.solver);
    PlanSolution { bound: solution.bound.max(ranked.objective), ..ranked }
}
