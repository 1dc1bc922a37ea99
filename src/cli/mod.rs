//! The command line: `gapmap analyze`, `gapmap plan`, `gapmap diff`, `gapmap generate`, `gapmap serve`, `gapmap report`, `gapmap db`.
//!
//! This module holds the clap definitions of the command line, what the commands share (the
//! data flags of `analyze` and `report`, the catalogue, progress bars, the load report) and the
//! dispatch; each command's options and run function are in a file of its own.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{DistanceFrom, MetricKind, NetworkMetric};
use crate::config::{Config, NetworkConfig, OnInvalid, SourceConfig};
use crate::io::network::NetworkSummary;
use crate::io::{self, LoadReport};
use crate::model::Catalogue;

mod analyze;
mod db;
mod diff;
mod generate;
mod plan;
mod programme;
mod report;
mod serve;

pub use analyze::AnalyzeArgs;
pub use db::{DbArgs, DbCommand, DbInitArgs};
pub use diff::DiffArgs;
pub use generate::GenerateArgs;
pub use plan::PlanArgs;
pub use programme::ProgrammeArgs;
pub use report::ReportArgs;
pub use serve::{ServeArgs, DEMO_CONFIG};

/// gapmap: which residential estates lack the facilities their residents need within walking
/// distance (GB 50180-2018 living circles), as tables, map layers and summaries.
#[derive(Debug, Parser)]
#[command(name = "gapmap", version, about, long_about = None, after_help = "Run `gapmap <command> --help` for the options of each command.\nExample: gapmap analyze --estates estates.geojson --facilities facilities.geojson --out coverage.csv")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute coverage of every estate by every facility kind and write it.
    #[command(after_help = analyze::HELP)]
    Analyze(AnalyzeArgs),
    /// Generate a deterministic synthetic city (estates + facilities GeoJSON) for demos and benchmarks.
    Generate(GenerateArgs),
    /// Serve coverage layers over OGC API – Features (estates, facilities, gaps, service areas,
    /// districts), with point and estate coverage queries.
    #[command(after_help = serve::HELP)]
    Serve(ServeArgs),
    /// Write the annual facility-target report: openings, targets against actuals, coverage
    /// and renovation per year, kind and district (HTML, Markdown, XLSX, CSV, JSON).
    #[command(after_help = report::HELP)]
    Report(ReportArgs),
    /// Choose where new facilities of a kind go so that the most households without one get one
    /// within its radius (maximal covering location, solved exactly).
    #[command(after_help = plan::HELP)]
    Plan(PlanArgs),
    /// Compare coverage without and with planned facilities (--planned), or of two configs
    /// (--config A --against B): per kind, the estates newly covered or uncovered and the
    /// households gained or lost.
    #[command(after_help = diff::HELP)]
    Diff(DiffArgs),
    /// Write the renovation programme report: batches by year, district and street, progress
    /// against targets, funding by source, the satisfaction gate and residents' wishes, in
    /// Chinese or English (HTML, Markdown, XLSX, CSV, JSON).
    #[command(after_help = programme::HELP)]
    Programme(ProgrammeArgs),
    /// Prepare a PostgreSQL database for gapmap: `db init` installs NOTIFY triggers on the
    /// source tables so that a server can reload when they change.
    Db(DbArgs),
}

/// `KIND=METRES` for `--radius`; `plan` also takes a bare `METRES` for the kind it places (kind
/// `""`).
fn parse_radius(s: &str) -> Result<(String, f64), String> {
    let (kind, metres) = s.split_once('=').unwrap_or(("", s));
    let metres: f64 = metres.trim().parse().map_err(|_| format!("`{metres}` is not a number of metres"))?;
    if !(metres.is_finite() && metres > 0.0) {
        return Err(format!("radius {metres} must be a positive number of metres"));
    }
    Ok((kind.trim().to_owned(), metres))
}

/// Runs a parsed command line.
///
/// # Errors
/// Any failure, with context naming the step.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Programme(args) => programme::run(&args),
        Command::Db(args) => db::run(&args),
    }
}

/// The data and analysis flags `analyze` and `report` share (flattened into both).
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Config file (TOML); flags override it.
    #[arg(long, env = "GAPMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Estates: Polygon/MultiPolygon features (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, OSM PBF); overrides the config's.
    #[arg(long, env = "GAPMAP_ESTATES")]
    pub estates: Option<PathBuf>,
    /// Facilities: Point features with `id` and `kind` (repeat for several files); override the config's.
    #[arg(long, env = "GAPMAP_FACILITIES", value_delimiter = ',')]
    pub facilities: Vec<PathBuf>,
    /// Planned facilities (a what-if scenario): Point files shaped like --facilities, with
    /// `opened_year` (none: from this year on); they count as if built then and outputs mark them
    /// (repeat for several files); override the config's [[planned]].
    #[arg(long, env = "GAPMAP_PLANNED", value_delimiter = ',')]
    pub planned: Vec<PathBuf>,
    /// A catalogue TOML that patches the built-in GB 50180-2018 one.
    #[arg(long, env = "GAPMAP_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    /// Override one kind's service radius, e.g. `--radius market=800` (repeatable).
    #[arg(long = "radius", value_name = "KIND=METRES", value_parser = parse_radius)]
    pub radius: Vec<(String, f64)>,
    /// Measure from the estate boundary (0 inside) or its centroid.
    #[arg(long, env = "GAPMAP_DISTANCE_FROM", value_parser = ["boundary", "centroid"])]
    pub distance_from: Option<String>,
    /// CRS of inputs that declare none (default CRS84): EPSG:xxxx, CRS84, GCJ-02, BD-09.
    #[arg(long, env = "GAPMAP_CRS")]
    pub crs: Option<String>,
    /// Metric working CRS (default: chosen from the data's extent).
    #[arg(long, env = "GAPMAP_WORKING_CRS")]
    pub working_crs: Option<String>,
    /// Rejected features: `abort` (exit non-zero, listing them) or `warn` (continue; the load
    /// report is written beside the output).
    #[arg(long, env = "GAPMAP_ON_INVALID", value_enum)]
    pub on_invalid: Option<OnInvalid>,
    /// Street network for walking distances: OSM PBF/XML (its ways and gates) or a line layer
    /// (GeoJSON, GeoPackage, Shapefile, FlatGeobuf); overrides the config's [network] path.
    #[arg(long, env = "GAPMAP_NETWORK")]
    pub network: Option<PathBuf>,
    /// How distances are measured: `straight` (straight line) or `network` (walking distance
    /// along the street network, GB 50180-2018's 步行距离; needs --network or [network]).
    #[arg(long, env = "GAPMAP_METRIC", value_parser = ["straight", "network"])]
    pub metric: Option<String>,
}

impl DataArgs {
    /// The config file (if any) overridden by these flags.
    ///
    /// # Errors
    /// An unreadable or invalid config file, or a bad `--distance-from`.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        self.to_config_from(self.config.as_deref())
    }

    /// [`Self::to_config`] with another config file (`gapmap diff --against`).
    ///
    /// # Errors
    /// As [`Self::to_config`].
    pub fn to_config_from(&self, file: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(path) = &self.estates {
            match &mut config.estates {
                Some(e) => e.path.clone_from(path),
                None => config.estates = Some(SourceConfig::from_path(path)),
            }
        }
        if !self.facilities.is_empty() {
            // Same number of files as the config's sources: keep their field mappings.
            if self.facilities.len() == config.facilities.len() {
                for (source, path) in config.facilities.iter_mut().zip(&self.facilities) {
                    source.path.clone_from(path);
                }
            } else {
                config.facilities = self.facilities.iter().map(SourceConfig::from_path).collect();
            }
        }
        if !self.planned.is_empty() {
            // As for --facilities: the same number of files keeps the config's field mappings.
            if self.planned.len() == config.planned.len() {
                for (source, path) in config.planned.iter_mut().zip(&self.planned) {
                    source.path.clone_from(path);
                }
            } else {
                config.planned = self.planned.iter().map(SourceConfig::from_path).collect();
            }
        }
        if let Some(c) = &self.catalogue {
            config.analysis.catalogue = Some(c.clone());
        }
        for (kind, r) in &self.radius {
            config.analysis.radius_m.insert(kind.clone(), *r);
        }
        if let Some(d) = &self.distance_from {
            config.analysis.distance_from = d.parse::<DistanceFrom>().map_err(anyhow::Error::msg)?;
        }
        if let Some(w) = &self.working_crs {
            config.analysis.working_crs = Some(w.clone());
        }
        if let Some(o) = self.on_invalid {
            config.analysis.on_invalid = o;
        }
        if let Some(path) = &self.network {
            match &mut config.network {
                Some(n) => n.path.clone_from(path),
                None => config.network = Some(NetworkConfig::from_path(path)),
            }
        }
        if let Some(m) = &self.metric {
            config.analysis.metric = m.parse::<MetricKind>().map_err(anyhow::Error::msg)?;
        }
        if config.analysis.metric == MetricKind::Network && config.network.is_none() {
            anyhow::bail!(
                "--metric network measures walking distance along a street network, and none is given: pass --network PATH (OSM .osm.pbf/.osm, or a line layer such as streets.geojson or .gpkg) or set [network] path = \"…\" in the config; or use --metric straight"
            );
        }
        Ok(config)
    }
}

/// The catalogue a config asks for: built-in, patched by the user file, radius overrides applied.
///
/// # Errors
/// Unreadable or invalid catalogue, unknown kind in a radius override.
pub fn catalogue_for(config: &Config) -> anyhow::Result<Catalogue> {
    let mut catalogue = io::catalogue::load_catalogue(config.analysis.catalogue.as_deref())?;
    for (kind, r) in &config.analysis.radius_m {
        if kind.is_empty() {
            anyhow::bail!("--radius {r}: name the kind, e.g. --radius market={r} (a bare radius is for `gapmap plan`, which places one kind)");
        }
        catalogue.set_radius(kind, *r).with_context(|| format!("--radius / analysis.radius_m.{kind}"))?;
    }
    Ok(catalogue)
}

/// Shows `bar` on stderr only once the work has taken a second: quick runs print nothing, and
/// indicatif draws nothing when stderr is not a terminal.
fn after_a_second(bar: ProgressBar) -> ProgressBar {
    bar.set_draw_target(ProgressDrawTarget::hidden());
    let later = bar.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !later.is_finished() {
            later.set_draw_target(ProgressDrawTarget::stderr());
        }
    });
    bar
}

/// A spinner with a message, shown after a second like [`after_a_second`].
fn spinner(message: &str) -> ProgressBar {
    let bar = after_a_second(ProgressBar::no_length());
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Rejections listed on stderr; the rest are in the load report file.
const SHOWN: usize = 20;

/// Prints the load report's warnings and rejections, writes the report file beside `out` when
/// anything was rejected (with the street network's figures when there is one), and fails under
/// `--on-invalid abort`.
fn handle_report(report: &LoadReport, network: Option<&NetworkSummary>, on_invalid: OnInvalid, out: &Path) -> anyhow::Result<()> {
    for w in &report.warnings {
        tracing::warn!("{w}");
        eprintln!("warning: {w}");
    }
    if !report.has_rejections() {
        return Ok(());
    }
    let report_path = io::load::report_path_for(out);
    let document = io::write::LoadReportDocument { report, network };
    io::write::write_json(&report_path, &document).with_context(|| format!("writing the load report {}", report_path.display()))?;
    for r in report.rejected.iter().take(SHOWN) {
        eprintln!("rejected: {r}");
    }
    if report.rejected.len() > SHOWN {
        eprintln!("… and {} more", report.rejected.len() - SHOWN);
    }
    eprintln!("load report: {}", report_path.display());
    match on_invalid {
        OnInvalid::Warn => Ok(()),
        OnInvalid::Abort => Err(io::LoadError::Rejected {
            count: report.rejected.len(),
            first: report.rejected[0].to_string(),
        }
        .into()),
    }
}

/// The loaded data and, when the metric is the walking network, that network prepared on it.
struct Prepared {
    /// Estates and facilities (working CRS); the load report has the network's rejections too.
    loaded: io::load::Loaded,
    /// The walking network, for `analysis.metric = "network"`.
    network: Option<PreparedNetwork>,
}

/// The walking network: the metric (graph, estate entries, facility joins) and its figures.
struct PreparedNetwork {
    metric: NetworkMetric,
    summary: NetworkSummary,
}

/// Loads the data `config` names behind a spinner and, for the network metric, the street
/// network, building the walking graph on them; prints warnings, handles rejections (the load
/// report goes beside the path `report_beside` gives, called once the loads have finished) and
/// fails when no estate is left.
///
/// # Errors
/// A failed load, rejections under `on_invalid = abort`, or no valid estate.
fn load_data(
    config: &Config,
    catalogue: &Catalogue,
    default_crs: Option<&str>,
    report_beside: impl FnOnce() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Prepared> {
    load_data_beside(config, catalogue, default_crs, report_beside, |_| ()).map(|(prepared, ())| prepared)
}

/// [`load_data`], running `side_work` on the loaded estates and facilities too: at the same time
/// as the walking graph is built (most of that build is one core's work; `analyze` computes its
/// straight-line table meanwhile), or after the load for the straight metric.
fn load_data_beside<R: Send>(
    config: &Config,
    catalogue: &Catalogue,
    default_crs: Option<&str>,
    report_beside: impl FnOnce() -> anyhow::Result<PathBuf>,
    side_work: impl FnOnce(&io::load::Loaded) -> R + Send,
) -> anyhow::Result<(Prepared, R)> {
    let estates_source = config.estates.as_ref().context("no estates source")?;
    let bar = spinner("loading");
    let options = io::load::LoadOptions { catalogue, default_crs, working_crs: config.analysis.working_crs.as_deref() };
    let mut loaded = io::load::load_with_planned(estates_source, &config.facilities, &config.planned, &options, &|m| bar.set_message(m.to_owned()))?;
    bar.finish_and_clear();
    let network_config = match (config.analysis.metric, &config.network) {
        (MetricKind::Network, Some(n)) => Some(n),
        (MetricKind::Network, None) => anyhow::bail!("metric = \"network\" needs a street network; pass --network PATH or set [network] path"),
        (MetricKind::Straight, _) => None,
    };
    let Some(network_config) = network_config else {
        handle_report(&loaded.report, None, config.analysis.on_invalid, &report_beside()?)?;
        if loaded.estates.is_empty() {
            anyhow::bail!("{}: no valid estates were loaded", io::postgis::redact_path(&estates_source.path).display());
        }
        let side = side_work(&loaded);
        return Ok((Prepared { loaded, network: None }, side));
    };
    let beside = report_beside()?;
    // Bad estates or facilities abort before the street network is read.
    if config.analysis.on_invalid == OnInvalid::Abort && loaded.report.has_rejections() {
        handle_report(&loaded.report, None, config.analysis.on_invalid, &beside)?;
    }
    if loaded.estates.is_empty() {
        handle_report(&loaded.report, None, config.analysis.on_invalid, &beside)?;
        anyhow::bail!("{}: no valid estates were loaded", io::postgis::redact_path(&estates_source.path).display());
    }

    let bar = spinner("loading the street network");
    let streets = io::network::load_network(network_config, default_crs, &loaded.working_crs, &|m| bar.set_message(m.to_owned()))
        .with_context(|| format!("loading the street network {}", network_config.path.display()))?;
    bar.finish_and_clear();
    tracing::info!(
        features = streets.features_read,
        walkable = streets.walkable,
        not_walkable = streets.not_walkable,
        rejected = streets.report.rejected.len(),
        lines = streets.lines.len(),
        gates = streets.gates.len(),
        "street network loaded"
    );
    loaded.report.rejected.extend(streets.report.rejected.iter().cloned());
    loaded.report.warnings.extend(streets.report.warnings.iter().cloned());
    loaded.report.accepted.extend(streets.report.accepted.iter().cloned());
    if config.analysis.on_invalid == OnInvalid::Abort && loaded.report.has_rejections() {
        handle_report(&loaded.report, None, config.analysis.on_invalid, &beside)?;
    }

    let bar = spinner("building the walking network");
    let started = std::time::Instant::now();
    let params = io::network::network_params(network_config, config.analysis.distance_from);
    let (metric, side) = rayon::join(
        || NetworkMetric::build(&streets.lines, &streets.gates, &loaded.estates, &loaded.facilities, params),
        || side_work(&loaded),
    );
    bar.finish_and_clear();
    let summary = NetworkSummary::new(&streets, &metric);
    let g = &summary.graph;
    tracing::info!(
        nodes = g.nodes,
        edges = g.edges,
        length_km = g.length_m / 1000.0,
        components = g.components,
        largest_components = ?g.largest_components,
        snapped_ends = g.snapped_ends,
        gated_estates = summary.gated_estates,
        unreachable_estates = summary.unreachable_estates,
        elapsed_s = started.elapsed().as_secs_f64(),
        "walking network built"
    );
    if summary.unreachable_estates > 0 {
        loaded.report.warn(format!(
            "{}: {} estates have no way into the street network; their walking distances are empty",
            network_config.path.display(),
            summary.unreachable_estates
        ));
    }
    handle_report(&loaded.report, Some(&summary), config.analysis.on_invalid, &beside)?;
    Ok((Prepared { loaded, network: Some(PreparedNetwork { metric, summary }) }, side))
}
/// `--print-config`: the effective config as TOML on stdout.
fn print_config(config: &Config) -> anyhow::Result<()> {
    let text = config.to_toml().context("serialising the config")?;
    // Database passwords are never printed; the output says to give them by PGPASSWORD or
    // ~/.pgpass instead.
    let text = io::postgis::redact(&text);
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}
