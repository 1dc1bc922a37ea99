//! HTTP hardening, in process through `router(state).oneshot(..)`: random paths, query strings,
//! methods and headers never panic and never get a 5xx, every error is an OGC exception
//! `{code, description}`; then the limits (page size, bbox area, body, query length, time), the
//! admin token, path traversal, CORS, 5xx bodies and reloads that re-read the config.
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::IntoResponse as _;
use common::http::{send, write_city, Answer, SharedCity};
use gapmap::config::Config;
use gapmap::http::{load_dataset, ApiError, AppState, DATA_VERSION_HEADER};
use http_body_util::BodyExt as _;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

const TOKEN: &str = "props-token-0123456789";

/// A tiny city shared by the read-only tests.
static CITY: SharedCity = SharedCity::new(40, 120, 3, Some(TOKEN));

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

async fn get(state: &AppState, uri: &str) -> Answer {
    send(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// What every answer must satisfy, whatever was asked. HEAD answers have no body and gzip'd
/// bodies are not looked into.
fn check_answer(what: &str, a: &Answer) -> Result<(), TestCaseError> {
    prop_assert!(!a.status.is_server_error(), "{what} → {}: {}", a.status, a.text());
    if what.starts_with("HEAD ") || a.header("content-encoding").is_some() {
        return Ok(());
    }
    if a.status.is_client_error() {
        prop_assert_eq!(a.header("content-type"), Some("application/json"), "{} → {}", what, a.status);
        let body: Value = serde_json::from_slice(&a.body).map_err(|e| TestCaseError::fail(format!("{what} → {}: not JSON ({e}): {}", a.status, a.text())))?;
        prop_assert!(body["code"].is_string() && body["description"].is_string(), "{what} → {body}");
    } else if a.status == StatusCode::OK && a.header("content-type").is_some_and(|t| t.contains("json")) && !a.body.is_empty() {
        prop_assert!(serde_json::from_slice::<Value>(&a.body).is_ok(), "{what} → 200 with invalid JSON");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Random requests.

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "collections", "estates", "facilities", "gaps", "service-areas", "districts", "items", "queryables",
            "coverage", "admin", "reload", "api", "conformance", "health", "metrics", "styles", "tiles", "map",
            "static", "1", "0", "-1", "A-3", "99999999999999999999", "..", ".", "%2e%2e", "%2F", "%00", "%ff",
            "%", "%zz", "%E5%B0%8F", "..%2f..%2fetc%2fpasswd", "..\\..", "~", "*", "",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,12}".prop_map(|s| encode(&s)),
        1 => (1usize..3000).prop_map(|n| "a".repeat(n)),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..6).prop_map(|segments| format!("/{}", segments.join("/")))
}

fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "f", "bbox", "bbox-crs", "limit", "offset", "crs", "filter", "filter-lang", "filter-crs", "sortby",
            "datetime", "year", "kind", "district", "name", "id", "lon", "lat", "radius", "next", "token",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "0", "1", "-1", "10000", "10001", "18446744073709551616", "1e309", "NaN", "inf", "-0", "0x10",
            "json", "html", "geojson", "text/html", "CRS84", "EPSG:4326", "EPSG:3857", "EPSG:4490", "EPSG:999999",
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "cql2-text", "cql2-json",
            "114,38,115,39", "115,39,114,38", "-180,-90,180,90", "-1e308,-1e308,1e308,1e308", "NaN,0,1,1", "1,2,3",
            "114,38,0,115,39,10", "2015-06-01", "2010-01-01/2018-12-31", "../..", "../2018-12-31", "2019-13-45",
            "2021", "999", "3001", "market", "幼儿园", "114.5", "38.04", "95", "-200",
            "households > 100", "name LIKE '%区'", "NOT (", "((((((((((", "S_INTERSECTS(geometry, POINT(114.5 38))",
            "S_INTERSECTS(geometry, BBOX(114,38,115,39))", "id IN (1, 2, 'A-3')", "households BETWEEN 1 AND",
            "-households", "+name,-id", "geometry", "nope", "'", "\"", "%", "%%", "%2", "+", "&", "=",
        ])
        .prop_map(str::to_owned),
        1 => "\\PC{0,24}",
        1 => (1usize..200).prop_map(|n| "(".repeat(n)),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((param_name(), param_value(), any::<bool>()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v, raw)| {
                // Raw values keep `%`, `+` and the like for the server's own decoder, but must
                // still form a valid URI.
                let v = if raw { v.replace(' ', "+").replace(['#', '&'], "").chars().map(|c| if c.is_ascii_graphic() { c.to_string() } else { encode(&c.to_string()) }).collect() } else { encode(&v) };
                format!("{}={v}", encode(&n))
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        8 => Just(Method::GET),
        1 => Just(Method::HEAD),
        1 => Just(Method::POST),
        1 => Just(Method::PUT),
        1 => Just(Method::DELETE),
        1 => Just(Method::OPTIONS),
        1 => Just(Method::PATCH),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let value = prop_oneof![
        Just("text/html".to_owned()),
        Just("application/json;q=0.1, text/html;q=abc".to_owned()),
        Just("zh-CN,zh;q=0.9".to_owned()),
        Just("*".to_owned()),
        Just("W/\"x\", \"y\"".to_owned()),
        Just(format!("Bearer {TOKEN}x")),
        Just("Bearer ".to_owned()),
        Just("gzip, br, deflate".to_owned()),
        "[ -~]{0,40}",
    ];
    prop::collection::vec((prop::sample::select(vec!["accept", "accept-language", "if-none-match", "authorization", "accept-encoding", "origin", "host"]), value), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_paths_never_fail_the_server(path in path(), method in method(), headers in headers()) {
        let Ok(uri) = path.parse::<axum::http::Uri>() else { return Ok(()) };
        let mut request = Request::builder().method(method.clone()).uri(uri);
        for (name, value) in &headers {
            request = request.header(*name, value.as_str());
        }
        let Ok(request) = request.body(Body::empty()) else { return Ok(()) };
        let a = runtime().block_on(send(&CITY.state(), request));
        check_answer(&format!("{method} {path}"), &a)?;
    }

    #[test]
    fn random_query_strings_never_fail_the_server(
        route in prop::sample::select(vec![
            "/collections/estates/items", "/collections/facilities/items", "/collections/gaps/items",
            "/collections/service-areas/items", "/collections/districts/items", "/collections/estates/items/1",
            "/collections/facilities/queryables", "/collections/estates", "/coverage", "/estates/1/coverage",
            "/collections", "/", "/conformance", "/api", "/health",
        ]),
        query in query(),
        headers in headers(),
    ) {
        let uri = format!("{route}?{query}");
        let Ok(parsed) = uri.parse::<axum::http::Uri>() else { return Ok(()) };
        let mut request = Request::get(parsed);
        for (name, value) in &headers {
            request = request.header(*name, value.as_str());
        }
        let Ok(request) = request.body(Body::empty()) else { return Ok(()) };
        let a = runtime().block_on(send(&CITY.state(), request));
        check_answer(&uri, &a)?;
    }

    #[test]
    fn the_data_version_header_matches_the_body(limit in 1usize..50, offset in 0usize..60, collection in prop::sample::select(vec!["estates", "facilities", "gaps"])) {
        let a = runtime().block_on(get(&CITY.state(), &format!("/collections/{collection}/items?limit={limit}&offset={offset}")));
        prop_assert_eq!(a.status, StatusCode::OK);
        let header: u64 = a.header(DATA_VERSION_HEADER).unwrap().parse().unwrap();
        prop_assert_eq!(a.json()["dataVersion"].as_u64(), Some(header));
    }
}

// ---------------------------------------------------------------------------------------------
// Limits.

#[tokio::test]
async fn page_size_is_capped_at_max_limit() {
    let small = CITY.state_with(|c| {
        c.serve.max_limit = 5;
        c.serve.default_limit = 3;
    });
    assert_eq!(get(&small, "/collections/estates/items").await.json()["numberReturned"], 3);
    let capped = get(&small, "/collections/estates/items?limit=1000").await.json();
    assert_eq!(capped["numberReturned"], 5);
    assert!(capped["links"].as_array().unwrap().iter().any(|l| l["rel"] == "next" && l["href"].as_str().unwrap().contains("limit=5")));
    get(&small, "/collections/estates/items?limit=0").await.assert_error(StatusCode::BAD_REQUEST, "limit");
    get(&small, "/collections/estates/items?limit=99999999999999999999999").await.assert_error(StatusCode::BAD_REQUEST, "limit");
}

#[tokio::test]
async fn bbox_area_is_limited_when_configured() {
    // Unlimited by default: the whole world is a valid bbox.
    assert_eq!(get(&CITY.state(), "/collections/estates/items?bbox=-180,-90,180,90").await.status, StatusCode::OK);
    let limited = CITY.state_with(|c| c.serve.max_bbox_area_km2 = Some(1_000));
    // 0.1° × 0.1° at 38°N is about 97 km²; 1° × 1° about 9,700 km².
    assert_eq!(get(&limited, "/collections/estates/items?bbox=114.4,38.0,114.5,38.1").await.status, StatusCode::OK);
    get(&limited, "/collections/estates/items?bbox=114,38,115,39").await.assert_error(StatusCode::BAD_REQUEST, "serve.max_bbox_area_km2");
    // The limit applies to the area asked for, in whatever CRS it was asked.
    get(&limited, "/collections/estates/items?bbox=12700000,4580000,12800000,4680000&bbox-crs=EPSG:3857").await.assert_error(StatusCode::BAD_REQUEST, "km²");
}

#[tokio::test]
async fn long_query_strings_are_refused_before_parsing() {
    let limited = CITY.state_with(|c| c.serve.max_query_bytes = 256);
    let ok = format!("/collections/estates/items?filter={}", encode(&format!("name = '{}'", "x".repeat(100))));
    assert_eq!(get(&limited, &ok).await.status, StatusCode::OK);
    let long = format!("/collections/estates/items?filter={}", encode(&format!("name = '{}'", "x".repeat(300))));
    get(&limited, &long).await.assert_error(StatusCode::URI_TOO_LONG, "serve.max_query_bytes");
    // Also on routes that do not exist and with any method: the check runs first.
    let r = send(&limited, Request::post(format!("/nowhere?{}", "a".repeat(300))).body(Body::empty()).unwrap()).await;
    r.assert_error(StatusCode::URI_TOO_LONG, "300 bytes");
    // The default admits the longest filter the parser accepts (8 KiB), percent-encoded.
    let longest = format!("/collections/estates/items?filter={}", encode(&format!("name = '{}'", "好".repeat(2_700))));
    assert_ne!(get(&CITY.state(), &longest).await.status, StatusCode::URI_TOO_LONG);
}

#[tokio::test]
async fn request_bodies_are_limited() {
    // A declared length past the limit is refused on any route before the handler runs. (No
    // handler reads a body, so an undeclared one is never buffered at all.)
    let small = CITY.state_with(|c| c.serve.body_limit_bytes = 32);
    for (method, uri) in [(Method::POST, "/admin/reload"), (Method::GET, "/collections"), (Method::PUT, "/nowhere")] {
        let request = Request::builder().method(method).uri(uri).header(header::AUTHORIZATION, format!("Bearer {TOKEN}")).header(header::CONTENT_LENGTH, "4096").body(Body::from(vec![b'x'; 4096])).unwrap();
        send(&small, request).await.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "too large");
    }
    // Nothing was reloaded (a reload of the same data would keep the version: count them).
    assert!(get(&small, "/metrics").await.text().contains("gapmap_reloads_total 0\n"));
}

#[test]
fn serve_limits_are_validated() {
    let mut c = CITY.config_for(CITY.dir());
    c.serve.max_query_bytes = 10;
    assert!(c.validate().unwrap_err().to_string().contains("serve.max_query_bytes"));
    let mut c = CITY.config_for(CITY.dir());
    c.serve.max_bbox_area_km2 = Some(0);
    assert!(c.validate().unwrap_err().to_string().contains("serve.max_bbox_area_km2"));
    let parsed = Config::from_toml("[serve]\nmax_query_bytes = 4096\nmax_bbox_area_km2 = 500\n", Path::new("x.toml")).unwrap();
    assert_eq!((parsed.serve.max_query_bytes, parsed.serve.max_bbox_area_km2), (4096, Some(500)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_times_out_and_a_slow_reload_still_completes() {
    // A city big enough that loading and analysing it (unoptimised) takes over a second.
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 40, 120, 3);
    let mut config = CITY.config_for(dir.path());
    config.serve.request_timeout_s = 1;
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());
    let first = state.dataset().version;
    write_city(dir.path(), 6_000, 18_000, 4);
    let started = Instant::now();
    let r = send(&state, Request::post("/admin/reload").header(header::AUTHORIZATION, format!("Bearer {TOKEN}")).body(Body::empty()).unwrap()).await;
    if r.status == StatusCode::OK {
        // A fast machine loaded it within the second: nothing to time out.
        eprintln!("reload took {:?}; the timeout was not exercised", started.elapsed());
        return;
    }
    r.assert_error(StatusCode::REQUEST_TIMEOUT, "took too long");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The reload was not cancelled with the request: the new data arrives.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let health = get(&state, "/health").await.json();
        if health["data_version"].as_u64() != Some(first) {
            assert_eq!(health["estates"], 6_000);
            break;
        }
        assert!(Instant::now() < deadline, "the reload never finished: {health}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Security.

async fn reload_with(state: &AppState, authorization: Option<&str>) -> Answer {
    let mut r = Request::post("/admin/reload");
    if let Some(a) = authorization {
        r = r.header(header::AUTHORIZATION, a);
    }
    send(state, r.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn admin_reload_needs_exactly_the_token() {
    let s = CITY.state();
    for authorization in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some(TOKEN),
        Some(&*format!("Basic {TOKEN}")),
        Some(&*format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(&*format!("Bearer {TOKEN}0")),
        Some(&*format!("Bearer  {TOKEN}")),
        Some(&*format!("Bearer {}", TOKEN.to_uppercase())),
    ] {
        let r = reload_with(&s, authorization).await;
        r.assert_error(StatusCode::UNAUTHORIZED, "Bearer");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{authorization:?}");
    }
    // Not as a query parameter either.
    let r = send(&s, Request::post(format!("/admin/reload?token={TOKEN}")).body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Only POST.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let r = send(&s, Request::builder().method(method).uri("/admin/reload").header(header::AUTHORIZATION, format!("Bearer {TOKEN}")).body(Body::empty()).unwrap()).await;
        r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "POST");
    }
    assert!(get(&s, "/metrics").await.text().contains("gapmap_reloads_total 0\n"), "nothing was reloaded");
}

#[tokio::test]
async fn no_path_traversal_reaches_a_file() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let secret_lines = [manifest.lines().find(|l| l.starts_with("name")).unwrap().to_owned(), "root:x:0:0".to_owned(), "[package]".to_owned()];
    let s = CITY.state();
    for prefix in ["", "/styles", "/static", "/tiles", "/tiles/estates", "/map", "/fonts", "/fonts/Noto%20Sans%20Regular", "/collections", "/collections/estates", "/collections/estates/items"] {
        for attempt in [
            "/../../../../../../etc/passwd",
            "/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
            "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/%2e%2e%2f%2e%2e%2fCargo.toml",
            "/..%5c..%5cCargo.toml",
            "/....//....//Cargo.toml",
            "/%252e%252e%252fCargo.toml",
            "/..%c0%afCargo.toml",
            "/Cargo.toml",
            "/%00../../Cargo.toml",
            &format!("/{}", Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml").display()),
        ] {
            let uri = format!("{prefix}{attempt}");
            let a = get(&s, &uri).await;
            assert!(a.status.is_client_error(), "{uri} → {}", a.status);
            let text = a.text();
            for secret in &secret_lines {
                assert!(!text.contains(secret.as_str()), "{uri} leaked `{secret}`");
            }
        }
    }
}

#[tokio::test]
async fn cors_is_off_unless_configured_and_then_exact() {
    let preflight = |origin: &'static str| {
        Request::options("/collections/estates/items")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap()
    };
    let closed = send(&CITY.state(), preflight("https://maps.example.org")).await;
    assert!(closed.header("access-control-allow-origin").is_none());
    let open = CITY.state_with(|c| c.serve.cors_origins = vec!["https://maps.example.org".into()]);
    for origin in ["https://maps.example.org.evil.example", "http://maps.example.org", "null", "https://MAPS.example.org", "*"] {
        let a = send(&open, preflight(origin)).await;
        assert_ne!(a.header("access-control-allow-origin"), Some(origin), "{origin}");
        assert_ne!(a.header("access-control-allow-origin"), Some("*"), "{origin}");
        assert!(a.header("access-control-allow-credentials").is_none());
    }
    let ok = send(&open, preflight("https://maps.example.org")).await;
    assert_eq!(ok.header("access-control-allow-origin"), Some("https://maps.example.org"));
}

#[tokio::test]
async fn server_errors_never_carry_the_internal_message() {
    let response = ApiError::Internal("cannot open /srv/gapmap/secret.geojson: permission denied".into()).into_response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let detail = response.extensions().get::<gapmap::http::error::InternalDetail>().map(|d| d.0.clone());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), serde_json::json!({ "code": "InternalError", "description": "internal error" }));
    assert!(detail.unwrap().contains("/srv/gapmap/secret.geojson"), "the detail goes to the log, not the client");
    // A join error (a panicked blocking task) is a 500 of the same shape.
    let join_error = tokio::task::spawn_blocking(|| std::panic::panic_any("at /home/dev/src/secret.rs:12")).await.unwrap_err();
    let response = ApiError::from(join_error).into_response();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains("secret"), "{}", String::from_utf8_lossy(&body));
}

// ---------------------------------------------------------------------------------------------
// Reloads re-read the config file.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_rereads_the_config_file_and_keeps_serving_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    for (name, estates) in [("a", 20), ("b", 30)] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        write_city(&dir.path().join(name), estates, estates * 3, 7);
    }
    let config_path = dir.path().join("gapmap.toml");
    let write_config = |data: &str, extra: &str| {
        std::fs::write(&config_path, format!("[estates]\npath = \"{data}/estates.geojson\"\n[[facilities]]\npath = \"{data}/facilities.geojson\"\n{extra}")).unwrap();
    };
    write_config("a", &format!("[serve]\nadmin_token = \"{TOKEN}\"\n"));
    let config = Config::from_file(&config_path).unwrap();
    let state = AppState::with_config_file(config.clone(), load_dataset(&config).unwrap(), config_path.clone());
    let matched = |a: &Answer| a.json()["numberMatched"].as_u64().unwrap();
    assert_eq!(matched(&get(&state, "/collections/estates/items?limit=1").await), 20);
    let first = state.dataset().version.to_string();

    // The token comes from the config the server started with; the new file has none.
    write_config("b", "");
    let r = reload_with(&state, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page = get(&state, "/collections/estates/items?limit=1").await;
    let second = page.header(DATA_VERSION_HEADER).expect("a version").to_owned();
    assert_ne!(second, first);
    assert_eq!(matched(&page), 30);

    // A config that does not parse: 422 naming it, and the second version keeps serving.
    std::fs::write(&config_path, "[estates\npath = ").unwrap();
    reload_with(&state, Some(&format!("Bearer {TOKEN}"))).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "gapmap.toml");
    // A config whose data is corrupt: the same.
    std::fs::write(dir.path().join("a/estates.geojson"), "{\"type\":\"FeatureCollection\",\"features\":[{").unwrap();
    write_config("a", "");
    reload_with(&state, Some(&format!("Bearer {TOKEN}"))).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "estates.geojson");
    let page = get(&state, "/collections/estates/items?limit=1").await;
    assert_eq!((matched(&page), page.header(DATA_VERSION_HEADER)), (30, Some(second.as_str())));
    assert_eq!(page.json()["dataVersion"].to_string(), second);
}
