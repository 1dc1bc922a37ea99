//! `gapmap serve`: coverage layers over OGC API – Features (Parts 1, 2 and 3), point and
//! estate coverage queries, and operations endpoints.
//!
//! The data is loaded and analysed once, off the executor, into an immutable
//! [`Dataset`](snapshot::Dataset) held by [`AppState`] behind an atomic pointer; handlers read
//! the snapshot a middleware took at the start of the request ([`Snapshot`]). A reload builds a
//! whole new dataset and swaps the pointer, so no request ever sees half a dataset, and a failed
//! reload leaves the old one serving.
//!
//! Middleware, outermost first: tracing, panic → JSON 500, CORS (configured origins only), gzip
//! (when the client asks), request timeout (408), body limit; then, per matched route: the
//! snapshot, `ETag` / `If-None-Match` (304 before any work), `X-Gapmap-Data-Version` and
//! metrics.

pub mod coverage;
pub mod db_listen;
pub mod error;
pub mod gzip;
pub mod html;
pub mod limits;
pub mod ogc;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod plan;
pub mod report;
pub mod respond;
pub mod response_cache;
pub mod state;
pub mod styles;
pub mod tiles;
pub mod webmap;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use crate::serve::{load_dataset, Dataset};
pub use state::AppState;

use crate::config::Config;

/// The response header carrying the served data version.
pub const DATA_VERSION_HEADER: &str = "x-gapmap-data-version";

/// The dataset snapshot a request works on, taken once when it starts.
#[derive(Debug, Clone)]
pub struct Snapshot(pub Arc<Dataset>);

/// The whole application: every route and middleware, with `state`.
pub fn router(state: AppState) -> Router {
    let serve = state.serve().clone();
    let budget = limits::ByteBudget::new(serve.max_bytes_in_flight_mib);
    let mut app = Router::new()
        .merge(ogc::routes())
        .merge(openapi::routes())
        .merge(coverage::routes())
        .merge(plan::routes())
        .merge(report::routes())
        .merge(ops::routes())
        .merge(tiles::routes())
        .merge(styles::routes())
        .merge(webmap::routes())
        // Browsers asking for `/` get the web map; JSON clients keep the OGC landing page.
        .layer(middleware::from_fn(webmap::browser_landing))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(fallback)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(serve.body_limit_bytes))
        .layer(middleware::from_fn_with_state(serve.max_query_bytes, limit_query))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(serve.request_timeout_s)))
        .layer(middleware::map_response(exception_body))
        // Inside compression: it sees the bodies' exact sizes.
        .layer(middleware::from_fn_with_state(Arc::clone(&budget), limits::hold_answer_bytes))
        .layer(axum::Extension(budget))
        // Items pages in CRS84 come gzipped from pre-compressed pieces (`gzip`); everything else
        // is compressed here, in the executor, so at the fastest level.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest));
    if !serve.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = serve.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_NONE_MATCH, header::ACCEPT, header::ACCEPT_LANGUAGE])
                .expose_headers([header::ETAG, HeaderName::from_static(DATA_VERSION_HEADER), HeaderName::from_static("content-crs")]),
        );
    }
    app.layer(CatchPanicLayer::custom(panic_response)).layer(TraceLayer::new_for_http())
}

#[expect(clippy::needless_pass_by_value, reason = "the signature CatchPanicLayer::custom requires")]
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!("handler panicked: {detail}");
    ApiError::Internal(format!("panic: {detail}")).into_response()
}

/// Gives the bare or plain-text answers of the routing and limit layers (405, 408, 413) the OGC
/// exception body.
async fn exception_body(response: Response) -> Response {
    let status = response.status();
    let plain = response.headers().get(header::CONTENT_TYPE).is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let description = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed here; resources are read with GET, reloads are POST /admin/reload",
        StatusCode::REQUEST_TIMEOUT => "the request took too long and was stopped",
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large",
        _ => status.canonical_reason().unwrap_or("error"),
    };
    let mut out = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], serde_json::json!({ "code": status.as_u16().to_string(), "description": description }).to_string()).into_response();
    for name in [header::ALLOW, HeaderName::from_static(DATA_VERSION_HEADER)] {
        if let Some(v) = response.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Answers 414 to a query string longer than `serve.max_query_bytes`, before any parsing.
async fn limit_query(State(max): State<usize>, request: Request, next: Next) -> Response {
    let length = request.uri().query().map_or(0, str::len);
    if length > max {
        let description = format!("the query string is {length} bytes long; at most {max} are accepted (serve.max_query_bytes)");
        let body = serde_json::json!({ "code": "URITooLong", "description": description }).to_string();
        return (StatusCode::URI_TOO_LONG, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    }
    next.run(request).await
}

async fn fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

/// Absolute URL prefix for links: `serve.base_url`, else `http://` + the `Host` header.
#[must_use]
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(b) = &state.serve().base_url {
        return b.trim_end_matches('/').to_owned();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| !h.is_empty() && !h.contains(['/', ' ', '"', '<', '>'])).unwrap_or("localhost");
    format!("http://{host}")
}

/// Per-route middleware: snapshot, conditional requests, data version header, metrics and
/// logging of internal errors.
async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let dataset = state.dataset();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let cacheable = matches!(*request.method(), Method::GET | Method::HEAD) && !matches!(route, "/health" | "/metrics") && !route.starts_with("/admin");
    let gzip = gzip::prefers_gzip(request.headers());
    let data = data_identity(&dataset);
    let key = cacheable.then(|| response_cache::request_hash(request.uri(), request.headers(), gzip, data));
    let hit = key.and_then(|k| state.responses().get(k, request.uri(), request.headers(), gzip, data));
    // A kept answer has its tag; anything else cacheable gets one made.
    let etag: Option<HeaderValue> = match &hit {
        Some(h) => Some(h.etag.clone()),
        None => cacheable.then(|| entity_tag(&dataset, state.representation(), &request, gzip)).and_then(|t| HeaderValue::from_str(&t).ok()),
    };
    let version = HeaderValue::from(dataset.version);
    let with_tag = |mut r: Response| {
        if let Some(v) = &etag {
            r.headers_mut().insert(header::ETAG, v.clone());
            // A handler that knows better (tiles under a versioned URL: immutable) keeps its own.
            r.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
        }
        r
    };
    let response = match (etag.as_ref().and_then(|t| t.to_str().ok()), key, hit) {
        (Some(tag), _, _) if if_none_match(request.headers(), tag) => {
            state.metrics().not_modified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Some(v) = &etag {
                r.headers_mut().insert(header::ETAG, v.clone());
            }
            // A 304 carries the Vary the full answer would (RFC 9110 §15.4.5): what chose it.
            r.headers_mut().insert(header::VARY, HeaderValue::from_static("accept, accept-language, accept-encoding"));
            r
        }
        (_, _, Some(hit)) => {
            let mut r = Response::new(axum::body::Body::from(hit.body.clone()));
            *r.headers_mut() = hit.headers.clone();
            // Said the way the tile cache says it (the handler's own timing was the first answer's).
            r.headers_mut().insert(HeaderName::from_static("server-timing"), HeaderValue::from_static("cache;desc=hit"));
            r
        }
        (Some(_), Some(key), None) => {
            let keep = (*request.method() == Method::GET).then(|| (request.uri().clone(), request.headers().clone()));
            request.extensions_mut().insert(Snapshot(dataset));
            let r = next.run(request).await;
            match (keep, &etag) {
                (Some((uri, headers)), Some(tag)) if r.status() == StatusCode::OK => keep_answer(&state, key, &uri, &headers, gzip, data, tag.clone(), r).await,
                _ => r,
            }
        }
        _ => {
            request.extensions_mut().insert(Snapshot(dataset));
            next.run(request).await
        }
    };
    let response = if response.status() == StatusCode::OK { with_tag(response) } else { response };
    let mut response = response;
    response.headers_mut().insert(HeaderName::from_static(DATA_VERSION_HEADER), version);
    if let Some(detail) = response.extensions().get::<error::InternalDetail>() {
        tracing::error!(route, "{}", detail.0);
    }
    state.metrics().record(route, response.status().as_u16(), started.elapsed());
    response
}

/// The data snapshot's identity in the response cache's keys: its load time (nanoseconds) and
/// version. (Entity tags use the version alone, which is a digest of the content: see
/// [`entity_tag`].)
fn data_identity(dataset: &Dataset) -> u128 {
    let loaded = dataset.loaded_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (loaded << 64) | u128::from(dataset.version)
}

/// Keeps a 200 answer whose body is complete and small enough in the response cache, and
/// returns it.
#[expect(clippy::too_many_arguments, reason = "the request's identity and the answer")]
async fn keep_answer(state: &AppState, key: u64, uri: &axum::http::Uri, headers: &HeaderMap, gzip: bool, data: u128, etag: HeaderValue, response: Response) -> Response {
    let complete = axum::body::HttpBody::size_hint(response.body()).exact().is_some_and(|n| n <= response_cache::ResponseCache::MAX_ENTRY_BYTES as u64);
    if !complete {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, response_cache::ResponseCache::MAX_ENTRY_BYTES).await {
        Ok(bytes) => {
            state.responses().insert(key, uri, headers, gzip, data, etag, parts.headers.clone(), bytes.clone());
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => ApiError::Internal(format!("reading an answer to keep: {e}")).into_response(),
    }
}

/// A weak entity tag from the data version (a digest of the content, not of when it was
/// loaded), the `[serve]` settings that shape answers (`representation`) and everything in the
/// request that does: the URI, `Accept`, `Accept-Language`, `Host` (links are absolute) and
/// whether the answer is gzipped. Every part is hashed with a fixed algorithm (SHA-256), so
/// replicas serving the same data with the same settings give the same tag for the same request
/// and a client can move between them keeping its 304s. Weak, because the tag promises the same
/// data rather than the same bytes (what gzip makes of them may change with the library).
fn entity_tag(dataset: &Dataset, representation: u64, request: &Request, gzip: bool) -> String {
    let mut h = crate::serve::digest::ContentHasher::new("gapmap etag 1");
    h.u64(representation);
    h.text(request.uri().path());
    h.opt(request.uri().query(), crate::serve::digest::ContentHasher::text);
    for name in [header::ACCEPT, header::ACCEPT_LANGUAGE, header::HOST] {
        h.opt(request.headers().get(&name).map(HeaderValue::as_bytes), crate::serve::digest::ContentHasher::bytes);
    }
    h.u64(u64::from(gzip));
    let digest = h.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!("W/\"{:x}-{:016x}\"", dataset.version, u64::from_le_bytes(first))
}

/// `If-None-Match` with the weak comparison RFC 9110 prescribes for it.
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    let opaque = tag.trim_start_matches("W/");
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == opaque
    })
}

/// Loads the data (off the executor), listens on `bind` (port 0 picks one), prints
/// `listening on http://ADDR` to stderr, optionally watches the data files, and serves under
/// the connection limits of `[serve]` ([`limits`]) until Ctrl-C or SIGTERM, letting requests in
/// flight finish (for at most `serve.request_timeout_s`).
///
/// # Errors
/// A failed load ([`ApiError::ReloadFailed`]) or an address that cannot be bound.
pub async fn serve(config: Config, config_path: Option<PathBuf>, bind: SocketAddr) -> Result<(), ApiError> {
    let started = Instant::now();
    // Database sources' fingerprints are taken before the load, so that a change made while it
    // runs is found by the first poll.
    let db_watch = if config.serve.watch {
        let c = config.clone();
        Some(tokio::task::spawn_blocking(move || db_listen::prepare(&c)).await.map_err(|e| ApiError::Internal(format!("looking at the database sources: {e}")))?)
    } else {
        None
    };
    let load_config = config.clone();
    let dataset = tokio::task::spawn_blocking(move || load_dataset(&load_config)).await??;
    tracing::info!(estates = dataset.estates.len(), facilities = dataset.facilities.len(), elapsed_ms = started.elapsed().as_millis(), "data loaded");
    let state = match &config_path {
        Some(path) => AppState::with_config_file(config, dataset, path.clone()),
        None => AppState::new(config, dataset),
    };
    let listener = listen(bind).map_err(|e| ApiError::Internal(format!("cannot listen on {bind}: {e}")))?;
    let local = listener.local_addr().map_err(|e| ApiError::Internal(format!("no local address: {e}")))?;
    eprintln!("listening on http://{local}");
    let _watcher = if let Some(db_watch) = db_watch {
        // Files are watched; database sources are listened to (`gapmap db init`) or polled.
        db_listen::spawn_db_listeners(&state, db_watch);
        Some(ops::spawn_watcher(state.clone(), config_path.as_deref()).map_err(|e| ApiError::Internal(format!("cannot watch the data files: {e}")))?)
    } else {
        None
    };
    let limits = limits::ConnectionLimits::from_serve(state.serve(), limits::descriptor_limit());
    let drain = Duration::from_secs(state.serve().request_timeout_s);
    limits::serve_connections(listener, router(state), limits, shutdown_signal(), drain).await;
    tracing::info!("shut down");
    Ok(())
}

/// A listening socket with a backlog of 4,096 (the kernel caps it at `net.core.somaxconn`), not
/// tokio's 1,024: when thousands of clients connect at once, a full queue drops a health check's
/// SYN, and the client only retries it a second later.
fn listen(bind: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if bind.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(bind)?;
    socket.listen(4096)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
