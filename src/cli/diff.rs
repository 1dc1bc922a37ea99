//! `gapmap diff`: what planned facilities (or a second config) change: per kind, the estates
//! that become covered or uncovered and the households gained or lost.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;

use super::{catalogue_for, load_data, print_config, spinner, DataArgs};
use crate::analysis::{self, CoverageMetric, RecordedHouseholds, StraightLine};
use crate::config::Config;
use crate::io;
use crate::io::diff::{compare_coverage, CoverageDiff, DiffSide};

pub(super) const HELP: &str = "\
What it compares:
  gapmap diff --planned new.geojson …   baseline = the data without the planned facilities,
                                        scenario = the same data with them
  gapmap diff --config A.toml --against B.toml
                                        baseline = A, scenario = B (other facilities, radii,
                                        catalogue, estates…); the data flags override both
A config with [[planned]] tables is a scenario by itself: `gapmap diff --config city.toml`
compares it without and with them. Both sides are measured the same way (--metric, --year,
--distance-from apply to both; two configs with different metrics are refused), and estates are
matched by id, kinds by key.

A change is an estate × kind whose covered flag differs: `covered` (within the kind's radius of
a facility in the scenario, not in the baseline) or `uncovered` (the reverse: a facility closed
or moved, a radius shrank). Households gained/lost are the households of those estates.

Outputs (chosen by the --out extension):
  .csv      one row per changed estate × kind, sorted by estate id then kind:
            estate_id,kind,change,households,distance_before_m,distance_after_m,
            nearest_before_id,nearest_after_id,nearest_after_planned
  .geojson  the changed estates (CRS84) with <kind>_change, <kind>_before_m, <kind>_after_m
  .json     per kind: estates_newly_covered/uncovered, households_gained/lost/net, and the lists
            of estate ids; estates only on one side are listed, not compared

Examples:
  gapmap diff --config city.toml --planned day_care_2026.geojson --out gained.csv
  gapmap diff --config city.toml --planned a.geojson --planned b.geojson --metric network --out gained.json
  gapmap diff --config today.toml --against radius_800.toml --out changes.geojson";

/// Options of `gapmap diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Data sources and analysis settings (both sides); --planned makes the scenario.
    #[command(flatten)]
    pub data: DataArgs,
    /// A second config (TOML): the scenario, compared with --config as the baseline.
    #[arg(long, env = "GAPMAP_AGAINST", value_name = "CONFIG")]
    pub against: Option<PathBuf>,
    /// Only facilities opened in or before this year count (both sides).
    #[arg(long, env = "GAPMAP_YEAR")]
    pub year: Option<i32>,
    /// Output file: .csv, .geojson or .json.
    #[arg(long, env = "GAPMAP_OUT", required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// Print the effective configs (baseline, then scenario) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl DiffArgs {
    /// The baseline and scenario configs.
    ///
    /// # Errors
    /// An unreadable or invalid config, nothing to compare, or two metrics.
    pub fn to_configs(&self) -> anyhow::Result<(Config, Config)> {
        let (mut baseline, mut scenario) = if let Some(against) = &self.against {
            if self.data.config.is_none() {
                bail!("--against {} compares two configs: pass the baseline with --config A.toml", against.display());
            }
            let baseline = self.data.to_config()?;
            let scenario = self.data.to_config_from(Some(against)).with_context(|| format!("--against {}", against.display()))?;
            (baseline, scenario)
        } else {
            let scenario = self.data.to_config()?;
            if scenario.planned.is_empty() {
                bail!("nothing to compare: pass --planned PATH (the baseline is the data without it, the scenario with it), add [[planned]] to the config, or compare two configs with --config A.toml --against B.toml");
            }
            let mut baseline = scenario.clone();
            baseline.planned.clear();
            (baseline, scenario)
        };
        if self.year.is_some() {
            baseline.analysis.year = self.year;
            scenario.analysis.year = self.year;
        }
        if baseline.analysis.metric != scenario.analysis.metric {
            bail!(
                "the baseline measures by {} and the scenario by {}: both sides must use one metric; pass --metric straight or --metric network",
                baseline.analysis.metric.as_str(),
                scenario.analysis.metric.as_str()
            );
        }
        if baseline.analysis.distance_from != scenario.analysis.distance_from {
            bail!("the baseline measures from the estate {} and the scenario from its {}: pass --distance-from boundary or centroid", baseline.analysis.distance_from.as_str(), scenario.analysis.distance_from.as_str());
        }
        Ok((baseline, scenario))
    }
}

/// A side loaded and measured.
struct Measured {
    prepared: super::Prepared,
    catalogue: crate::model::Catalogue,
    table: analysis::CoverageTable,
}

/// Loads and measures one side; its load report goes beside `report_beside`.
fn measure(config: &Config, args: &DiffArgs, report_beside: &Path, what: &str) -> anyhow::Result<Measured> {
    config.validate().with_context(|| format!("the {what}"))?;
    let catalogue = catalogue_for(config)?;
    let prepared = load_data(config, &catalogue, args.data.crs.as_deref(), || Ok(report_beside.to_owned())).with_context(|| format!("loading the {what}"))?;
    let loaded = &prepared.loaded;
    let straight = StraightLine::new(&loaded.facilities, config.analysis.distance_from);
    let metric: &dyn CoverageMetric = match &prepared.network {
        Some(network) => &network.metric,
        None => &straight,
    };
    let bar = spinner(&format!("measuring the {what}"));
    let table = analysis::compute_coverage(&loaded.estates, metric, &catalogue, config.analysis.year, &RecordedHouseholds, &())?;
    bar.finish_and_clear();
    Ok(Measured { prepared, catalogue, table })
}

fn side(m: &Measured) -> DiffSide<'_> {
    DiffSide { estates: &m.prepared.loaded.estates, facilities: &m.prepared.loaded.facilities, catalogue: &m.catalogue, table: &m.table }
}

/// Runs `gapmap diff`.
pub(super) fn run(args: &DiffArgs) -> anyhow::Result<()> {
    let (baseline_config, scenario_config) = args.to_configs()?;
    if args.print_config {
        print_config(&baseline_config)?;
        return print_config(&scenario_config);
    }
    let out = args.out.as_deref().context("--out is required")?;
    let ext = io::write::extension(out);
    if !["csv", "geojson", "json"].contains(&ext.as_str()) {
        bail!("--out {}: unsupported extension; use .csv, .geojson or .json", out.display());
    }
    // The baseline's load report (if any) is `<stem>.baseline.load-report.json`, the scenario's
    // `<stem>.load-report.json`.
    let stem = out.file_stem().map_or_else(|| "diff".into(), |s| s.to_string_lossy().into_owned());
    let baseline_beside = out.with_file_name(format!("{stem}.baseline.{ext}"));
    let before = measure(&baseline_config, args, &baseline_beside, "baseline")?;
    let after = measure(&scenario_config, args, out, "scenario")?;
    let mut diff = compare_coverage(&side(&before), &side(&after));
    (diff.baseline, diff.scenario) = match &args.against {
        Some(against) => (
            args.data.config.as_ref().map_or_else(String::new, |c| c.display().to_string()),
            against.display().to_string(),
        ),
        None => ("without the planned facilities".to_owned(), format!("with {} planned facilities", diff.planned_facilities_after)),
    };
    let scenario_estates = &after.prepared.loaded.estates;
    match ext.as_str() {
        "csv" => io::diff::write_diff_csv(out, &diff, scenario_estates)?,
        "geojson" => io::diff::write_diff_geojson(out, &diff, scenario_estates, &after.prepared.loaded.working_crs)?,
        _ => io::write::write_json(out, &diff)?,
    }
    print_diff(&diff, out);
    Ok(())
}

/// The per-kind totals on stderr.
fn print_diff(diff: &CoverageDiff, out: &Path) {
    eprintln!("{} estates compared, baseline {}, scenario {} ({} distances)", diff.estates_compared, diff.baseline, diff.scenario, diff.metric.as_str());
    if !diff.estates_only_in_baseline.is_empty() || !diff.estates_only_in_scenario.is_empty() {
        eprintln!(
            "warning: {} estates only in the baseline and {} only in the scenario were not compared",
            diff.estates_only_in_baseline.len(),
            diff.estates_only_in_scenario.len()
        );
    }
    eprintln!("{:<18} {:>10} {:>10} {:>11} {:>11}", "kind", "+estates", "-estates", "+households", "-households");
    for k in diff.kinds.iter().filter(|k| k.estates_newly_covered + k.estates_newly_uncovered > 0) {
        eprintln!("{:<18} {:>10} {:>10} {:>11} {:>11}", k.kind, k.estates_newly_covered, k.estates_newly_uncovered, k.households_gained, k.households_lost);
    }
    eprintln!("wrote {}", out.display());
}
