//! Writing a site plan: JSON document, CSV rows, GeoJSON points, a self-contained HTML page.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use super::crs::Transformer;
use super::write::{write_atomically, OutFeature};
use super::WriteError;
use crate::analysis::{DistanceFrom, MetricKind};
use crate::model::{AttrValue, Estate};
use crate::plan::{CoverProblem, PlanSolution, SolverKind};

/// One chosen site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSite {
    /// 1 for the site adding the most, and so on (each given those ranked before it).
    pub rank: usize,
    /// Candidate id (the estate id for centroid candidates, `g{i}_{j}` for grid cells).
    pub id: String,
    /// Longitude (CRS84).
    pub lon: f64,
    /// Latitude (CRS84).
    pub lat: f64,
    /// The site's cost, when costs were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// Households newly covered by this site, given the sites ranked before it.
    pub households_new: f64,
    /// Estates newly covered by this site, given the sites ranked before it.
    pub estates_new: usize,
    /// Ids of every uncovered estate within the radius of this site.
    pub covers: Vec<String>,
}

/// The answer of `gapmap plan`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDocument {
    /// `gapmap x.y.z`.
    pub generator: String,
    /// Catalogue key of the kind placed.
    pub kind: String,
    /// Service radius used (metres).
    pub radius_m: f64,
    /// Site count limit.
    pub count: Option<usize>,
    /// Budget limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// Straight line or walking network.
    pub metric: MetricKind,
    /// Boundary or centroid.
    pub distance_from: DistanceFrom,
    /// `households`, `estates` or the weight property.
    pub weight: String,
    /// `centroids`, `grid:M` or the candidate file.
    pub candidates: String,
    /// Number of candidate sites.
    pub candidate_count: usize,
    /// Facilities opened by this year count as existing.
    pub year: Option<i32>,
    /// Which solver answered.
    pub solver: SolverKind,
    /// Covered demand weight (households unless `weight` says otherwise).
    pub objective_weight: f64,
    /// Households newly covered.
    pub objective_households: f64,
    /// Estates newly covered.
    pub objective_estates: usize,
    /// Upper bound on the weight objective.
    pub bound_weight: f64,
    /// Upper bound on the households objective (when the weight is households).
    pub bound_households: Option<f64>,
    /// Optimality gap, percent (0 when exact).
    pub gap_pct: f64,
    /// Estates without the kind within the radius.
    pub demand_estates: usize,
    /// Their households.
    pub demand_households: f64,
    /// Seconds from start to answer (loading included).
    pub seconds: f64,
    /// Working CRS of the analysis.
    pub working_crs: String,
    /// The sites in rank order.
    pub sites: Vec<PlanSite>,
}

/// The chosen sites as documents, in rank order: each site's marginal gain given those ranked
/// before it, and every demand estate within its radius.
///
/// `lonlat[i]` is site `solution.sites[i]` in CRS84; `site(c)` names candidate `c` and gives its
/// cost when costs count; `demand` are the estate positions of `problem`'s demand points.
#[must_use]
pub fn plan_sites(problem: &CoverProblem, solution: &PlanSolution, lonlat: &[geo::Coord<f64>], site: impl Fn(u32) -> (String, Option<f64>), estates: &[Estate], demand: &[usize]) -> Vec<PlanSite> {
    let households = |d: u32| f64::from(estates[demand[d as usize]].households.unwrap_or(0));
    let mut hit = vec![false; demand.len()];
    let mut sites = Vec::with_capacity(solution.sites.len());
    for (rank, (&c, ll)) in solution.sites.iter().zip(lonlat).enumerate() {
        let covered = problem.covers(c);
        let fresh: Vec<u32> = covered.iter().copied().filter(|&d| !hit[d as usize]).collect();
        for &d in &fresh {
            hit[d as usize] = true;
        }
        let (id, cost) = site(c);
        sites.push(PlanSite {
            rank: rank + 1,
            id,
            lon: ll.x,
            lat: ll.y,
            cost,
            households_new: fresh.iter().map(|&d| households(d)).sum(),
            estates_new: fresh.len(),
            covers: covered.iter().map(|&d| estates[demand[d as usize]].id.to_string()).collect(),
        });
    }
    sites
}

/// Writes one CSV row per site.
///
/// # Errors
/// [`WriteError::Io`].
pub fn write_plan_csv(path: &Path, plan: &PlanDocument) -> Result<(), WriteError> {
    write_atomically(path, |w| {
        let io_err = |source| WriteError::Io { path: path.to_owned(), source };
        writeln!(w, "rank,id,lon,lat,cost,households_new,estates_new,covers").map_err(io_err)?;
        for s in &plan.sites {
            let cost = s.cost.map(|c| c.to_string()).unwrap_or_default();
            writeln!(w, "{},{},{:.7},{:.7},{},{},{},{}", s.rank, csv_field(&s.id), s.lon, s.lat, cost, s.households_new, s.estates_new, csv_field(&s.covers.join(" "))).map_err(io_err)?;
        }
        Ok(())
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Writes the sites as GeoJSON points (CRS84) with their rank, gains and covers.
///
/// # Errors
/// [`WriteError::Io`].
pub fn write_plan_geojson(path: &Path, plan: &PlanDocument) -> Result<(), WriteError> {
    let features: Vec<OutFeature> = plan
        .sites
        .iter()
        .map(|s| {
            let mut properties = vec![
                ("rank".to_owned(), AttrValue::Int(i64::try_from(s.rank).unwrap_or(i64::MAX))),
                ("id".to_owned(), AttrValue::Text(s.id.clone())),
                ("kind".to_owned(), AttrValue::Text(plan.kind.clone())),
                ("households_new".to_owned(), AttrValue::Float(s.households_new)),
                ("estates_new".to_owned(), AttrValue::Int(i64::try_from(s.estates_new).unwrap_or(i64::MAX))),
                ("covers".to_owned(), AttrValue::Json(serde_json::to_string(&s.covers).unwrap_or_else(|_| "[]".to_owned()))),
                ("metric".to_owned(), AttrValue::Text(plan.metric.as_str().to_owned())),
                ("solver".to_owned(), AttrValue::Text(solver_name(plan.solver).to_owned())),
            ];
            if let Some(c) = s.cost {
                properties.push(("cost".to_owned(), AttrValue::Float(c)));
            }
            OutFeature { geometry: geo::Point::new(s.lon, s.lat).into(), properties }
        })
        .collect();
    super::geojson::write_feature_collection(path, &features, Some("plan"))
}

fn solver_name(s: SolverKind) -> &'static str {
    match s {
        SolverKind::Exact => "exact",
        SolverKind::Greedy => "greedy",
    }
}

/// Writes a self-contained page: a map (SVG) of the uncovered estates, those the sites cover and
/// the sites, and the table.
///
/// # Errors
/// [`WriteError::Io`], or a CRS error turning estates into CRS84.
pub fn write_plan_html(path: &Path, plan: &PlanDocument, estates: &[Estate], demand: &[usize], to_crs84: &Transformer) -> Result<(), WriteError> {
    // Outlines of the demand estates in CRS84, projected onto the page with an equirectangular
    // scale at the mean latitude (a picture, not a measurement).
    let covered: std::collections::HashSet<&str> = plan.sites.iter().flat_map(|s| s.covers.iter().map(String::as_str)).collect();
    let mut rings: Vec<(bool, Vec<geo::Coord<f64>>)> = Vec::new();
    for &e in demand {
        let estate = &estates[e];
        let is_covered = covered.contains(estate.id.to_string().as_str());
        for polygon in &estate.geometry {
            let mut ring = polygon.exterior().0.clone();
            to_crs84.apply(&mut ring).map_err(|e| WriteError::Io { path: path.to_owned(), source: std::io::Error::other(e.to_string()) })?;
            rings.push((is_covered, ring));
        }
    }
    let all = rings.iter().flat_map(|(_, r)| r.iter().copied()).chain(plan.sites.iter().map(|s| geo::coord! { x: s.lon, y: s.lat }));
    let (mut min, mut max) = (geo::coord! { x: f64::INFINITY, y: f64::INFINITY }, geo::coord! { x: f64::NEG_INFINITY, y: f64::NEG_INFINITY });
    for c in all {
        min = geo::coord! { x: min.x.min(c.x), y: min.y.min(c.y) };
        max = geo::coord! { x: max.x.max(c.x), y: max.y.max(c.y) };
    }
    let kx = ((min.y + max.y) / 2.0).to_radians().cos().max(0.1);
    let (width, height) = (((max.x - min.x) * kx).max(1e-9), (max.y - min.y).max(1e-9));
    let scale = 1000.0 / width.max(height);
    let px = |c: geo::Coord<f64>| ((c.x - min.x) * kx * scale, (max.y - c.y) * scale);
    let mut svg = String::new();
    let _ = write!(svg, r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="-10 -10 {:.0} {:.0}" style="max-width:100%;background:#fafafa">"#, width * scale + 20.0, height * scale + 20.0);
    for (is_covered, ring) in &rings {
        let mut d = String::new();
        for (i, c) in ring.iter().enumerate() {
            let (x, y) = px(*c);
            let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
        }
        let fill = if *is_covered { "#2b8cbe" } else { "#e34a33" };
        let _ = write!(svg, r#"<path d="{d}Z" fill="{fill}" fill-opacity="0.6" stroke="{fill}" stroke-width="0.5"/>"#);
    }
    for s in &plan.sites {
        let (x, y) = px(geo::coord! { x: s.lon, y: s.lat });
        let _ = write!(svg, r##"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="#111" stroke="#fff" stroke-width="1.5"><title>{} {}</title></circle><text x="{:.1}" y="{:.1}" font-size="11" fill="#111">{}</text>"##, s.rank, escape(&s.id), x + 8.0, y + 4.0, s.rank);
    }
    svg.push_str("</svg>");
    let mut rows = String::new();
    for s in &plan.sites {
        let _ = write!(rows, "<tr><td>{}</td><td>{}</td><td>{:.6}</td><td>{:.6}</td><td>{}</td><td>{}</td><td>{}</td></tr>", s.rank, escape(&s.id), s.lon, s.lat, s.households_new, s.estates_new, s.covers.len());
    }
    let title = format!("Where to add {}: {} sites", escape(&plan.kind), plan.sites.len());
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}.k{{color:#555}}</style></head>
<body><h1>{title}</h1>
<p class="k">Radius {radius} m by {metric} distance (from the estate {from}); {demand} estates ({dh} households) had none within it. The sites newly cover <b>{oe}</b> estates and <b>{oh}</b> households ({solver} solution{gap}). {n} candidates ({cands}); computed by {gen} in {secs:.1} s.</p>
<p class="k"><span style="color:#2b8cbe">■</span> covered by a new site &nbsp; <span style="color:#e34a33">■</span> still uncovered &nbsp; ● site (rank)</p>
{svg}
<table><thead><tr><th>rank</th><th>id</th><th>lon</th><th>lat</th><th>households new</th><th>estates new</th><th>estates within radius</th></tr></thead><tbody>{rows}</tbody></table>
</body></html>
"#,
        radius = plan.radius_m,
        metric = if plan.metric == MetricKind::Network { "walking" } else { "straight-line" },
        from = plan.distance_from.as_str(),
        demand = plan.demand_estates,
        dh = plan.demand_households,
        oe = plan.objective_estates,
        oh = plan.objective_households,
        solver = solver_name(plan.solver),
        gap = if plan.gap_pct > 0.0 { format!(", gap ≤ {:.2} %", plan.gap_pct) } else { String::new() },
        n = plan.candidate_count,
        cands = escape(&plan.candidates),
        gen = escape(&plan.generator),
        secs = plan.seconds,
    );
    write_atomically(path, |w| w.write_all(html.as_bytes()).map_err(|source| WriteError::Io { path: path.to_owned(), source }))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
