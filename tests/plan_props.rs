//! The site-planning solver against brute force over every subset of sites.

use gapmap::plan::{greedy, plan, reduce, CoverProblem, Limits, SolverKind};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// A small instance: integer weights (households), costs 1–5, random cover lists.
fn instance() -> impl Strategy<Value = (Vec<f64>, Vec<f64>, Vec<Vec<u32>>)> {
    (1usize..9, 1usize..8).prop_flat_map(|(demands, candidates)| {
        let d = u32::try_from(demands).expect("small");
        (
            prop::collection::vec(0u32..60, demands).prop_map(|w| w.into_iter().map(f64::from).collect()),
            prop::collection::vec(1u32..6, candidates).prop_map(|c| c.into_iter().map(f64::from).collect()),
            prop::collection::vec(prop::collection::vec(0..d, 0..5), candidates),
        )
    })
}

/// The best covered weight over every subset within the limits.
fn brute_force(p: &CoverProblem, limits: Limits) -> f64 {
    let n = p.candidates();
    let mut best = 0.0f64;
    for mask in 0u32..(1 << n) {
        let chosen: Vec<u32> = (0..n).filter(|&c| mask & (1 << c) != 0).map(|c| u32::try_from(c).expect("small")).collect();
        if limits.count.is_some_and(|k| chosen.len() > k) {
            continue;
        }
        let cost: f64 = chosen.iter().map(|&c| p.cost(c)).sum();
        if limits.budget.is_some_and(|b| cost > b) {
            continue;
        }
        best = best.max(p.covered_weight(&chosen));
    }
    best
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        (1usize..4).prop_map(|k| Limits { count: Some(k), budget: None }),
        (1u32..12).prop_map(|b| Limits { count: None, budget: Some(f64::from(b)) }),
        (1usize..4, 1u32..12).prop_map(|(k, b)| Limits { count: Some(k), budget: Some(f64::from(b)) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Exact equals brute force; greedy never beats it; limits hold; gains add up.
    #[test]
    fn exact_matches_brute_force((weights, costs, covers) in instance(), limits in limits()) {
        let p = CoverProblem::new(weights, costs, covers).expect("valid");
        let best = brute_force(&p, limits);
        let s = plan(&p, limits, 30.0);
        prop_assert_eq!(s.solver, SolverKind::Exact);
        prop_assert!((s.objective - best).abs() < 1e-9, "plan {} vs brute force {}", s.objective, best);
        prop_assert!((p.covered_weight(&s.sites) - s.objective).abs() < 1e-9);
        prop_assert!((s.gains.iter().sum::<f64>() - s.objective).abs() < 1e-9);
        prop_assert!(s.gains.windows(2).all(|w| w[0] >= w[1]), "ranked by marginal gain: {:?}", s.gains);
        let mut distinct = s.sites.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), s.sites.len());
        if let Some(k) = limits.count { prop_assert!(s.sites.len() <= k); }
        if let Some(b) = limits.budget { prop_assert!(s.sites.iter().map(|&c| p.cost(c)).sum::<f64>() <= b + 1e-9); }
        let g = greedy(&p, limits);
        prop_assert!(p.covered_weight(&g) <= best + 1e-9);
        if let Some(b) = limits.budget { prop_assert!(g.iter().map(|&c| p.cost(c)).sum::<f64>() <= b + 1e-9); }
        if let Some(k) = limits.count { prop_assert!(g.len() <= k); }
    }

    /// Reduction keeps the optimum.
    #[test]
    fn reduction_keeps_the_optimum((weights, costs, covers) in instance(), limits in limits()) {
        let p = CoverProblem::new(weights, costs, covers).expect("valid");
        let r = reduce(&p);
        prop_assert!((brute_force(&r.problem, limits) - brute_force(&p, limits)).abs() < 1e-9);
        prop_assert!(r.problem.candidates() <= p.candidates());
    }
}
