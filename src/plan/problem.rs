//! The maximal covering location problem (MCLP) as gapmap states it.

use serde::Serialize;

/// Which demand points each candidate site covers, with demand weights and site costs.
///
/// Demand points are the estates without the kind within the radius; candidates are the sites a
/// new facility may take. `covers(c)` lists, sorted and without repeats, the demand points within
/// the radius of candidate `c`, measured as the analysis measures it.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverProblem {
    weights: Vec<f64>,
    costs: Vec<f64>,
    offsets: Vec<u32>,
    covered: Vec<u32>,
}

/// Why a problem cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A weight or cost is negative or not finite.
    #[error("{what} {index} is {value}; weights and costs must be finite and not negative")]
    BadNumber {
        /// `weight` or `cost`.
        what: &'static str,
        /// Position of the demand point or candidate.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A candidate covers a demand point that does not exist.
    #[error("candidate {candidate} covers demand point {demand}, but there are only {demands}")]
    UnknownDemand {
        /// Candidate position.
        candidate: usize,
        /// The demand position named.
        demand: u32,
        /// Number of demand points.
        demands: usize,
    },
    /// Neither a count nor a budget limits the choice.
    #[error("a plan needs a count of sites, a budget, or both")]
    Unlimited,
}

impl CoverProblem {
    /// A problem of `weights.len()` demand points and `covers.len()` candidates.
    ///
    /// `costs` is one per candidate, or empty (all 0). Each `covers[c]` is sorted and deduplicated
    /// here.
    ///
    /// # Errors
    /// [`PlanError::BadNumber`] or [`PlanError::UnknownDemand`].
    ///
    /// # Panics
    /// With more than 2^32 cover pairs.
    pub fn new(weights: Vec<f64>, costs: Vec<f64>, covers: Vec<Vec<u32>>) -> Result<Self, PlanError> {
        for (index, &value) in weights.iter().enumerate() {
            if !(value.is_finite() && value >= 0.0) {
                return Err(PlanError::BadNumber { what: "weight", index, value });
            }
        }
        let costs = if costs.is_empty() { vec![0.0; covers.len()] } else { costs };
        for (index, &value) in costs.iter().enumerate() {
            if !(value.is_finite() && value >= 0.0) {
                return Err(PlanError::BadNumber { what: "cost", index, value });
            }
        }
        let mut offsets = Vec::with_capacity(covers.len() + 1);
        offsets.push(0);
        let mut covered = Vec::new();
        for (candidate, mut list) in covers.into_iter().enumerate() {
            list.sort_unstable();
            list.dedup();
            if let Some(&demand) = list.iter().find(|&&d| d as usize >= weights.len()) {
                return Err(PlanError::UnknownDemand { candidate, demand, demands: weights.len() });
            }
            covered.extend(list);
            offsets.push(u32::try_from(covered.len()).expect("fewer than 2^32 cover pairs"));
        }
        Ok(Self { weights, costs, offsets, covered })
    }

    /// Number of demand points.
    #[must_use]
    pub fn demands(&self) -> usize {
        self.weights.len()
    }

    /// Number of candidates.
    #[must_use]
    pub fn candidates(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Weight of demand point `d`.
    #[must_use]
    pub fn weight(&self, d: u32) -> f64 {
        self.weights[d as usize]
    }

    /// All weights.
    #[must_use]
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Cost of candidate `c`.
    #[must_use]
    pub fn cost(&self, c: u32) -> f64 {
        self.costs[c as usize]
    }

    /// Demand points candidate `c` covers, sorted.
    #[must_use]
    pub fn covers(&self, c: u32) -> &[u32] {
        &self.covered[self.offsets[c as usize] as usize..self.offsets[c as usize + 1] as usize]
    }

    /// Total weight covered by a set of candidates.
    #[must_use]
    pub fn covered_weight(&self, chosen: &[u32]) -> f64 {
        let mut hit = vec![false; self.demands()];
        for &c in chosen {
            for &d in self.covers(c) {
                hit[d as usize] = true;
            }
        }
        hit.iter().zip(&self.weights).filter(|(h, _)| **h).map(|(_, w)| w).sum()
    }
}

/// How many sites, and at what total cost, may be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// At most this many sites (`None`: only the budget limits).
    pub count: Option<usize>,
    /// Total cost at most this (`None`: only the count limits).
    pub budget: Option<f64>,
}

impl Limits {
    /// Checks that something limits the choice.
    ///
    /// # Errors
    /// [`PlanError::Unlimited`].
    pub fn check(&self) -> Result<(), PlanError> {
        if self.count.is_none() && self.budget.is_none() {
            return Err(PlanError::Unlimited);
        }
        if let Some(b) = self.budget {
            if !(b.is_finite() && b >= 0.0) {
                return Err(PlanError::BadNumber { what: "budget", index: 0, value: b });
            }
        }
        Ok(())
    }
}

/// Which solver gave the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SolverKind {
    /// Proven optimal by the integer program.
    Exact,
    /// Lazy greedy: the time limit ran out, or the instance was too large for the integer program.
    Greedy,
}

/// A chosen set of sites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSolution {
    /// Chosen candidates in rank order: each adds the most weight given those before it.
    pub sites: Vec<u32>,
    /// Weight each site adds in rank order (its marginal gain).
    pub gains: Vec<f64>,
    /// Total covered weight.
    pub objective: f64,
    /// An upper bound on the optimum (the objective itself when proven optimal).
    pub bound: f64,
    /// Which solver answered.
    pub solver: SolverKind,
}

impl PlanSolution {
    /// The optimality gap in percent: `(bound - objective) / bound`, 0 for an empty bound.
    #[must_use]
    pub fn gap_pct(&self) -> f64 {
        if self.bound > 0.0 {
            ((self.bound - self.objective) / self.bound * 100.0).max(0.0)
        } else {
            0.0
        }
    }

    /// Orders `sites` by marginal gain (greedily, ties to the lower index) and fills `gains`.
    #[must_use]
    pub fn ranked(problem: &CoverProblem, sites: &[u32], bound: f64, solver: SolverKind) -> Self {
        let mut hit = vec![false; problem.demands()];
        let mut left: Vec<u32> = sites.to_vec();
        left.sort_unstable();
        let mut ranked = Vec::with_capacity(left.len());
        let mut gains = Vec::with_capacity(left.len());
        while !left.is_empty() {
            let gain = |c: u32, hit: &[bool]| -> f64 { problem.covers(c).iter().filter(|&&d| !hit[d as usize]).map(|&d| problem.weight(d)).sum() };
            let (best_i, best_gain) = left
                .iter()
                .enumerate()
                .map(|(i, &c)| (i, gain(c, &hit)))
                .fold((0, f64::NEG_INFINITY), |acc, x| if x.1 > acc.1 { x } else { acc });
            let c = left.remove(best_i);
            for &d in problem.covers(c) {
                hit[d as usize] = true;
            }
            ranked.push(c);
            gains.push(best_gain);
        }
        let objective = gains.iter().sum();
        Self { sites: ranked, gains, objective, bound: bound.max(objective), solver }
    }
}
