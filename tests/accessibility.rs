//! 2SFCA accessibility against a brute-force oracle: every estate × facility distance by `geo`,
//! the two steps written as plain loops over all of them (O(E·F)), on random small inputs; and
//! the score in analyze's layers.

mod common;

use common::oracle::boundary_distance_m;
use gapmap::analysis::{compute_accessibility, kind_accessibility, AccessDecay, DistanceFrom, StraightLine};
use gapmap::model::*;
use geo::{Centroid, Distance, Euclidean, LineString, MultiPolygon, Polygon};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const RESIDENTS_PER_HOUSEHOLD: f64 = 2.5;

fn catalogue(radius_m: f64, capacity_unit: Option<&str>) -> Catalogue {
    Catalogue {
        name: "prop".into(),
        residents_per_household: RESIDENTS_PER_HOUSEHOLD,
        kinds: vec![KindSpec {
            key: "nursery".into(),
            label_zh: "托儿所".into(),
            label_en: "nursery".into(),
            radius_m,
            circle: LivingCircle::FiveMin,
            ratio: None,
            capacity_unit: capacity_unit.map(str::to_owned),
            clause: "test".into(),
            confirmed: false,
            osm: vec![],
            amap_types: vec![],
            keywords: vec![],
        }],
    }
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(LineString::from(vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]), vec![])])
}

fn estates_of(shapes: &[(f64, f64, f64, f64, Option<u32>)]) -> Vec<Estate> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(x, y, w, h, households))| Estate {
            id: FeatureId::Int(i64::try_from(i).expect("small")),
            name: None,
            district: None,
            households,
            built_year: None,
            renovation_year: None,
            geometry: rect(x, y, w, h),
            extra: vec![],
        })
        .collect()
}

/// x, y, capacity, opened_year, planned.
type PointSpec = (f64, f64, Option<f64>, Option<i32>, bool);

fn facilities_of(points: &[PointSpec]) -> Vec<Facility> {
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y, capacity, opened_year, planned))| Facility {
            id: FeatureId::Int(1000 + i64::try_from(i).expect("small")),
            kind: KindId(0),
            name: None,
            capacity,
            opened_year,
            planned,
            district: None,
            location: geo::point!(x: x, y: y),
            extra: vec![],
        })
        .collect()
}

/// The decay written out again, from the formula (Dai 2010): not gapmap's function.
fn oracle_weight(decay: AccessDecay, d: f64, d0: f64) -> f64 {
    if d > d0 {
        return 0.0;
    }
    match decay {
        AccessDecay::Step => 1.0,
        AccessDecay::Gaussian => ((-0.5 * (d / d0).powi(2)).exp() - (-0.5f64).exp()) / (1.0 - (-0.5f64).exp()),
    }
}

/// Brute force: all E × F distances, step 1 and step 2 as two double loops.
fn oracle_scores(estates: &[Estate], facilities: &[Facility], radius_m: f64, year: Option<i32>, from: DistanceFrom, decay: AccessDecay) -> Vec<f64> {
    let distance = |e: &Estate, f: &Facility| match from {
        DistanceFrom::Boundary => boundary_distance_m(&e.geometry, f.location),
        DistanceFrom::Centroid => Euclidean.distance(&e.geometry.centroid().expect("non-empty"), &f.location),
    };
    let residents = |e: &Estate| f64::from(e.households.unwrap_or(0)) * RESIDENTS_PER_HOUSEHOLD;
    let open: Vec<&Facility> = facilities.iter().filter(|f| f.open_in(year)).collect();
    let ratios: Vec<f64> = open
        .iter()
        .map(|f| {
            let mut demand = 0.0;
            for e in estates {
                let d = distance(e, f);
                if d <= radius_m {
                    demand += residents(e) * oracle_weight(decay, d, radius_m);
                }
            }
            if demand > 0.0 {
                f.capacity.unwrap_or(0.0) / demand
            } else {
                0.0
            }
        })
        .collect();
    estates
        .iter()
        .map(|e| {
            let mut score = 0.0;
            for (f, r) in open.iter().zip(&ratios) {
                let d = distance(e, f);
                if d <= radius_m {
                    score += r * oracle_weight(decay, d, radius_m);
                }
            }
            score * 1000.0
        })
        .collect()
}

fn shapes() -> impl Strategy<Value = Vec<(f64, f64, f64, f64, Option<u32>)>> {
    proptest::collection::vec((0.0..1500.0f64, 0.0..1500.0f64, 20.0..300.0f64, 20.0..300.0f64, proptest::option::of(0u32..2000)), 1..14)
}

fn points() -> impl Strategy<Value = Vec<PointSpec>> {
    proptest::collection::vec(
        (-200.0..1800.0f64, -200.0..1800.0f64, proptest::option::of(0.0..300.0f64), proptest::option::of(2015..2025i32), any::<bool>()),
        0..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// gapmap's 2SFCA (pairs from the R-tree search, two passes over them) equals the two double
    /// loops over every estate × facility, for both decays, both distance origins and any year.
    #[test]
    fn two_step_fca_matches_brute_force(
        shapes in shapes(),
        points in points(),
        radius_m in 100.0..700.0f64,
        gaussian in any::<bool>(),
        centroid in any::<bool>(),
        year in proptest::option::of(2015..2025i32),
    ) {
        let estates = estates_of(&shapes);
        let facilities = facilities_of(&points);
        let catalogue = catalogue(radius_m, Some("places"));
        let decay = if gaussian { AccessDecay::Gaussian } else { AccessDecay::Step };
        let from = if centroid { DistanceFrom::Centroid } else { DistanceFrom::Boundary };
        // A pair within a micrometre of the radius is in or out by rounding alone.
        for e in &estates {
            for f in &facilities {
                let d = match from {
                    DistanceFrom::Boundary => boundary_distance_m(&e.geometry, f.location),
                    DistanceFrom::Centroid => Euclidean.distance(&e.geometry.centroid().expect("non-empty"), &f.location),
                };
                prop_assume!((d - radius_m).abs() > 1e-6);
            }
        }
        let metric = StraightLine::new(&facilities, from);
        let got = kind_accessibility(&estates, &facilities, &metric, &catalogue, KindId(0), year, decay).expect("measures");
        let has_supply = facilities.iter().any(|f| f.open_in(year) && f.capacity.is_some());
        match got {
            None => prop_assert!(!has_supply, "a kind with supply has scores"),
            Some(scores) => {
                prop_assert!(has_supply, "scores without any known capacity");
                let expected = oracle_scores(&estates, &facilities, radius_m, year, from, decay);
                prop_assert_eq!(scores.len(), expected.len());
                for (i, (g, x)) in scores.iter().zip(&expected).enumerate() {
                    prop_assert!((g - x).abs() <= 1e-9 * x.abs().max(1.0), "estate {}: {} vs oracle {}", i, g, x);
                }
                // Supply is conserved: residents × score / 1000 sums to the capacity of the open
                // facilities that have weighted demand.
                let served: f64 = estates.iter().zip(&scores).map(|(e, s)| f64::from(e.households.unwrap_or(0)) * RESIDENTS_PER_HOUSEHOLD * s / 1000.0).sum();
                prop_assert!(served <= facilities.iter().filter(|f| f.open_in(year)).map(|f| f.capacity.unwrap_or(0.0)).sum::<f64>() * (1.0 + 1e-9) + 1e-9);
            }
        }
    }
}

/// Hand-checked: two estates of 400 and 200 households (1,000 and 500 residents) share a
/// nursery of 30 places that both reach; the second also reaches one of 10 places alone.
#[test]
fn shared_supply_by_hand() {
    let estates = estates_of(&[(0.0, 0.0, 100.0, 100.0, Some(400)), (400.0, 0.0, 100.0, 100.0, Some(200))]);
    // The first nursery between them (150 m from each), the second 50 m east of estate 2,
    // 450 m from estate 1 (outside the 300 m radius).
    let facilities = facilities_of(&[(250.0, 50.0, Some(30.0), None, false), (550.0, 50.0, Some(10.0), None, true)]);
    let catalogue = catalogue(300.0, Some("places"));
    let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
    let scores = compute_accessibility(&estates, &facilities, &metric, &catalogue, None, AccessDecay::Step).expect("measures");
    // R_1 = 30 / 1500 residents, R_2 = 10 / 500: estate 1 gets 20, estate 2 gets 20 + 20 per 1,000.
    approx::assert_relative_eq!(scores.get(0, KindId(0)).expect("scored"), 20.0, max_relative = 1e-12);
    approx::assert_relative_eq!(scores.get(1, KindId(0)).expect("scored"), 40.0, max_relative = 1e-12);
    // Without a capacity unit in the catalogue there is no score.
    let unscored = catalogue_without_unit();
    let none = compute_accessibility(&estates, &facilities, &metric, &unscored, None, AccessDecay::Step).expect("measures");
    assert!(!none.is_scored(KindId(0)) && none.get(0, KindId(0)).is_none());
}

fn catalogue_without_unit() -> Catalogue {
    catalogue(300.0, None)
}
