//! Reloads when a PostgreSQL source announces a change.
//!
//! With `serve.watch` on, every database named by the config's sources gets a thread of its own
//! that runs `LISTEN gapmap_changed` (the channel of the triggers `gapmap db init` installs) and
//! waits for notifications. A burst of notifications (one per changed table per transaction) is
//! settled for `serve.watch_settle_ms` and then reloads once, through the same path as
//! `POST /admin/reload`: while the reload runs the old data keeps serving, and a failed reload
//! keeps it. A lost connection is retried (1 s, doubling to 30 s); once back, the data is reloaded
//! once, since changes may have been missed meanwhile. The `postgres` client blocks, so it never
//! runs on the async executor.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::state::AppState;
use crate::io::postgis::{self, PgUri};

/// The distinct databases the config's sources read, as the URIs naming them (one per server,
/// port, database and user).
fn databases(state: &AppState) -> Vec<String> {
    let c = state.config();
    let paths = c.estates.iter().map(|s| s.path.as_path()).chain(c.facilities.iter().map(|s| s.path.as_path())).chain(c.planned.iter().map(|s| s.path.as_path()));
    let mut seen = BTreeSet::new();
    paths
        .filter(|p| crate::config::is_postgres_uri(p))
        .filter_map(Path::to_str)
        .filter(|uri| seen.insert(uri.split('?').next().unwrap_or(uri).to_owned()))
        .map(str::to_owned)
        .collect()
}

/// Starts a listener per database source (none when every source is a file) and the task that
/// reloads on their notifications. Returns how many databases are listened to.
pub fn spawn_db_listeners(state: &AppState) -> usize {
    let uris = databases(state);
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
                Ok(d) => tracing::info!(version = d.version, "reloaded after a database notification"),
                Err(e) => tracing::warn!("reload after a database notification failed, the old data keeps serving: {e}"),
            }
        }
    });
    uris.len()
}

/// Listens on one database until the process ends, reconnecting when the connection is lost.
fn listen(uri: &str, changed: &tokio::sync::mpsc::Sender<()>) {
    use tokio::sync::mpsc::error::TrySendError;
    // False once the reloading task is gone (the server is shutting down); a full channel means
    // a reload is pending already.
    let signal = || !matches!(changed.try_send(()), Err(TrySendError::Closed(())));
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
