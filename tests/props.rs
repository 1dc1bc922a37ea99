//! Property tests: gapmap's coverage against the brute-force oracle in `common/oracle.rs`.

mod common;

use common::oracle::{oracle, required};
use gapmap::analysis::{compute_coverage, DistanceFrom, RecordedHouseholds, StraightLine};
use gapmap::index::FacilityIndex;
use gapmap::model::*;
use geo::{LineString, MultiPolygon, Polygon};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Boundary tolerance: a facility this close to the radius may fall either side in two
/// correct implementations (different rounding), so such cases are skipped, not compared.
const EPS_M: f64 = 1e-6;

fn catalogue(radii: &[f64]) -> Catalogue {
    Catalogue {
        name: "prop".into(),
        residents_per_household: 2.5,
        kinds: radii
            .iter()
            .enumerate()
            .map(|(i, &r)| KindSpec {
                key: format!("k{i}"),
                label_zh: "k".into(),
                label_en: "k".into(),
                radius_m: r,
                circle: LivingCircle::FiveMin,
                ratio: (i % 2 == 0).then_some(CapacityRatio { amount: 0.8, per: RatioBasis::Household }),
                capacity_unit: None,
                clause: "test".into(),
                confirmed: false,
                osm: vec![],
                amap_types: vec![],
                keywords: vec![],
            })
            .collect(),
    }
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> LineString<f64> {
    LineString::from(vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)])
}

/// Rectangles, rectangles with a hole, triangles and two-part MultiPolygons, all valid.
fn estate_strategy() -> impl Strategy<Value = (MultiPolygon<f64>, Option<u32>)> {
    let shape = (0.0..2000.0f64, 0.0..2000.0f64, 20.0..400.0f64, 20.0..400.0f64, 0u8..5, 0.0..1.0f64);
    (shape, proptest::option::of(0u32..3000)).prop_map(|((x, y, w, h, variant, t), households)| {
        let mp = match variant {
            0 => MultiPolygon(vec![Polygon::new(rect(x, y, w, h), vec![])]),
            1 => MultiPolygon(vec![Polygon::new(
                rect(x, y, w, h),
                vec![rect(x + w * 0.25, y + h * 0.25, w * 0.5, h * 0.5)],
            )]),
            2 => MultiPolygon(vec![Polygon::new(
                LineString::from(vec![(x, y), (x + w, y + h * t), (x + w * t, y + h), (x, y)]),
                vec![],
            )]),
            // A thin L: its bounding-box centre lies far outside it (large anchor gap).
            3 => {
                let arm = 0.05 + 0.1 * t;
                MultiPolygon(vec![Polygon::new(
                    LineString::from(vec![(x, y), (x + w, y), (x + w, y + h * arm), (x + w * arm, y + h * arm), (x + w * arm, y + h), (x, y + h), (x, y)]),
                    vec![],
                )])
            }
            _ => MultiPolygon(vec![
                Polygon::new(rect(x, y, w * 0.4, h), vec![]),
                Polygon::new(rect(x + w * 0.6, y, w * 0.4, h), vec![]),
            ]),
        };
        (mp, households)
    })
}

fn facility_strategy(kinds: u16) -> impl Strategy<Value = (f64, f64, u16, Option<f64>, Option<i32>)> {
    (
        -300.0..2700.0f64,
        -300.0..2700.0f64,
        0..kinds,
        proptest::option::of(0.0..500.0f64),
        proptest::option::of(2000..2025i32),
    )
}

fn build(
    estates: Vec<(MultiPolygon<f64>, Option<u32>)>,
    facilities: Vec<(f64, f64, u16, Option<f64>, Option<i32>)>,
) -> (Vec<Estate>, Vec<Facility>) {
    let estates = estates
        .into_iter()
        .enumerate()
        .map(|(i, (geometry, households))| Estate {
            id: FeatureId::Int(i64::try_from(i).expect("small")),
            name: None,
            district: Some(format!("d{}", i % 3)),
            households,
            built_year: None,
            renovation_year: None,
            geometry,
            extra: vec![],
        })
        .collect();
    let facilities = facilities
        .into_iter()
        .enumerate()
        .map(|(i, (x, y, kind, capacity, opened_year))| Facility {
            id: FeatureId::Int(i64::try_from(i).expect("small")),
            kind: KindId(kind),
            name: None,
            capacity,
            opened_year,
            planned: false,
            district: None,
            location: geo::point!(x: x, y: y),
            extra: vec![],
        })
        .collect();
    (estates, facilities)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Nearest distance, the within-radius set (count and capacity), covered and shortfall.
    #[test]
    fn coverage_matches_brute_force(
        estates in prop::collection::vec(estate_strategy(), 1..25),
        facilities in prop::collection::vec(facility_strategy(3), 0..120),
        radii in prop::collection::vec(10.0..600.0f64, 3),
        year in proptest::option::of(1995..2030i32),
    ) {
        let catalogue = catalogue(&radii);
        let (estates, facilities) = build(estates, facilities);
        let index = FacilityIndex::build(&facilities, catalogue.len(), year);
        let metric = StraightLine::with_index(&facilities, &index, DistanceFrom::Boundary);
        let table = compute_coverage(&estates, &metric, &catalogue, year, &RecordedHouseholds, &()).expect("valid");
        for (e, estate) in estates.iter().enumerate() {
            for k in 0..catalogue.len() {
                let kind = KindId(u16::try_from(k).expect("small"));
                let cell = table.get(e, kind);
                let o = oracle(estate, &facilities, kind, year);
                let r = radii[k];
                match (cell.nearest, o.nearest_m) {
                    (None, None) => {}
                    (Some(n), Some(d)) => {
                        prop_assert!((n.distance_m - d).abs() < EPS_M, "estate {e} kind {k}: {} vs oracle {d}", n.distance_m);
                        // The reported facility really is at that distance.
                        let reported = o.distances_m.iter().find(|(i, _)| *i == n.facility as usize).expect("nearest is an open facility of the kind").1;
                        prop_assert!((reported - d).abs() < EPS_M);
                    }
                    other => prop_assert!(false, "estate {e} kind {k}: {other:?}"),
                }
                if o.distances_m.iter().any(|(_, d)| (d - r).abs() < EPS_M) {
                    continue; // on the boundary: either answer is right
                }
                let within: Vec<_> = o.distances_m.iter().filter(|(_, d)| *d <= r).collect();
                prop_assert_eq!(cell.count_within as usize, within.len());
                let capacity: f64 = within.iter().map(|(i, _)| facilities[*i].capacity.unwrap_or(0.0)).sum();
                prop_assert!((cell.capacity_within - capacity).abs() < 1e-6);
                prop_assert_eq!(cell.covered, !within.is_empty());
                let expected_short = required(&catalogue, kind, estate.households).map(|req| (req - capacity).max(0.0));
                match (cell.shortfall, expected_short) {
                    (None, None) => {}
                    (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-6, "{a} vs {b}"),
                    other => prop_assert!(false, "shortfall {other:?}"),
                }
            }
        }
    }

    /// Centroid distances equal the plain point-to-point minimum.
    #[test]
    fn centroid_distance_matches_brute_force(
        estates in prop::collection::vec(estate_strategy(), 1..15),
        facilities in prop::collection::vec(facility_strategy(1), 1..80),
    ) {
        use geo::{Centroid, Distance, Euclidean};
        let catalogue = catalogue(&[300.0]);
        let (estates, facilities) = build(estates, facilities);
        let index = FacilityIndex::build(&facilities, 1, None);
        let metric = StraightLine::with_index(&facilities, &index, DistanceFrom::Centroid);
        let table = compute_coverage(&estates, &metric, &catalogue, None, &RecordedHouseholds, &()).expect("valid");
        for (e, estate) in estates.iter().enumerate() {
            let c = estate.geometry.centroid().expect("non-empty");
            let expected = facilities.iter().map(|f| Euclidean.distance(&c, &f.location)).reduce(f64::min).expect("≥ 1 facility");
            let got = table.get(e, KindId(0)).nearest.expect("≥ 1 facility").distance_m;
            prop_assert!((got - expected).abs() < EPS_M, "{got} vs {expected}");
        }
    }

    /// Summary totals equal sums over the table.
    #[test]
    fn summary_totals_match_the_table(
        estates in prop::collection::vec(estate_strategy(), 1..20),
        facilities in prop::collection::vec(facility_strategy(2), 0..60),
    ) {
        let catalogue = catalogue(&[200.0, 400.0]);
        let (estates, facilities) = build(estates, facilities);
        let index = FacilityIndex::build(&facilities, 2, None);
        let metric = StraightLine::with_index(&facilities, &index, DistanceFrom::Boundary);
        let table = compute_coverage(&estates, &metric, &catalogue, None, &RecordedHouseholds, &()).expect("valid");
        let summary = gapmap::analysis::summarize(&estates, &facilities, &table, &catalogue);
        for (k, s) in summary.overall.iter().enumerate() {
            let kind = KindId(u16::try_from(k).expect("small"));
            let covered = (0..estates.len()).filter(|&e| table.get(e, kind).covered).count();
            prop_assert_eq!(s.estates_covered, covered);
            let hh: u64 = (0..estates.len()).filter(|&e| table.get(e, kind).covered).map(|e| u64::from(estates[e].households.unwrap_or(0))).sum();
            prop_assert_eq!(s.households_covered, hh);
            let short: f64 = (0..estates.len()).filter_map(|e| table.get(e, kind).shortfall).sum();
            prop_assert!((s.shortfall_total - short).abs() < 1e-6);
            let by_district: usize = summary.districts.iter().map(|d| d.kinds[k].estates_covered).sum();
            prop_assert_eq!(by_district, covered);
        }
    }

    /// Per district: the facility stock (open in the year, by the facility's own district) and
    /// the estates' figures equal plain sums in slice order, with estates and facilities
    /// without a district, and a district only facilities name (no row of its own).
    #[test]
    fn district_summaries_match_plain_sums(
        estates in prop::collection::vec(estate_strategy(), 1..20),
        facilities in prop::collection::vec(facility_strategy(2), 0..60),
        year in proptest::option::of(1995i32..2015),
    ) {
        let catalogue = catalogue(&[200.0, 400.0]);
        let (mut estates, mut facilities) = build(estates, facilities);
        for (i, e) in estates.iter_mut().enumerate() {
            e.district = (i % 4 != 3).then(|| format!("d{}", i % 3));
        }
        for (i, f) in facilities.iter_mut().enumerate() {
            f.district = (i % 5 != 0).then(|| format!("d{}", [0, 1, 2, 9][i % 4]));
        }
        let index = FacilityIndex::build(&facilities, 2, year);
        let metric = StraightLine::with_index(&facilities, &index, DistanceFrom::Boundary);
        let table = compute_coverage(&estates, &metric, &catalogue, year, &RecordedHouseholds, &()).expect("valid");
        let summary = gapmap::analysis::summarize(&estates, &facilities, &table, &catalogue);
        let mut names: Vec<&str> = estates.iter().filter_map(|e| e.district.as_deref()).collect();
        names.sort_unstable();
        names.dedup();
        prop_assert_eq!(summary.districts.iter().map(|d| d.district.as_str()).collect::<Vec<_>>(), names.clone());
        for (d, name) in summary.districts.iter().zip(&names) {
            let members: Vec<usize> = (0..estates.len()).filter(|&e| estates[e].district.as_deref() == Some(*name)).collect();
            for (k, s) in d.kinds.iter().enumerate() {
                let kind = KindId(u16::try_from(k).expect("small"));
                let open: Vec<&Facility> = facilities.iter().filter(|f| f.kind == kind && f.open_in(year) && f.district.as_deref() == Some(*name)).collect();
                prop_assert_eq!(s.facilities, open.len());
                prop_assert_eq!(s.capacity.to_bits(), open.iter().fold(0.0, |t, f| t + f.capacity.unwrap_or(0.0)).to_bits());
                prop_assert_eq!(s.estates, members.len());
                prop_assert_eq!(s.estates_covered, members.iter().filter(|&&e| table.get(e, kind).covered).count());
                let households: u64 = members.iter().map(|&e| u64::from(estates[e].households.unwrap_or(0))).sum();
                prop_assert_eq!(s.households, households);
                let short = members.iter().filter_map(|&e| table.get(e, kind).shortfall).filter(|&x| x > 0.0).fold(0.0, |t, x| t + x);
                prop_assert_eq!(s.shortfall_total.to_bits(), short.to_bits());
            }
        }
        // City-wide stock: every open facility of the kind, with a district or not.
        for (k, s) in summary.overall.iter().enumerate() {
            let kind = KindId(u16::try_from(k).expect("small"));
            prop_assert_eq!(s.facilities, facilities.iter().filter(|f| f.kind == kind && f.open_in(year)).count());
        }
    }
}
