//! Lazy greedy for the maximal covering problem.
//!
//! Coverage is submodular: a site's marginal gain only falls as others are chosen. So a gain
//! computed earlier is an upper bound, and a site whose recomputed gain still tops the heap is
//! the best choice (Minoux's accelerated greedy): most sites are never recomputed. With a count
//! only, greedy is within 1 − 1/e of the optimum. With a budget, sites are taken by gain per
//! cost among those still affordable, and the best single affordable site is taken instead when
//! it alone covers more (Khuller, Moss and Naor's rule, within (1 − 1/e)/2).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{CoverProblem, Limits};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    key: f64,
    gain: f64,
    candidate: u32,
    /// Number of sites chosen when `gain` was computed.
    round: usize,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.total_cmp(&other.key).then_with(|| other.candidate.cmp(&self.candidate))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Greedily chosen sites, in the order chosen (each the best at its turn).
///
/// # Complexity
/// O(C log C + P) heap operations and cover-list scans in the common case, for C candidates and
/// P cover pairs; each recomputation scans one cover list.
#[must_use]
///
/// # Panics
/// With more than 2^32 candidates.
pub fn greedy(problem: &CoverProblem, limits: Limits) -> Vec<u32> {
    let by_ratio = greedy_by(problem, limits, true);
    let Some(budget) = limits.budget else { return by_ratio };
    // The best single affordable site, against the ratio rule's set.
    let best_single = (0..problem.candidates())
        .map(|c| u32::try_from(c).expect("< 2^32 candidates"))
        .filter(|&c| problem.cost(c) <= budget && limits.count != Some(0))
        .map(|c| (problem.covered_weight(&[c]), c))
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
    match best_single {
        Some((w, c)) if w > problem.covered_weight(&by_ratio) => vec![c],
        _ => by_ratio,
    }
}

fn greedy_by(problem: &CoverProblem, limits: Limits, ratio: bool) -> Vec<u32> {
    let mut hit = vec![false; problem.demands()];
    let gain_of = |c: u32, hit: &[bool]| -> f64 { problem.covers(c).iter().filter(|&&d| !hit[d as usize]).map(|&d| problem.weight(d)).sum() };
    let key_of = |c: u32, gain: f64| -> f64 {
        let cost = problem.cost(c);
        if ratio && limits.budget.is_some() && cost > 0.0 {
            gain / cost
        } else if ratio && limits.budget.is_some() {
            // Free sites first, by gain.
            f64::MAX / 2.0 + gain
        } else {
            gain
        }
    };
    let mut heap: BinaryHeap<Entry> = (0..problem.candidates())
        .map(|c| {
            let c = u32::try_from(c).expect("< 2^32 candidates");
            let gain = gain_of(c, &hit);
            Entry { key: key_of(c, gain), gain, candidate: c, round: 0 }
        })
        .filter(|e| e.gain > 0.0)
        .collect();
    let mut chosen = Vec::new();
    let mut spent = 0.0;
    while let Some(top) = heap.pop() {
        if limits.count.is_some_and(|k| chosen.len() >= k) {
            break;
        }
        let cost = problem.cost(top.candidate);
        if limits.budget.is_some_and(|b| spent + cost > b) {
            // Never affordable again: spending only grows.
            continue;
        }
        if top.round != chosen.len() {
            let gain = gain_of(top.candidate, &hit);
            if gain > 0.0 {
                heap.push(Entry { key: key_of(top.candidate, gain), gain, candidate: top.candidate, round: chosen.len() });
            }
            continue;
        }
        for &d in problem.covers(top.candidate) {
            hit[d as usize] = true;
        }
        spent += cost;
        chosen.push(top.candidate);
    }
    chosen
}

#[cfg(test)]
mod tests {
    #![expect(clippy::float_cmp, reason = "the weights compared are small integers, exact in f64")]
    use super::*;

    #[test]
    fn takes_the_biggest_gain_first_and_stops_when_nothing_adds() {
        let p = CoverProblem::new(vec![5.0, 1.0, 1.0, 3.0], vec![], vec![vec![0, 1], vec![1, 2], vec![3], vec![0]]).expect("valid");
        let chosen = greedy(&p, Limits { count: Some(10), budget: None });
        assert_eq!(chosen, vec![0, 2, 1]);
        assert_eq!(p.covered_weight(&chosen), 10.0);
    }

    #[test]
    fn keeps_within_the_budget() {
        let p = CoverProblem::new(vec![10.0, 4.0, 4.0], vec![10.0, 1.0, 1.0], vec![vec![0], vec![1], vec![2]]).expect("valid");
        let chosen = greedy(&p, Limits { count: None, budget: Some(2.0) });
        assert_eq!(chosen, vec![1, 2]);
        // the single big site wins when it alone covers more than the ratio rule's set
        let chosen = greedy(&p, Limits { count: None, budget: Some(10.0) });
        assert_eq!(p.covered_weight(&chosen), 10.0);
    }
}
