//! `gapmap report`: the annual facility-target report over a period of years.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{catalogue_for, load_data, print_config, spinner, DataArgs};
use crate::analysis;
use crate::config::Config;

pub(super) const HELP: &str = "\
Writes, for each year of --from..--year and each facility kind: facilities opened (count,
capacity), cumulative totals, targets against actuals (% achieved), estates and households covered
at year end (coverage recomputed as of that year) and the change from the year before, estates
still uncovered with their nearest distance; the same per district; renovation progress from the
estates' renovation_year; charts and a map of the report year's gaps.

Distances are straight lines unless --metric network (or analysis.metric = \"network\") with
--network PATH (or [network] path): then coverage is by walking distance along the street
network, every year, and the report says so.

With a [programme] section in the config (projects, surveys, wishes; see `gapmap programme
--help`), the report adds the renovation programme: batches by year, district and street,
progress against the targets file's [[renovation]] rows, funding by source, the satisfaction
gate, residents' wishes ranked, and the link to coverage: per renovated estate, the facility
gaps its renovation closed (an item such as day_care whose kind gained a facility opened in or
after the batch year within the radius, where none was before) and those still open.

--lang zh (or report.lang = \"zh\") writes the report in Chinese: kind names from the
catalogue, 万户, 2021年, units as units (m², 个, 户).

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
    /// First year of the period (default: report.from in the config when not after the year, else the report year).
    #[arg(long, env = "GAPMAP_FROM")]
    pub from: Option<i32>,
    /// Targets file (.toml or .csv; default: report.targets in the config).
    #[arg(long, env = "GAPMAP_TARGETS")]
    pub targets: Option<PathBuf>,
    /// Data sources and analysis settings.
    #[command(flatten)]
    pub data: DataArgs,
    /// Estates built before this year form the renovation stock (default: report.renovation_built_before in the config, else 2000).
    #[arg(long, env = "GAPMAP_RENOVATION_BUILT_BEFORE")]
    pub renovation_built_before: Option<i32>,
    /// Report title (default "Facility targets and coverage YEAR", in Chinese with --lang zh).
    #[arg(long, env = "GAPMAP_TITLE")]
    pub title: Option<String>,
    /// Report language: en (default: report.lang in the config, else en) or zh (Chinese labels
    /// from the catalogue, 万户, 2021年, units as units; prints on A4).
    #[arg(long, env = "GAPMAP_LANG", value_enum)]
    pub lang: Option<crate::report::Lang>,
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
        let mut config = self.data.to_config()?;
        if let Some(lang) = self.lang {
            config.report.lang = Some(lang);
        }
        Ok(config)
    }
}

/// Runs `gapmap report`: load, compute the trend over the period, write each format.
pub(super) fn run(args: &ReportArgs) -> anyhow::Result<()> {
    use crate::report::{self, ReportInput};

    let config = args.to_config()?;
    if args.print_config {
        return print_config(&config);
    }
    let year = args.year.or(config.analysis.year).context("--year is required (or analysis.year in the config)")?;
    let from = args.from.unwrap_or_else(|| config.report.from_for(year));
    analysis::TrendParams::new(from, year).check_period().with_context(|| format!("--from {from} --year {year}"))?;
    let out_dir = args.out.as_deref().context("--out is required")?;
    config.validate()?;
    let catalogue = catalogue_for(&config)?;
    let targets_path = args.targets.as_ref().or(config.report.targets.as_ref());
    let targets = match targets_path {
        Some(path) => report::targets::load_targets(path, &catalogue)?,
        None => analysis::Targets::default(),
    };
    let prepared = load_data(&config, &catalogue, args.data.crs.as_deref(), || {
        std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        Ok(out_dir.join(format!("report-{year}")))
    })?;
    let loaded = &prepared.loaded;

    let started = std::time::Instant::now();
    let bar = spinner(&format!("computing coverage {}–{year}", from - 1));
    let targets_source = targets_path.map(|p| p.display().to_string());
    let straight = analysis::StraightLine::new(&loaded.facilities, config.analysis.distance_from);
    // The walking network when the config or --metric asks for it; the report states which.
    let metric: &dyn analysis::CoverageMetric = match &prepared.network {
        Some(network) => &network.metric,
        None => &straight,
    };
    let input = ReportInput {
        estates: &loaded.estates,
        facilities: &loaded.facilities,
        timeline: None,
        catalogue: &catalogue,
        working_crs: &loaded.working_crs,
        metric,
        params: analysis::TrendParams {
            renovation_built_before: args.renovation_built_before.unwrap_or(config.report.renovation_built_before),
            ..analysis::TrendParams::new(from, year)
        },
        targets: &targets,
        targets_source: targets_source.as_deref(),
        title: args.title.as_deref().or(config.report.title.as_deref()),
    };
    let mut built = report::build_report(&input)?;
    built.set_lang(config.report.lang.unwrap_or(report::Lang::En), input.title);
    if let Some(section) = &config.programme {
        // The programme sections when the config names programme inputs.
        section.validate()?;
        bar.set_message("the renovation programme");
        let data = super::programme::load_rows(section, &loaded.estates, out_dir, &format!("report-{year}-programme"), config.analysis.on_invalid)?;
        report::add_programme(
            &mut built,
            &report::SectionInput {
                data: &data,
                gate_pct: section.gate_pct,
                stock_built_before: section.stock_built_before.unwrap_or(input.params.renovation_built_before),
                estates: &loaded.estates,
                facilities: &loaded.facilities,
                metric,
                catalogue: &catalogue,
                targets: &targets.renovation,
            },
        )?;
    }
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
