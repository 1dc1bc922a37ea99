//! Property tests of the coverage timeline (issue 18, "Tests"): coverage as of every year read
//! from one timeline equals a fresh analysis with that year, by straight line (from the boundary
//! and from the centroid) and by walking distance, including facilities without an opening year,
//! years before the first facility, years between openings, after the last one and the present;
//! and the trend's per-year coverage counts equal counts taken from fresh analyses.

use gapmap::analysis::{required_capacity, 
    compute_coverage, compute_trend, CoverageMetric, CoverageTimeline, DistanceFrom, NetworkMetric, NetworkParams, RecordedHouseholds,
    StraightLine, Targets, TrendParams, YearSpan,
};
use gapmap::model::*;
use geo::{LineString, MultiPolygon, Polygon};
use proptest::prelude::*;

fn catalogue() -> Catalogue {
    let kind = |key: &str, radius_m: f64, ratio: Option<CapacityRatio>| KindSpec {
        key: key.into(),
        label_zh: String::new(),
        label_en: String::new(),
        radius_m,
        circle: LivingCircle::FiveMin,
        ratio,
        capacity_unit: None,
        clause: "t".into(),
        confirmed: false,
        osm: vec![],
        amap_types: vec![],
        keywords: vec![],
    };
    Catalogue {
        name: "t".into(),
        residents_per_household: 2.5,
        kinds: vec![
            kind("a", 150.0, Some(CapacityRatio { amount: 0.5, per: RatioBasis::Household })),
            kind("b", 400.0, None),
            kind("c", 250.0, None),
        ],
    }
}

#[derive(Debug, Clone)]
struct City {
    estates: Vec<Estate>,
    facilities: Vec<Facility>,
}

fn rect(x: f64, y: f64, w: f64, h: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(LineString::from(vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]), vec![])])
}

fn city_strategy() -> impl Strategy<Value = City> {
    let estate = (0.0..900.0f64, 0.0..900.0f64, 10.0..80.0f64, 10.0..80.0f64, prop::option::of(1u32..500), prop::option::of(0usize..3));
    // Years from a short range so that several facilities share one; kind 2 may have none.
    let facility = (0.0..1000.0f64, 0.0..1000.0f64, 0u16..3, prop::option::weighted(0.8, 1995..2006i32), prop::option::of(1.0..50.0f64));
    (prop::collection::vec(estate, 1..25), prop::collection::vec(facility, 0..30)).prop_map(|(estates, facilities)| City {
        estates: estates
            .into_iter()
            .enumerate()
            .map(|(i, (x, y, w, h, households, district))| Estate {
                id: FeatureId::Int(i64::try_from(i).unwrap_or(0)),
                name: None,
                district: district.map(|d| format!("d{d}")),
                households,
                built_year: Some(1990),
                renovation_year: None,
                geometry: rect(x, y, w, h),
                extra: vec![],
            })
            .collect(),
        facilities: facilities
            .into_iter()
            .enumerate()
            .map(|(i, (x, y, kind, opened, capacity))| Facility {
                id: FeatureId::Int(i64::try_from(i).unwrap_or(0)),
                kind: KindId(kind),
                name: None,
                capacity,
                opened_year: opened,
                planned: false,
                district: None,
                location: geo::point!(x: x, y: y),
                extra: vec![],
            })
            .collect(),
    })
}

/// A 100 m street grid over the city with every third vertical street cut in the middle, so walks
/// detour.
fn streets() -> Vec<LineString<f64>> {
    let mut lines = Vec::new();
    for i in 0..=10 {
        let v = f64::from(i) * 100.0;
        lines.push(LineString::from(vec![(0.0, v), (1000.0, v)]));
        if i % 3 == 0 {
            lines.push(LineString::from(vec![(v, 0.0), (v, 400.0)]));
            lines.push(LineString::from(vec![(v, 600.0), (v, 1000.0)]));
        } else {
            lines.push(LineString::from(vec![(v, 0.0), (v, 1000.0)]));
        }
    }
    lines
}

/// Every year worth asking: before the first opening, each year of the range and after it, and
/// the present.
fn years() -> impl Iterator<Item = Option<i32>> {
    std::iter::once(None).chain((1990..=2010).map(Some))
}

fn check_every_year(city: &City, metric: &dyn CoverageMetric) -> Result<(), TestCaseError> {
    let catalogue = catalogue();
    let timeline = std::sync::Arc::new(CoverageTimeline::build(&city.estates, &city.facilities, metric, &catalogue, YearSpan::default(), &()).map_err(|e| TestCaseError::fail(e.to_string()))?);
    let required: std::sync::Arc<[f64]> = required_capacity(&city.estates, &catalogue, &RecordedHouseholds).into();
    let radii_m: Vec<f64> = catalogue.kinds.iter().map(|k| k.radius_m).collect();
    for year in years() {
        let fresh = compute_coverage(&city.estates, metric, &catalogue, year, &RecordedHouseholds, &()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let read = timeline.table_at(year, &city.estates, &catalogue, &RecordedHouseholds).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(read.as_ref(), Some(&fresh), "year {:?}", year);
        // The table a service keeps (positions in the timeline) reads the same, cell by cell.
        let view = timeline.table_view(year, std::sync::Arc::clone(&required), radii_m.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(view.as_ref(), Some(&fresh), "year {:?} (positions)", year);
        let view = view.expect("answered");
        // Read out packed for the passes over every cell, it still reads the same.
        let packed = view.in_order().into_owned();
        prop_assert_eq!(&packed, &fresh, "year {:?} (read out packed)", year);
        for e in 0..city.estates.len() {
            prop_assert_eq!(&*view.estate(e), &*fresh.estate(e));
            // What the summaries and gaps read of a cell, in every representation.
            for (k, cell) in fresh.estate(e).iter().enumerate() {
                let kind = gapmap::model::KindId(u16::try_from(k).expect("few kinds"));
                for table in [&fresh, &view, &packed] {
                    prop_assert_eq!(table.covered_and_shortfall(e, kind), (cell.covered, cell.shortfall));
                    prop_assert_eq!(table.covered(e, kind), cell.covered);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn straight_line_years_read_from_the_timeline_equal_fresh_analyses(city in city_strategy(), centroid in any::<bool>()) {
        let from = if centroid { DistanceFrom::Centroid } else { DistanceFrom::Boundary };
        check_every_year(&city, &StraightLine::new(&city.facilities, from))?;
    }

    #[test]
    fn walking_years_read_from_the_timeline_equal_fresh_analyses(city in city_strategy()) {
        let params = NetworkParams { max_m: 1500.0, ..NetworkParams::default() };
        let metric = NetworkMetric::build(&streets(), &[], &city.estates, &city.facilities, params);
        check_every_year(&city, &metric)?;
    }

    #[test]
    fn the_trend_counts_what_fresh_analyses_count(city in city_strategy()) {
        let catalogue = catalogue();
        let metric = StraightLine::new(&city.facilities, DistanceFrom::Boundary);
        let trend = compute_trend(&city.estates, &city.facilities, &metric, &catalogue, TrendParams::new(1993, 2007), &Targets::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for year in 1993..=2007 {
            let fresh = compute_coverage(&city.estates, &metric, &catalogue, Some(year), &RecordedHouseholds, &()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (k, spec) in catalogue.kinds.iter().enumerate() {
                let kind = KindId(u16::try_from(k).unwrap_or(0));
                let covered = (0..city.estates.len()).filter(|&e| fresh.get(e, kind).covered).count();
                let households: u64 = (0..city.estates.len()).filter(|&e| fresh.get(e, kind).covered).map(|e| u64::from(city.estates[e].households.unwrap_or(0))).sum();
                let row = trend.row(year, &spec.key).ok_or_else(|| TestCaseError::fail(format!("no row {year} {}", spec.key)))?;
                prop_assert_eq!(row.estates_covered, covered as u64, "{} {}", year, spec.key);
                prop_assert_eq!(row.households_covered, households, "{} {}", year, spec.key);
            }
        }
    }
}

#[test]
fn a_facility_without_a_year_counts_in_every_year() {
    let estates = vec![Estate {
        id: FeatureId::Int(1),
        name: None,
        district: None,
        households: Some(10),
        built_year: None,
        renovation_year: None,
        geometry: rect(0.0, 0.0, 20.0, 20.0),
        extra: vec![],
    }];
    let facilities = vec![Facility {
        id: FeatureId::Int(1),
        kind: KindId(0),
        name: None,
        capacity: None,
        opened_year: None,
        planned: false,
        district: None,
        location: geo::point!(x: 60.0, y: 10.0),
        extra: vec![],
    }];
    let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
    let timeline = CoverageTimeline::build(&estates, &facilities, &metric, &catalogue(), YearSpan::default(), &()).unwrap();
    // No facility has a year: one measurement stands for every year.
    assert_eq!(timeline.event_years().len(), 1);
    for year in [Some(i32::MIN), Some(1800), Some(2025), None] {
        let table = timeline.table_at(year, &estates, &catalogue(), &RecordedHouseholds).unwrap().unwrap();
        assert_eq!(table.get(0, KindId(0)).nearest.map(|n| n.distance_m), Some(40.0), "{year:?}");
    }
}
