//! Bounded resources under hostile clients: the accept loop with its connection cap and
//! timeouts, the budget of answer bytes held for all connections at once, and the descriptor
//! limit.
//!
//! `axum::serve` has no timeouts and no cap, so connections are served here with hyper's HTTP/1
//! builder. Each connection is registered with what it is doing (requests in flight, when bytes
//! last moved, since when a write has been blocked); a per-connection watchdog closes it when it
//! is idle past `serve.idle_timeout_s` or its client has read nothing for `serve.send_timeout_s`,
//! and hyper closes it when a request head takes longer than `serve.header_read_timeout_s`. At
//! `serve.max_connections` a new connection closes the longest-idle one rather than waiting in
//! the kernel's queue: idle connections cost the service nothing to drop, and a health check
//! behind thousands of them must still get in.
//!
//! An items page is rendered whole (up to `serve.max_limit` features, megabytes), so a client
//! that never reads its answer pins it. HTTP/1 answers one request of a connection at a time,
//! so each connection holds at most one answer, for at most `serve.send_timeout_s` without
//! progress; and every answer of 64 KiB or more holds its size from a budget shared by all
//! connections ([`ByteBudget`], `serve.max_bytes_in_flight_mib`) until it is sent or dropped.
//! Past the budget an answer is dropped unsent and the client gets 503 with `Retry-After`.
//! Large answers freed ask the allocator to give the memory back
//! ([`crate::diag::release_freed_memory`]), at most a few times a second.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::config::ServeConfig;

/// Descriptors kept free for everything but client connections: data files a reload opens
/// (GDAL may open several per source), the watcher, the runtime's own, logs.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// Answers below this size are not counted against the [`ByteBudget`]: the kernel's socket
/// buffer takes them whole, so they hold (almost) nothing in the process.
pub const SMALL_ANSWER_BYTES: usize = 64 * 1024;

/// The connection limits of `[serve]`, with the cap applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once (after [`connection_cap`]).
    pub max_connections: usize,
    /// Longest time to receive a whole request head.
    pub header_read_timeout: Duration,
    /// Longest time with no request in flight and no bytes moving.
    pub idle_timeout: Duration,
    /// Longest time a write may stay blocked on a client that does not read.
    pub send_timeout: Duration,
    /// hyper's read buffer per connection, bytes: room for the longest accepted query string
    /// and headers, not hyper's ~400 KB default.
    pub max_buffer_bytes: usize,
}

impl ConnectionLimits {
    /// The limits `serve` configures, the cap kept under `descriptor_limit` (see
    /// [`connection_cap`]).
    #[must_use]
    pub fn from_serve(serve: &ServeConfig, descriptor_limit: Option<u64>) -> Self {
        Self {
            max_connections: connection_cap(serve.max_connections, descriptor_limit),
            header_read_timeout: Duration::from_secs(serve.header_read_timeout_s),
            idle_timeout: Duration::from_secs(serve.idle_timeout_s),
            send_timeout: Duration::from_secs(serve.send_timeout_s),
            max_buffer_bytes: (serve.max_query_bytes + 32 * 1024).max(8192),
        }
    }
}

/// The connection cap: `configured`, but at most the descriptor limit less
/// [`RESERVED_DESCRIPTORS`] (and at least 1).
#[must_use]
pub fn connection_cap(configured: usize, descriptor_limit: Option<u64>) -> usize {
    let by_descriptors = descriptor_limit.map_or(usize::MAX, |n| usize::try_from(n.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX));
    configured.min(by_descriptors).max(1)
}

/// The soft limit on open descriptors (`RLIMIT_NOFILE`) now in force; `None` where it cannot be
/// read or there is none.
#[must_use]
pub fn descriptor_limit() -> Option<u64> {
    nofile().map(|l| l.rlim_cur).filter(|&n| n != libc::RLIM_INFINITY)
}

fn nofile() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0).then_some(limit)
}

/// Raises the soft limit on open descriptors to the hard limit (a server's connections need
/// more than the usual 1,024) and returns the soft limit now in force; `None` where it cannot be
/// read or there is none.
#[must_use]
pub fn raise_descriptor_limit() -> Option<u64> {
    let limit = nofile()?;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) } != 0 {
            tracing::warn!(soft = limit.rlim_cur, hard = limit.rlim_max, "cannot raise the open-file limit: {}", std::io::Error::last_os_error());
        }
    }
    descriptor_limit()
}

/// Milliseconds since the first call, never 0 (0 means "not set" in the atomics below).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    u64::try_from(EPOCH.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// What one connection is doing, shared by its task, its I/O and its answers.
#[derive(Debug)]
struct Activity {
    /// Requests whose answer is not yet wholly sent.
    in_flight: AtomicUsize,
    /// When bytes last moved either way (or a request ended), [`now_ms`].
    last_io_ms: AtomicU64,
    /// Since when a write has found the socket full, [`now_ms`]; 0: not blocked.
    write_blocked_since_ms: AtomicU64,
    /// Closes the connection (the cap found it idle).
    evict: Notify,
}

impl Activity {
    fn new() -> Self {
        Self { in_flight: AtomicUsize::new(0), last_io_ms: AtomicU64::new(now_ms()), write_blocked_since_ms: AtomicU64::new(0), evict: Notify::new() }
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// Marks a request in flight until its answer is sent or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_io_ms.store(now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, for the cap.
#[derive(Debug, Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
}

impl Registry {
    /// Registers a new connection when there is room, closing the longest-idle one if the cap
    /// is reached; `None` when every open connection is busy.
    fn admit(&self, cap: usize) -> Option<(u64, Arc<Activity>)> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= cap {
            let victim = open.iter().filter(|(_, a)| a.idle()).min_by_key(|(_, a)| a.last_io_ms.load(Ordering::Acquire)).map(|(id, _)| *id)?;
            if let Some(a) = open.remove(&victim) {
                a.evict.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        open.insert(id, Arc::clone(&activity));
        Some((id, activity))
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    fn len(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }
}

/// A socket that notes when bytes move and when writes block.
struct TrackedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl TrackedIo {
    fn note_write<T>(&self, poll: &Poll<io::Result<T>>) {
        match poll {
            Poll::Pending => {
                let _ = self.activity.write_blocked_since_ms.compare_exchange(0, now_ms(), Ordering::AcqRel, Ordering::Acquire);
            }
            Poll::Ready(_) => {
                self.activity.write_blocked_since_ms.store(0, Ordering::Release);
                self.activity.last_io_ms.store(now_ms(), Ordering::Release);
            }
        }
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.last_io_ms.store(now_ms(), Ordering::Release);
        }
        poll
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.note_write(&poll);
        poll
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.note_write(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// An answer body that keeps its connection's request in flight until it is sent or dropped.
struct InFlightBody {
    inner: Body,
    _in_flight: InFlight,
}

impl HttpBody for InFlightBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes, then lets requests in
/// flight finish (at most `drain` more).
///
/// Each request carries the peer's address as [`ConnectInfo<SocketAddr>`].
pub async fn serve_connections(listener: TcpListener, app: Router, limits: ConnectionLimits, shutdown: impl Future<Output = ()>, drain: Duration) {
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_buffer_bytes)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    tracing::info!(max_connections = limits.max_connections, "accepting connections");
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or memory, or a connection reset before it was
                    // accepted: the listener itself is fine; pause so that a full table can drain.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some((id, activity)) = registry.admit(limits.max_connections) else {
            tracing::debug!(%peer, "every connection is busy (serve.max_connections); closing the new one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = hyper_util::rt::TokioIo::new(TrackedIo { stream, activity: Arc::clone(&activity) });
        let service_activity = Arc::clone(&activity);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
            let in_flight = InFlight::begin(&service_activity);
            request.extensions_mut().insert(ConnectInfo(peer));
            let call = tower::ServiceExt::oneshot(app.clone(), request.map(Body::new));
            async move {
                let response = match call.await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|inner| Body::new(InFlightBody { inner, _in_flight: in_flight })))
            }
        });
        let builder = Arc::clone(&builder);
        let registry = Arc::clone(&registry);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            let check_every = (limits.idle_timeout.min(limits.send_timeout) / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = connection.as_mut() => break,
                    () = activity.evict.notified() => break,
                    changed = stop.changed(), if !draining => {
                        draining = true;
                        if changed.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                    () = tokio::time::sleep(check_every) => {
                        if let Some(reason) = overdue(&activity, &limits) {
                            tracing::debug!(%peer, reason, "closing connection");
                            break;
                        }
                    }
                }
            }
            registry.remove(id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + drain;
    while registry.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Why a connection should be closed now, if it should.
fn overdue(activity: &Activity, limits: &ConnectionLimits) -> Option<&'static str> {
    let now = now_ms();
    let blocked = activity.write_blocked_since_ms.load(Ordering::Acquire);
    if blocked != 0 && Duration::from_millis(now.saturating_sub(blocked)) >= limits.send_timeout {
        return Some("its client read nothing for serve.send_timeout_s");
    }
    let quiet = Duration::from_millis(now.saturating_sub(activity.last_io_ms.load(Ordering::Acquire)));
    (activity.idle() && quiet >= limits.idle_timeout).then_some("idle for serve.idle_timeout_s")
}

/// The answer bytes all connections may hold at once, in KiB permits.
#[derive(Debug)]
pub struct ByteBudget {
    permits: Arc<Semaphore>,
    total_kib: u32,
    /// Bytes of large answers freed since the allocator was last asked to give memory back.
    freed_bytes: AtomicU64,
    last_release_ms: AtomicU64,
    /// A give-back is scheduled for when the last one is far enough back.
    retry_pending: AtomicBool,
    /// Answers refused for want of budget.
    pub refused: AtomicU64,
}

/// Freed answer bytes after which the allocator is asked to give memory back.
const RELEASE_AFTER_BYTES: u64 = 8 * 1024 * 1024;
/// At most one give-back per this many milliseconds: each walks the allocator's heaps.
const RELEASE_EVERY_MS: u64 = 200;

impl ByteBudget {
    /// A budget of `mib` MiB.
    #[must_use]
    pub fn new(mib: usize) -> Arc<Self> {
        let total_kib = u32::try_from(mib.saturating_mul(1024)).unwrap_or(u32::MAX).min(u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX)).max(1);
        Arc::new(Self { permits: Arc::new(Semaphore::new(total_kib as usize)), total_kib, freed_bytes: AtomicU64::new(0), last_release_ms: AtomicU64::new(0), retry_pending: AtomicBool::new(false), refused: AtomicU64::new(0) })
    }

    /// KiB held by answers now.
    #[must_use]
    pub fn held_kib(&self) -> u64 {
        u64::from(self.total_kib).saturating_sub(self.permits.available_permits() as u64)
    }

    /// Takes `bytes` from the budget (an answer larger than the whole budget takes all of it);
    /// `None` when that much is not free.
    fn try_hold(self: &Arc<Self>, bytes: u64) -> Option<Held> {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).min(self.total_kib);
        let permit = Arc::clone(&self.permits).try_acquire_many_owned(kib).ok()?;
        Some(Held { _permit: permit, bytes, budget: Arc::clone(self) })
    }

    /// Notes `bytes` of answers freed and asks the allocator to give memory back when enough
    /// was freed and it was not asked just now; if it was, once more a moment later, so that the
    /// last pages of a burst are given back too.
    fn freed(self: &Arc<Self>, bytes: u64) {
        let total = self.freed_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if total < RELEASE_AFTER_BYTES {
            return;
        }
        let now = now_ms();
        let last = self.last_release_ms.load(Ordering::Acquire);
        if now.saturating_sub(last) >= RELEASE_EVERY_MS && self.last_release_ms.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.freed_bytes.store(0, Ordering::Release);
            crate::diag::release_freed_memory();
        } else if !self.retry_pending.swap(true, Ordering::AcqRel) {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let budget = Arc::clone(self);
                runtime.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(RELEASE_EVERY_MS)).await;
                    budget.retry_pending.store(false, Ordering::Release);
                    budget.freed(0);
                });
            } else {
                self.retry_pending.store(false, Ordering::Release);
            }
        }
    }
}

/// Budget held by one answer until it is sent or dropped.
struct Held {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    budget: Arc<ByteBudget>,
}

/// Bytes an answer hands to hyper at a time. hyper asks for the next piece only when its write
/// buffer has room, so a client that does not read stops the answer here, with the rest of it
/// still counted against the budget, instead of hyper queueing the whole page at once.
const CHUNK_BYTES: usize = 64 * 1024;

/// An answer body holding its size from the [`ByteBudget`] until its last piece is handed to
/// hyper, in pieces of [`CHUNK_BYTES`].
struct BudgetedBody {
    inner: Body,
    /// What is left of the data frame being handed out.
    rest: Bytes,
    held: Option<Held>,
}

impl HttpBody for BudgetedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.rest = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(None) => {
                    this.release();
                    return Poll::Ready(None);
                }
                other => return other,
            }
        }
        let piece = this.rest.split_to(this.rest.len().min(CHUNK_BYTES));
        Poll::Ready(Some(Ok(hyper::body::Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = hyper::body::SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

impl BudgetedBody {
    fn release(&mut self) {
        if let Some(held) = self.held.take() {
            // Drop the (now spent) body first so that its bytes are freed before the allocator
            // is asked to give memory back; hyper may still hold the last pieces.
            self.inner = Body::empty();
            self.rest = Bytes::new();
            let (bytes, budget) = (held.bytes, Arc::clone(&held.budget));
            drop(held);
            budget.freed(bytes);
        }
    }
}

impl Drop for BudgetedBody {
    fn drop(&mut self) {
        self.release();
    }
}

/// Middleware: an answer of [`SMALL_ANSWER_BYTES`] or more holds its size from the budget until
/// it is sent or dropped; past the budget it is dropped and the client gets 503 with
/// `Retry-After`.
pub async fn hold_answer_bytes(State(budget): State<Arc<ByteBudget>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let Some(bytes) = response.body().size_hint().exact() else {
        // Streamed answers of unknown length produce their bytes as they are sent.
        return response;
    };
    if bytes < SMALL_ANSWER_BYTES as u64 {
        return response;
    }
    if let Some(held) = budget.try_hold(bytes) {
        return response.map(|inner| Body::new(BudgetedBody { inner, rest: Bytes::new(), held: Some(held) }));
    }
    budget.refused.fetch_add(1, Ordering::Relaxed);
    drop(response);
    budget.freed(bytes);
    ApiError::Busy { what: format!("answers of {} MiB are being sent to other clients (serve.max_bytes_in_flight_mib)", budget.total_kib / 1024), retry_after_s: 2 }.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_stays_under_the_descriptor_limit() {
        assert_eq!(connection_cap(4096, Some(1024)), 1024 - 128);
        assert_eq!(connection_cap(4096, Some(1_048_576)), 4096);
        assert_eq!(connection_cap(4096, None), 4096);
        assert_eq!(connection_cap(4096, Some(10)), 1);
    }

    #[test]
    fn budget_holds_until_dropped() {
        let budget = ByteBudget::new(1);
        let a = budget.try_hold(700 * 1024).expect("fits");
        assert!(budget.try_hold(400 * 1024).is_none());
        assert_eq!(budget.held_kib(), 700);
        drop(a);
        assert_eq!(budget.held_kib(), 0);
        // Larger than the whole budget: takes all of it, once.
        let big = budget.try_hold(5 * 1024 * 1024).expect("an empty budget takes any answer");
        assert!(budget.try_hold(64 * 1024).is_none());
        drop(big);
    }

    #[test]
    fn cap_closes_the_longest_idle_connection_not_a_busy_one() {
        let registry = Registry::default();
        let (_, busy) = registry.admit(2).expect("room");
        let _request = InFlight::begin(&busy);
        busy.last_io_ms.store(1, Ordering::Release);
        let (idle_id, _idle) = registry.admit(2).expect("room");
        let (_, new) = registry.admit(2).expect("the idle one makes room");
        assert_eq!(registry.len(), 2);
        assert!(!registry.open.lock().expect("lock").contains_key(&idle_id));
        // Now both are busy or new-and-idle; make the new one busy too: no room.
        let _other = InFlight::begin(&new);
        assert!(registry.admit(2).is_none());
    }
}
