//! The command line: `gapmap analyze`, `gapmap generate`, `gapmap serve`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::analysis::{self, AnalysisParams, DistanceFrom, RecordedHouseholds};
use crate::config::{Config, OnInvalid, SourceConfig};
use crate::generate::{CityParams, CityPlan};
use crate::index::FacilityIndex;
use crate::io::{self, load::LoadOptions, write::Results, LoadReport};
use crate::model::Catalogue;

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
    #[command(after_help = ANALYZE_HELP)]
    Analyze(AnalyzeArgs),
    /// Generate a deterministic synthetic city (estates + facilities GeoJSON) for demos and benchmarks.
    Generate(GenerateArgs),
    /// Serve coverage layers over OGC API – Features (estates, facilities, gaps, service areas,
    /// districts), with point and estate coverage queries.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Write the annual facility-target report: openings, targets against actuals, coverage
    /// and renovation per year, kind and district (HTML, Markdown, XLSX, CSV, JSON).
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
}

const SERVE_HELP: &str = "\
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
        Ok(config)
    }
}

const ANALYZE_HELP: &str = "\
Outputs (chosen by the --out extension):
  .csv      one row per estate × kind:
            estate_id,kind,distance_m,covered,nearest_id,count_within,capacity_within,shortfall
  .geojson  estates (CRS84) with <kind>_distance_m, <kind>_covered, … properties
  .fgb .gpkg  the same through GDAL
  .json     coverage summaries per kind, overall and per district

Distances are metres in a metric working CRS (CGCS2000 Gauss-Krüger zone or UTM, chosen from the
data unless --working-crs is given), from the estate boundary (0 inside) unless
--distance-from centroid. Inputs in GCJ-02 (AMap, Tencent) or BD-09 (Baidu) must say so with
--crs GCJ-02 / BD-09 or `crs` in the config.

Examples:
  gapmap analyze --estates estates.geojson --facilities pois.gpkg --out gaps.csv
  gapmap analyze --config data/demo/gapmap.toml --year 2021 --radius market=800 --out summary.json
  gapmap analyze --estates e.shp --facilities amap.csv --crs GCJ-02 --on-invalid warn --out e.gpkg";

/// Options of `gapmap analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Config file (TOML); flags override it.
    #[arg(long, env = "GAPMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Estates: Polygon/MultiPolygon features (GeoJSON, GeoPackage, Shapefile, FlatGeobuf, OSM PBF).
    #[arg(long, env = "GAPMAP_ESTATES")]
    pub estates: Option<PathBuf>,
    /// Facilities: Point features with `id` and `kind` (repeat for several files).
    #[arg(long, env = "GAPMAP_FACILITIES", value_delimiter = ',')]
    pub facilities: Vec<PathBuf>,
    /// A catalogue TOML that patches the built-in GB 50180-2018 one.
    #[arg(long, env = "GAPMAP_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    /// Override one kind's service radius, e.g. `--radius market=800` (repeatable).
    #[arg(long = "radius", value_name = "KIND=METRES", value_parser = parse_radius)]
    pub radius: Vec<(String, f64)>,
    /// Only facilities opened in or before this year count.
    #[arg(long, env = "GAPMAP_YEAR")]
    pub year: Option<i32>,
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
    /// Output file: .csv, .geojson, .fgb, .gpkg or .json.
    #[arg(long, env = "GAPMAP_OUT", required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Options of `gapmap generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of estates.
    #[arg(long, default_value_t = 3000)]
    pub estates: usize,
    /// Number of facilities.
    #[arg(long, default_value_t = 9000)]
    pub facilities: usize,
    /// Random seed; the same seed gives the same city on every machine.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// City centre as `LON,LAT` (default Shijiazhuang 114.51,38.04).
    #[arg(long, value_parser = parse_lonlat)]
    pub centre: Option<(f64, f64)>,
    /// Output directory; writes estates.geojson and facilities.geojson.
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_radius(s: &str) -> Result<(String, f64), String> {
    let (kind, metres) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected KIND=METRES, e.g. market=800"))?;
    let metres: f64 = metres.trim().parse().map_err(|_| format!("`{metres}` is not a number of metres"))?;
    if !(metres.is_finite() && metres > 0.0) {
        return Err(format!("radius {metres} must be a positive number of metres"));
    }
    Ok((kind.trim().to_owned(), metres))
}

fn parse_lonlat(s: &str) -> Result<(f64, f64), String> {
    let (lon, lat) = s.split_once(',').ok_or("expected LON,LAT")?;
    let lon: f64 = lon.trim().parse().map_err(|_| format!("`{lon}` is not a longitude"))?;
    let lat: f64 = lat.trim().parse().map_err(|_| format!("`{lat}` is not a latitude"))?;
    if lon.abs() > 180.0 || lat.abs() > 90.0 {
        return Err("longitude must be within ±180 and latitude within ±90".into());
    }
    Ok((lon, lat))
}

/// Runs a parsed command line.
///
/// # Errors
/// Any failure, with context naming the step.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze(args) => analyze(&args),
        Command::Generate(args) => generate(&args),
        Command::Serve(args) => serve(&args),
        Command::Report(args) => report(&args),
    }
}

impl AnalyzeArgs {
    /// Builds the effective config: file (if any) overridden by flags.
    ///
    /// # Errors
    /// An unreadable or invalid config file.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = DataFlags {
            config: self.config.as_deref(),
            estates: self.estates.as_deref(),
            facilities: &self.facilities,
            catalogue: self.catalogue.as_deref(),
            radius: &self.radius,
            distance_from: self.distance_from.as_deref(),
            working_crs: self.working_crs.as_deref(),
            on_invalid: self.on_invalid,
        }
        .to_config()?;
        if self.year.is_some() {
            config.analysis.year = self.year;
        }
        Ok(config)
    }
}

/// The data and analysis flags `analyze` and `report` share.
struct DataFlags<'a> {
    config: Option<&'a Path>,
    estates: Option<&'a Path>,
    facilities: &'a [PathBuf],
    catalogue: Option<&'a Path>,
    radius: &'a [(String, f64)],
    distance_from: Option<&'a str>,
    working_crs: Option<&'a str>,
    on_invalid: Option<OnInvalid>,
}

impl DataFlags<'_> {
    /// The config file (if any) overridden by these flags.
    fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = match self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(path) = self.estates {
            match &mut config.estates {
                Some(e) => path.clone_into(&mut e.path),
                None => config.estates = Some(SourceConfig::from_path(path)),
            }
        }
        if !self.facilities.is_empty() {
            // Same number of files as the config's sources: keep their field mappings.
            if self.facilities.len() == config.facilities.len() {
                for (source, path) in config.facilities.iter_mut().zip(self.facilities) {
                    source.path.clone_from(path);
                }
            } else {
                config.facilities = self.facilities.iter().map(SourceConfig::from_path).collect();
            }
        }
        if let Some(c) = self.catalogue {
            config.analysis.catalogue = Some(c.to_owned());
        }
        for (kind, r) in self.radius {
            config.analysis.radius_m.insert(kind.clone(), *r);
        }
        if let Some(d) = self.distance_from {
            config.analysis.distance_from = d.parse::<DistanceFrom>().map_err(anyhow::Error::msg)?;
        }
        if let Some(w) = self.working_crs {
            config.analysis.working_crs = Some(w.to_owned());
        }
        if let Some(o) = self.on_invalid {
            config.analysis.on_invalid = o;
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

fn spinner(message: &str) -> ProgressBar {
    let bar = after_a_second(ProgressBar::no_length());
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

struct BarProgress(ProgressBar);

impl analysis::Progress for BarProgress {
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Logs a finished stage with the time since `started` and the memory in use.
fn log_stage(started: std::time::Instant, stage: &str) {
    let (rss_mib, peak_mib) = crate::diag::rss_mib();
    tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), cpu_s = crate::diag::cpu_s(), rss_mib, peak_mib, "{stage}");
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if args.print_config {
        let text = config.to_toml().context("serialising the config")?;
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    let out = args.out.as_deref().context("--out is required")?;
    let ext = io::write::extension(out);
    if !["csv", "geojson", "fgb", "gpkg", "json"].contains(&ext.as_str()) {
        bail!("--out {}: unsupported extension; use .csv, .geojson, .fgb, .gpkg or .json", out.display());
    }
    config.validate()?;
    let catalogue = catalogue_for(&config)?;
    let estates_source = config.estates.as_ref().context("no estates source")?;

    let bar = spinner("loading");
    let options = LoadOptions {
        catalogue: &catalogue,
        default_crs: args.crs.as_deref(),
        working_crs: config.analysis.working_crs.as_deref(),
    };
    let loaded = io::load::load(estates_source, &config.facilities, &options, &|m| bar.set_message(m.to_owned()))?;
    bar.finish_and_clear();
    handle_report(&loaded.report, config.analysis.on_invalid, out)?;
    if loaded.estates.is_empty() {
        bail!("{}: no valid estates were loaded", estates_source.path.display());
    }
    let (rss_mib, peak_mib) = crate::diag::rss_mib();
    tracing::info!(estates = loaded.estates.len(), facilities = loaded.facilities.len(), working_crs = %loaded.working_crs, cpu_s = crate::diag::cpu_s(), rss_mib, peak_mib, "loaded");

    let params = AnalysisParams { distance_from: config.analysis.distance_from, year: config.analysis.year };
    let started = std::time::Instant::now();
    let index = FacilityIndex::build(&loaded.facilities, catalogue.len(), params.year);
    log_stage(started, "index built");
    let bar = after_a_second(ProgressBar::new(loaded.estates.len() as u64));
    bar.set_style(ProgressStyle::with_template("analysing {bar:40} {pos}/{len} estates [{elapsed}<{eta}]").expect("valid template"));
    let table = analysis::compute_coverage(&loaded.estates, &loaded.facilities, &index, &catalogue, params, &RecordedHouseholds, &BarProgress(bar.clone()))?;
    bar.finish_and_clear();
    log_stage(started, "coverage computed");

    let results = Results {
        estates: &loaded.estates,
        facilities: &loaded.facilities,
        table: &table,
        catalogue: &catalogue,
        working_crs: &loaded.working_crs,
    };
    let summary = analysis::summarize(&loaded.estates, &loaded.facilities, &table, &catalogue);
    let bar = spinner(&format!("writing {}", out.display()));
    match ext.as_str() {
        "csv" => io::write::write_coverage_csv(out, &results)?,
        "json" => io::write::write_json(out, &io::write::SummaryDocument {
            generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
            catalogue: &catalogue.name,
            working_crs: &loaded.working_crs,
            estates: loaded.estates.len(),
            facilities: loaded.facilities.len(),
            rejected_features: loaded.report.rejected.len(),
            summary: &summary,
        })?,
        _ => io::write::write_estates(out, &results)?,
    }
    bar.finish_and_clear();
    log_stage(started, "written");
    print_summary(&summary, &loaded.working_crs, loaded.estates.len());
    Ok(())
}

/// Rejections listed on stderr; the rest are in the load report file.
const SHOWN: usize = 20;

fn handle_report(report: &LoadReport, on_invalid: OnInvalid, out: &Path) -> anyhow::Result<()> {
    for w in &report.warnings {
        tracing::warn!("{w}");
        eprintln!("warning: {w}");
    }
    if !report.has_rejections() {
        return Ok(());
    }
    let report_path = io::load::report_path_for(out);
    io::write::write_json(&report_path, report).with_context(|| format!("writing the load report {}", report_path.display()))?;
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

fn print_summary(summary: &analysis::Summary, working_crs: &str, estates: usize) {
    eprintln!(
        "{estates} estates, distances from {} in {working_crs}{}",
        summary.params.distance_from.as_str(),
        summary.params.year.map_or(String::new(), |y| format!(", facilities open by {y}"))
    );
    eprintln!("{:<18} {:>7} {:>10} {:>9} {:>12}", "kind", "radius", "facilities", "estates%", "households%");
    for k in &summary.overall {
        eprintln!(
            "{:<18} {:>6}m {:>10} {:>8.1}% {:>11.1}%",
            k.kind, k.radius_m, k.facilities, k.estates_covered_pct, k.households_covered_pct
        );
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if args.print_config {
        let text = config.to_toml().context("serialising the config")?;
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    config.validate()?;
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

fn generate(args: &GenerateArgs) -> anyhow::Result<()> {
    let mut params = CityParams { estates: args.estates, facilities: args.facilities, seed: args.seed, ..CityParams::default() };
    if let Some(c) = args.centre {
        params.centre_lonlat = c;
    }
    let bar = spinner("laying out the city");
    // Streamed feature by feature: a 300,000-estate city never sits in memory as features.
    let plan = CityPlan::new(&params);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    bar.set_message("writing estates.geojson");
    io::geojson::write_feature_collection(&args.out.join("estates.geojson"), plan.estates(), Some("estates"))?;
    bar.set_message("writing facilities.geojson");
    io::geojson::write_feature_collection(&args.out.join("facilities.geojson"), plan.facilities(), Some("facilities"))?;
    bar.finish_and_clear();
    eprintln!("wrote {} estates and {} facilities to {}", params.estates, params.facilities, args.out.display());
    Ok(())
}

const REPORT_HELP: &str = "\
Writes, for each year of --from..--year and each facility kind: facilities opened (count,
capacity), cumulative totals, targets against actuals (% achieved), estates and households covered
at year end (coverage recomputed as of that year) and the change from the year before, estates
still uncovered with their nearest distance; the same per district; renovation progress from the
estates' renovation_year; charts and a map of the report year's gaps.

Outputs in --out DIR: report-YEAR.html (self-contained, prints on A4), report-YEAR.md,
report-YEAR.xlsx (a sheet per table), report-YEAR-<table>.csv, report-YEAR.json.

Targets file (TOML, or CSV with the same keys as columns):
  [[target]]                 year, kind, optional district; any of new_facilities,
  year = 2021                capacity_added, coverage_estates_pct, coverage_households_pct
  kind = \"day_care\"
  new_facilities = 300
  coverage_estates_pct = 100
  [[renovation]]             year, optional district; estates and/or households
  year = 2021
  estates = 50

Examples:
  gapmap report --config data/demo/gapmap.toml --targets data/demo/targets.toml --year 2021 --from 2018 --out target/report
  gapmap report --config city.toml --year 2024 --format html,xlsx --out reports/2024";

/// Options of `gapmap report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report year: the period's last year.
    #[arg(long, env = "GAPMAP_YEAR")]
    pub year: Option<i32>,
    /// First year of the period (default: the report year).
    #[arg(long, env = "GAPMAP_FROM")]
    pub from: Option<i32>,
    /// Targets file (.toml or .csv).
    #[arg(long, env = "GAPMAP_TARGETS")]
    pub targets: Option<PathBuf>,
    /// Config file (TOML); flags override it.
    #[arg(long, env = "GAPMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Estates (overrides the config's).
    #[arg(long, env = "GAPMAP_ESTATES")]
    pub estates: Option<PathBuf>,
    /// Facilities (overrides the config's; repeat for several files).
    #[arg(long, env = "GAPMAP_FACILITIES", value_delimiter = ',')]
    pub facilities: Vec<PathBuf>,
    /// A catalogue TOML that patches the built-in GB 50180-2018 one.
    #[arg(long, env = "GAPMAP_CATALOGUE")]
    pub catalogue: Option<PathBuf>,
    /// Override one kind's service radius, e.g. `--radius market=800` (repeatable).
    #[arg(long = "radius", value_name = "KIND=METRES", value_parser = parse_radius)]
    pub radius: Vec<(String, f64)>,
    /// Measure from the estate boundary (0 inside) or its centroid.
    #[arg(long, env = "GAPMAP_DISTANCE_FROM", value_parser = ["boundary", "centroid"])]
    pub distance_from: Option<String>,
    /// CRS of inputs that declare none (default CRS84).
    #[arg(long, env = "GAPMAP_CRS")]
    pub crs: Option<String>,
    /// Metric working CRS (default: chosen from the data's extent).
    #[arg(long, env = "GAPMAP_WORKING_CRS")]
    pub working_crs: Option<String>,
    /// Rejected features: `abort` or `warn`.
    #[arg(long, env = "GAPMAP_ON_INVALID", value_enum)]
    pub on_invalid: Option<OnInvalid>,
    /// Estates built before this year form the renovation stock.
    #[arg(long, env = "GAPMAP_RENOVATION_BUILT_BEFORE", default_value_t = analysis::DEFAULT_RENOVATION_BUILT_BEFORE)]
    pub renovation_built_before: i32,
    /// Report title (default "Facility targets and coverage YEAR").
    #[arg(long, env = "GAPMAP_TITLE")]
    pub title: Option<String>,
    /// Output formats, comma-separated.
    #[arg(long, env = "GAPMAP_FORMAT", value_enum, value_delimiter = ',', default_value = "html,md,xlsx,csv,json")]
    pub format: Vec<crate::report::Format>,
    /// Output directory (created if missing).
    #[arg(long, env = "GAPMAP_OUT", required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl ReportArgs {
    /// Builds the effective config: file (if any) overridden by flags.
    ///
    /// # Errors
    /// An unreadable or invalid config file.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        DataFlags {
            config: self.config.as_deref(),
            estates: self.estates.as_deref(),
            facilities: &self.facilities,
            catalogue: self.catalogue.as_deref(),
            radius: &self.radius,
            distance_from: self.distance_from.as_deref(),
            working_crs: self.working_crs.as_deref(),
            on_invalid: self.on_invalid,
        }
        .to_config()
    }
}

fn report(args: &ReportArgs) -> anyhow::Result<()> {
    use crate::report::{self, ReportInput};

    let config = args.to_config()?;
    if args.print_config {
        let text = config.to_toml().context("serialising the config")?;
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    let year = args.year.or(config.analysis.year).context("--year is required (or analysis.year in the config)")?;
    let from = args.from.unwrap_or(year);
    if from > year || year - from >= analysis::MAX_YEARS {
        bail!("--from {from} --year {year}: the first year must not be after the report year, and at most {} years are reported", analysis::MAX_YEARS);
    }
    let out_dir = args.out.as_deref().context("--out is required")?;
    config.validate()?;
    let catalogue = catalogue_for(&config)?;
    let targets = match &args.targets {
        Some(path) => report::targets::load_targets(path, &catalogue)?,
        None => analysis::Targets::default(),
    };
    let estates_source = config.estates.as_ref().context("no estates source")?;

    let bar = spinner("loading");
    let options = LoadOptions {
        catalogue: &catalogue,
        default_crs: args.crs.as_deref(),
        working_crs: config.analysis.working_crs.as_deref(),
    };
    let loaded = io::load::load(estates_source, &config.facilities, &options, &|m| bar.set_message(m.to_owned()))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    handle_report(&loaded.report, config.analysis.on_invalid, &out_dir.join(format!("report-{year}")))?;
    if loaded.estates.is_empty() {
        bail!("{}: no valid estates were loaded", estates_source.path.display());
    }

    let started = std::time::Instant::now();
    let bar = spinner(&format!("computing coverage {}–{year}", from - 1));
    let targets_source = args.targets.as_ref().map(|p| p.display().to_string());
    let input = ReportInput {
        estates: &loaded.estates,
        facilities: &loaded.facilities,
        catalogue: &catalogue,
        working_crs: &loaded.working_crs,
        params: analysis::TrendParams {
            from,
            to: year,
            distance_from: config.analysis.distance_from,
            renovation_built_before: args.renovation_built_before,
        },
        targets: &targets,
        targets_source: targets_source.as_deref(),
        title: args.title.as_deref(),
    };
    let built = report::build_report(&input)?;
    tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "report computed");
    bar.set_message("writing");
    let written = report::write_report(&built, &args.format, out_dir)?;
    bar.finish_and_clear();
    tracing::info!(elapsed_s = started.elapsed().as_secs_f64(), "report written");
    for t in &built.trend.unmatched_targets {
        eprintln!("warning: {t}");
    }
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
