//! The exact answer: the covering problem as an integer program, solved by HiGHS.
//!
//! ```text
//! maximise   Σ_d w_d · y_d
//! subject to y_d ≤ Σ_{c covers d} x_c      for every demand point d
//!            Σ_c x_c ≤ K                    (count)
//!            Σ_c cost_c · x_c ≤ B           (budget)
//!            x_c ∈ {0, 1},  0 ≤ y_d ≤ 1
//! ```
//! `y` need not be integer: with `x` integer, each `y_d` is 1 exactly when some chosen site covers
//! `d` at an optimum. HiGHS starts from the greedy solution (a lower bound that prunes its branch
//! and bound from the first node) and runs with a zero relative gap, so an answer it calls optimal
//! is the optimum, not one within HiGHS's default 0.01 %.

use highs::{HighsModelStatus, RowProblem, Sense};

use super::{greedy, CoverProblem, Limits, PlanSolution, SolverKind};

/// Largest reduced instance (cover pairs) given to the integer program; beyond it the answer is
/// greedy's. A bound on memory and start-up time, not on HiGHS's ability.
pub const MAX_EXACT_PAIRS: usize = 5_000_000;

/// The covering program; `integer`: the sites are 0/1 (else the LP relaxation).
fn relaxation(problem: &CoverProblem, limits: Limits, integer: bool) -> RowProblem {
    let mut pb = RowProblem::default();
    let x: Vec<_> = (0..problem.candidates()).map(|_| if integer { pb.add_integer_column(0.0, 0.0..=1.0) } else { pb.add_column(0.0, 0.0..=1.0) }).collect();
    let y: Vec<_> = problem.weights().iter().map(|&w| pb.add_column(w, 0.0..=1.0)).collect();
    let mut covering: Vec<Vec<usize>> = vec![Vec::new(); problem.demands()];
    for (c, _) in x.iter().enumerate() {
        for &d in problem.covers(u32::try_from(c).expect("< 2^32")) {
            covering[d as usize].push(c);
        }
    }
    for (d, cs) in covering.iter().enumerate() {
        let row = std::iter::once((y[d], 1.0)).chain(cs.iter().map(|&c| (x[c], -1.0)));
        pb.add_row(..=0.0, row);
    }
    if let Some(k) = limits.count {
        #[expect(clippy::cast_precision_loss, reason = "site counts are far below 2^52")]
        let k = k as f64;
        pb.add_row(..=k, x.iter().map(|&c| (c, 1.0)));
    }
    if let Some(b) = limits.budget {
        pb.add_row(..=b, x.iter().enumerate().map(|(c, &col)| (col, problem.cost(u32::try_from(c).expect("< 2^32")))));
    }
    pb
}

/// Solves a model quietly within a time limit.
trait SolveQuietly {
    fn try_solve_quietly(self, time_limit_s: f64) -> Result<highs::SolvedModel, highs::HighsStatus>;
}

impl SolveQuietly for highs::Model {
    fn try_solve_quietly(mut self, time_limit_s: f64) -> Result<highs::SolvedModel, highs::HighsStatus> {
        self.make_quiet();
        self.set_option("time_limit", time_limit_s);
        self.set_option("threads", 1);
        self.try_solve()
    }
}

/// Solves `problem` exactly within `time_limit_s`, else answers greedy's solution with HiGHS's
/// bound.
///
/// # Complexity
/// NP-hard in general; covering instances from cities are mostly decided by the LP relaxation
/// and a few branches.
#[must_use]
///
/// # Panics
/// With more than 2^32 candidates.
pub fn solve(problem: &CoverProblem, limits: Limits, time_limit_s: f64) -> PlanSolution {
    let start = greedy(problem, limits);
    let greedy_weight = problem.covered_weight(&start);
    let pairs: usize = (0..problem.candidates()).map(|c| problem.covers(u32::try_from(c).expect("< 2^32")).len()).sum();
    // The LP bound of the trivial kind: all demand.
    let all_weight: f64 = problem.weights().iter().sum();
    if problem.candidates() == 0 || greedy_weight >= all_weight {
        // Nothing to choose, or greedy covers everything: provably optimal.
        return PlanSolution::ranked(problem, &start, greedy_weight, SolverKind::Exact);
    }
    if pairs > MAX_EXACT_PAIRS || time_limit_s <= 0.0 {
        return PlanSolution::ranked(problem, &start, all_weight, SolverKind::Greedy);
    }
    // The LP relaxation first: when it is no better than greedy, greedy is optimal and the integer
    // program need not run (on the 60,000-estate bench the LP took 0.33-0.42 s, the integer
    // program 0.66-0.94 s, and greedy was optimal).
    let started = std::time::Instant::now();
    if let Ok(lp) = relaxation(problem, limits, false).optimise(Sense::Maximise).try_solve_quietly(time_limit_s) {
        if lp.status() == HighsModelStatus::Optimal && lp.objective_value() <= greedy_weight + 1e-9 * greedy_weight.abs().max(1.0) {
            return PlanSolution::ranked(problem, &start, greedy_weight, SolverKind::Exact);
        }
    }
    let time_left_s = (time_limit_s - started.elapsed().as_secs_f64()).max(0.0);
    let pb = relaxation(problem, limits, true);
    let mut model = pb.optimise(Sense::Maximise);
    model.make_quiet();
    model.set_option("time_limit", time_left_s);
    model.set_option("mip_rel_gap", 0.0);
    model.set_option("mip_abs_gap", 1e-9);
    // One thread: the CLI's other work is done, and results must not depend on scheduling.
    model.set_option("threads", 1);
    let mut hot: Vec<f64> = vec![0.0; problem.candidates() + problem.demands()];
    let mut hit = vec![false; problem.demands()];
    for &c in &start {
        hot[c as usize] = 1.0;
        for &d in problem.covers(c) {
            hit[d as usize] = true;
        }
    }
    for (d, h) in hit.iter().enumerate() {
        hot[problem.candidates() + d] = if *h { 1.0 } else { 0.0 };
    }
    // A failed hot start only loses the head start.
    let _ = model.try_set_solution(Some(&hot), None, None, None);
    let Ok(solved) = model.try_solve() else {
        return PlanSolution::ranked(problem, &start, all_weight, SolverKind::Greedy);
    };
    let status = solved.status();
    let objective = solved.objective_value();
    let gap = solved.mip_gap();
    let bound = if gap.is_finite() { objective + gap * objective.abs().max(1.0) } else { all_weight };
    let chosen: Vec<u32> = solved.get_solution().columns()[..problem.candidates()]
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.5)
        .map(|(c, _)| u32::try_from(c).expect("< 2^32"))
        .collect();
    if status == HighsModelStatus::Optimal {
        let exact = PlanSolution::ranked(problem, &chosen, objective, SolverKind::Exact);
        // Guard against a rounding slip in the solver: never answer worse than greedy.
        if exact.objective + 1e-9 >= greedy_weight {
            return PlanSolution { bound: exact.objective, ..exact };
        }
    }
    PlanSolution::ranked(problem, &start, bound.min(all_weight).max(greedy_weight), SolverKind::Greedy)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::float_cmp, reason = "the weights compared are small integers, exact in f64")]
    use super::*;

    /// Greedy takes the big site first and ends at 5.5; the optimum pairs the two others for 7.
    #[test]
    fn beats_greedy_where_greedy_is_short_sighted() {
        let p = CoverProblem::new(vec![1.0, 1.0, 1.0, 1.0, 1.5, 1.5], vec![], vec![vec![0, 1, 2, 3], vec![0, 1, 4], vec![2, 3, 5]]).expect("valid");
        let limits = Limits { count: Some(2), budget: None };
        assert_eq!(p.covered_weight(&greedy(&p, limits)), 5.5);
        let s = solve(&p, limits, 10.0);
        assert_eq!((s.solver, s.objective, s.bound), (SolverKind::Exact, 7.0, 7.0));
        let mut sites = s.sites.clone();
        sites.sort_unstable();
        assert_eq!(sites, vec![1, 2]);
        // No time: greedy's answer, labelled so, with a bound above it.
        let g = solve(&p, limits, 0.0);
        assert_eq!((g.solver, g.objective), (SolverKind::Greedy, 5.5));
        assert!(g.bound >= 7.0 && g.gap_pct() > 0.0);
    }
}
