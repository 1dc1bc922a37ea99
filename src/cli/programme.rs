//! `gapmap programme`: the renovation programme report — batches, progress, funding, the
//! satisfaction gate and residents' wishes — in Chinese or English.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{catalogue_for, handle_report, print_config, SHOWN};
use crate::config::{Config, OnInvalid, SourceConfig};
use crate::io;
use crate::report::programme::{build_programme_report, programme_figures, write_programme_report, Lang};

pub(super) const HELP: &str = "\
Reads the [programme] tables of the config (projects, surveys, wishes: CSV, XLSX or GeoJSON) and
writes, for the batches up to --year: estates, buildings, households, floor area, investment by
source, % complete, accepted and failing the satisfaction gate per batch year, district and
street; progress against the targets file's [[renovation]] rows and the old stock; funding by
source as the [[programme.funding]] rules split it, against what was recorded; the gate per
project (passed, below the gate: rework, no survey; accepted without passing is flagged); the
residents' wishes ranked per estate, district and city.

Bad rows (unknown estate, shares not summing to 100 %, % outside 0–100, a date in the future, a
duplicate project…) are listed with file, row and reason and written to
programme-YEAR.load-report.json; --on-invalid abort (default) stops, warn goes on without them.

Outputs in --out DIR: programme-YEAR-LANG.html (charts, prints on A4), .md, .xlsx (a sheet per
table), programme-YEAR-LANG-<table>.csv, .json.

Examples:
  gapmap programme --config data/demo/gapmap.toml --year 2021 --out target/programme
  gapmap programme --config city.toml --year 2024 --lang en --format html,xlsx --out reports";

/// Options of `gapmap programme`.
#[derive(Debug, Args)]
pub struct ProgrammeArgs {
    /// Config file (TOML) with [estates] and [programme].
    #[arg(long, env = "GAPMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Estates (overrides the config's).
    #[arg(long, env = "GAPMAP_ESTATES")]
    pub estates: Option<PathBuf>,
    /// CRS of an estates file that declares none (default CRS84).
    #[arg(long, env = "GAPMAP_CRS")]
    pub crs: Option<String>,
    /// Report year: batches up to this year are reported.
    #[arg(long, env = "GAPMAP_YEAR")]
    pub year: Option<i32>,
    /// First year of the progress table (default: report.from in the config, else the first batch).
    #[arg(long, env = "GAPMAP_FROM")]
    pub from: Option<i32>,
    /// Report language: zh (Chinese) or en (default: programme.lang in the config, else zh).
    #[arg(long, env = "GAPMAP_LANG", value_enum)]
    pub lang: Option<Lang>,
    /// Satisfaction gate in percent (default: programme.gate_pct, else 80); exactly the gate passes.
    #[arg(long, env = "GAPMAP_GATE_PCT")]
    pub gate_pct: Option<f64>,
    /// Targets file with [[renovation]] rows (default: report.targets in the config).
    #[arg(long, env = "GAPMAP_TARGETS")]
    pub targets: Option<PathBuf>,
    /// Bad rows: `abort` (exit non-zero, listing them) or `warn` (go on without them).
    #[arg(long, env = "GAPMAP_ON_INVALID", value_enum)]
    pub on_invalid: Option<OnInvalid>,
    /// Report title.
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

impl ProgrammeArgs {
    /// The config file (if any) overridden by these flags.
    ///
    /// # Errors
    /// An unreadable or invalid config file.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(path) = &self.estates {
            match &mut config.estates {
                Some(e) => e.path.clone_from(path),
                None => config.estates = Some(SourceConfig::from_path(path)),
            }
        }
        if let Some(o) = self.on_invalid {
            config.analysis.on_invalid = o;
        }
        if let Some(p) = &mut config.programme {
            if let Some(g) = self.gate_pct {
                p.gate_pct = g;
            }
            if let Some(l) = self.lang {
                p.lang = Some(l);
            }
        }
        Ok(config)
    }
}

/// Runs `gapmap programme`.
pub(super) fn run(args: &ProgrammeArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if args.print_config {
        return print_config(&config);
    }
    let year = args.year.or(config.analysis.year).context("--year is required (or analysis.year in the config)")?;
    let out_dir = args.out.as_deref().context("--out is required")?;
    let section = config.programme.as_ref().context("the config has no [programme] section; add one with projects = { path = \"projects.csv\" }")?;
    section.validate()?;
    let estates_source = config.estates.as_ref().context("no estates source; pass --estates PATH or set [estates] path")?;
    if !estates_source.path.exists() {
        anyhow::bail!("estates.path: {} does not exist", estates_source.path.display());
    }
    let catalogue = catalogue_for(&config)?;
    let options = io::load::LoadOptions { catalogue: &catalogue, default_crs: args.crs.as_deref(), working_crs: config.analysis.working_crs.as_deref() };
    let loaded = io::load::load(estates_source, &[], &options, &|_| ()).with_context(|| format!("loading {}", estates_source.path.display()))?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let beside = out_dir.join(format!("programme-{year}"));
    handle_report(&loaded.report, None, config.analysis.on_invalid, &beside)?;

    let data = load_rows(section, &loaded.estates, out_dir, &format!("programme-{year}"), config.analysis.on_invalid)?;
    let built_before = section.stock_built_before.unwrap_or(config.report.renovation_built_before);
    let targets = match args.targets.as_ref().or(config.report.targets.as_ref()) {
        Some(path) => crate::report::targets::load_targets(path, &catalogue)?.renovation,
        None => Vec::new(),
    };
    let first_batch = data.projects.iter().filter(|p| p.batch_year <= year).map(|p| p.batch_year).min().unwrap_or(year);
    let from = args.from.or(config.report.from).unwrap_or(first_batch).min(year);
    let figures = programme_figures(&data, &loaded.estates, section.gate_pct, built_before, &targets, from, year);
    let report = build_programme_report(figures, &catalogue, &loaded.estates, section.lang.unwrap_or_default(), args.title.as_deref());
    for path in write_programme_report(&report, &args.format, out_dir)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Loads the programme's projects, surveys and wishes for `estates`; bad rows are listed on
/// stderr and written to `<dir>/<stem>.load-report.json`, and with `on_invalid = abort` stop the
/// run. Shared by `gapmap programme`, `gapmap report` and `gapmap plan --weight wishes:ITEM`.
pub(super) fn load_rows(section: &crate::config::ProgrammeConfig, estates: &[crate::model::Estate], dir: &std::path::Path, stem: &str, on_invalid: OnInvalid) -> anyhow::Result<io::programme::LoadedProgramme> {
    let refs = io::programme::estate_refs(estates);
    let data = io::programme::load_programme(section, &refs, io::programme::today())?;
    if !data.report.rejected.is_empty() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{stem}.load-report.json"));
        io::write::write_json(&path, &data.report).with_context(|| format!("writing the load report {}", path.display()))?;
        for r in data.report.rejected.iter().take(SHOWN) {
            eprintln!("rejected: {r}");
        }
        if data.report.rejected.len() > SHOWN {
            eprintln!("… and {} more in {}", data.report.rejected.len() - SHOWN, path.display());
        }
        if on_invalid == OnInvalid::Abort {
            anyhow::bail!("{} programme rows rejected (listed in {}); fix them, or pass --on-invalid warn to go on without them", data.report.rejected.len(), path.display());
        }
    }
    Ok(data)
}
