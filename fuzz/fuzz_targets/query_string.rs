//! Query strings (and paths) against the whole router on a small generated city: never a panic
//! (the catch-panic layer would turn one into a 500), never a 5xx, and every 4xx is an OGC
//! exception `{code, description}`. The parameter parsers are also called directly.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use gapmap::config::{Config, SourceConfig};
use gapmap::generate::{generate_city, CityParams};
use gapmap::http::params::{parse_bbox, parse_count, parse_datetime, parse_year, QueryPairs};
use gapmap::http::{load_dataset, router, AppState};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const ROUTES: [&str; 12] = [
    "/collections/estates/items",
    "/collections/facilities/items",
    "/collections/gaps/items",
    "/collections/service-areas/items",
    "/collections/districts/items",
    "/collections/estates/items/1",
    "/collections/estates/queryables",
    "/coverage",
    "/estates/1/coverage",
    "/collections",
    "/",
    "/api",
];

struct World {
    _dir: tempfile::TempDir,
    state: AppState,
    runtime: tokio::runtime::Runtime,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let city = generate_city(&CityParams { estates: 30, facilities: 90, seed: 5, ..CityParams::default() });
        let estates = dir.path().join("estates.geojson");
        let facilities = dir.path().join("facilities.geojson");
        gapmap::io::geojson::write_feature_collection(&estates, &city.estates, Some("estates")).expect("write estates");
        gapmap::io::geojson::write_feature_collection(&facilities, &city.facilities, Some("facilities")).expect("write facilities");
        let config = Config { estates: Some(SourceConfig::from_path(estates)), facilities: vec![SourceConfig::from_path(facilities)], ..Config::default() };
        let dataset = load_dataset(&config).expect("the generated city loads");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        World { _dir: dir, state: AppState::new(config, dataset), runtime }
    })
}

/// Escapes what a URI may not contain, keeping `%`, `&`, `=` and `+` so the query parser sees
/// them.
fn uri_safe(bytes: &[u8], extra_ok: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$'()*,;:@/?&=+%".contains(&b) || extra_ok.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The parsers alone.
    let _ = QueryPairs::parse(Some(&text)).map(|q| q.with(&[("offset", Some("3")), ("f", None)]));
    let _ = parse_bbox("bbox", &text);
    let _ = parse_count("limit", &text, 1);
    let _ = parse_datetime(&text);
    let _ = parse_year("year", &text);

    // The router: the first byte picks a route (or, past the list, makes the rest a path).
    let Some((&pick, rest)) = data.split_first() else { return };
    let uri = match ROUTES.get(usize::from(pick) % (ROUTES.len() + 1)) {
        Some(route) => format!("{route}?{}", uri_safe(rest, b"").replace('?', "%3F")),
        None => format!("/{}", uri_safe(rest, b"")),
    };
    let Ok(request) = Request::get(&uri).body(Body::empty()) else { return };
    let w = world();
    let (status, body) = w.runtime.block_on(async {
        let response = router(w.state.clone()).oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    });
    assert!(!status.is_server_error(), "{uri} → {status}: {}", String::from_utf8_lossy(&body));
    if status.is_client_error() {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{uri} → {status}, not JSON ({e})"));
        assert!(v["code"].is_string() && v["description"].is_string(), "{uri} → {v}");
    }
});
