//! Operations: `/health`, `/metrics` (Prometheus text), `POST /admin/reload` and watching the
//! data files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::error::ApiError;
use super::params::QueryPairs;
use super::snapshot::rfc3339;
use super::state::AppState;
use super::Snapshot;

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS_S: [f64; 12] = [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Request and reload counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS_S.len()],
    duration_sum_us: AtomicU64,
    duration_count: AtomicU64,
    /// Successful reloads.
    pub reloads: AtomicU64,
    /// Failed reloads (the old data kept serving).
    pub reload_failures: AtomicU64,
    /// Answers 304 Not Modified.
    pub not_modified: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((route.to_owned(), status)).or_default() += 1;
        }
        let s = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS_S.iter().position(|b| s <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.duration_sum_us.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.duration_count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(get_health))
        .route("/metrics", get(get_metrics))
        .route("/admin/reload", post(post_reload))
}

async fn get_health(Extension(Snapshot(dataset)): Extension<Snapshot>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    Ok(super::ogc::json_ok(&json!({
        "status": "ok",
        "data_version": dataset.version,
        "loaded_at": rfc3339(dataset.loaded_at),
        "estates": dataset.estates.len(),
        "facilities": dataset.facilities.len(),
        "rejected_features": dataset.rejected,
        "working_crs": dataset.working_crs,
        "metric": dataset.metric_kind().as_str(),
        "distance_from": dataset.params.distance_from.as_str(),
        "network": dataset.network.as_ref().map(super::snapshot::ServedNetwork::summary_json),
    })))
}

async fn get_metrics(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    let m = state.metrics();
    let mut s = String::with_capacity(4096);
    s.push_str("# HELP gapmap_http_requests_total HTTP requests by route and status.\n# TYPE gapmap_http_requests_total counter\n");
    if let Ok(map) = m.requests.lock() {
        for ((route, status), n) in map.iter() {
            let _ = writeln!(s, "gapmap_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", route.replace('\\', "\\\\").replace('"', "\\\""));
        }
    }
    s.push_str("# HELP gapmap_http_request_duration_seconds Time to produce a response.\n# TYPE gapmap_http_request_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (b, count) in BUCKETS_S.iter().zip(&m.buckets) {
        cumulative += count.load(Ordering::Relaxed);
        let _ = writeln!(s, "gapmap_http_request_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}");
    }
    let total = m.duration_count.load(Ordering::Relaxed);
    let _ = writeln!(s, "gapmap_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}");
    #[expect(clippy::cast_precision_loss, reason = "microsecond sums far below 2^52")]
    let sum_s = m.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(s, "gapmap_http_request_duration_seconds_sum {sum_s}\ngapmap_http_request_duration_seconds_count {total}");
    let gauges = [
        ("gapmap_http_not_modified_total", "counter", "Answers 304 Not Modified.", m.not_modified.load(Ordering::Relaxed)),
        ("gapmap_reloads_total", "counter", "Successful data reloads.", m.reloads.load(Ordering::Relaxed)),
        ("gapmap_reload_failures_total", "counter", "Failed data reloads (old data kept).", m.reload_failures.load(Ordering::Relaxed)),
        ("gapmap_data_version", "gauge", "Version of the data being served.", dataset.version),
        ("gapmap_estates", "gauge", "Estates loaded.", dataset.estates.len() as u64),
        ("gapmap_facilities", "gauge", "Facilities loaded.", dataset.facilities.len() as u64),
        ("gapmap_rejected_features", "gauge", "Features rejected at load.", dataset.rejected as u64),
        ("gapmap_year_views_cached", "gauge", "Coverage years cached besides the configured one.", dataset.cached_years() as u64),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], s).into_response())
}

async fn post_reload(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let Some(token) = state.serve().admin_token.as_deref() else {
        return Err(ApiError::Unauthorized("reloading is disabled; set serve.admin_token or GAPMAP_ADMIN_TOKEN".into()));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return Err(ApiError::Unauthorized("a valid `Authorization: Bearer <token>` header is required".into()));
    }
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    // Its own task: a client that hangs up, or the request timeout, must not cancel a reload
    // half-way and throw away the data it loaded.
    let dataset = tokio::spawn(async move { state.reload().await }).await??;
    Ok(super::ogc::json_ok(&json!({
        "status": "reloaded",
        "data_version": dataset.version,
        "loaded_at": rfc3339(dataset.loaded_at),
        "estates": dataset.estates.len(),
        "facilities": dataset.facilities.len(),
    })))
}

/// Files whose change triggers a reload: the config's data sources and catalogue.
fn watched_files(state: &AppState, config_path: Option<&Path>) -> Vec<PathBuf> {
    let c = state.config();
    let mut files: Vec<PathBuf> = c.estates.iter().map(|s| s.path.clone()).chain(c.facilities.iter().map(|s| s.path.clone())).collect();
    files.extend(c.analysis.catalogue.clone());
    files.extend(config_path.map(Path::to_path_buf));
    files.into_iter().map(|p| std::fs::canonicalize(&p).unwrap_or(p)).collect()
}

/// Watches the data files and reloads (debounced by one second) when one changes. Directories
/// are watched, not files, so that files replaced by renaming are still followed.
///
/// # Errors
/// When the platform watcher cannot be set up.
pub fn spawn_watcher(state: AppState, config_path: Option<&Path>) -> Result<notify::RecommendedWatcher, notify::Error> {
    use notify::Watcher as _;
    let files = watched_files(&state, config_path);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let wanted = files.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = !event.kind.is_access() && event.paths.iter().any(|p| wanted.iter().any(|w| p == w || p.file_name() == w.file_name() && p.parent() == w.parent()));
            if relevant {
                let _ = tx.send(());
            }
        }
    })?;
    let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        watcher.watch(d, notify::RecursiveMode::NonRecursive)?;
    }
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: wait for writes to settle, then drain what queued meanwhile.
            tokio::time::sleep(Duration::from_secs(1)).await;
            while rx.try_recv().is_ok() {}
            tracing::info!("data files changed; reloading");
            let _ = state.reload().await;
        }
    });
    tracing::info!(directories = dirs.len(), "watching data files");
    Ok(watcher)
}
