//! Shrinking a covering problem without changing its optimum.
//!
//! 1. Demand points of zero weight, and candidates then covering nothing, go.
//! 2. Demand points covered by exactly the same candidates become one, their weights summed: in
//!    any solution they are covered together.
//! 3. A candidate is dropped when another covers a superset of its demand at no higher cost
//!    (equal sets and costs: the lower index stays): swapping it for the other never loses
//!    weight, needs no more sites and no more money.
//!
//! Then demand points are merged again, as dropping candidates can make their sets equal. On
//! generated cities the reduced integer program has a fraction of the rows and columns.

use std::collections::HashMap;

use super::CoverProblem;

/// A reduced problem and how it maps back.
#[derive(Debug, Clone)]
pub struct Reduced {
    /// The smaller problem.
    pub problem: CoverProblem,
    /// Original index of each reduced candidate.
    pub candidates: Vec<u32>,
}

/// Reduces `problem`; see the module docs.
///
/// # Complexity
/// O(P log P) for the merges plus, per candidate, subset tests against the candidates covering
/// its least-covered demand point.
#[must_use]
///
/// # Panics
/// With more than 2^32 candidates or demand points.
pub fn reduce(problem: &CoverProblem) -> Reduced {
    let all: Vec<u32> = (0..problem.candidates()).map(|c| u32::try_from(c).expect("< 2^32 candidates")).collect();
    // 1–2: positive-weight demand merged by candidate set.
    let (weights, covers) = merge_demands(problem.weights(), &all, |c| problem.covers(c));
    let costs: Vec<f64> = all.iter().map(|&c| problem.cost(c)).collect();
    // 3: dominated candidates.
    let keep = undominated(&weights, &costs, &covers);
    let kept: Vec<u32> = all.iter().copied().filter(|&c| keep[c as usize] && !covers[c as usize].is_empty()).collect();
    let (weights, covers) = merge_demands(&weights, &kept, |c| &covers[c as usize]);
    let costs = kept.iter().map(|&c| problem.cost(c)).collect();
    let covers: Vec<Vec<u32>> = kept.iter().map(|&c| covers[c as usize].clone()).collect();
    Reduced { problem: CoverProblem::new(weights, costs, covers).expect("weights and costs come from a valid problem"), candidates: kept }
}

/// Positive-weight demand points of `candidates`' cover lists, merged where covered by the same
/// candidates. Returns the merged weights and, indexed like the original candidates (those not in
/// `candidates` empty), each candidate's merged cover list.
fn merge_demands<'a>(weights: &[f64], candidates: &[u32], covers: impl Fn(u32) -> &'a [u32]) -> (Vec<f64>, Vec<Vec<u32>>) {
    // Candidates covering each demand point, in candidate order.
    let mut by_demand: Vec<Vec<u32>> = vec![Vec::new(); weights.len()];
    let max_candidate = candidates.iter().copied().max().map_or(0, |c| c as usize + 1);
    for &c in candidates {
        for &d in covers(c) {
            if weights[d as usize] > 0.0 {
                by_demand[d as usize].push(c);
            }
        }
    }
    let mut group_of: HashMap<&[u32], u32> = HashMap::new();
    let mut merged_weights: Vec<f64> = Vec::new();
    let mut merged_covers: Vec<Vec<u32>> = vec![Vec::new(); max_candidate];
    for (d, set) in by_demand.iter().enumerate() {
        if set.is_empty() {
            continue;
        }
        let next = u32::try_from(merged_weights.len()).expect("< 2^32 demand points");
        let group = *group_of.entry(set.as_slice()).or_insert_with(|| {
            merged_weights.push(0.0);
            for &c in set {
                merged_covers[c as usize].push(next);
            }
            next
        });
        merged_weights[group as usize] += weights[d];
    }
    (merged_weights, merged_covers)
}

/// Whether each candidate survives the dominance rule.
fn undominated(weights: &[f64], costs: &[f64], covers: &[Vec<u32>]) -> Vec<bool> {
    let mut by_demand: Vec<Vec<u32>> = vec![Vec::new(); weights.len()];
    for (c, list) in covers.iter().enumerate() {
        for &d in list {
            by_demand[d as usize].push(u32::try_from(c).expect("< 2^32 candidates"));
        }
    }
    let mut keep = vec![true; covers.len()];
    for (a, list) in covers.iter().enumerate() {
        let Some(&rarest) = list.iter().min_by_key(|&&d| by_demand[d as usize].len()) else {
            keep[a] = false;
            continue;
        };
        for &b in &by_demand[rarest as usize] {
            let b = b as usize;
            if b == a || !keep[b] || costs[b] > costs[a] || covers[b].len() < list.len() {
                continue;
            }
            let equal = covers[b].len() == list.len() && costs[b].total_cmp(&costs[a]).is_eq();
            if equal && b > a {
                continue;
            }
            if is_subset(list, &covers[b]) {
                keep[a] = false;
                break;
            }
        }
    }
    keep
}

/// Whether sorted `a` ⊆ sorted `b`.
fn is_subset(a: &[u32], b: &[u32]) -> bool {
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j == b.len() || b[j] != x {
            return false;
        }
        j += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_twins_and_drops_dominated_sites() {
        // demand 0 and 1 are covered by the same sites; site 2 is inside site 0; site 3 covers
        // only a zero-weight point
        let p = CoverProblem::new(vec![1.0, 2.0, 4.0, 0.0], vec![], vec![vec![0, 1, 2], vec![0, 1], vec![2], vec![3]]).expect("valid");
        let r = reduce(&p);
        assert_eq!(r.candidates, vec![0]);
        assert_eq!(r.problem.demands(), 1);
        assert_eq!(r.problem.weights(), &[7.0]);
    }

    #[test]
    fn a_cheaper_subset_site_stays() {
        let p = CoverProblem::new(vec![1.0, 1.0], vec![5.0, 1.0], vec![vec![0, 1], vec![0]]).expect("valid");
        assert_eq!(reduce(&p).candidates, vec![0, 1]);
    }
}
