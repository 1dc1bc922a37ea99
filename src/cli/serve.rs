//! `gapmap serve`: the OGC API – Features server over a config's data.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::print_config;
use crate::config::Config;

pub(super) const HELP: &str = "\
Endpoints: / /conformance /api /collections /collections/{id}[/items[/{featureId}]|/queryables]
  /coverage?lon=&lat= /estates/{id}/coverage /health /metrics POST /admin/reload
Collections: estates facilities gaps service-areas districts (every resource also as f=html)

Without --config the demo city in data/demo is served. The bound address is printed to stderr as
`listening on http://ADDR`; port 0 picks a free port.

Examples:
  gapmap serve
  gapmap serve --config city.toml --bind 0.0.0.0:8080
  GAPMAP_ADMIN_TOKEN=… gapmap serve --config city.toml --watch";

/// Options of `gapmap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML) with the data sources, analysis settings and a `[serve]` table
    /// (default: data/demo/gapmap.toml).
    #[arg(long, env = "GAPMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port).
    #[arg(long, env = "GAPMAP_BIND")]
    pub bind: Option<String>,
    /// Bearer token for `POST /admin/reload` (overrides serve.admin_token).
    #[arg(long, env = "GAPMAP_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Reload when the config or a data file changes.
    #[arg(long, env = "GAPMAP_WATCH")]
    pub watch: bool,
    /// With --watch, poll database sources for changes every SECONDS (serve.poll_interval_s;
    /// 0: never). By default only sources without the `gapmap db init` trigger are polled,
    /// every 10 s.
    #[arg(long, env = "GAPMAP_POLL_INTERVAL", value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// The demo config served when `gapmap serve` gets no `--config`.
pub const DEMO_CONFIG: &str = "data/demo/gapmap.toml";

impl ServeArgs {
    /// The config path to use: `--config`, else the demo city (from the working directory,
    /// then from the source tree the binary was built from).
    #[must_use]
    pub fn config_path(&self) -> PathBuf {
        if let Some(p) = &self.config {
            return p.clone();
        }
        let local = PathBuf::from(DEMO_CONFIG);
        if local.exists() {
            return local;
        }
        Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_CONFIG)
    }

    /// Builds the effective config: file overridden by flags and environment.
    ///
    /// # Errors
    /// An unreadable or invalid config file.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let path = self.config_path();
        let mut config = Config::from_file(&path).with_context(|| format!("reading the config {}", path.display()))?;
        if let Some(b) = &self.bind {
            config.serve.bind.clone_from(b);
        }
        if self.admin_token.is_some() {
            config.serve.admin_token.clone_from(&self.admin_token);
        }
        if self.watch {
            config.serve.watch = true;
        }
        if self.poll_interval.is_some() {
            config.serve.poll_interval_s = self.poll_interval;
        }
        Ok(config)
    }
}

/// Runs `gapmap serve` until the server stops.
pub(super) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if args.print_config {
        return print_config(&config);
    }
    config.validate()?;
    // Before the runtime starts: every connection is a descriptor, and the cap on connections
    // (serve.max_connections) is kept under this limit.
    let descriptors = crate::http::limits::raise_descriptor_limit();
    tracing::info!(?descriptors, "open-file limit");
    let bind: std::net::SocketAddr = config.serve.bind.parse().with_context(|| format!("serve.bind / --bind `{}`", config.serve.bind))?;
    // Pages are rendered on blocking threads. The default (up to 512, each dropped after 10 s
    // idle) let 64 connections keep ~65 threads coming and going; every dataset a reload
    // replaced was then freed across their allocator heaps and RSS climbed under load
    // (tests/bench/load_and_fault.sh). A few per core, kept alive, serve as fast and stay flat.
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(cores * 4)
        .thread_keep_alive(std::time::Duration::from_secs(300))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(crate::http::serve(config, Some(args.config_path()), bind))?;
    Ok(())
}
