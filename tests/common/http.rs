//! The set-up of the in-process HTTP tests (`http_ogc`, `http_props`, `tiles`): a generated city
//! written to a temporary directory, its config and `AppState`, and requests sent through
//! `router(state).oneshot(request)`.

use std::path::Path;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use gapmap::config::{Config, SourceConfig};
use gapmap::generate::{generate_city, CityParams};
use gapmap::http::{load_dataset, router, AppState};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// Writes a generated city (`estates.geojson`, `facilities.geojson`) to `dir`.
///
/// # Panics
/// When the files cannot be written.
pub fn write_city(dir: &Path, estates: usize, facilities: usize, seed: u64) {
    let city = generate_city(&CityParams { estates, facilities, seed, ..CityParams::default() });
    gapmap::io::geojson::write_feature_collection(&dir.join("estates.geojson"), &city.estates, Some("estates")).expect("write estates");
    gapmap::io::geojson::write_feature_collection(&dir.join("facilities.geojson"), &city.facilities, Some("facilities")).expect("write facilities");
}

/// A generated city shared by one test binary's read-only tests: written on first use, kept in
/// a temporary directory until the binary exits. Declare it as a `static`.
pub struct SharedCity {
    estates: usize,
    facilities: usize,
    seed: u64,
    admin_token: Option<&'static str>,
    dir: OnceLock<tempfile::TempDir>,
    state: OnceLock<AppState>,
}

impl SharedCity {
    /// A city of `estates` and `facilities` from `seed`, served with `admin_token` (if any).
    pub const fn new(estates: usize, facilities: usize, seed: u64, admin_token: Option<&'static str>) -> Self {
        Self { estates, facilities, seed, admin_token, dir: OnceLock::new(), state: OnceLock::new() }
    }

    /// The city's directory.
    ///
    /// # Panics
    /// When the city cannot be written.
    pub fn dir(&self) -> &Path {
        self.dir
            .get_or_init(|| {
                let dir = tempfile::tempdir().expect("temp dir");
                write_city(dir.path(), self.estates, self.facilities, self.seed);
                dir
            })
            .path()
    }

    /// The config serving the city in `dir` (any directory `write_city` wrote) with this city's
    /// admin token.
    pub fn config_for(&self, dir: &Path) -> Config {
        let mut config = Config {
            estates: Some(SourceConfig::from_path(dir.join("estates.geojson"))),
            facilities: vec![SourceConfig::from_path(dir.join("facilities.geojson"))],
            ..Config::default()
        };
        config.serve.admin_token = self.admin_token.map(str::to_owned);
        config
    }

    /// The shared state, loaded once.
    ///
    /// # Panics
    /// When the city does not load.
    pub fn state(&self) -> AppState {
        self.state
            .get_or_init(|| {
                let config = self.config_for(self.dir());
                AppState::new(config.clone(), load_dataset(&config).expect("the shared city loads"))
            })
            .clone()
    }

    /// A state of its own over the shared city, with `edit` applied to its config.
    ///
    /// # Panics
    /// When the city does not load under the edited config.
    pub fn state_with(&self, edit: impl FnOnce(&mut Config)) -> AppState {
        let mut config = self.config_for(self.dir());
        edit(&mut config);
        AppState::new(config.clone(), load_dataset(&config).expect("the shared city loads"))
    }
}

/// A response, read whole.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    ///
    /// # Panics
    /// When it is not UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap_or_else(|e| panic!("the body is not UTF-8: {e}"))
    }

    /// A header's value.
    ///
    /// # Panics
    /// When the value is not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap_or_else(|e| panic!("header {name}: {e}")))
    }

    /// Asserts an OGC exception with this status whose description mentions `needle`.
    ///
    /// # Panics
    /// When it is not.
    pub fn assert_error(&self, status: StatusCode, needle: &str) {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert!(body["code"].is_string(), "{body}");
        let description = body["description"].as_str().expect("description is a string");
        assert!(description.contains(needle), "`{description}` should mention `{needle}`");
    }
}

/// Sends `request` through the router over `state` and reads the whole answer.
///
/// # Panics
/// When the body cannot be read.
pub async fn send(state: &AppState, request: Request<Body>) -> Answer {
    let response = router(state.clone()).oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Answer { status, headers, body }
}

/// A GET with `headers` through the router over `state`.
///
/// # Panics
/// When `uri` or a header is not valid in a request.
pub async fn get_with(state: &AppState, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    send(state, request.body(Body::empty()).expect("a valid request")).await
}

/// A POST of `body` as JSON through the router over `state`.
///
/// # Panics
/// When `uri` is not valid in a request.
pub async fn post_json(state: &AppState, uri: &str, body: &Value) -> Answer {
    let request = Request::post(uri).header("content-type", "application/json").body(Body::from(body.to_string())).expect("a valid request");
    send(state, request).await
}
