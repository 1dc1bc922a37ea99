//! Shared server state: the current [`Dataset`] snapshot behind an atomic pointer, the serve
//! settings, the config to reload from and the metrics.
//!
//! Handlers take the snapshot once per request (the middleware stores it in the request's
//! extensions), so a reload swapping the pointer mid-request never mixes two datasets.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::error::ApiError;
use super::ops::Metrics;
use crate::serve::dataset::{load_dataset, Dataset};
use crate::config::{Config, ServeConfig};

/// Bytes of whole answers kept for repeated requests: a few thousand map pages and tiles.
const RESPONSE_CACHE_BYTES: usize = 32 << 20;

/// State shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    dataset: ArcSwap<Dataset>,
    /// The config as started: `[serve]` settings never change while serving.
    config: Config,
    /// The config file that reloads read the data sources and analysis settings from again.
    config_path: Option<PathBuf>,
    /// The `[serve]` settings that may shape answers (links, page sizes, the map's basemap, the
    /// limits `/api` states), hashed into every `ETag` beside the data version.
    representation: u64,
    reload_lock: tokio::sync::Mutex<()>,
    metrics: Metrics,
    /// Items pages built at once: one per core. Requests beyond wait here instead of adding
    /// blocking threads that contend for the same cores and memory bandwidth.
    page_builds: Arc<tokio::sync::Semaphore>,
    /// Plans solved at once (`serve.plan_workers`); a plan finding none free is answered 503.
    plans: Arc<tokio::sync::Semaphore>,
    /// Whole answers to repeated requests ([`super::response_cache`]).
    responses: super::response_cache::ResponseCache,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("version", &self.dataset().version).finish_non_exhaustive()
    }
}

impl AppState {
    /// State serving `dataset`; `config` is what reloads read (and `[serve]` its settings).
    #[must_use]
    pub fn new(config: Config, dataset: Dataset) -> Self {
        let representation = representation_digest(&config.serve);
        let dataset = Arc::new(dataset);
        // Every year's coverage, prepared while the configured year is already served.
        dataset.warm_up();
        Self {
            inner: Arc::new(Shared {
                dataset: ArcSwap::new(dataset),
                config_path: None,
                representation,
                reload_lock: tokio::sync::Mutex::new(()),
                metrics: Metrics::default(),
                page_builds: Arc::new(tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))),
                plans: Arc::new(tokio::sync::Semaphore::new(config.serve.plan_workers.max(1))),
                responses: super::response_cache::ResponseCache::new(RESPONSE_CACHE_BYTES),
                config,
            }),
        }
    }

    /// Like [`AppState::new`], but each reload reads `config_path` again (its data sources and
    /// `[analysis]`; `[serve]` keeps the values the server started with).
    #[must_use]
    pub fn with_config_file(config: Config, dataset: Dataset, config_path: PathBuf) -> Self {
        let mut state = Self::new(config, dataset);
        if let Some(shared) = Arc::get_mut(&mut state.inner) {
            shared.config_path = Some(config_path);
        }
        state
    }

    /// Whole answers kept for repeated requests.
    #[must_use]
    pub fn responses(&self) -> &super::response_cache::ResponseCache {
        &self.inner.responses
    }

    /// The current snapshot.
    #[must_use]
    pub fn dataset(&self) -> Arc<Dataset> {
        self.inner.dataset.load_full()
    }

    /// The `[serve]` settings.
    #[must_use]
    pub fn serve(&self) -> &ServeConfig {
        &self.inner.config.serve
    }

    /// The config data is loaded from.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Request and reload counters.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Waits for a turn to build an items page; the turn ends when the permit is dropped.
    ///
    /// # Errors
    /// [`ApiError::Internal`] if the semaphore was closed (it never is).
    pub async fn page_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.inner.page_builds).acquire_owned().await.map_err(|e| ApiError::Internal(format!("page builds: {e}")))
    }

    /// A turn to solve a plan, if one of `serve.plan_workers` is free; the turn ends when the
    /// permit is dropped (move it into the blocking task that solves).
    ///
    /// # Errors
    /// [`ApiError::Busy`] when every worker is solving.
    pub fn plan_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        Arc::clone(&self.inner.plans)
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy { what: format!("all {} plan workers are busy (serve.plan_workers)", self.inner.config.serve.plan_workers), retry_after_s: 5 })
    }

    /// What of `[serve]` shapes answers, as a digest for `ETag`s: replicas configured alike
    /// agree on it.
    #[must_use]
    pub fn representation(&self) -> u64 {
        self.inner.representation
    }

    /// Loads the data again off the executor and swaps it in atomically. On failure the
    /// previous snapshot keeps serving. Reloads are serialised. A reload whose content digest
    /// equals the served data's keeps the served snapshot (and its warmed caches): same data,
    /// same version.
    ///
    /// # Errors
    /// [`ApiError::ReloadFailed`] naming what could not be loaded.
    pub async fn reload(&self) -> Result<Arc<Dataset>, ApiError> {
        let _guard = self.inner.reload_lock.lock().await;
        let mut config = self.inner.config.clone();
        if let Some(path) = &self.inner.config_path {
            // Re-read the file: "reload data and config". Bind address, token, limits and
            // CORS stay as started; changing them needs a restart.
            let path = path.clone();
            let reread = tokio::task::spawn_blocking(move || crate::config::Config::from_file(&path)).await;
            match reread {
                Ok(Ok(file)) => config = Config { serve: config.serve, ..file },
                Ok(Err(e)) => return self.failed(ApiError::ReloadFailed(e.to_string())),
                Err(e) => return self.failed(ApiError::ReloadFailed(format!("the config reader stopped: {e}"))),
            }
        }
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || load_dataset(&config)).await;
        let outcome = match result {
            Ok(Ok(dataset)) => {
                let served = self.dataset();
                if dataset.version == served.version {
                    tracing::info!(version = dataset.version, elapsed_ms = started.elapsed().as_millis(), "data reloaded, unchanged: the served snapshot stays");
                    // Dropped off the executor: freeing a large dataset takes a while.
                    tokio::task::spawn_blocking(move || drop(dataset));
                    Ok(served)
                } else {
                    let version = dataset.version;
                    let dataset = Arc::new(dataset);
                    dataset.warm_up();
                    self.inner.dataset.store(Arc::clone(&dataset));
                    // The old snapshot's answers can never be asked for again (their key holds it).
                    self.inner.responses.clear();
                    tracing::info!(version, previous = served.version, elapsed_ms = started.elapsed().as_millis(), "data reloaded");
                    Ok(dataset)
                }
            }
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::ReloadFailed(format!("the loader stopped: {e}"))),
        };
        match outcome {
            Ok(dataset) => {
                self.inner.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                Ok(dataset)
            }
            Err(e) => self.failed(e),
        }
    }

    /// Counts and logs a failed reload; the previous snapshot keeps serving.
    fn failed(&self, e: ApiError) -> Result<Arc<Dataset>, ApiError> {
        tracing::error!("reload failed, keeping data version {}: {e}", self.dataset().version);
        self.inner.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
        Err(e)
    }
}

/// The `[serve]` settings, hashed: part of every `ETag`, so that differently configured servers
/// (another `base_url`, page sizes, basemap, the limits `/api` states) never share one. All but
/// `bind` (each replica listens on its own address) and `admin_token` (a secret) count: a setting
/// that shapes no answer can only make two servers' tags differ needlessly.
fn representation_digest(serve: &ServeConfig) -> u64 {
    let mut settings = serve.clone();
    settings.bind = String::new();
    settings.admin_token = None;
    let mut h = crate::serve::digest::ContentHasher::new("gapmap representation 1");
    h.text(&serde_json::to_string(&settings).unwrap_or_default());
    h.version()
}
