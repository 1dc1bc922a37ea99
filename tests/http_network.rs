//! `gapmap serve` measuring by walking distance: a hand-built street fixture served in-process
//! (`router(state).oneshot`), every figure checked against distances worked out by hand below.
//!
//! The fixture, in metres from an origin in UTM zone 50N (about 117° E, 38° N):
//!
//! ```text
//!            B (300..340 × 250..290)      side street: (900,0)–(900,270)–(340,270)–(250,270)
//!          ━━┿━━┿━━━━━━━━━━━━━━━━━━━━━━━━━┓
//!            └──┘                          ┃                   C (1500..1540 × 10..50)
//!                                          ┃                   □
//!  ━━━━━━━━━━━━━━K1━━━━━━━━━━━━━━━━━━━━━━━━┻━━━━━━━━━━━━━━━━━━━━━━━━━━━K2━━━━━━━━━━━━━  main street,
//!  x = 0         300                       900                 1500   1700          2000   y = 0
//! ```
//!
//! K1 (opened 2010) and K2 (opened 2020) are kindergartens (radius 300 m). B is 250 m from K1 in a
//! straight line but walks 560 + 270 + 600 = 1,430 m round by the side street; C enters the main
//! street at (1500, 0) for 10 m and walks 200 m to K2 (160.31 m straight), or 1,200 m to K1.
#![expect(clippy::unwrap_used, clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss, reason = "tests panic on unexpected errors; tile numbers are small")]

mod common;

use std::path::PathBuf;

use axum::http::StatusCode;
use common::http::get_with;
use gapmap::analysis::{AnalysisParams, DistanceFrom, MetricKind, NetworkParams};
use gapmap::config::Config;
use gapmap::serve::dataset::{build_dataset, NetworkInput};
use gapmap::http::AppState;
use gapmap::io::crs::{CrsSpec, Transformer};
use gapmap::io::network::LoadedNetwork;
use gapmap::io::LoadReport;
use gapmap::model::{Estate, Facility, FeatureId};
use geo::{Coord, LineString, MultiPolygon, Point};
use serde_json::Value;

const CRS: &str = "EPSG:32650";
const X0: f64 = 500_000.0;
const Y0: f64 = 4_200_000.0;

fn xy(x: f64, y: f64) -> Coord<f64> {
    Coord { x: X0 + x, y: Y0 + y }
}

fn square(x: f64, y: f64, side: f64) -> MultiPolygon<f64> {
    let ring = vec![xy(x, y), xy(x + side, y), xy(x + side, y + side), xy(x, y + side), xy(x, y)];
    MultiPolygon::new(vec![geo::Polygon::new(LineString::new(ring), vec![])])
}

fn estate(id: i64, name: &str, district: &str, x: f64, y: f64) -> Estate {
    Estate {
        id: FeatureId::Int(id),
        name: Some(name.into()),
        district: Some(district.into()),
        households: Some(400),
        built_year: Some(1995),
        renovation_year: None,
        geometry: square(x, y, 40.0),
        extra: vec![],
    }
}

fn kindergarten(id: i64, catalogue: &gapmap::model::Catalogue, x: f64, opened: i32) -> Facility {
    Facility {
        id: FeatureId::Int(id),
        kind: catalogue.kind_id("kindergarten").unwrap(),
        name: Some(format!("K{id}")),
        capacity: Some(180.0),
        opened_year: Some(opened),
        planned: false,
        district: None,
        location: Point(xy(x, 0.0)),
        extra: vec![],
    }
}

fn streets() -> Vec<LineString<f64>> {
    // The main street with a vertex every 100 m, so the side street meets it at a shared node.
    let main = LineString::new((0..=20).map(|i| xy(f64::from(i) * 100.0, 0.0)).collect());
    // On through B to x = 250, so that the node nearest outside B (which B may also enter at,
    // straight across) is 50 m west of it, not K1's node on the main street 250 m south.
    let side = LineString::new(vec![xy(900.0, 0.0), xy(900.0, 270.0), xy(340.0, 270.0), xy(250.0, 270.0)]);
    vec![main, side]
}

fn state(network: bool) -> AppState {
    let catalogue = gapmap::io::catalogue::load_catalogue(None).unwrap();
    let estates = vec![estate(1, "B", "西区", 300.0, 250.0), estate(2, "C", "东区", 1500.0, 10.0)];
    let facilities = vec![kindergarten(11, &catalogue, 300.0, 2010), kindergarten(12, &catalogue, 1700.0, 2020)];
    let input = network.then(|| NetworkInput {
        loaded: LoadedNetwork {
            path: PathBuf::from("fixture-streets.geojson"),
            lines: streets(),
            gates: vec![],
            report: LoadReport::default(),
            features_read: 2,
            walkable: 2,
            not_walkable: 0,
            walkable_filter: None,
        },
        params: NetworkParams::default(),
    });
    let params = AnalysisParams { distance_from: DistanceFrom::Boundary, year: None, metric: if network { MetricKind::Network } else { MetricKind::Straight } };
    let dataset = build_dataset(estates, facilities, catalogue, CRS, params, input, 1, 0).unwrap();
    AppState::new(Config::default(), dataset)
}

fn network_state() -> AppState {
    static STATE: std::sync::OnceLock<AppState> = std::sync::OnceLock::new();
    STATE.get_or_init(|| state(true)).clone()
}

async fn get_json(state: &AppState, uri: &str) -> Value {
    let a = get_with(state, uri, &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}: {}", String::from_utf8_lossy(&a.body));
    a.json()
}

fn estate_props<'a>(page: &'a Value, name: &str) -> &'a Value {
    &page["features"].as_array().unwrap().iter().find(|f| f["properties"]["name"] == name).unwrap_or_else(|| panic!("no estate {name}: {page}"))["properties"]
}

fn close(v: &Value, expected: f64, tolerance: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() <= tolerance)
}

/// CRS84 of a fixture point.
fn lonlat(x: f64, y: f64) -> (f64, f64) {
    let t = Transformer::new(&CRS.parse::<CrsSpec>().unwrap(), "CRS84").unwrap();
    let mut c = [xy(x, y)];
    t.apply(&mut c).unwrap();
    (c[0].x, c[0].y)
}

#[tokio::test]
async fn estates_carry_both_figures() {
    let state = network_state();
    let page = get_json(&state, "/collections/estates/items").await;
    let b = estate_props(&page, "B");
    assert_eq!(b["metric"], "network", "{b}");
    assert!(close(&b["kindergarten_network_m"], 1430.0, 1e-6), "{b}");
    assert!(close(&b["kindergarten_distance_m"], 1430.0, 1e-6), "the chosen metric is walking: {b}");
    assert!(close(&b["kindergarten_straight_m"], 250.0, 1e-6), "{b}");
    assert!(close(&b["kindergarten_walk_min"], 1430.0 / 80.0, 0.01), "{b}");
    assert!(close(&b["kindergarten_detour"], 1430.0 / 250.0, 0.001), "{b}");
    assert_eq!(b["kindergarten_covered"], false, "walking 1,430 m is beyond 300 m: {b}");
    assert_eq!(b["kindergarten_nearest_id"], 11);

    let c = estate_props(&page, "C");
    assert!(close(&c["kindergarten_network_m"], 210.0, 1e-6), "{c}");
    assert!(close(&c["kindergarten_straight_m"], 160.0_f64.hypot(10.0), 1e-3), "{c}");
    assert_eq!(c["kindergarten_covered"], true);
    assert_eq!(c["kindergarten_nearest_id"], 12);
    // A kind with no facility: no distance either way.
    assert!(c["day_care_network_m"].is_null() && c["day_care_straight_m"].is_null() && c["day_care_detour"].is_null(), "{c}");

    // Queryables list the new properties; filters work on them.
    let q = get_json(&state, "/collections/estates/queryables").await;
    for p in ["metric", "kindergarten_straight_m", "kindergarten_network_m", "kindergarten_walk_min", "kindergarten_detour"] {
        assert!(q["properties"][p].is_object(), "queryable {p}: {q}");
    }
    let detoured = get_json(&state, "/collections/estates/items?filter=kindergarten_detour%20%3E%203").await;
    assert_eq!(detoured["numberMatched"], 1, "{detoured}");
}

#[tokio::test]
async fn gaps_and_districts_by_walking() {
    let state = network_state();
    let gaps = get_json(&state, "/collections/gaps/items?kind=kindergarten").await;
    let features = gaps["features"].as_array().unwrap();
    // B is covered in a straight line (250 m) but not on foot; C is covered both ways.
    assert_eq!(features.len(), 1, "{gaps}");
    let g = &features[0]["properties"];
    assert_eq!(g["estate_name"], "B");
    assert_eq!(g["metric"], "network");
    assert!(close(&g["distance_m"], 1430.0, 1e-6) && close(&g["network_m"], 1430.0, 1e-6) && close(&g["straight_m"], 250.0, 1e-6), "{g}");
    assert!(close(&g["detour"], 5.72, 0.001), "{g}");

    let districts = get_json(&state, "/collections/districts/items").await;
    let west = districts["features"].as_array().unwrap().iter().find(|f| f["properties"]["district"] == "西区").unwrap();
    let p = &west["properties"];
    assert_eq!(p["metric"], "network");
    assert!(close(&p["kindergarten_estates_covered_pct"], 0.0, 1e-9), "{p}");
    assert!(close(&p["kindergarten_straight_estates_covered_pct"], 100.0, 1e-9), "{p}");
}

#[tokio::test]
async fn year_views_use_the_network() {
    let state = network_state();
    // In 2015 only K1 (x = 300) is open: C walks 10 + 1,200 m to it (1,200.04 m straight).
    let page = get_json(&state, "/collections/estates/items?year=2015").await;
    let c = estate_props(&page, "C");
    assert_eq!(c["year"], 2015);
    assert!(close(&c["kindergarten_network_m"], 1210.0, 1e-6), "{c}");
    assert!(close(&c["kindergarten_distance_m"], 1210.0, 1e-6), "{c}");
    assert!(close(&c["kindergarten_straight_m"], 1200.0_f64.hypot(10.0), 1e-3), "{c}");
    assert_eq!(c["kindergarten_covered"], false);
    assert_eq!(c["kindergarten_nearest_id"], 11);
    // The estate's own coverage document says the same.
    let doc = get_json(&state, "/estates/2/coverage?year=2015").await;
    assert_eq!(doc["metric"], "network");
    let k = doc["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "kindergarten").unwrap();
    assert!(close(&k["network_m"], 1210.0, 1e-6) && close(&k["straight_m"], 1200.0_f64.hypot(10.0), 1e-3), "{k}");
}

#[tokio::test]
async fn point_coverage_walks() {
    let state = network_state();
    // Inside B on the side street, 20 m west of B's east side: it walks 20 + 560 + 270 to the
    // main street and 600 to K1; a straight line is 270.7 m.
    let (lon, lat) = lonlat(320.0, 270.0);
    let doc = get_json(&state, &format!("/coverage?lon={lon}&lat={lat}&year=2015")).await;
    assert_eq!(doc["metric"], "network", "{doc}");
    assert!(doc["distance"].as_str().unwrap().contains("walking"), "{doc}");
    let k = doc["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "kindergarten").unwrap();
    assert_eq!(k["covered"], false, "{k}");
    assert!(close(&k["distance_m"], 20.0 + 560.0 + 270.0 + 600.0, 0.01), "{k}");
    assert!(close(&k["straight_m"], 20.0_f64.hypot(270.0), 0.01), "{k}");
    assert_eq!(k["nearest"]["id"], 11);
    assert_eq!(k["count_within"], 0);

    // On the main street 100 m from K1: covered on foot too.
    let (lon, lat) = lonlat(400.0, 0.0);
    let doc = get_json(&state, &format!("/coverage?lon={lon}&lat={lat}")).await;
    let k = doc["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "kindergarten").unwrap();
    assert_eq!(k["covered"], true, "{k}");
    assert!(close(&k["distance_m"], 100.0, 0.01), "{k}");
    assert_eq!(k["count_within"], 1);

    // A straight-line dataset answers as before.
    let straight = state_straight();
    let doc = get_json(&straight, &format!("/coverage?lon={lon}&lat={lat}")).await;
    assert_eq!(doc["metric"], "straight");
    assert_eq!(doc["distance"], "straight line from the point");
}

fn state_straight() -> AppState {
    static STATE: std::sync::OnceLock<AppState> = std::sync::OnceLock::new();
    STATE.get_or_init(|| state(false)).clone()
}

#[tokio::test]
async fn service_areas_follow_the_streets() {
    let state = network_state();
    let page = get_json(&state, "/collections/service-areas/items?kind=kindergarten").await;
    let f = &page["features"][0];
    let p = &f["properties"];
    assert_eq!(p["metric"], "network", "{p}");
    // Reachable within 300 m: x in [0, 600] from K1 (the street ends at 0) and [1400, 2000]
    // from K2; the side street (600 m from K1, 800 m from K2) is out of reach. Each a 40 m strip
    // with rounded ends, nothing like two 300 m discs (565,487 m²).
    let margin = gapmap::serve::service_area::WALK_MARGIN_M;
    let strips = 2.0 * (600.0 * 2.0 * margin + std::f64::consts::PI * margin * margin);
    let area = p["area_m2"].as_f64().unwrap();
    assert!((area - strips).abs() < 0.02 * strips, "area {area} m² vs strips {strips} m²");
    let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
    let geometry: geo::Geometry<f64> = g.try_into().unwrap();
    let geo::Geometry::MultiPolygon(mp) = &geometry else { panic!("{geometry:?}") };
    assert_eq!(mp.0.len(), 2, "one strip per kindergarten");
    // Elongated along the street: 640 m × 40 m per strip.
    use geo::BoundingRect as _;
    for polygon in &mp.0 {
        let b = polygon.bounding_rect().unwrap();
        let (w, h) = (b.width() * lat_cos(b.center().y), b.height());
        assert!(w / h > 10.0, "a strip along the street, not a disc: {w} × {h} degrees");
    }
    // 100 m north of K1 is within a straight-line circle but not within the walking area.
    use geo::Contains as _;
    let (lon, lat) = lonlat(300.0, 100.0);
    assert!(!geometry.contains(&Point::new(lon, lat)));
    let (lon, lat) = lonlat(500.0, 5.0);
    assert!(geometry.contains(&Point::new(lon, lat)));

    // A year before K2 opened: only K1's strip.
    let tile_2015 = tile_at(&state, "service-areas", 300.0, 0.0, 14, "?year=2015").await;
    assert!(!tile_2015.is_empty());
    let (a, b) = (area_tile_bytes(&state, 1700.0, "?year=2015").await, area_tile_bytes(&state, 1700.0, "").await);
    assert!(a.is_empty() && !b.is_empty(), "K2's strip only from 2020");
}

fn lat_cos(lat: f64) -> f64 {
    lat.to_radians().cos()
}

/// The XYZ tile at zoom `z` containing fixture point (`x`, `y`).
fn tile_of(x: f64, y: f64, z: u8) -> (u32, u32) {
    let (lon, lat) = lonlat(x, y);
    let n = f64::from(1_u32 << z);
    let tx = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let lat_r = lat.to_radians();
    let ty = ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    (tx, ty)
}

async fn tile_at(state: &AppState, set: &str, x: f64, y: f64, z: u8, query: &str) -> Vec<u8> {
    let (tx, ty) = tile_of(x, y, z);
    let a = get_with(state, &format!("/tiles/{set}/{z}/{tx}/{ty}.mvt{query}"), &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", String::from_utf8_lossy(&a.body));
    a.body
}

/// A z17 service-area tile round fixture point (`x`, 0): small enough to hold one strip only.
async fn area_tile_bytes(state: &AppState, x: f64, query: &str) -> Vec<u8> {
    tile_at(state, "service-areas", x, 0.0, 17, query).await
}

#[tokio::test]
async fn streets_tiles_from_zoom_14() {
    let state = network_state();
    let tj = get_json(&state, "/tiles/streets.json").await;
    assert_eq!(tj["minzoom"], 14, "{tj}");
    assert_eq!(tj["vector_layers"][0]["id"], "streets");
    let sets = get_json(&state, "/tiles").await;
    assert!(sets["tilesets"].as_array().unwrap().iter().any(|s| s["id"] == "streets"), "{sets}");
    // The streets style is listed with a network (tests/tiles.rs: not without one).
    let styles = get_json(&state, "/styles").await;
    assert!(styles["styles"].as_array().unwrap().iter().any(|s| s["id"] == "streets"), "{styles}");

    let tile = tile_at(&state, "streets", 900.0, 100.0, 15, "").await;
    assert!(!tile.is_empty());
    // Layer `streets`, one feature of line type (2).
    assert!(tile.windows(7).any(|w| w == b"streets"));
    let (lines, points) = line_commands(&tile);
    assert!(lines >= 2 && points >= 4, "{lines} line moves, {points} points");
    // Below zoom 14 there is nothing to send.
    assert!(tile_at(&state, "streets", 900.0, 100.0, 13, "").await.is_empty());

    // Estates tiles carry both distances for the map's switch.
    let estates = tile_at(&state, "estates", 320.0, 270.0, 15, "").await;
    for key in [&b"kindergarten_straight_m"[..], b"kindergarten_network_m"] {
        assert!(estates.windows(key.len()).any(|w| w == key), "{}", String::from_utf8_lossy(key));
    }

    // Without a network there is no streets tile set.
    let straight = state_straight();
    assert_eq!(get_with(&straight, "/tiles/streets.json", &[]).await.status, StatusCode::NOT_FOUND);
    let sets = get_json(&straight, "/tiles").await;
    assert!(!sets["tilesets"].as_array().unwrap().iter().any(|s| s["id"] == "streets"));
}

/// MoveTo commands and points of the first feature's geometry in a one-layer tile.
fn line_commands(tile: &[u8]) -> (usize, usize) {
    fn varint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    fn field(b: &[u8], wanted: u64) -> Vec<Vec<u8>> {
        let (mut at, mut out) = (0, Vec::new());
        while at < b.len() {
            let key = varint(b, &mut at);
            match key & 7 {
                0 => {
                    varint(b, &mut at);
                }
                1 => at += 8,
                2 => {
                    let len = varint(b, &mut at) as usize;
                    if key >> 3 == wanted {
                        out.push(b[at..at + len].to_vec());
                    }
                    at += len;
                }
                w => panic!("wire type {w}"),
            }
        }
        out
    }
    let layer = &field(tile, 3)[0];
    let feature = &field(layer, 2)[0];
    let mut at = 0;
    let (mut geometry_type, mut commands) = (0, Vec::new());
    while at < feature.len() {
        let key = varint(feature, &mut at);
        match (key >> 3, key & 7) {
            (3, 0) => geometry_type = varint(feature, &mut at),
            (4, 2) => {
                let len = varint(feature, &mut at) as usize;
                let end = at + len;
                while at < end {
                    commands.push(varint(feature, &mut at));
                }
            }
            (_, 0) => {
                varint(feature, &mut at);
            }
            (_, 2) => {
                let len = varint(feature, &mut at) as usize;
                at += len;
            }
            (_, w) => panic!("wire type {w}"),
        }
    }
    assert_eq!(geometry_type, 2, "LINESTRING");
    let (mut moves, mut points, mut i) = (0, 0, 0);
    while i < commands.len() {
        let (id, count) = (commands[i] & 7, (commands[i] >> 3) as usize);
        i += 1 + 2 * count;
        if id == 1 {
            moves += 1;
        }
        points += count;
    }
    (moves, points)
}

#[tokio::test]
async fn health_landing_and_reports_state_the_metric() {
    let state = network_state();
    let health = get_json(&state, "/health").await;
    assert_eq!(health["metric"], "network", "{health}");
    let graph = &health["network"]["graph"];
    // 21 main-street nodes and 3 more on the side street; 20 + 3 edges.
    assert_eq!((graph["nodes"].as_u64(), graph["edges"].as_u64(), graph["components"].as_u64()), (Some(24), Some(23), Some(1)), "{health}");
    assert!(close(&graph["length_m"], 2000.0 + 270.0 + 560.0 + 90.0, 1e-6), "{health}");

    let landing = get_json(&state, "/?f=json").await;
    assert_eq!(landing["metric"], "network");
    assert!(landing["description"].as_str().unwrap().contains("walking distance along the street network"), "{landing}");
    let estates = get_json(&state, "/collections/estates").await;
    assert_eq!(estates["metric"], "network");
    assert!(estates["description"].as_str().unwrap().contains("24 nodes"), "{estates}");
    let config = get_json(&state, "/map/config.json").await;
    assert_eq!(config["metric"], "network");
    assert!(config["network"]["graph"]["edges"].is_number(), "{config}");

    let report = get_json(&state, "/reports/2020?f=json").await;
    let text = report.to_string();
    assert!(text.contains("\"metric\":\"network\""), "the report states its metric: {}", &text[..text.len().min(2000)]);

    let straight = state_straight();
    let health = get_json(&straight, "/health").await;
    assert_eq!(health["metric"], "straight");
    assert!(health["network"].is_null());
    let page = get_json(&straight, "/collections/estates/items").await;
    let b = estate_props(&page, "B");
    assert!(b.get("kindergarten_network_m").is_none() && b.get("kindergarten_straight_m").is_none(), "{b}");
    assert!(close(&b["kindergarten_distance_m"], 250.0, 1e-6));
    assert_eq!(b["kindergarten_covered"], true);
}

#[tokio::test]
async fn trials_and_plans_walk() {
    let state = network_state();
    // A trial kindergarten on the side street at B: B (1,430 m from K1 on foot, uncovered) is
    // newly covered; C is covered already. On the main street at x = 1,900 m nothing uncovered is
    // within 300 m on foot.
    let (lon, lat) = lonlat(320.0, 270.0);
    let (far_lon, far_lat) = lonlat(1900.0, 0.0);
    let body = serde_json::json!({ "kind": "kindergarten", "points": [{ "lon": lon, "lat": lat }, { "lon": far_lon, "lat": far_lat }] });
    let a = common::http::post_json(&state, "/what-if", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let w = a.json();
    assert_eq!(w["metric"], "network");
    assert_eq!(w["uncovered_estates"], 1, "{w}");
    let ids: Vec<&Value> = w["points"][0]["estates"].as_array().unwrap().iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, [&Value::from(1)], "{w}");
    assert!(w["points"][0]["estates"][0]["distance_m"].as_f64().unwrap() <= 300.0, "{w}");
    assert_eq!(w["points"][0]["households_new"], 400);
    assert_eq!(w["points"][1]["estates_new"], 0, "{w}");
    // In 2015 K2 is not open yet: C is uncovered too (1,210 m on foot). A trial on the main street
    // at x = 1,600 m walks 100 m to C's entry at (1500, 0) and 10 m in; the one at x = 1,900 m
    // would walk 410 m.
    let (near_lon, near_lat) = lonlat(1600.0, 0.0);
    let body = serde_json::json!({ "kind": "kindergarten", "year": 2015, "points": [{ "lon": near_lon, "lat": near_lat }, { "lon": far_lon, "lat": far_lat }] });
    let w = common::http::post_json(&state, "/what-if", &body).await.json();
    assert_eq!(w["uncovered_estates"], 2, "{w}");
    assert_eq!(w["points"][0]["estates"][0]["id"], 2, "{w}");
    assert!(close(&w["points"][0]["estates"][0]["distance_m"], 110.0, 1e-3), "{w}");
    assert_eq!(w["points"][1]["estates_new"], 0, "{w}");

    // By straight line B is covered (250 m from K1): the same trial covers nothing new.
    let straight = state_straight();
    let w = common::http::post_json(&straight, "/what-if", &serde_json::json!({ "kind": "kindergarten", "points": [{ "lon": lon, "lat": lat }] })).await.json();
    assert_eq!((w["metric"].as_str(), w["estates_new"].as_u64()), (Some("straight"), Some(0)), "{w}");

    // A plan of one kindergarten places it at B's centroid, walking.
    let a = common::http::post_json(&state, "/plans", &serde_json::json!({ "kind": "kindergarten", "count": 1, "time_limit_s": 5 })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let p = a.json();
    assert_eq!((p["metric"].as_str(), p["demand_estates"].as_u64(), p["objective_households"].as_f64()), (Some("network"), Some(1), Some(400.0)), "{p}");
    assert_eq!(p["features"][0]["properties"]["covers"], serde_json::json!(["1"]), "{p}");
}
