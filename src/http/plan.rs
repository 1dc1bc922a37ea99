//! `POST /plans` (where the next K facilities of a kind should go) and `POST /what-if` (what
//! trial facilities would newly cover).
//!
//! A plan is `gapmap plan` over the served data: the same demand (estates the kind does not
//! cover in the view's year, by the dataset's metric), the same candidates (estate centroids, a
//! grid, or points listed in the request), the same coverage test
//! ([`CoverageMetric::estates_within`]) and the same solver ([`crate::plan::plan`]). Solving takes
//! seconds, so plans run on blocking threads, at most `serve.plan_workers` at once; a plan finding
//! none free is answered 503 with `Retry-After` rather than queued behind a time limit. Count,
//! candidates and time limit are capped by `[serve]` (`plan_max_*`), and a request over a cap is
//! answered 400 naming the field.
//!
//! A what-if is answered from the view's [`TrialIndex`](super::trial::TrialIndex), built once per
//! view and kind, so each point costs one index query (straight line) or one bounded search
//! (walking).

use std::time::Instant;

use axum::body::Bytes;
use axum::response::Response;
use axum::routing::post;
use axum::{Extension, Router};
use axum::extract::State;
use geo::Coord;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::respond::json_ok;
use crate::serve::dataset::{id_json, Dataset, YearView};
use super::state::AppState;
use super::Snapshot;
use crate::analysis::{self, CoverageMetric, CoverageTable, RecordedHouseholds, StraightLine};
use crate::config::ServeConfig;
use crate::io::crs::Transformer;
use crate::io::plan::PlanDocument;
use crate::model::{Estate, KindId};
use crate::plan::{self as planning, CoverProblem, DemandSet, Limits};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/plans", post(post_plans)).route("/what-if", post(post_what_if))
}

/// The smallest grid spacing accepted, as `gapmap plan` has it.
const MIN_GRID_M: f64 = 10.0;

/// Parses a JSON object body, naming what is wrong.
fn body_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(ApiError::bad("body", "must be a JSON object")),
        Err(e) => Err(ApiError::bad("body", format!("is not JSON: {e}"))),
    }
}

/// Fails on the first member not in `accepted`.
fn only(body: &Map<String, Value>, accepted: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad(k, format!("unknown field; this request accepts: {}", accepted.join(", ")))),
        None => Ok(()),
    }
}

fn number(body: &Map<String, Value>, field: &str) -> Result<Option<f64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().filter(|x| x.is_finite()).map(Some).ok_or_else(|| ApiError::bad(field, format!("`{v}` is not a number"))),
    }
}

fn whole(body: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| ApiError::bad(field, format!("`{v}` is not a whole number"))),
    }
}

fn text<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(ApiError::bad(field, format!("`{v}` is not a string"))),
    }
}

fn kind_of(dataset: &Dataset, body: &Map<String, Value>) -> Result<KindId, ApiError> {
    let key = text(body, "kind")?.ok_or_else(|| ApiError::bad("kind", "is required (a catalogue key, e.g. day_care)"))?;
    dataset.catalogue.kind_id(key).ok_or_else(|| ApiError::bad("kind", format!("`{key}` is not a kind; use one of: {}", dataset.catalogue.keys().collect::<Vec<_>>().join(", "))))
}

fn year_of(dataset: &Dataset, body: &Map<String, Value>) -> Result<Option<i32>, ApiError> {
    match whole(body, "year")? {
        None => Ok(dataset.params.year),
        Some(y) => i32::try_from(y).ok().filter(|y| (1000..=3000).contains(y)).map(Some).ok_or_else(|| ApiError::bad("year", format!("`{y}` is not a year between 1000 and 3000"))),
    }
}

/// A lon/lat pair from `{lon, lat}`, named `what` in errors.
fn lonlat(v: &Value, what: &str) -> Result<Coord<f64>, ApiError> {
    let o = v.as_object().ok_or_else(|| ApiError::bad(what, "must be an object with lon and lat"))?;
    let coordinate = |name: &str, limit: f64| -> Result<f64, ApiError> {
        o.get(name)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite() && x.abs() <= limit)
            .ok_or_else(|| ApiError::bad(&format!("{what}.{name}"), format!("is required: CRS84 degrees within ±{limit}")))
    };
    Ok(Coord { x: coordinate("lon", 180.0)?, y: coordinate("lat", 90.0)? })
}

/// The metric the dataset measures by, over the view's facilities.
fn metric_of<'a>(dataset: &'a Dataset, view: &'a YearView) -> StraightOrNetwork<'a> {
    match &dataset.network {
        Some(n) => StraightOrNetwork::Network(&n.metric),
        None => StraightOrNetwork::Straight(StraightLine::with_index(&dataset.facilities, view.facility_index(dataset), dataset.params.distance_from)),
    }
}

enum StraightOrNetwork<'a> {
    Straight(StraightLine<'a>),
    Network(&'a analysis::NetworkMetric),
}

impl StraightOrNetwork<'_> {
    fn get(&self) -> &dyn CoverageMetric {
        match self {
            Self::Straight(s) => s,
            Self::Network(n) => *n,
        }
    }
}

/// Where candidates come from.
enum Candidates {
    Centroids,
    Grid(f64),
    /// `(id, lon/lat, cost)` from the request.
    Listed(Vec<(String, Coord<f64>, Option<f64>)>),
}

impl Candidates {
    fn name(&self) -> String {
        match self {
            Self::Centroids => "centroids".into(),
            Self::Grid(m) => format!("grid:{m}"),
            Self::Listed(l) => format!("{} listed points", l.len()),
        }
    }
}

fn candidates_of(body: &Map<String, Value>, serve: &ServeConfig) -> Result<Candidates, ApiError> {
    match body.get("candidates") {
        None | Some(Value::Null) => Ok(Candidates::Centroids),
        Some(Value::String(s)) if s == "centroids" => Ok(Candidates::Centroids),
        Some(Value::String(s)) if s.starts_with("grid:") => {
            let m = s["grid:".len()..].trim();
            match m.parse::<f64>() {
                Ok(m) if m.is_finite() && m >= MIN_GRID_M => Ok(Candidates::Grid(m)),
                _ => Err(ApiError::bad("candidates", format!("`{s}`: the grid spacing must be a number of metres, at least {MIN_GRID_M}"))),
            }
        }
        Some(Value::Array(items)) => {
            if items.len() > serve.plan_max_candidates {
                return Err(ApiError::bad("candidates", format!("{} candidates are more than serve.plan_max_candidates ({})", items.len(), serve.plan_max_candidates)));
            }
            if items.is_empty() {
                return Err(ApiError::bad("candidates", "lists no point"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let what = format!("candidates[{i}]");
                    let o = item.as_object().ok_or_else(|| ApiError::bad(&what, "must be an object {id, lon, lat, cost?}"))?;
                    if let Some(k) = o.keys().find(|k| !["id", "lon", "lat", "cost"].contains(&k.as_str())) {
                        return Err(ApiError::bad(&format!("{what}.{k}"), "unknown field; a candidate has id, lon, lat and cost"));
                    }
                    let id = match o.get("id") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => return Err(ApiError::bad(&format!("{what}.id"), "is required: a string or a number")),
                    };
                    let cost = match o.get("cost") {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(v.as_f64().filter(|c| c.is_finite() && *c >= 0.0).ok_or_else(|| ApiError::bad(&format!("{what}.cost"), format!("`{v}` is not a number ≥ 0")))?),
                    };
                    Ok((id, lonlat(item, &what)?, cost))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Candidates::Listed)
        }
        Some(v) => Err(ApiError::bad("candidates", format!("`{v}` is not `centroids`, `grid:METRES` or a list of {{id, lon, lat, cost?}}"))),
    }
}

/// A candidate site in the working CRS.
struct Site {
    id: String,
    xy: Coord<f64>,
    cost: f64,
}

/// The candidate sites, as `gapmap plan` places them; the count is checked against the cap
/// before a grid is laid.
fn candidate_sites(dataset: &Dataset, candidates: Candidates, serve: &ServeConfig) -> Result<Vec<Site>, ApiError> {
    let cap = |n: usize| -> Result<(), ApiError> {
        if n > serve.plan_max_candidates {
            return Err(ApiError::bad("candidates", format!("{n} candidates are more than serve.plan_max_candidates ({})", serve.plan_max_candidates)));
        }
        Ok(())
    };
    match candidates {
        Candidates::Centroids => {
            let sites: Vec<Site> = dataset.estates.iter().filter_map(|e| e.centroid().map(|c| Site { id: e.id.to_string(), xy: c.0, cost: 0.0 })).collect();
            cap(sites.len())?;
            Ok(sites)
        }
        Candidates::Grid(spacing_m) => {
            let bounds = dataset
                .estates
                .iter()
                .filter_map(Estate::bounds)
                .reduce(|a, b| geo::Rect::new(geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) }, geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) }))
                .ok_or_else(|| ApiError::bad("candidates", "no estate has a geometry to lay a grid over"))?;
            let (nx, ny) = ((bounds.width() / spacing_m).ceil().max(1.0), (bounds.height() / spacing_m).ceil().max(1.0));
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked against the cap first")]
            let (nx, ny) = if nx * ny > 1e9 { (usize::MAX, 1) } else { (nx as usize, ny as usize) };
            cap(nx.saturating_mul(ny))?;
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
        Candidates::Listed(list) => {
            let mut xy: Vec<Coord<f64>> = list.iter().map(|(_, c, _)| *c).collect();
            dataset.to_working.apply(&mut xy).map_err(|e| ApiError::bad("candidates", format!("cannot convert the points to {}: {e}", dataset.working_crs)))?;
            Ok(list.into_iter().zip(xy).map(|((id, _, cost), xy)| Site { id, xy, cost: cost.unwrap_or(0.0) }).collect())
        }
    }
}

/// A validated plan request.
struct PlanRequest {
    kind: KindId,
    count: Option<usize>,
    radius_m: Option<f64>,
    candidates: Candidates,
    households_weight: bool,
    budget: Option<f64>,
    year: Option<i32>,
    time_limit_s: f64,
}

fn plan_request(dataset: &Dataset, body: &Map<String, Value>, serve: &ServeConfig) -> Result<PlanRequest, ApiError> {
    only(body, &["kind", "count", "radius_m", "candidates", "weight", "budget", "year", "time_limit_s"])?;
    let kind = kind_of(dataset, body)?;
    let count = match whole(body, "count")? {
        Some(0) => return Err(ApiError::bad("count", "must be at least 1")),
        Some(n) if n > serve.plan_max_count as u64 => return Err(ApiError::bad("count", format!("{n} is more than serve.plan_max_count ({})", serve.plan_max_count))),
        Some(n) => Some(usize::try_from(n).expect("below the cap")),
        None => None,
    };
    let budget = number(body, "budget")?;
    if let Some(b) = budget {
        if b < 0.0 {
            return Err(ApiError::bad("budget", format!("{b} must not be negative")));
        }
    }
    if count.is_none() && budget.is_none() {
        return Err(ApiError::bad("count", "is required unless a budget is given"));
    }
    let radius_m = number(body, "radius_m")?;
    if let Some(r) = radius_m.filter(|r| *r <= 0.0) {
        return Err(ApiError::bad("radius_m", format!("{r} must be more than 0 metres")));
    }
    let households_weight = match text(body, "weight")? {
        None | Some("households") => true,
        Some("estates") => false,
        Some(w) => return Err(ApiError::bad("weight", format!("`{w}` is not `households` or `estates`"))),
    };
    let max_s = serve.plan_time_limit_cap_s();
    let time_limit_s = match number(body, "time_limit_s")? {
        None => max_s,
        Some(s) if s < 0.0 => return Err(ApiError::bad("time_limit_s", format!("{s} must be 0 or more seconds"))),
        Some(s) if s > max_s => return Err(ApiError::bad("time_limit_s", format!("{s} s is more than this server allows ({max_s} s: serve.plan_max_time_limit_s, at most half of serve.request_timeout_s)"))),
        Some(s) => s,
    };
    let candidates = candidates_of(body, serve)?;
    if budget.is_some() {
        match &candidates {
            Candidates::Listed(list) => {
                if let Some(i) = list.iter().position(|(_, _, c)| c.is_none()) {
                    return Err(ApiError::bad(&format!("candidates[{i}].cost"), "is required with a budget"));
                }
            }
            _ => return Err(ApiError::bad("budget", "needs candidates listed with a cost each; centroids and grid cells have none")),
        }
    }
    Ok(PlanRequest { kind, count, radius_m, candidates, households_weight, budget, year: year_of(dataset, body)?, time_limit_s })
}

async fn post_plans(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, body: Bytes) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body = body_object(&body)?;
    let request = plan_request(&dataset, &body, state.serve())?;
    let permit = state.plan_permit()?;
    let serve = state.serve().clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let document = solve_plan(&dataset, request, &serve, started)?;
        Ok(json_ok(&plan_json(&document)))
    })
    .await?
}

/// Builds and solves the plan, as `gapmap plan` does. Blocking.
fn solve_plan(dataset: &Dataset, request: PlanRequest, serve: &ServeConfig, started: Instant) -> Result<PlanDocument, ApiError> {
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(e.to_string());
    let view = dataset.year_view(request.year)?;
    let metric = metric_of(dataset, &view);
    let metric = metric.get();
    let spec = dataset.catalogue.spec(request.kind);
    // Another radius changes what is covered now, so the demand is measured again with it.
    let radius_m = request.radius_m.unwrap_or(spec.radius_m);
    let remeasured: Option<CoverageTable> = if (radius_m - view.table.radii_m[request.kind.index()]).abs() > 0.0 {
        let mut catalogue = dataset.catalogue.clone();
        catalogue.set_radius(&spec.key, radius_m).map_err(|e| ApiError::bad("radius_m", e.to_string()))?;
        Some(analysis::compute_coverage(&dataset.estates, metric, &catalogue, view.year, &RecordedHouseholds, &()).map_err(|e| internal(&e))?)
    } else {
        None
    };
    let table = remeasured.as_ref().unwrap_or(&view.table);
    let demand_set = DemandSet::uncovered(table, request.kind);
    let demand = &demand_set.estates;
    let households = |e: usize| f64::from(dataset.estates[e].households.unwrap_or(0));
    let candidate_name = request.candidates.name();
    let sites = candidate_sites(dataset, request.candidates, serve)?;
    let points: Vec<Coord<f64>> = sites.iter().map(|s| s.xy).collect();
    let within = metric.estates_within(&dataset.estates, &points, radius_m).map_err(|e| internal(&e))?;
    let covers = demand_set.covers(&within);
    let weights: Vec<f64> = demand.iter().map(|&e| if request.households_weight { households(e) } else { 1.0 }).collect();
    let costs = if request.budget.is_some() { sites.iter().map(|s| s.cost).collect() } else { Vec::new() };
    let problem = CoverProblem::new(weights, costs, covers).map_err(|e| ApiError::bad("candidates", e.to_string()))?;
    let limits = Limits { count: request.count, budget: request.budget };
    let solution = planning::plan(&problem, limits, request.time_limit_s);

    let to_crs84 = Transformer::to_crs84(&dataset.working_crs).map_err(|e| internal(&e))?;
    let mut lonlat: Vec<Coord<f64>> = solution.sites.iter().map(|&c| sites[c as usize].xy).collect();
    to_crs84.apply(&mut lonlat).map_err(|e| internal(&e))?;
    let site = |c: u32| (sites[c as usize].id.clone(), request.budget.map(|_| sites[c as usize].cost));
    let site_docs = crate::io::plan::plan_sites(&problem, &solution, &lonlat, site, &dataset.estates, demand);
    Ok(PlanDocument {
        generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
        kind: spec.key.clone(),
        radius_m,
        count: request.count,
        budget: request.budget,
        metric: metric.kind(),
        distance_from: metric.distance_from(),
        weight: if request.households_weight { "households" } else { "estates" }.to_owned(),
        candidates: candidate_name,
        candidate_count: sites.len(),
        year: view.year,
        solver: solution.solver,
        objective_weight: solution.objective,
        objective_households: site_docs.iter().map(|s| s.households_new).sum(),
        objective_estates: site_docs.iter().map(|s| s.estates_new).sum(),
        bound_weight: solution.bound,
        bound_households: request.households_weight.then_some(solution.bound),
        gap_pct: solution.gap_pct(),
        demand_estates: demand.len(),
        demand_households: demand.iter().map(|&e| households(e)).sum(),
        seconds: started.elapsed().as_secs_f64(),
        working_crs: dataset.working_crs.clone(),
        sites: site_docs,
    })
}

/// The plan as a GeoJSON FeatureCollection of its sites (CRS84), the summary as foreign members
/// named as in `gapmap plan`'s JSON (`bound` repeats `bound_weight`).
fn plan_json(document: &PlanDocument) -> Value {
    let mut out = match serde_json::to_value(document) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    out.remove("sites");
    out.insert("bound".into(), json!(document.bound_weight));
    let features: Vec<Value> = document
        .sites
        .iter()
        .map(|s| {
            let mut properties = json!({
                "rank": s.rank,
                "id": s.id,
                "households_new": s.households_new,
                "estates_new": s.estates_new,
                "covers": s.covers,
            });
            if let Some(c) = s.cost {
                properties["cost"] = json!(c);
            }
            json!({ "type": "Feature", "id": s.rank, "geometry": { "type": "Point", "coordinates": [s.lon, s.lat] }, "properties": properties })
        })
        .collect();
    let mut collection = Map::new();
    collection.insert("type".into(), json!("FeatureCollection"));
    collection.extend(out);
    collection.insert("features".into(), Value::Array(features));
    Value::Object(collection)
}

async fn post_what_if(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, body: Bytes) -> Result<Response, ApiError> {
    let body = body_object(&body)?;
    only(&body, &["kind", "points", "year"])?;
    let kind = kind_of(&dataset, &body)?;
    let year = year_of(&dataset, &body)?;
    let max = state.serve().what_if_max_points;
    let points = match body.get("points") {
        Some(Value::Array(items)) if items.len() > max => return Err(ApiError::bad("points", format!("{} points are more than serve.what_if_max_points ({max})", items.len()))),
        Some(Value::Array(items)) if !items.is_empty() => items.iter().enumerate().map(|(i, p)| lonlat(p, &format!("points[{i}]"))).collect::<Result<Vec<_>, _>>()?,
        _ => return Err(ApiError::bad("points", "is required: a list of {lon, lat}")),
    };
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let view = dataset.year_view(year)?;
        let trial = view.trial(&dataset, kind);
        let mut xy = points.clone();
        dataset.to_working.apply(&mut xy).map_err(|e| ApiError::bad("points", format!("cannot convert the points to {}: {e}", dataset.working_crs)))?;
        let metric = metric_of(&dataset, &view);
        let found = trial.newly_covered(&dataset.estates, metric.get(), &xy).map_err(|e| ApiError::Internal(e.to_string()))?;
        let households = |e: u32| u64::from(dataset.estates[e as usize].households.unwrap_or(0));
        let mut all: Vec<u32> = found.iter().flatten().map(|&(e, _)| e).collect();
        all.sort_unstable();
        all.dedup();
        let per_point: Vec<Value> = points
            .iter()
            .zip(&found)
            .map(|(p, list)| {
                json!({
                    "lon": p.x,
                    "lat": p.y,
                    "estates_new": list.len(),
                    "households_new": list.iter().map(|&(e, _)| households(e)).sum::<u64>(),
                    "estates": list.iter().map(|&(e, d)| json!({ "id": raw_id(&dataset, e), "distance_m": (d * 1000.0).round() / 1000.0, "households": dataset.estates[e as usize].households })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let spec = dataset.catalogue.spec(kind);
        Ok(json_ok(&json!({
            "kind": spec.key,
            "radius_m": trial.radius_m,
            "metric": dataset.metric_kind().as_str(),
            "distance_from": dataset.params.distance_from.as_str(),
            "year": view.year,
            "uncovered_estates": trial.uncovered_count,
            "points": per_point,
            "estates_new": all.len(),
            "households_new": all.iter().map(|&e| households(e)).sum::<u64>(),
            "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        })))
    })
    .await?
}

/// An estate's id as JSON (a number or a string, as the collections give it).
fn raw_id(dataset: &Dataset, e: u32) -> Value {
    serde_json::from_str(&id_json(&dataset.estates[e as usize].id)).unwrap_or(Value::Null)
}
