//! The web map: `/map` (and `/` for browsers), its assets under `/map/`, and `/map/config.json`.
//!
//! The page, its script and style are compiled into the binary from `web/src` as they are (no
//! build step changes them); MapLibre GL JS's prebuilt ES modules and CSS (the `maplibre-gl` npm
//! package, BSD-3-Clause) are copied into `web/dist` by `web/build.mjs`, committed, and compiled
//! in with `include_bytes!`: `cargo build` needs neither node nor the network, the server needs
//! no files beside it, and browsers load nothing from a CDN. A test (`tests/styles.rs`) runs
//! `node web/build.mjs --check` so the committed copy stays equal to the locked version.
//!
//! `/` stays the OGC API landing page for clients that ask for JSON (QGIS, GDAL, curl: no
//! `Accept: text/html`) and for `?f=json` / `?f=html`; a browser asking for `/` without `f=`
//! gets the web map, which links to the HTML landing page and the collections.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::params::{negotiate, Format, QueryPairs};
use crate::serve::dataset::Dataset;
use super::state::AppState;
use super::Snapshot;

/// The web map's page.
pub const INDEX_HTML: &str = include_str!("../../web/src/index.html");

/// The web map's files under `/map/`: `(name, media type, bytes)`.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../web/src/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../web/src/app.css")),
    ("maplibre-gl.mjs", "text/javascript; charset=utf-8", include_bytes!("../../web/dist/maplibre-gl.mjs")),
    ("maplibre-gl-worker.mjs", "text/javascript; charset=utf-8", include_bytes!("../../web/dist/maplibre-gl-worker.mjs")),
    ("maplibre-gl.css", "text/css; charset=utf-8", include_bytes!("../../web/dist/maplibre-gl.css")),
    ("maplibre-gl-LICENSE.txt", "text/plain; charset=utf-8", include_bytes!("../../web/dist/maplibre-gl-LICENSE.txt")),
    ("VERSIONS.txt", "text/plain; charset=utf-8", include_bytes!("../../web/dist/VERSIONS.txt")),
];

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/map", get(get_map)).route("/map/{file}", get(get_asset))
}

fn page() -> Response {
    // `/` answers the map or the landing page by the Accept header: a shared cache must know.
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")), (header::VARY, HeaderValue::from_static(super::params::VARY_NEGOTIATED))],
        INDEX_HTML,
    )
        .into_response()
}

async fn get_map(axum::extract::RawQuery(q): axum::extract::RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    Ok(page())
}

/// Middleware on the routes: a browser's `GET /` (HTML preferred, no `f=`) gets the web map
/// instead of the OGC landing page. Everything else passes through.
pub async fn browser_landing(request: Request, next: Next) -> Response {
    if request.uri().path() == "/" && matches!(*request.method(), Method::GET | Method::HEAD) {
        if let Ok(pairs) = QueryPairs::parse(request.uri().query()) {
            if pairs.iter().next().is_none() && negotiate(&pairs, request.headers()).is_ok_and(|f| f == Format::Html) {
                return page();
            }
        }
    }
    next.run(request).await
}

/// What the web map needs to know about the data: kinds with labels, radii and how many (built)
/// facilities the data has of each, the range of opening years, the extent, whether districts
/// exist, and the zoom from which estates are drawn.
#[must_use]
pub fn map_config(dataset: &Dataset) -> Value {
    let kinds: Vec<Value> = dataset
        .catalogue
        .kinds
        .iter()
        .map(|k| {
            // Kinds the data has no facility of are shown as "no data", not as a city-wide gap.
            let id = dataset.catalogue.kind_id(&k.key);
            let facilities = dataset.facilities.iter().filter(|f| Some(f.kind) == id && !f.planned).count();
            json!({ "key": k.key, "label_zh": k.label_zh, "label_en": k.label_en, "radius_m": k.radius_m, "capacity_unit": k.capacity_unit, "facilities": facilities })
        })
        .collect();
    let years = dataset.facilities.iter().filter_map(|f| f.opened_year);
    let (min, max) = years.fold((None::<i32>, None::<i32>), |(lo, hi), y| (Some(lo.map_or(y, |l| l.min(y))), Some(hi.map_or(y, |h| h.max(y)))));
    let configured = dataset.params.year;
    let min = min.or(configured).unwrap_or(2000);
    let max = max.max(configured).unwrap_or(min).max(min);
    let bounds = dataset.current.estates.extent.map(|e| [e.min().x, e.min().y, e.max().x, e.max().y]);
    json!({
        "kinds": kinds,
        "years": { "min": min, "max": max, "configured": configured },
        "bounds": bounds,
        "districts": dataset.current.districts.is_some(),
        "metric": dataset.metric_kind().as_str(),
        "network": dataset.network.as_ref().map(crate::serve::dataset::ServedNetwork::summary_json),
        "estates": dataset.estates.len(),
        "facilities": dataset.facilities.len(),
        // Planned facilities are drawn as rings; the legend says so only when there are some.
        "planned": dataset.facilities.iter().filter(|f| f.planned).count(),
        "data_version": dataset.version,
        "estates_min_zoom": super::tiles::AGGREGATE_ZOOM,
        // The programme view (projects coloured by status or % complete) exists only with one.
        // Renovation items' names (facility kinds are in `kinds`) for the programme popup.
        "programme": dataset.programme.as_ref().map(|p| {
            let items: serde_json::Map<String, Value> = crate::report::programme::format::ITEMS.iter().map(|(k, en, zh)| ((*k).to_owned(), json!({ "en": en, "zh": zh }))).collect();
            json!({ "gate_pct": p.inputs.gate_pct, "projects": p.projects.len(), "wishes": p.wishes.len(), "items": items })
        }),
    })
}

async fn get_asset(
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    // Query strings are ignored here: MapLibre loads its worker with `?v=<version>`.
    if file == "config.json" {
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], map_config(&dataset).to_string()).into_response());
    }
    let (_, media, bytes) = ASSETS.iter().find(|(name, _, _)| *name == file).ok_or_else(|| ApiError::NoRoute(format!("/map/{file}")))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(media))], *bytes).into_response())
}
