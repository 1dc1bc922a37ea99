//! `gapmap plan`: where the next K facilities of a kind should go.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;

use super::{catalogue_for, load_data, print_config, spinner, DataArgs};
use crate::analysis::{self, CoverageMetric, RecordedHouseholds, StraightLine};
use crate::config::{Config, SourceConfig};
use crate::io::{self, plan::PlanDocument};
use crate::model::{AttrValue, Estate, FeatureId};
use crate::plan::{self as planning, CoverProblem, DemandSet, Limits};

pub(super) const HELP: &str = "\
The problem (a maximal covering location problem, solved exactly):
  Demand      the estates with no facility of KIND within the radius (facilities opened by
              --year), each weighted by its households (--weight households, the default), by 1
              (--weight estates), by a numeric estate property (--weight FIELD), or by the
              residents asking for ITEM in the [programme] wishes table (--weight wishes:ITEM,
              e.g. wishes:day_care; estates where nobody asked weigh 0).
  Candidates  centroids (default): one per estate, its polygon's area centroid in the working
              CRS, named by the estate id; PATH: a point file (vacant lots, public buildings) with
              `id` and optional `cost`; grid:METRES: a regular grid over the estates' extent.
  Coverage    a candidate covers a demand estate when the distance from the estate to it,
              measured exactly as `analyze` measures it (boundary, 0 inside; centroid with
              --distance-from centroid; walking distance with --metric network), is at most the
              radius (inclusive; --radius KIND=M or --radius M changes it).
  Objective   choose at most --count distinct candidates (fewer only when no further one adds
              anything) and/or candidates whose --cost FIELD sums to at most --budget, covering
              the most demand weight.
  Solver      the instance is reduced (candidates covering nothing or dominated by a candidate
              covering a superset at no higher cost are dropped; estates covered by the same
              candidates merged), lazy greedy finds a first solution, and HiGHS solves the
              integer program to optimality. When --time-limit runs out (or the instance is very
              large) the answer is greedy's, and the output says so with HiGHS's bound and the gap.

Outputs (by --out extension):
  .json     {kind, radius_m, count, metric, solver, objective_households, objective_estates,
             bound_households, gap_pct, demand_estates, demand_households, seconds,
             sites: [{rank, id, lon, lat, households_new, estates_new, covers: [estate ids]}]}
            (households_new / estates_new: each site's marginal gain in rank order)
  .csv      one row per site;  .geojson  the sites as points;  .html  a page with a map and table
  postgresql://user@host/db?table=schema.sites
            a PostGIS table, one row per site (rank, id, lon, lat, cost, households_new,
            estates_new, covers text[], geom as a point in the estates' SRID), replacing the
            previous plan in one transaction as `analyze --out postgresql://…` does

Examples:
  gapmap plan --config data/demo/gapmap.toml --kind day_care --count 10 --out sites.json
  gapmap plan --config city.toml --kind nursery --count 5 --candidates lots.geojson --cost price --budget 2e7 --out nursery.html
  gapmap plan --config city.toml --network streets.osm.pbf --metric network --kind day_care --count 20 --out walk.geojson";

/// Options of `gapmap plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The facility kind to place (a catalogue key, e.g. day_care).
    #[arg(long, env = "GAPMAP_KIND")]
    pub kind: String,
    /// At most this many new sites.
    #[arg(long, env = "GAPMAP_COUNT", required_unless_present = "budget")]
    pub count: Option<usize>,
    /// Candidate sites: `centroids`, a point file, or `grid:METRES`.
    #[arg(long, env = "GAPMAP_CANDIDATES", default_value = "centroids")]
    pub candidates: String,
    /// Demand weight: `households`, `estates` (1 each), a numeric estate property, or
    /// `wishes:ITEM` (residents asking for ITEM in the programme's wishes table).
    #[arg(long, env = "GAPMAP_WEIGHT", default_value = "households")]
    pub weight: String,
    /// Candidate property holding a site's cost (with --budget).
    #[arg(long, env = "GAPMAP_COST", requires = "budget")]
    pub cost: Option<String>,
    /// Total cost allowed (with --cost).
    #[arg(long, env = "GAPMAP_BUDGET", requires = "cost")]
    pub budget: Option<f64>,
    /// Facilities opened in or before this year count as existing.
    #[arg(long, env = "GAPMAP_YEAR")]
    pub year: Option<i32>,
    /// Seconds HiGHS may take before the greedy answer is given.
    #[arg(long, env = "GAPMAP_TIME_LIMIT", default_value_t = 60.0)]
    pub time_limit: f64,
    /// Data sources and analysis settings.
    #[command(flatten)]
    pub data: DataArgs,
    /// Output file: .json, .csv, .geojson or .html, or a `postgresql://…?table=schema.name` URI.
    #[arg(long, env = "GAPMAP_OUT", required_unless_present = "print_config")]
    pub out: Option<PathBuf>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Where candidates come from.
#[derive(Debug, Clone, PartialEq)]
enum Candidates {
    Centroids,
    File(PathBuf),
    Grid(f64),
}

impl Candidates {
    fn parse(s: &str) -> anyhow::Result<Self> {
        if s == "centroids" {
            return Ok(Self::Centroids);
        }
        if let Some(m) = s.strip_prefix("grid:") {
            let m: f64 = m.trim().parse().with_context(|| format!("--candidates {s}: `{m}` is not a number of metres"))?;
            if !(m.is_finite() && m >= 10.0) {
                bail!("--candidates {s}: the grid spacing must be at least 10 m");
            }
            return Ok(Self::Grid(m));
        }
        let path = PathBuf::from(s);
        if !path.exists() {
            bail!("--candidates {s}: no such file; use `centroids`, `grid:METRES` or a point file");
        }
        Ok(Self::File(path))
    }
}

/// A candidate site in the working CRS.
struct Site {
    id: String,
    xy: geo::Coord<f64>,
    cost: f64,
}

/// Largest grid accepted: beyond it the problem is better posed with a coarser grid.
const MAX_GRID_POINTS: usize = 2_000_000;

/// Runs `gapmap plan`.
pub(super) fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let mut config = args.data.to_config()?;
    if args.year.is_some() {
        config.analysis.year = args.year;
    }
    // A bare `--radius M` is the planned kind's.
    if let Some(r) = config.analysis.radius_m.remove("") {
        config.analysis.radius_m.insert(args.kind.clone(), r);
    }
    if args.print_config {
        return print_config(&config);
    }
    let out = args.out.as_deref().context("--out is required")?;
    let ext = if io::postgis::is_uri(out) {
        // A bad target or an unreachable database fails now, not after the solve.
        io::postgis::check_target(out)?;
        "postgis".to_owned()
    } else {
        io::write::extension(out)
    };
    if !["json", "csv", "geojson", "html", "postgis"].contains(&ext.as_str()) {
        bail!("--out {}: unsupported extension; use .json, .csv, .geojson or .html, or a postgresql:// URI", out.display());
    }
    let candidates = Candidates::parse(&args.candidates)?;
    if matches!(candidates, Candidates::Grid(_)) && args.cost.is_some() {
        bail!("--cost needs candidates with a cost property; grid candidates have none");
    }
    if args.time_limit.is_nan() || args.time_limit < 0.0 {
        bail!("--time-limit {} must be 0 or more seconds", args.time_limit);
    }
    config.validate()?;
    let catalogue = catalogue_for(&config)?;
    let kind = catalogue.require_kind(&args.kind).with_context(|| format!("--kind {}", args.kind))?;
    let radius_m = catalogue.spec(kind).radius_m;
    let limits = Limits { count: args.count, budget: args.budget };
    limits.check()?;
    let started = std::time::Instant::now();
    let report_beside = if ext == "postgis" { super::analyze::database_report_beside(out) } else { out.to_owned() };
    let prepared = load_data(&config, &catalogue, args.data.crs.as_deref(), || Ok(report_beside.clone()))?;
    let loaded = &prepared.loaded;
    let straight = StraightLine::new(&loaded.facilities, config.analysis.distance_from);
    let metric: &dyn CoverageMetric = match &prepared.network {
        Some(network) => &network.metric,
        None => &straight,
    };

    // Demand: estates the kind does not cover yet.
    let bar = spinner("finding the estates without one");
    let table = analysis::compute_coverage(&loaded.estates, metric, &catalogue, config.analysis.year, &RecordedHouseholds, &())?;
    let weights = match args.weight.strip_prefix("wishes:") {
        Some(item) => wish_weights(&config, &loaded.estates, item, &report_beside)?,
        None => demand_weights(&loaded.estates, &args.weight)?,
    };
    let demand_set = DemandSet::uncovered(&table, kind);
    let demand = &demand_set.estates;

    // Candidates and what each covers.
    bar.set_message("placing candidates");
    let sites = candidate_sites(&candidates, loaded, &config, &catalogue, &args.kind, args.cost.as_deref())?;
    bar.set_message(format!("measuring {} candidates", sites.len()));
    let points: Vec<geo::Coord<f64>> = sites.iter().map(|s| s.xy).collect();
    let within = metric.estates_within(&loaded.estates, &points, radius_m)?;
    let covers = demand_set.covers(&within);
    let problem = CoverProblem::new(
        demand.iter().map(|&e| weights[e]).collect(),
        if args.cost.is_some() { sites.iter().map(|s| s.cost).collect() } else { Vec::new() },
        covers,
    )?;
    bar.set_message("solving");
    let solution = planning::plan(&problem, limits, args.time_limit);
    bar.finish_and_clear();

    // The document: sites in rank order with their gains and covers.
    let to_crs84 = io::crs::Transformer::to_crs84(&loaded.working_crs)?;
    let mut lonlat: Vec<geo::Coord<f64>> = solution.sites.iter().map(|&c| sites[c as usize].xy).collect();
    to_crs84.apply(&mut lonlat)?;
    let site = |c: u32| (sites[c as usize].id.clone(), args.cost.as_ref().map(|_| sites[c as usize].cost));
    let site_docs = io::plan::plan_sites(&problem, &solution, &lonlat, site, &loaded.estates, demand);
    let document = PlanDocument {
        generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
        kind: args.kind.clone(),
        radius_m,
        count: args.count,
        budget: args.budget,
        metric: metric.kind(),
        distance_from: metric.distance_from(),
        weight: args.weight.clone(),
        candidates: args.candidates.clone(),
        candidate_count: sites.len(),
        year: config.analysis.year,
        solver: solution.solver,
        objective_weight: solution.objective,
        objective_households: site_docs.iter().map(|s| s.households_new).sum(),
        objective_estates: site_docs.iter().map(|s| s.estates_new).sum(),
        bound_weight: solution.bound,
        bound_households: (args.weight == "households").then_some(solution.bound),
        gap_pct: solution.gap_pct(),
        demand_estates: demand.len(),
        demand_households: demand.iter().map(|&e| f64::from(loaded.estates[e].households.unwrap_or(0))).sum(),
        seconds: started.elapsed().as_secs_f64(),
        working_crs: loaded.working_crs.clone(),
        sites: site_docs,
    };
    write_plan(&ext, out, &document, loaded, demand, &to_crs84)?;
    print_plan(&document, out);
    Ok(())
}

/// Writes the plan to `out`, whose kind `ext` names (an extension, or `postgis` for a URI).
fn write_plan(ext: &str, out: &Path, document: &PlanDocument, loaded: &io::load::Loaded, demand: &[usize], to_crs84: &io::crs::Transformer) -> anyhow::Result<()> {
    let bar = spinner(&format!("writing {}", io::postgis::redact_path(out).display()));
    match ext {
        "postgis" => {
            let written = io::postgis::write_plan(out, document, &loaded.estates_crs)?;
            bar.suspend(|| eprintln!("wrote {} sites to {} (SRID {})", written.rows, written.table, written.srid));
        }
        "json" => io::write::write_json(out, document)?,
        "csv" => io::plan::write_plan_csv(out, document)?,
        "geojson" => io::plan::write_plan_geojson(out, document)?,
        _ => io::plan::write_plan_html(out, document, &loaded.estates, demand, to_crs84)?,
    }
    bar.finish_and_clear();
    Ok(())
}

/// Demand weight per estate from the residents' wishes for `item` (`--weight wishes:ITEM`):
/// the [programme] tables loaded and checked as `gapmap programme` does (bad rows listed
/// beside `out`, stopping the run under --on-invalid abort).
fn wish_weights(config: &Config, estates: &[Estate], item: &str, out: &Path) -> anyhow::Result<Vec<f64>> {
    if item.trim().is_empty() {
        bail!("--weight wishes:ITEM needs an item, e.g. wishes:day_care");
    }
    let section = config.programme.as_ref().context("--weight wishes:ITEM needs a [programme] section with a wishes table in the config")?;
    let wishes = section.wishes.as_ref().context("--weight wishes:ITEM: the [programme] section names no wishes table; set wishes = { path = \"wishes.csv\" }")?;
    if !wishes.path.exists() {
        bail!("programme.wishes.path: {} does not exist", wishes.path.display());
    }
    section.validate()?;
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    let stem = out.file_stem().map_or_else(|| "plan".to_owned(), |s| s.to_string_lossy().into_owned());
    let data = super::programme::load_rows(section, estates, dir, &stem, config.analysis.on_invalid)?;
    if !data.wishes.iter().any(|w| w.item == item) {
        let mut items: Vec<&str> = data.wishes.iter().map(|w| w.item.as_str()).collect();
        items.sort_unstable();
        items.dedup();
        bail!("--weight wishes:{item}: no resident asked for `{item}` in {}; items asked for: {}", wishes.path.display(), items.join(", "));
    }
    let ids: Vec<FeatureId> = estates.iter().map(|e| e.id.clone()).collect();
    Ok(crate::programme::wish_weights(&ids, &data.wishes, item))
}

/// Demand weight per estate.
fn demand_weights(estates: &[Estate], weight: &str) -> anyhow::Result<Vec<f64>> {
    match weight {
        "households" => {
            let missing = estates.iter().filter(|e| e.households.is_none()).count();
            if missing > 0 {
                eprintln!("warning: {missing} estates have no households and weigh 0; use --weight estates to count estates instead");
            }
            Ok(estates.iter().map(|e| f64::from(e.households.unwrap_or(0))).collect())
        }
        "estates" => Ok(vec![1.0; estates.len()]),
        field => estates
            .iter()
            .enumerate()
            .map(|(i, e)| {
                number_of(&e.extra, field).with_context(|| format!("--weight {field}: estate {i} (id {})", e.id))
            })
            .collect(),
    }
}

/// A non-negative number from a property.
fn number_of(attrs: &[(String, AttrValue)], field: &str) -> anyhow::Result<f64> {
    let value = attrs.iter().find(|(k, _)| k == field).map(|(_, v)| v).with_context(|| format!("has no `{field}` property"))?;
    #[expect(clippy::cast_precision_loss, reason = "weights and costs are far below 2^52")]
    let n = match value {
        AttrValue::Int(n) => *n as f64,
        AttrValue::Float(x) => *x,
        AttrValue::Text(s) => s.trim().parse::<f64>().with_context(|| format!("`{field}` = `{s}` is not a number"))?,
        other => bail!("`{field}` = `{other}` is not a number"),
    };
    if !(n.is_finite() && n >= 0.0) {
        bail!("`{field}` = {n} must be a finite number, not negative");
    }
    Ok(n)
}

/// The candidate sites, working CRS.
fn candidate_sites(
    candidates: &Candidates,
    loaded: &io::load::Loaded,
    config: &Config,
    catalogue: &crate::model::Catalogue,
    kind: &str,
    cost: Option<&str>,
) -> anyhow::Result<Vec<Site>> {
    match candidates {
        Candidates::Centroids => loaded
            .estates
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.centroid().map(|c| (i, e, c)))
            .map(|(i, e, c)| {
                let cost = match cost {
                    Some(field) => number_of(&e.extra, field).with_context(|| format!("--cost {field}: estate {i} (id {})", e.id))?,
                    None => 0.0,
                };
                Ok(Site { id: e.id.to_string(), xy: c.0, cost })
            })
            .collect(),
        Candidates::Grid(spacing_m) => {
            let Some(bounds) = loaded.estates.iter().filter_map(Estate::bounds).reduce(|a, b| {
                geo::Rect::new(
                    geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            }) else {
                bail!("no estate has a geometry to lay a grid over");
            };
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked against MAX_GRID_POINTS below")]
            let (nx, ny) = ((bounds.width() / spacing_m).ceil().max(1.0) as usize, (bounds.height() / spacing_m).ceil().max(1.0) as usize);
            if nx.saturating_mul(ny) > MAX_GRID_POINTS {
                bail!("--candidates grid:{spacing_m}: {nx} × {ny} points is more than {MAX_GRID_POINTS}; use a wider spacing");
            }
            let mut sites = Vec::with_capacity(nx * ny);
            for j in 0..ny {
                for i in 0..nx {
                    #[expect(clippy::cast_precision_loss, reason = "grid indices are small")]
                    let xy = geo::coord! { x: bounds.min().x + (i as f64 + 0.5) * spacing_m, y: bounds.min().y + (j as f64 + 0.5) * spacing_m };
                    sites.push(Site { id: format!("g{i}_{j}"), xy, cost: 0.0 });
                }
            }
            Ok(sites)
        }
        Candidates::File(path) => {
            let source = SourceConfig { kind: Some(kind.to_owned()), ..SourceConfig::from_path(path) };
            let options = io::load::LoadOptions { catalogue, default_crs: config.estates.as_ref().and_then(|e| e.crs.as_deref()), working_crs: Some(&loaded.working_crs) };
            let (points, report) = io::load::load_points(&source, &options, &loaded.working_crs)?;
            if report.has_rejections() {
                for r in report.rejected.iter().take(20) {
                    eprintln!("rejected: {r}");
                }
                bail!("{}: {} candidate features were rejected (first: {}); fix them and try again", path.display(), report.rejected.len(), report.rejected[0]);
            }
            points
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    let cost = match cost {
                        Some(field) => {
                            let attrs: Vec<(String, AttrValue)> = f.extra.clone();
                            number_of(&attrs, field).with_context(|| format!("--cost {field}: {} feature {i} (id {})", path.display(), f.id))?
                        }
                        None => 0.0,
                    };
                    Ok(Site { id: id_text(&f.id), xy: f.location.0, cost })
                })
                .collect()
        }
    }
}

fn id_text(id: &FeatureId) -> String {
    id.to_string()
}

/// The plan on stderr.
fn print_plan(d: &PlanDocument, out: &Path) {
    eprintln!(
        "{} {} sites for {} ({} m, {}): {} of {} households in {} of {} uncovered estates newly covered ({} solution{})",
        d.sites.len(),
        d.kind,
        d.weight,
        d.radius_m,
        d.metric.as_str(),
        d.objective_households,
        d.demand_households,
        d.objective_estates,
        d.demand_estates,
        match d.solver {
            planning::SolverKind::Exact => "exact",
            planning::SolverKind::Greedy => "greedy",
        },
        if d.gap_pct > 0.0 { format!(", gap ≤ {:.2} %", d.gap_pct) } else { String::new() },
    );
    if let Some(item) = d.weight.strip_prefix("wishes:") {
        // The objective is in residents' wishes, which the households above do not show.
        eprintln!("  weight covered: {} residents asking for {item} (of the bound {})", d.objective_weight, d.bound_weight);
    }
    for s in d.sites.iter().take(10) {
        eprintln!("  {:>3}. {:<16} +{:>6} households, +{:>3} estates", s.rank, s.id, s.households_new, s.estates_new);
    }
    eprintln!("wrote {}", io::postgis::redact_path(out).display());
}
