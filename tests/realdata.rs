//! Real data: Shanghai residential estates (OSM via Tilezen, pieces split at tile edges) and AMap
//! kindergartens (WGS84 CSV), read from `../shared/realdata`. The expected distances are computed
//! inside the test without gapmap's projection or search: geodesic distances (geo's Karney
//! `Geodesic`) from each kindergarten to the closest point of the estate outline, found in a
//! local equal-scale lon/lat frame, brute force over all pairs.

use std::path::PathBuf;

use gapmap::analysis::{compute_coverage, DistanceFrom, RecordedHouseholds, StraightLine};
use gapmap::config::SourceConfig;
use gapmap::index::FacilityIndex;
use gapmap::io::catalogue::builtin_catalogue;
use gapmap::io::load::{load, LoadOptions};
use geo::{Closest, ClosestPoint, Contains, Coord, Distance, Geodesic, MultiPolygon, Point, Polygon};

fn realdata() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/realdata");
    assert!(dir.is_dir(), "{} is missing: the real-data tests read ../shared/realdata beside the repository", dir.display());
    dir
}

/// Independent estates: residential polygons grouped by OSM id, straight from the GeoJSON.
fn estates_by_hand() -> Vec<(i64, MultiPolygon<f64>)> {
    let text = std::fs::read_to_string(realdata().join("shanghai-tilezen-osm/landuse.geojson")).expect("readable");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut out: std::collections::BTreeMap<i64, Vec<Polygon<f64>>> = Default::default();
    for f in doc["features"].as_array().expect("features") {
        if f["properties"]["kind"] != "residential" {
            continue;
        }
        let id = f["properties"]["id"].as_i64().expect("osm id");
        let geometry: geo::Geometry<f64> = serde_json::from_value::<geojson::Geometry>(f["geometry"].clone()).expect("geometry").try_into().expect("geo");
        match geometry {
            geo::Geometry::Polygon(p) => out.entry(id).or_default().push(p),
            geo::Geometry::MultiPolygon(mp) => out.entry(id).or_default().extend(mp.0),
            _ => {} // label points: the loader rejects (and reports) them
        }
    }
    out.into_iter().map(|(id, ps)| (id, MultiPolygon(ps))).collect()
}

fn kindergartens_by_hand() -> Vec<Point<f64>> {
    let mut reader = csv::Reader::from_path(realdata().join("shanghai-amap-poi/幼儿园.csv")).expect("csv");
    let headers = reader.headers().expect("header").clone();
    let lon = headers.iter().position(|h| h == "lon").expect("lon column");
    let lat = headers.iter().position(|h| h == "lat").expect("lat column");
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            Point::new(r[lon].parse().expect("lon"), r[lat].parse().expect("lat"))
        })
        .collect()
}

/// Geodesic distance from a point to a lon/lat multipolygon's outline, 0 inside.
fn geodesic_distance_m(mp: &MultiPolygon<f64>, p: Point<f64>) -> f64 {
    if mp.contains(&p) {
        return 0.0;
    }
    // Find the closest outline point in a frame where a degree of longitude is scaled to the
    // length of a degree of latitude, then measure the geodesic to it on the ellipsoid.
    let k = p.y().to_radians().cos();
    let scale = |c: Coord<f64>| Coord { x: c.x * k, y: c.y };
    let scaled = geo::MapCoords::map_coords(mp, scale);
    let q = match scaled.closest_point(&Point(scale(p.0))) {
        Closest::Intersection(q) | Closest::SinglePoint(q) => q,
        Closest::Indeterminate => panic!("no closest point"),
    };
    Geodesic.distance(p, Point::new(q.x() / k, q.y()))
}

#[test]
fn shanghai_kindergartens_against_a_geodesic_brute_force() {
    let dir = realdata();
    let catalogue = builtin_catalogue();
    let estates = SourceConfig {
        merge_by_id: true,
        filter: [("kind".to_owned(), "residential".to_owned())].into(),
        ..SourceConfig::from_path(dir.join("shanghai-tilezen-osm/landuse.geojson"))
    };
    let kindergartens = SourceConfig { kind: Some("kindergarten".into()), ..SourceConfig::from_path(dir.join("shanghai-amap-poi/幼儿园.csv")) };
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(&estates, &[kindergartens], &options, &|_| {}).expect("loads");

    // Every rejection is a residential label point, reported with its reason.
    assert!(loaded.report.rejected.iter().all(|r| r.reason.contains("wrong geometry type Point")), "{:?}", loaded.report.rejected);
    let expected_estates = estates_by_hand();
    // The working CRS is the CGCS2000 3° Gauss-Krüger zone of the estates' centre (no zone
    // prefix: EPSG:4534 is 75°E, one code per 3°).
    let bbox = geo::BoundingRect::bounding_rect(&MultiPolygon(expected_estates.iter().flat_map(|(_, mp)| mp.0.clone()).collect())).expect("non-empty");
    let central_meridian = (bbox.center().x / 3.0).round() * 3.0;
    #[expect(clippy::cast_possible_truncation, reason = "a small whole number")]
    let zone_code = 4534 + ((central_meridian - 75.0) / 3.0) as i32;
    assert_eq!(loaded.working_crs, format!("EPSG:{zone_code}"), "centre lon {}", bbox.center().x);
    assert_eq!(loaded.estates.len(), expected_estates.len());
    assert_eq!(loaded.estates.len(), 18, "the realdata README counts 18 estates once joined");
    let points = kindergartens_by_hand();
    assert_eq!(loaded.facilities.len(), points.len());

    let k = catalogue.kind_id("kindergarten").expect("built-in kind");
    let index = FacilityIndex::build(&loaded.facilities, catalogue.len(), None);
    let table = compute_coverage(&loaded.estates, &StraightLine::with_index(&loaded.facilities, &index, DistanceFrom::Boundary), &catalogue, None, &RecordedHouseholds, &()).expect("runs");
    let radius = catalogue.spec(k).radius_m;
    let mut covered = 0;
    for (i, estate) in loaded.estates.iter().enumerate() {
        let (id, mp) = &expected_estates[i];
        assert_eq!(estate.id, gapmap::model::FeatureId::Int(*id));
        let distances: Vec<f64> = points.iter().map(|p| geodesic_distance_m(mp, *p)).collect();
        let nearest = distances.iter().copied().fold(f64::INFINITY, f64::min);
        let got = table.get(i, k).nearest.expect("kindergartens exist").distance_m;
        // Gauss-Krüger scale error 1.5° off the central meridian is ~2.4e-4; allow 1e-3 + 0.5 m.
        assert!((got - nearest).abs() <= 0.5 + nearest * 1e-3, "estate {id}: gapmap {got} m, geodesic {nearest} m");
        let clear = |d: &f64| (d - radius).abs() > 0.5 + radius * 1e-3;
        if distances.iter().all(clear) {
            let within = distances.iter().filter(|d| **d <= radius).count();
            assert_eq!(table.get(i, k).count_within as usize, within, "estate {id}");
            assert_eq!(table.get(i, k).covered, within > 0);
        }
        covered += usize::from(table.get(i, k).covered);
    }
    // Central Pudong is dense with kindergartens, but not every estate has one within 300 m.
    assert!(covered > 0 && covered < loaded.estates.len(), "covered {covered}");
}
