//! Operations: `/health`, `/metrics` (Prometheus text), `POST /admin/reload` and watching the
//! data files.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::error::ApiError;
use super::params::QueryPairs;
use super::limits::ByteBudget;
use crate::serve::dataset::{rfc3339, Dataset};
use super::state::AppState;
use super::Snapshot;

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS_S: [f64; 12] = [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Request and reload counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per route, per status: requests answered (the route's text allocated once, not per request).
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    buckets: [AtomicU64; BUCKETS_S.len()],
    duration_sum_us: AtomicU64,
    duration_count: AtomicU64,
    /// Successful reloads.
    pub reloads: AtomicU64,
    /// Failed reloads (the old data kept serving).
    pub reload_failures: AtomicU64,
    /// Answers 304 Not Modified.
    pub not_modified: AtomicU64,
    /// Failed `POST /admin/reload` attempts per client, for the lockout.
    pub admin_failures: AdminFailures,
    /// The counts of the last good load and what `/health` warns about the last reload.
    pub load_check: Mutex<LoadCheck>,
}

/// The counts of the last good load, and the warning about a reload that dropped sharply
/// against them.
#[derive(Debug, Default)]
pub struct LoadCheck {
    /// Estates and facilities of the last load that did not warn; `None`: the first load's.
    good: Option<(usize, usize)>,
    /// Why `/health` says `warn`.
    pub warning: Option<String>,
}

impl LoadCheck {
    /// Judges a reload from `before` to `after`: a count more than `drop_pct` percent below the
    /// last good load's sets the warning; otherwise the reload becomes the last good load.
    pub fn judge(&mut self, before: (usize, usize), after: (usize, usize), drop_pct: u8) {
        let good = self.good.unwrap_or(before);
        let sharp = |was: usize, now: usize| now < was && (was - now) * 100 > was * usize::from(drop_pct);
        let drops: Vec<String> = [("estates", good.0, after.0), ("facilities", good.1, after.1)]
            .into_iter()
            .filter(|&(_, was, now)| sharp(was, now))
            .map(|(what, was, now)| {
                #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
                let pct = (was - now) as f64 * 100.0 / was as f64;
                format!("{what} dropped from {was} to {now} (-{pct:.1} %) against the last good load")
            })
            .collect();
        if drops.is_empty() {
            self.good = Some(after);
            self.warning = None;
        } else {
            self.good = Some(good);
            self.warning = Some(format!("{}; is a data file incomplete? (serve.reload_drop_warn_pct = {drop_pct})", drops.join(", ")));
        }
    }
}

/// Failed admin attempts per client (its IP address; `None`, an in-process request with no
/// peer, is counted but never locked out).
#[derive(Debug, Default)]
pub struct AdminFailures {
    clients: Mutex<HashMap<Option<IpAddr>, Failures>>,
    /// Failed attempts, all clients.
    pub total: AtomicU64,
    /// Attempts refused during a lockout.
    pub refused: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Clients remembered at most; past it, those not locked out are forgotten first.
const MAX_CLIENTS_REMEMBERED: usize = 10_000;

impl AdminFailures {
    /// Seconds `client` must still wait, if it is locked out at `now`.
    #[must_use]
    pub fn locked(&self, client: Option<IpAddr>, now: Instant) -> Option<u64> {
        client?;
        let clients = self.clients.lock().ok()?;
        let until = clients.get(&client)?.locked_until?;
        (until > now).then(|| {
            let left = until.duration_since(now);
            (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
        })
    }

    /// Records a failed attempt: from the `max_failures`-th on (within `lockout_max` of the
    /// previous one), the client is locked out for 1 s, doubling with each further failure up to
    /// `lockout_max`.
    pub fn fail(&self, client: Option<IpAddr>, now: Instant, max_failures: u32, lockout_max: Duration) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let Ok(mut clients) = self.clients.lock() else { return };
        if clients.len() >= MAX_CLIENTS_REMEMBERED && !clients.contains_key(&client) {
            clients.retain(|_, f| f.locked_until.is_some_and(|u| u > now) || now.duration_since(f.last) < lockout_max);
            if clients.len() >= MAX_CLIENTS_REMEMBERED {
                clients.retain(|_, f| f.locked_until.is_some_and(|u| u > now));
            }
        }
        let entry = clients.entry(client).or_insert(Failures { count: 0, last: now, locked_until: None });
        if now.duration_since(entry.last) >= lockout_max && entry.locked_until.is_none_or(|u| u <= now) {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= max_failures {
            let doublings = (entry.count - max_failures).min(30);
            entry.locked_until = Some(now + Duration::from_secs(1u64 << doublings).min(lockout_max));
        }
    }

    /// Forgets `client`'s failures (it gave the right token).
    pub fn succeed(&self, client: Option<IpAddr>) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(&client);
        }
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut map) = self.requests.lock() {
            match map.get_mut(route) {
                Some(statuses) => *statuses.entry(status).or_default() += 1,
                None => {
                    map.insert(route.to_owned(), BTreeMap::from([(status, 1)]));
                }
            }
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

async fn get_health(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    let warning = state.metrics().load_check.lock().ok().and_then(|c| c.warning.clone());
    Ok(super::respond::json_ok(&json!({
        "status": if warning.is_some() { "warn" } else { "ok" },
        "warnings": warning.into_iter().collect::<Vec<_>>(),
        "data_version": dataset.version,
        "loaded_at": rfc3339(dataset.loaded_at),
        "estates": dataset.estates.len(),
        "facilities": dataset.facilities.len(),
        "rejected_features": dataset.rejected,
        "working_crs": dataset.working_crs,
        "metric": dataset.metric_kind().as_str(),
        "distance_from": dataset.params.distance_from.as_str(),
        "network": dataset.network.as_ref().map(crate::serve::dataset::ServedNetwork::summary_json),
        // Prepared in the background after a load; until then a new year= builds it first.
        "warming_up": dataset.warming_up(),
    })))
}

async fn get_metrics(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, budget: Option<Extension<Arc<ByteBudget>>>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    let m = state.metrics();
    let mut s = String::with_capacity(4096);
    s.push_str("# HELP gapmap_http_requests_total HTTP requests by route and status.\n# TYPE gapmap_http_requests_total counter\n");
    if let Ok(map) = m.requests.lock() {
        for (route, status, n) in map.iter().flat_map(|(route, statuses)| statuses.iter().map(move |(status, n)| (route, status, n))) {
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
        ("gapmap_data_version", "gauge", "Digest of the data being served (below 2^53; equal on replicas serving the same data, not a counter).", dataset.version),
        ("gapmap_estates", "gauge", "Estates loaded.", dataset.estates.len() as u64),
        ("gapmap_facilities", "gauge", "Facilities loaded.", dataset.facilities.len() as u64),
        ("gapmap_rejected_features", "gauge", "Features rejected at load.", dataset.rejected as u64),
        ("gapmap_year_views_cached", "gauge", "Coverage years cached besides the configured one.", dataset.cached_years() as u64),
        ("gapmap_admin_failures_total", "counter", "Failed POST /admin/reload attempts.", m.admin_failures.total.load(Ordering::Relaxed)),
        ("gapmap_admin_locked_out_total", "counter", "POST /admin/reload attempts refused during a lockout (429).", m.admin_failures.refused.load(Ordering::Relaxed)),
        ("gapmap_answer_bytes_held_kib", "gauge", "Answer bytes held for clients (serve.max_bytes_in_flight_mib), KiB.", budget.as_ref().map_or(0, |b| b.held_kib())),
        ("gapmap_answers_refused_total", "counter", "Answers refused with 503 for want of answer budget.", budget.as_ref().map_or(0, |b| b.refused.load(Ordering::Relaxed))),
        ("gapmap_response_cache_bytes", "gauge", "Bytes of whole answers kept for repeated requests.", state.responses().bytes() as u64),
    ];
    for (name, kind, help, value) in gauges {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    }
    s.push_str("# HELP gapmap_served_heap_bytes Heap bytes of the served data by part (an estimate: structure sizes, not allocator overhead).\n# TYPE gapmap_served_heap_bytes gauge\n");
    let parts = tokio::task::spawn_blocking(move || dataset.heap_bytes_by_part()).await?;
    for (part, bytes) in parts {
        let _ = writeln!(s, "gapmap_served_heap_bytes{{part=\"{part}\"}} {bytes}");
    }
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], s).into_response())
}

async fn post_reload(State(state): State<AppState>, peer: Option<Extension<ConnectInfo<SocketAddr>>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let Some(token) = state.serve().admin_token.as_deref() else {
        return Err(ApiError::Unauthorized("reloading is disabled; set serve.admin_token or GAPMAP_ADMIN_TOKEN".into()));
    };
    // Per client: guessing the token from one address is slowed to a crawl. Behind a proxy every
    // client is the proxy; it should limit too. Requests with no peer address come from within
    // the process (tests through `oneshot`), not from a client: they are not limited.
    let client = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    let failures = &state.metrics().admin_failures;
    let now = Instant::now();
    if let Some(retry_after_s) = failures.locked(client, now) {
        failures.refused.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::TooManyAttempts { what: format!("too many failed attempts from this client (serve.admin_max_failures = {})", state.serve().admin_max_failures), retry_after_s });
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        failures.fail(client, now, state.serve().admin_max_failures, Duration::from_secs(state.serve().admin_lockout_max_s));
        return Err(ApiError::Unauthorized("a valid `Authorization: Bearer <token>` header is required".into()));
    }
    failures.succeed(client);
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    // Its own task: a client that hangs up, or the request timeout, must not cancel a reload
    // half-way and throw away the data it loaded.
    let before = state.dataset().version;
    let dataset = tokio::spawn(async move { reload_checked(&state).await }).await??;
    Ok(super::respond::json_ok(&json!({
        "status": "reloaded",
        // The version is the content's digest: the same data read again keeps it (and the
        // snapshot already serving).
        "changed": dataset.version != before,
        "data_version": dataset.version,
        "loaded_at": rfc3339(dataset.loaded_at),
        "estates": dataset.estates.len(),
        "facilities": dataset.facilities.len(),
    })))
}

/// Reloads, and sets or clears `/health`'s warning by the new counts against the last good
/// load's.
///
/// # Errors
/// As [`AppState::reload`].
pub async fn reload_checked(state: &AppState) -> Result<Arc<Dataset>, ApiError> {
    let before = state.dataset();
    let after = state.reload().await?;
    if let Ok(mut check) = state.metrics().load_check.lock() {
        check.judge((before.estates.len(), before.facilities.len()), (after.estates.len(), after.facilities.len()), state.serve().reload_drop_warn_pct);
        if let Some(w) = &check.warning {
            tracing::warn!("data version {}: {w}", after.version);
        }
    }
    Ok(after)
}

/// Files whose change triggers a reload: the config's data sources and catalogue.
fn watched_files(state: &AppState, config_path: Option<&Path>) -> Vec<PathBuf> {
    let c = state.config();
    let mut files: Vec<PathBuf> = c.estates.iter().map(|s| s.path.clone()).chain(c.facilities.iter().map(|s| s.path.clone())).collect();
    files.extend(c.analysis.catalogue.clone());
    files.extend(config_path.map(Path::to_path_buf));
    // Database sources are not files: a change there is announced by NOTIFY, not by the file
    // system (`gapmap db init`).
    files.retain(|p| !crate::config::is_postgres_uri(p));
    files.into_iter().map(|p| std::fs::canonicalize(&p).unwrap_or(p)).collect()
}

/// Watches the data files and reloads when one changes, once every watched file has kept its
/// size and modification time for `serve.watch_settle_ms` with no further change reported: a
/// file still being written is not loaded half-way. Directories are watched, not files, so
/// that files replaced by renaming are still followed.
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
    let settle = Duration::from_millis(state.serve().watch_settle_ms);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait until a whole settle interval passes with no event and no file changing size
            // or modification time: writers in several chunks pause between them, and a writer
            // that renames a finished file into place is stable at once.
            let mut seen = file_stamps(&files).await;
            loop {
                tokio::time::sleep(settle).await;
                let mut quiet = true;
                while rx.try_recv().is_ok() {
                    quiet = false;
                }
                let now = file_stamps(&files).await;
                if quiet && now == seen {
                    break;
                }
                seen = now;
            }
            tracing::info!("data files changed and settled; reloading");
            let _ = reload_checked(&state).await;
        }
    });
    tracing::info!(directories = dirs.len(), "watching data files");
    Ok(watcher)
}

/// Size and modification time of each file (`None` where it cannot be read: missing mid-rename).
async fn file_stamps(files: &[PathBuf]) -> Vec<Option<(u64, SystemTime)>> {
    let files = files.to_vec();
    tokio::task::spawn_blocking(move || files.iter().map(|f| std::fs::metadata(f).ok().and_then(|m| Some((m.len(), m.modified().ok()?)))).collect()).await.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sharp_drop_warns_until_the_counts_come_back() {
        let mut check = LoadCheck::default();
        check.judge((100, 9000), (100, 8800), 20);
        assert!(check.warning.is_none());
        check.judge((100, 8800), (100, 6768), 20);
        let w = check.warning.clone().expect("a 23 % drop warns");
        assert!(w.contains("facilities dropped from 8800 to 6768"), "{w}");
        // Still short of the last good load: still warns.
        check.judge((100, 6768), (100, 6800), 20);
        assert!(check.warning.is_some());
        check.judge((100, 6800), (100, 9000), 20);
        assert!(check.warning.is_none());
    }

    #[test]
    fn lockout_starts_at_the_limit_and_doubles() {
        let f = AdminFailures::default();
        let me: Option<IpAddr> = Some(IpAddr::from([127, 0, 0, 1]));
        let t0 = Instant::now();
        let max = Duration::from_secs(900);
        for _ in 0..4 {
            f.fail(me, t0, 5, max);
        }
        assert_eq!(f.locked(me, t0), None);
        f.fail(me, t0, 5, max);
        assert_eq!(f.locked(me, t0), Some(1));
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(f.locked(me, t1), None);
        f.fail(me, t1, 5, max);
        assert_eq!(f.locked(me, t1), Some(2));
        let other: Option<IpAddr> = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(f.locked(other, t1), None);
        f.succeed(me);
        f.fail(None, t1, 1, max);
        assert_eq!(f.locked(None, t1), None, "in-process requests are not locked out");
        assert_eq!(f.locked(me, t1), None);
    }
}
