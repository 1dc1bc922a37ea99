//! `POST /plans` and `POST /what-if` on the demo city, in-process: plans equal `gapmap plan`'s
//! JSON for the same inputs, caps and bad bodies give 400 naming the field, a busy server 503, and
//! a trial point lists exactly the uncovered estates within the radius (checked by brute force).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::path::Path;
use std::sync::OnceLock;

use axum::http::StatusCode;
use common::http::{post_json, SharedCity};
use gapmap::config::Config;
use gapmap::http::{load_dataset, AppState};
use gapmap::io::crs::Transformer;
use gapmap::model::{point_multipolygon_distance_m, Estate};
use geo::Coord;
use serde_json::{json, Value};

/// A small generated city for the tests that need settings of their own.
static CITY: SharedCity = SharedCity::new(300, 900, 7, None);

fn demo_config() -> Config {
    Config::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/gapmap.toml")).unwrap()
}

fn demo() -> AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let mut config = demo_config();
            // The tests sharing it solve at once.
            config.serve.plan_workers = 8;
            AppState::new(config.clone(), load_dataset(&config).unwrap())
        })
        .clone()
}

/// `gapmap plan` on the demo city with `args`, its JSON document.
fn cli_plan(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/gapmap.toml");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .arg("plan")
        .arg("--config")
        .arg(&config)
        .args(args)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "gapmap plan {args:?} failed");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

/// The HTTP plan and the CLI plan say the same: sites in rank order with gains and covers, the
/// solver, objective, bound and demand.
fn assert_same_plan(http: &Value, cli: &Value) {
    assert_eq!(http["type"], "FeatureCollection");
    for member in ["kind", "radius_m", "metric", "solver", "objective_households", "objective_estates", "objective_weight", "bound_weight", "demand_estates", "demand_households", "candidate_count", "weight"] {
        assert_eq!(http[member], cli[member], "{member}: http {} vs cli {}", http[member], cli[member]);
    }
    let sites = cli["sites"].as_array().unwrap();
    let features = http["features"].as_array().unwrap();
    assert!(!sites.is_empty());
    assert_eq!(features.len(), sites.len());
    for (f, s) in features.iter().zip(sites) {
        let p = &f["properties"];
        for member in ["rank", "id", "households_new", "estates_new", "covers"] {
            assert_eq!(p[member], s[member], "site {}: {member}", s["rank"]);
        }
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert!((c[0].as_f64().unwrap() - s["lon"].as_f64().unwrap()).abs() < 1e-9 && (c[1].as_f64().unwrap() - s["lat"].as_f64().unwrap()).abs() < 1e-9);
    }
    // Ranked by gain.
    let gains: Vec<f64> = features.iter().map(|f| f["properties"]["households_new"].as_f64().unwrap()).collect();
    assert!(gains.windows(2).all(|w| w[0] >= w[1]) || http["weight"] != "households", "{gains:?}");
}

#[tokio::test]
async fn plans_equal_the_cli() {
    let state = demo();
    let a = post_json(&state, "/plans", &json!({ "kind": "day_care", "count": 5, "time_limit_s": 10 })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let http = a.json();
    assert_eq!(http["solver"], "exact");
    assert_same_plan(&http, &cli_plan(&["--kind", "day_care", "--count", "5", "--time-limit", "10"]));

    // Another radius (demand measured again with it), grid candidates, estates as weights, a year.
    let body = json!({ "kind": "kindergarten", "count": 3, "radius_m": 400, "candidates": "grid:500", "weight": "estates", "year": 2019, "time_limit_s": 10 });
    let a = post_json(&state, "/plans", &body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let http = a.json();
    assert_eq!(http["radius_m"], 400.0);
    assert_eq!(http["year"], 2019);
    let cli = cli_plan(&["--kind", "kindergarten", "--count", "3", "--radius", "400", "--candidates", "grid:500", "--weight", "estates", "--year", "2019", "--time-limit", "10"]);
    assert_same_plan(&http, &cli);
}

#[tokio::test]
async fn listed_candidates_with_a_budget() {
    let state = demo();
    let dataset = state.dataset();
    // Three candidates at estates' centroids; the budget allows the two cheap ones or the dear one.
    let to_crs84 = Transformer::to_crs84(&dataset.working_crs).unwrap();
    let mut points: Vec<Coord<f64>> = dataset.estates.iter().step_by(500).take(3).map(|e| e.centroid().unwrap().0).collect();
    to_crs84.apply(&mut points).unwrap();
    let candidates: Vec<Value> = points.iter().zip([1.0, 1.0, 2.5]).enumerate().map(|(i, (p, cost))| json!({ "id": format!("lot{i}"), "lon": p.x, "lat": p.y, "cost": cost })).collect();
    let a = post_json(&state, "/plans", &json!({ "kind": "market", "budget": 2.0, "candidates": candidates })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let plan = a.json();
    let cost: f64 = plan["features"].as_array().unwrap().iter().map(|f| f["properties"]["cost"].as_f64().unwrap()).sum();
    assert!(cost <= 2.0, "{plan}");
    assert!(plan["features"].as_array().unwrap().iter().all(|f| f["properties"]["id"].as_str().unwrap().starts_with("lot")));
    // Without a cost on each, a budget is refused.
    let mut bare = candidates.clone();
    bare[1].as_object_mut().unwrap().remove("cost");
    post_json(&state, "/plans", &json!({ "kind": "market", "budget": 2.0, "candidates": bare })).await.assert_error(StatusCode::BAD_REQUEST, "candidates[1].cost");
}

#[tokio::test]
async fn caps_and_bad_bodies_give_400() {
    let state = CITY.state_with(|c| {
        c.serve.plan_max_count = 4;
        c.serve.plan_max_candidates = 50;
        c.serve.plan_max_time_limit_s = 2;
        c.serve.what_if_max_points = 2;
    });
    let plan = |body: Value| {
        let state = state.clone();
        async move { post_json(&state, "/plans", &body).await }
    };
    plan(json!({ "kind": "day_care", "count": 5 })).await.assert_error(StatusCode::BAD_REQUEST, "count: 5 is more than serve.plan_max_count (4)");
    plan(json!({ "kind": "day_care", "count": 2, "time_limit_s": 3 })).await.assert_error(StatusCode::BAD_REQUEST, "time_limit_s: 3 s is more than this server allows (2 s: serve.plan_max_time_limit_s");
    // 300 centroids, a grid of hundreds of cells, a list of 51 points: all over 50.
    plan(json!({ "kind": "day_care", "count": 2 })).await.assert_error(StatusCode::BAD_REQUEST, "candidates: 300 candidates are more than serve.plan_max_candidates (50)");
    plan(json!({ "kind": "day_care", "count": 2, "candidates": "grid:200" })).await.assert_error(StatusCode::BAD_REQUEST, "serve.plan_max_candidates");
    let many: Vec<Value> = (0..51).map(|i| json!({ "id": i, "lon": 114.5, "lat": 38.0 })).collect();
    plan(json!({ "kind": "day_care", "count": 2, "candidates": many })).await.assert_error(StatusCode::BAD_REQUEST, "candidates: 51 candidates");
    // Bad fields, each named.
    plan(json!({ "kind": "day_care", "count": 2, "colour": "red" })).await.assert_error(StatusCode::BAD_REQUEST, "colour: unknown field");
    plan(json!({ "kind": "sauna", "count": 2 })).await.assert_error(StatusCode::BAD_REQUEST, "kind: `sauna` is not a kind");
    plan(json!({ "kind": "day_care" })).await.assert_error(StatusCode::BAD_REQUEST, "count: is required unless a budget");
    plan(json!({ "kind": "day_care", "count": 2, "weight": "floors" })).await.assert_error(StatusCode::BAD_REQUEST, "weight");
    plan(json!({ "kind": "day_care", "count": 2, "candidates": "grid:5" })).await.assert_error(StatusCode::BAD_REQUEST, "at least 10");
    plan(json!({ "kind": "day_care", "count": 2, "budget": 5 })).await.assert_error(StatusCode::BAD_REQUEST, "budget: needs candidates listed with a cost");
    plan(json!({ "kind": "day_care", "count": 2, "radius_m": -1 })).await.assert_error(StatusCode::BAD_REQUEST, "radius_m");
    plan(json!({ "kind": "day_care", "count": 2, "year": 99 })).await.assert_error(StatusCode::BAD_REQUEST, "year");
    let a = common::http::send(&state, axum::http::Request::post("/plans").body(axum::body::Body::from("{not json")).unwrap()).await;
    a.assert_error(StatusCode::BAD_REQUEST, "body: is not JSON");

    let points = json!([{ "lon": 114.5, "lat": 38.0 }, { "lon": 114.5, "lat": 38.0 }, { "lon": 114.5, "lat": 38.0 }]);
    post_json(&state, "/what-if", &json!({ "kind": "day_care", "points": points })).await.assert_error(StatusCode::BAD_REQUEST, "points: 3 points are more than serve.what_if_max_points (2)");
    post_json(&state, "/what-if", &json!({ "kind": "day_care", "points": [{ "lon": 114.5 }] })).await.assert_error(StatusCode::BAD_REQUEST, "points[0].lat");
    post_json(&state, "/what-if", &json!({ "kind": "day_care" })).await.assert_error(StatusCode::BAD_REQUEST, "points: is required");
}

#[tokio::test]
async fn a_busy_server_answers_503() {
    let state = CITY.state_with(|c| c.serve.plan_workers = 1);
    let held = state.plan_permit().unwrap();
    let a = post_json(&state, "/plans", &json!({ "kind": "day_care", "count": 1, "time_limit_s": 1 })).await;
    a.assert_error(StatusCode::SERVICE_UNAVAILABLE, "serve.plan_workers");
    assert_eq!(a.header("retry-after"), Some("5"));
    drop(held);
    let a = post_json(&state, "/plans", &json!({ "kind": "day_care", "count": 1, "time_limit_s": 1 })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

/// Estates with no facility of `kind` open by `year` within the radius, by brute force over all
/// facilities (boundary distance, as the demo is measured).
fn uncovered_brute(estates: &[Estate], dataset: &gapmap::http::Dataset, kind: &str, year: Option<i32>) -> Vec<bool> {
    let k = dataset.catalogue.kind_id(kind).unwrap();
    let radius = dataset.catalogue.spec(k).radius_m;
    let open: Vec<Coord<f64>> = dataset.facilities.iter().filter(|f| f.kind == k && f.open_in(year)).map(|f| f.location.0).collect();
    estates.iter().map(|e| !open.iter().any(|&p| point_multipolygon_distance_m(p, &e.geometry) <= radius)).collect()
}

#[tokio::test]
async fn what_if_lists_exactly_the_uncovered_estates_within_the_radius() {
    let state = demo();
    let dataset = state.dataset();
    let to_crs84 = Transformer::to_crs84(&dataset.working_crs).unwrap();
    for (kind, year) in [("day_care", None), ("kindergarten", Some(2019))] {
        let k = dataset.catalogue.kind_id(kind).unwrap();
        let radius = dataset.catalogue.spec(k).radius_m;
        let uncovered = uncovered_brute(&dataset.estates, &dataset, kind, year);
        // Trial points at the centroids of some uncovered estates and of some covered ones.
        let first_uncovered = uncovered.iter().position(|u| *u).unwrap();
        let first_covered = uncovered.iter().position(|u| !*u).unwrap();
        let xy: Vec<Coord<f64>> = [first_uncovered, first_covered, 1234, 2999].iter().map(|&e| dataset.estates[e].centroid().unwrap().0).collect();
        let mut ll = xy.clone();
        to_crs84.apply(&mut ll).unwrap();
        let points: Vec<Value> = ll.iter().map(|p| json!({ "lon": p.x, "lat": p.y })).collect();
        let mut body = json!({ "kind": kind, "points": points });
        if let Some(y) = year {
            body["year"] = json!(y);
        }
        let a = post_json(&state, "/what-if", &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let answer = a.json();
        assert_eq!(answer["uncovered_estates"], uncovered.iter().filter(|u| **u).count(), "{kind}");
        let mut union = std::collections::BTreeSet::new();
        for (i, p) in xy.iter().enumerate() {
            // The exact point sent, as the server converts it back.
            let expected: Vec<String> = dataset
                .estates
                .iter()
                .enumerate()
                .filter(|(e, estate)| uncovered[*e] && point_multipolygon_distance_m(*p, &estate.geometry) <= radius)
                .map(|(_, estate)| estate.id.to_string())
                .collect();
            let got: Vec<String> = answer["points"][i]["estates"].as_array().unwrap().iter().map(|e| e["id"].to_string().trim_matches('"').to_owned()).collect();
            assert_eq!(got, expected, "{kind} point {i}");
            let households: u64 = dataset.estates.iter().filter(|e| expected.contains(&e.id.to_string())).map(|e| u64::from(e.households.unwrap_or(0))).sum();
            assert_eq!(answer["points"][i]["households_new"], households);
            assert_eq!(answer["points"][i]["estates_new"], expected.len());
            union.extend(expected);
        }
        assert_eq!(answer["estates_new"], union.len());
        assert!(!union.is_empty(), "{kind}: the trial at an uncovered estate covers at least that estate");
    }
}

#[tokio::test]
async fn api_and_landing_describe_them() {
    let state = CITY.state();
    let api = common::http::get_with(&state, "/api?f=json", &[]).await.json();
    let plans = &api["paths"]["/plans"]["post"];
    assert_eq!(plans["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/planRequest");
    assert_eq!(plans["responses"]["200"]["content"]["application/geo+json"]["schema"]["$ref"], "#/components/schemas/plan");
    assert!(plans["responses"]["503"].is_object());
    let schemas = &api["components"]["schemas"];
    assert_eq!(schemas["planRequest"]["properties"]["count"]["maximum"], 200, "the default serve.plan_max_count");
    assert_eq!(schemas["planRequest"]["properties"]["time_limit_s"]["maximum"].as_f64(), Some(15.0));
    assert!(schemas["planRequest"]["properties"]["kind"]["enum"].as_array().unwrap().contains(&json!("day_care")));
    assert_eq!(schemas["whatIfRequest"]["properties"]["points"]["maxItems"], 100);
    assert!(schemas["plan"]["properties"]["features"]["items"]["properties"]["properties"]["properties"]["covers"].is_object());
    assert!(schemas["whatIf"]["properties"]["points"].is_object());
    assert_eq!(api["paths"]["/what-if"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/whatIfRequest");
    let landing = common::http::get_with(&state, "/?f=json", &[]).await.json();
    let hrefs: Vec<&str> = landing["links"].as_array().unwrap().iter().map(|l| l["href"].as_str().unwrap()).collect();
    assert!(hrefs.iter().any(|h| h.ends_with("/plans")) && hrefs.iter().any(|h| h.ends_with("/what-if")), "{hrefs:?}");
    // GET is not how they are used.
    assert_eq!(common::http::get_with(&state, "/plans", &[]).await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn facilities_say_whether_they_are_planned() {
    let state = CITY.state();
    let page = common::http::get_with(&state, "/collections/facilities/items?limit=3", &[]).await.json();
    for f in page["features"].as_array().unwrap() {
        assert_eq!(f["properties"]["planned"], false, "{f}");
    }
}

/// `[[planned]]` sources are served: the planned facility is in the facilities collection,
/// marked, beside the built ones.
#[tokio::test]
async fn planned_sources_are_served_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planned.geojson");
    let planned = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "geometry": {"type": "Point", "coordinates": [114.545_276_3, 38.059_332_5]},
        "properties": {"id": 900_001, "kind": "day_care", "capacity": 300, "opened_year": 2030}}]});
    std::fs::write(&path, planned.to_string()).unwrap();
    let mut config = demo_config();
    config.planned = vec![gapmap::config::SourceConfig::from_path(&path)];
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());
    let f = common::http::get_with(&state, "/collections/facilities/items/900001", &[]).await.json();
    assert_eq!(f["properties"]["planned"], true, "{f}");
    let built = common::http::get_with(&state, "/collections/facilities/items/1", &[]).await.json();
    assert_eq!(built["properties"]["planned"], false, "{built}");
}
