//! `gapmap analyze`: coverage of every estate by every facility kind, written as a table, a
//! layer or a summary.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{after_a_second, catalogue_for, load_data_beside, print_config, spinner, DataArgs};
use crate::analysis::{self, AnalysisParams, RecordedHouseholds, StraightLine};
use crate::config::Config;
use crate::index::FacilityIndex;
use crate::io::network::NetworkSummary;
use crate::io::write::{MetricComparison, Results};
use crate::io;

pub(super) const HELP: &str = "\
Outputs (chosen by the --out extension):
  .csv      one row per estate × kind:
            estate_id,kind,distance_m,covered,nearest_id,count_within,capacity_within,shortfall
  .geojson  estates (CRS84) with <kind>_distance_m, <kind>_covered, … properties
  .fgb .gpkg  the same through GDAL
  .json     coverage summaries per kind, overall and per district (with the planned
            facilities counted per kind when there are any)
  postgresql://user@host:port/db?table=schema.coverage
            three tables replaced in one transaction: coverage (the CSV's rows plus the
            estate geometry in the estates' SRID), coverage_gaps (its uncovered rows) and
            coverage_summary (the .json summaries as rows); the password from PGPASSWORD or
            ~/.pgpass. The load report goes to ./schema.coverage.load-report.json.

Accessibility: the layers carry <kind>_access for every kind with a capacity_unit, a two-step
floating catchment (2SFCA) score: each facility's capacity is shared among the residents within
its radius (households × residents_per_household, weighted by distance decay), and an estate's
score sums the shares of the facilities within its radius. The unit is the kind's capacity unit
per 1,000 residents (places per 1,000 residents, beds per 1,000 residents…), so it reads against
per-capita standards directly. [analysis] accessibility_decay = \"step\" (weight 1 within the
radius, the default) or \"gaussian\" (1 at the facility falling to 0 at the radius; Dai 2010).
Null where no facility of the kind has a known capacity.

What-if: --planned PATH (repeatable, or [[planned]] in the config) adds planned facilities, files
shaped like --facilities. They count as if built in their opened_year (none: this year), so
--year before it leaves them out. The CSV keeps its columns; the layers add
<kind>_nearest_planned (true when the nearest facility is a planned one). `gapmap diff` lists
what they change.

Distances are metres in a metric working CRS (CGCS2000 Gauss-Krüger zone or UTM, chosen from the
data unless --working-crs is given), from the estate boundary (0 inside) unless
--distance-from centroid. Inputs in GCJ-02 (AMap, Tencent) or BD-09 (Baidu) must say so with
--crs GCJ-02 / BD-09 or `crs` in the config.

Walking distance (--metric network): GB 50180-2018 defines the living circles by walking
distance, and walls, rivers and railways make walks longer than the straight line. With
--network streets.osm.pbf (or any line layer) and --metric network, distances are measured along
the walkable streets: from the estate's gates (OSM entrance=* / barrier=gate nodes on its
boundary) or else from every street node inside it and the nearest one outside, to where each
facility meets its nearest street. The CSV keeps its columns, now by walking distance; the
layers add <kind>_straight_m, <kind>_network_m, <kind>_walk_min and <kind>_detour (network ÷
straight). [network] in the config sets `walkable` (a CQL2 filter; OSM default: the highways
people walk on, no motorways, no access=private/no, no foot=no), `snap_m`, `speed_m_per_min`
and `max_m`.

Examples:
  gapmap analyze --estates estates.geojson --facilities pois.gpkg --out gaps.csv
  gapmap analyze --config data/demo/gapmap.toml --year 2021 --radius market=800 --out summary.json
  gapmap analyze --estates e.shp --facilities amap.csv --crs GCJ-02 --on-invalid warn --out e.gpkg
  gapmap analyze --config city.toml --network shanghai.osm.pbf --metric network --out walk.geojson
  gapmap analyze --config city.toml --planned new_day_care.geojson --out scenario.geojson
  gapmap analyze --estates 'postgresql://planner@db/city?table=plan.estates' \
                 --facilities 'postgresql://planner@db/city?table=plan.pois' \
                 --out 'postgresql://planner@db/city?table=gapmap.coverage'";

/// Options of `gapmap analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Data sources and analysis settings.
    #[command(flatten)]
    pub data: DataArgs,
    /// Only facilities opened in or before this year count.
    #[arg(long, env = "GAPMAP_YEAR")]
    pub year: Option<i32>,
    /// Output file: .csv, .geojson, .fgb, .gpkg or .json; or a PostgreSQL URI with
    /// `?table=schema.name` (see below).
    #[arg(long, env = "GAPMAP_OUT", required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl AnalyzeArgs {
    /// Builds the effective config: file (if any) overridden by flags.
    ///
    /// # Errors
    /// An unreadable or invalid config file.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = self.data.to_config()?;
        if self.year.is_some() {
            config.analysis.year = self.year;
        }
        Ok(config)
    }
}

/// The analysis progress drawn as a bar.
struct BarProgress(ProgressBar);

impl analysis::Progress for BarProgress {
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Runs `gapmap analyze`: load, index, compute coverage, write `--out`, print the summary.
pub(super) fn run(args: &AnalyzeArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if args.print_config {
        return print_config(&config);
    }
    let out = args.out.as_deref().context("--out is required")?;
    let ext = output_kind(out)?;
    let database_out = ext == "postgis";
    config.validate()?;
    let catalogue = catalogue_for(&config)?;
    let params = AnalysisParams { distance_from: config.analysis.distance_from, year: config.analysis.year, metric: config.analysis.metric };
    let bar_for = |what: &str, estates: usize| {
        let bar = after_a_second(ProgressBar::new(estates as u64));
        bar.set_style(ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} estates [{{elapsed}}<{{eta}}]")).expect("valid template"));
        bar
    };
    // The straight-line table: the result, or (walking) the comparison beside it, computed while
    // the walking graph is built.
    let straight_table = |loaded: &io::load::Loaded| -> anyhow::Result<_> {
        let started = std::time::Instant::now();
        let index = FacilityIndex::build(&loaded.facilities, catalogue.len(), params.year);
        crate::diag::log_stage(started, "index built");
        let straight_metric = StraightLine::with_index(&loaded.facilities, &index, params.distance_from);
        let bar = bar_for("analysing", loaded.estates.len());
        let straight = analysis::compute_coverage(&loaded.estates, &straight_metric, &catalogue, params.year, &RecordedHouseholds, &BarProgress(bar.clone()))?;
        bar.finish_and_clear();
        crate::diag::log_stage(started, "coverage computed");
        Ok((index, straight))
    };
    let report_beside = || Ok(if database_out { database_report_beside(out) } else { out.to_owned() });
    let (prepared, straight) = load_data_beside(&config, &catalogue, args.data.crs.as_deref(), report_beside, straight_table)?;
    let (index, straight) = straight?;
    let loaded = &prepared.loaded;
    crate::diag::release_freed_memory();
    let (rss_mib, peak_mib) = crate::diag::rss_mib();
    tracing::info!(estates = loaded.estates.len(), facilities = loaded.facilities.len(), working_crs = %loaded.working_crs, cpu_s = crate::diag::cpu_s(), rss_mib, peak_mib, "loaded");

    let started = std::time::Instant::now();
    let straight_metric = StraightLine::with_index(&loaded.facilities, &index, params.distance_from);
    // With the walking network, its table is the result and the straight one stands beside it.
    let walked = match &prepared.network {
        Some(network) => {
            let bar = bar_for("walking", loaded.estates.len());
            let table = analysis::compute_coverage(&loaded.estates, &network.metric, &catalogue, params.year, &RecordedHouseholds, &BarProgress(bar.clone()))?;
            bar.finish_and_clear();
            crate::diag::log_stage(started, "walking coverage computed");
            Some(table)
        }
        None => None,
    };
    let table = walked.as_ref().unwrap_or(&straight);
    let comparison = walked.as_ref().zip(prepared.network.as_ref()).map(|(network_table, network)| MetricComparison {
        straight: &straight,
        network: network_table,
        speed_m_per_min: network.metric.params().speed_m_per_min,
    });
    let network_summary = prepared.network.as_ref().map(|n| &n.summary);

    let results = Results {
        estates: &loaded.estates,
        facilities: &loaded.facilities,
        table,
        catalogue: &catalogue,
        working_crs: &loaded.working_crs,
    };
    let summary = analysis::summarize(&loaded.estates, &loaded.facilities, table, &catalogue);
    crate::diag::log_stage(started, "summarized");
    // The scores only go into the layers; the same metric as the table.
    let accessibility = if ["geojson", "fgb", "gpkg"].contains(&ext.as_str()) {
        let metric: &dyn analysis::CoverageMetric = match &prepared.network {
            Some(network) => &network.metric,
            None => &straight_metric,
        };
        let scores = analysis::compute_accessibility(&loaded.estates, &loaded.facilities, metric, &catalogue, params.year, config.analysis.accessibility_decay)?;
        crate::diag::log_stage(started, "accessibility computed");
        Some(scores)
    } else {
        None
    };
    let bar = spinner(&format!("writing {}", io::postgis::redact_path(out).display()));
    match ext.as_str() {
        "postgis" => write_to_database(out, &results, &summary, &loaded.estates_crs, &bar)?,
        "csv" => io::write::write_coverage_csv(out, &results)?,
        "json" => io::write::write_json(out, &io::write::SummaryDocument {
            generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
            catalogue: &catalogue.name,
            working_crs: &loaded.working_crs,
            estates: loaded.estates.len(),
            facilities: loaded.facilities.len(),
            rejected_features: loaded.report.rejected.len(),
            metric: table.params.metric,
            network: network_summary,
            planned_facilities: io::write::planned_per_kind(&loaded.facilities, &catalogue, params.year),
            accessibility_decay: config.analysis.accessibility_decay,
            summary: &summary,
        })?,
        _ => io::write::write_estates_with(out, &results, &io::write::EstateExtras { comparison: comparison.as_ref(), accessibility: accessibility.as_ref() })?,
    }
    bar.finish_and_clear();
    crate::diag::log_stage(started, "written");
    print_summary(&summary, &loaded.working_crs, loaded.estates.len(), network_summary);
    if let Some(c) = &comparison {
        print_comparison(c, &catalogue);
    }
    // The process exits next: freeing the estates, facilities (millions of small allocations),
    // coverage table and index would only delay that (measured on the 300k-estate bench: 0.21-0.31
    // → 0.08-0.13 s from the last log line to exit). Library callers still drop them as usual.
    std::mem::forget((prepared, index, straight, walked, accessibility));
    Ok(())
}

/// What `--out` is: its extension, or `postgis` for a PostgreSQL URI. A bad target fails now,
/// not after the analysis.
fn output_kind(out: &std::path::Path) -> anyhow::Result<String> {
    if io::postgis::is_uri(out) {
        io::postgis::check_target(out)?;
        return Ok("postgis".to_owned());
    }
    let ext = io::write::extension(out);
    if !["csv", "geojson", "fgb", "gpkg", "json"].contains(&ext.as_str()) {
        bail!("--out {}: unsupported extension; use .csv, .geojson, .fgb, .gpkg or .json, or a postgresql:// URI", out.display());
    }
    Ok(ext)
}

/// Writes the results to the tables `out` names, with a comment on each saying which run wrote
/// it, and says on stderr how many rows went where.
fn write_to_database(
    out: &std::path::Path,
    results: &Results<'_>,
    summary: &analysis::Summary,
    estates_crs: &io::crs::CrsSpec,
    bar: &ProgressBar,
) -> Result<(), io::WriteError> {
    let params = &results.table.params;
    let comment = format!(
        "gapmap {}: {} coverage from {} in {}{}",
        env!("CARGO_PKG_VERSION"),
        params.metric.as_str(),
        params.distance_from.as_str(),
        results.working_crs,
        params.year.map_or(String::new(), |y| format!(", facilities open by {y}"))
    );
    let written = io::postgis::write_results(out, results, summary, estates_crs, &comment)?;
    bar.suspend(|| {
        for (table, rows) in written.tables.iter().zip(written.rows) {
            eprintln!("wrote {rows} rows to {table} (SRID {})", written.srid);
        }
    });
    Ok(())
}

/// For a run writing to a database: the output path the load report's name is derived from
/// (`./<schema>.<table>.csv`, so the report is `./<schema>.<table>.load-report.json`).
pub(super) fn database_report_beside(out: &std::path::Path) -> PathBuf {
    let name = match io::postgis::PgUri::parse(&out.to_string_lossy()).ok().and_then(|u| u.selection) {
        Some(io::postgis::Selection::Table { schema, name, .. }) => format!("{}.{name}", schema.as_deref().unwrap_or("public")),
        _ => "gapmap".to_owned(),
    };
    PathBuf::from(format!("{name}.csv"))
}

/// The coverage summary table on stderr.
fn print_summary(summary: &analysis::Summary, working_crs: &str, estates: usize, network: Option<&NetworkSummary>) {
    let metric = match network {
        Some(n) => format!(
            "walking distances along the street network ({} nodes, {} edges, {:.1} km, {} components)",
            n.graph.nodes,
            n.graph.edges,
            n.graph.length_m / 1000.0,
            n.graph.components
        ),
        None => "straight-line distances".to_owned(),
    };
    eprintln!(
        "{estates} estates, {metric} from {} in {working_crs}{}",
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

/// Per kind with facilities: estates covered by straight line and on foot, and the median
/// detour (walking ÷ straight), on stderr.
fn print_comparison(c: &MetricComparison<'_>, catalogue: &crate::model::Catalogue) {
    eprintln!("{:<18} {:>14} {:>14} {:>14}", "kind", "straight cov.", "walking cov.", "median detour");
    for (k, spec) in catalogue.kinds.iter().enumerate() {
        let kind = crate::model::KindId(u16::try_from(k).expect("validated catalogue"));
        let estates = c.network.estates();
        let covered = |t: &analysis::CoverageTable| (0..estates).filter(|&e| t.get(e, kind).covered).count();
        let mut detours: Vec<f64> = (0..estates)
            .filter_map(|e| {
                let s = c.straight.get(e, kind).nearest?.distance_m;
                let n = c.network.get(e, kind).nearest?.distance_m;
                (s > 0.0).then(|| n / s)
            })
            .collect();
        if (0..estates).all(|e| c.straight.get(e, kind).nearest.is_none()) {
            continue; // no facility of the kind
        }
        detours.sort_by(f64::total_cmp);
        let median = detours.get(detours.len() / 2).map_or_else(|| "–".to_owned(), |d| format!("{d:.2}×"));
        eprintln!("{:<18} {:>14} {:>14} {:>14}", spec.key, format!("{}/{estates}", covered(c.straight)), format!("{}/{estates}", covered(c.network)), median);
    }
}
