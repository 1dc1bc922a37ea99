//! Reloads when a PostgreSQL source changes: told by the database, or found by polling.
//!
//! With `serve.watch` on, every database named by the config's sources gets a thread of its own
//! that runs `LISTEN gapmap_changed` (the channel of the triggers `gapmap db init` installs) and
//! waits for notifications. Where the triggers are not allowed, sources are **polled**: a
//! thread runs each one's cheap change-detecting query ([`ChangeProbe`]) every
//! `serve.poll_interval_s` and signals when a fingerprint changed. Which sources are polled:
//! with `poll_interval_s` unset, those without the trigger (looked up in `pg_trigger` at start;
//! `query=` sources always), every [`DEFAULT_POLL_S`] s; with it set, every source at that
//! interval; with `0`, none. The baselines are taken before the first load ([`prepare`]), so a
//! change made while the data loads is not missed.
//!
//! A burst of signals (one notification per changed table per transaction, or a poll finding
//! several tables changed) is settled for `serve.watch_settle_ms` and then reloads once, through
//! the same path as `POST /admin/reload`: while the reload runs the old data keeps serving, and a
//! failed reload keeps it; a reload finding the same content keeps the data version. A lost
//! connection is retried (1 s, doubling to 30 s); once back, a listener reloads once, since
//! changes may have been missed meanwhile (a poller compares with its last fingerprint). The
//! `postgres` client blocks, so none of this runs on the async executor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use postgres::Client;

use super::state::AppState;
use crate::config::Config;
use crate::io::postgis::{self, ChangeProbe, PgUri};

/// Seconds between polls of the sources without a trigger when `serve.poll_interval_s` is unset.
pub const DEFAULT_POLL_S: u64 = 10;

/// The config's database sources, as their URIs.
fn sources(config: &Config) -> Vec<String> {
    let c = config;
    let paths = c.estates.iter().map(|s| s.path.as_path()).chain(c.facilities.iter().map(|s| s.path.as_path())).chain(c.planned.iter().map(|s| s.path.as_path()));
    paths.filter(|p| crate::config::is_postgres_uri(p)).filter_map(Path::to_str).map(str::to_owned).collect()
}

/// The database a URI names (server, port, database and user), without its selection.
fn database_key(uri: &str) -> String {
    uri.split('?').next().unwrap_or(uri).to_owned()
}

/// The distinct databases the config's sources read, as the URIs naming them (one per server,
/// port, database and user).
fn databases(config: &Config) -> Vec<String> {
    let mut seen = BTreeSet::new();
    sources(config).into_iter().filter(|uri| seen.insert(database_key(uri))).collect()
}

/// One polled source: its URI, its probe and the last fingerprint seen.
struct Polled {
    uri: String,
    probe: ChangeProbe,
    last: Option<String>,
}

/// What [`prepare`] found: the databases to listen to and the sources to poll, with their
/// fingerprints before the first load.
pub struct DbWatch {
    databases: Vec<String>,
    polled: Vec<Polled>,
    interval: Duration,
}

impl DbWatch {
    /// How many sources are polled.
    #[must_use]
    pub fn polled(&self) -> usize {
        self.polled.len()
    }
}

/// Looks at each database source (blocking: connects and reads the catalogue): whether it has
/// the trigger, and so whether to poll it (see the module docs), and its fingerprint now. Call
/// it before the data is loaded. A source that cannot be looked at is polled, with a warning.
#[must_use]
pub fn prepare(config: &Config) -> DbWatch {
    let configured = config.serve.poll_interval_s;
    let interval = Duration::from_secs(configured.filter(|&s| s > 0).unwrap_or(DEFAULT_POLL_S));
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    let mut polled = Vec::new();
    for uri in sources(config) {
        let shown = postgis::redact(&uri).into_owned();
        let probe = PgUri::parse(&uri).and_then(|u| {
            let client = match clients.entry(database_key(&uri)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(postgis::connect(&u)?),
            };
            let probe = ChangeProbe::prepare(client, &u)?;
            let last = probe.fingerprint(client).map_err(|e| format!("{shown}: {e}"))?;
            Ok((probe, last))
        });
        match (probe, configured) {
            (Ok((probe, _)), Some(0)) => {
                if !probe.has_trigger {
                    tracing::warn!("{shown}: no {} trigger (`gapmap db init` installs it) and serve.poll_interval_s = 0: its changes are not followed", postgis::TRIGGER_NAME);
                }
            }
            (Ok((probe, last)), Some(_)) => polled.push(Polled { uri, probe, last: Some(last) }),
            (Ok((probe, last)), None) => {
                if !probe.has_trigger {
                    tracing::info!(
                        "{shown}: no {} trigger (`gapmap db init` installs it, where triggers are allowed); polling {} every {} s{}",
                        postgis::TRIGGER_NAME,
                        probe.source,
                        interval.as_secs(),
                        if probe.reads_content { " (by content: the whole query runs at each poll)" } else { "" }
                    );
                    polled.push(Polled { uri, probe, last: Some(last) });
                }
            }
            (Err(e), Some(0)) => tracing::warn!("cannot look at {shown} ({e}); polling is off (serve.poll_interval_s = 0)"),
            (Err(e), _) => {
                tracing::warn!("cannot look at {shown} ({e}); it will be polled every {} s once reachable", interval.as_secs());
                polled.push(Polled { uri, probe: ChangeProbe::unprepared(), last: None });
            }
        }
    }
    DbWatch { databases: databases(config), polled, interval }
}

/// Starts a listener per database and the poller for `watch` (nothing when every source is a
/// file), and the task that reloads on their signals. Returns how many databases are listened
/// to.
pub fn spawn_db_listeners(state: &AppState, watch: DbWatch) -> usize {
    let DbWatch { databases: uris, polled, interval } = watch;
    if uris.is_empty() {
        return 0;
    }
    // One pending signal is enough: a burst while a reload runs coalesces into the next reload,
    // and no flood of notifications can queue up in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    for uri in &uris {
        let (uri, tx) = (uri.clone(), tx.clone());
        let spawned = std::thread::Builder::new().name("gapmap-listen".into()).spawn(move || listen(&uri, &tx));
        if let Err(e) = spawned {
            tracing::warn!("cannot start the database listener ({e}); changes in the database are not followed");
        }
    }
    if !polled.is_empty() {
        let tx = tx.clone();
        let spawned = std::thread::Builder::new().name("gapmap-poll".into()).spawn(move || poll(polled, interval, &tx));
        if let Err(e) = spawned {
            tracing::warn!("cannot start the database poller ({e}); changes in sources without a trigger are not followed");
        }
    }
    drop(tx);
    let settle = Duration::from_millis(state.serve().watch_settle_ms);
    let state = state.clone();
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Settle: a transaction changing several tables notifies once per table.
            loop {
                match tokio::time::timeout(settle, rx.recv()).await {
                    Ok(Some(())) => {}
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            match state.reload().await {
                Ok(d) => tracing::info!(version = d.version, "reloaded after a database change"),
                Err(e) => tracing::warn!("reload after a database change failed, the old data keeps serving: {e}"),
            }
        }
    });
    uris.len()
}

/// Sends a change signal; false once the reloading task is gone (the server is shutting down).
/// A full channel means a reload is pending already.
fn signal(changed: &tokio::sync::mpsc::Sender<()>) -> bool {
    !matches!(changed.try_send(()), Err(tokio::sync::mpsc::error::TrySendError::Closed(())))
}

/// Polls `sources` every `interval` until the process ends; signals when a fingerprint changed.
/// One connection per database, kept between polls and opened again when lost.
fn poll(mut sources: Vec<Polled>, interval: Duration, changed: &tokio::sync::mpsc::Sender<()>) {
    let mut clients: BTreeMap<String, Client> = BTreeMap::new();
    let mut failing: BTreeSet<String> = BTreeSet::new();
    loop {
        std::thread::sleep(interval);
        if changed.is_closed() {
            return;
        }
        let mut any = false;
        for source in &mut sources {
            let key = database_key(&source.uri);
            let shown = postgis::redact(&source.uri).into_owned();
            let result = (|| {
                if !clients.contains_key(&key) {
                    let uri = PgUri::parse(&source.uri)?;
                    clients.insert(key.clone(), postgis::connect(&uri)?);
                }
                let client = clients.get_mut(&key).ok_or_else(|| "no connection".to_owned())?;
                if source.probe.is_unprepared() {
                    source.probe = ChangeProbe::prepare(client, &PgUri::parse(&source.uri)?)?;
                }
                source.probe.fingerprint(client)
            })();
            match result {
                Ok(fingerprint) => {
                    if failing.remove(&shown) {
                        tracing::info!("polling {shown} again");
                    }
                    if source.last.as_ref() != Some(&fingerprint) {
                        // A source seen for the first time (unreachable at start) reloads too:
                        // what was loaded is not known to match it.
                        tracing::debug!(source = source.probe.source, "database change found by polling");
                        any = true;
                        source.last = Some(fingerprint);
                    }
                }
                Err(e) => {
                    clients.remove(&key);
                    if failing.insert(shown.clone()) {
                        tracing::warn!("polling {shown} failed ({e}); trying again every {} s", interval.as_secs());
                    }
                }
            }
        }
        if any && !signal(changed) {
            return;
        }
    }
}

/// Listens on one database until the process ends, reconnecting when the connection is lost.
fn listen(uri: &str, changed: &tokio::sync::mpsc::Sender<()>) {
    let signal = || signal(changed);
    let shown = postgis::redact(uri).into_owned();
    let mut backoff = Duration::from_secs(1);
    let mut lost = false;
    loop {
        match PgUri::parse(uri).and_then(|u| postgis::connect(&u)) {
            Ok(mut client) => match client.batch_execute(&format!("LISTEN {}", postgis::DEFAULT_CHANNEL)) {
                Ok(()) => {
                    tracing::info!("listening for changes in {shown} (channel {})", postgis::DEFAULT_CHANNEL);
                    backoff = Duration::from_secs(1);
                    if lost && !signal() {
                        return;
                    }
                    let mut notifications = client.notifications();
                    let mut iter = notifications.blocking_iter();
                    loop {
                        match postgres::fallible_iterator::FallibleIterator::next(&mut iter) {
                            Ok(Some(n)) => {
                                tracing::debug!(table = n.payload(), "database change announced");
                                if !signal() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!("lost the connection to {shown} ({e}); reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("{shown}: LISTEN failed ({e}); retrying in {} s", backoff.as_secs()),
            },
            Err(e) => tracing::warn!("cannot listen for changes: {e}; retrying in {} s", backoff.as_secs()),
        }
        lost = true;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
