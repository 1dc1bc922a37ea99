//! Point and estate coverage queries: which facilities serve a place, per kind.

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use geo::Coord;
use serde_json::{json, Value};

use super::error::ApiError;
use super::html;
use super::params::{self, negotiate, Format, Lang, QueryPairs};
use crate::serve::dataset::{id_value, Dataset, ServedNetwork, YearView};
use super::state::AppState;
use super::Snapshot;
use crate::analysis::{BoundaryDistance, CentroidDistance, DistanceFrom, DistanceMetric};
use crate::model::{AttrValue, KindId};

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/coverage", get(get_coverage)).route("/estates/{estate}/coverage", get(get_estate_coverage))
}

fn attr_json(v: &AttrValue) -> Value {
    match v {
        AttrValue::Null => Value::Null,
        AttrValue::Bool(b) => json!(b),
        AttrValue::Int(n) => json!(n),
        AttrValue::Float(x) => json!(x),
        AttrValue::Text(s) => json!(s),
        AttrValue::Json(s) => serde_json::from_str(s).unwrap_or(Value::Null),
    }
}

fn facility_json(dataset: &Dataset, position: u32, distance_m: f64) -> Value {
    let f = &dataset.facilities[position as usize];
    json!({
        "id": attr_json(&id_value(&f.id)),
        "name": f.name,
        "capacity": f.capacity,
        "opened_year": f.opened_year,
        "distance_m": (distance_m * 1000.0).round() / 1000.0,
    })
}

fn year_param(pairs: &QueryPairs, dataset: &Dataset) -> Result<Option<i32>, ApiError> {
    pairs.get("year").map_or(Ok(dataset.params.year), |s| params::parse_year("year", s).map(Some))
}

/// Coverage of the point `xy` (working CRS) by walking distance: it enters the network where a
/// facility there would join it. Per kind the covered flag, nearest facility, count and capacity
/// within the radius by network, with the straight-line nearest beside it; `None` when the
/// network has no edge.
fn point_network_coverage(dataset: &Dataset, network: &ServedNetwork, view: &YearView, xy: Coord<f64>) -> Option<Vec<Value>> {
    let cells = network.metric.measure_point(xy, &dataset.catalogue, view.year)?;
    let speed = network.metric.params().speed_m_per_min;
    let kinds = dataset
        .catalogue
        .kinds
        .iter()
        .zip(cells)
        .enumerate()
        .map(|(k, (spec, cell))| {
            let kind = KindId(u16::try_from(k).expect("validated catalogue"));
            let straight = view.facility_index(dataset).nearest(kind, xy);
            let network_m = cell.nearest.map(|n| n.distance_m);
            json!({
                "kind": spec.key,
                "label_zh": spec.label_zh,
                "label_en": spec.label_en,
                "radius_m": spec.radius_m,
                "covered": cell.covered,
                "distance_m": network_m.map(round_mm),
                "network_m": network_m.map(round_mm),
                "straight_m": straight.map(|(_, d)| round_mm(d)),
                "walk_min": network_m.map(|d| (d / speed * 10.0).round() / 10.0),
                "detour": match (network_m, straight) {
                    (Some(n), Some((_, s))) if s > 0.0 => Some((n / s * 100.0).round() / 100.0),
                    _ => None,
                },
                "count_within": cell.count_within,
                "capacity_within": cell.capacity_within,
                "nearest": cell.nearest.map(|n| facility_json(dataset, n.facility, n.distance_m)),
                "nearest_straight": straight.map(|(i, d)| facility_json(dataset, i, d)),
            })
        })
        .collect();
    Some(kinds)
}

fn round_mm(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Facilities of each kind serving the point `xy` (working CRS), nearest first.
fn point_coverage(dataset: &Dataset, view: &YearView, xy: Coord<f64>) -> Vec<Value> {
    dataset
        .catalogue
        .kinds
        .iter()
        .enumerate()
        .map(|(k, spec)| {
            let kind = KindId(u16::try_from(k).expect("validated catalogue"));
            let mut within: Vec<(u32, f64)> = view
                .facility_index(dataset)
                .within(kind, xy, spec.radius_m)
                .map(|f| (f.data.facility, (f.geom()[0] - xy.x).hypot(f.geom()[1] - xy.y)))
                .collect();
            within.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let nearest = view.facility_index(dataset).nearest(kind, xy);
            json!({
                "kind": spec.key,
                "label_zh": spec.label_zh,
                "label_en": spec.label_en,
                "radius_m": spec.radius_m,
                "covered": !within.is_empty(),
                "facilities": within.iter().map(|&(i, d)| facility_json(dataset, i, d)).collect::<Vec<_>>(),
                "nearest": nearest.map(|(i, d)| facility_json(dataset, i, d)),
            })
        })
        .collect()
}

fn kinds_html(kinds: &[Value]) -> String {
    let rows: Vec<Vec<String>> = kinds
        .iter()
        .map(|k| {
            // Walking distance gives the count within the radius and the straight line beside it.
            let list = k["facilities"].as_array().map_or_else(
                || {
                    format!(
                        "{} within the radius on foot 步行可达 · straight line 直线 {} m · detour 绕行 {}×",
                        k["count_within"],
                        text(&k["straight_m"]).unwrap_or_else(|| "–".into()),
                        text(&k["detour"]).unwrap_or_else(|| "–".into())
                    )
                },
                |fs| fs.iter().map(|f| format!("{} ({} m)", html::escape(&text(&f["name"]).unwrap_or_else(|| text(&f["id"]).unwrap_or_default())), f["distance_m"])).collect::<Vec<_>>().join(", "),
            );
            vec![
                html::escape(&format!("{} {}", text(&k["label_zh"]).unwrap_or_default(), text(&k["kind"]).unwrap_or_default())),
                k["radius_m"].to_string(),
                if k["covered"].as_bool() == Some(true) { "✔ covered 已覆盖".into() } else { "✘ gap 缺口".into() },
                html::escape(&k.get("distance_m").or_else(|| k["nearest"].get("distance_m")).map_or(String::new(), ToString::to_string)),
                list,
            ]
        })
        .collect();
    html::table(&["kind 类别".into(), "radius m".into(), "coverage".into(), "nearest m".into(), "facilities within radius".into()], &rows)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

async fn get_coverage(Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f", "lon", "lat", "year"])?;
    let format = negotiate(&pairs, &headers)?;
    let coordinate = |name: &str, limit: f64| -> Result<f64, ApiError> {
        let s = pairs.get(name).ok_or_else(|| ApiError::bad(name, "is required (CRS84 degrees)"))?;
        match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= limit => Ok(v),
            _ => Err(ApiError::bad(name, format!("`{s}` is not a number within ±{limit}"))),
        }
    };
    let (lon, lat) = (coordinate("lon", 180.0)?, coordinate("lat", 90.0)?);
    let year = year_param(&pairs, &dataset)?;
    let lang = Lang::from_headers(&headers);
    tokio::task::spawn_blocking(move || {
        let view = dataset.year_view(year)?;
        let mut xy = [Coord { x: lon, y: lat }];
        dataset.to_working.apply(&mut xy).map_err(|e| ApiError::bad("lon", format!("cannot convert the point to {}: {e}", dataset.working_crs)))?;
        let (kinds, distance) = match &dataset.network {
            Some(network) => {
                let kinds = point_network_coverage(&dataset, network, &view, xy[0]).ok_or_else(|| ApiError::bad("lon", "the walking network has no street to measure from"))?;
                (kinds, "walking distance along the street network from the point (entering it at the nearest street)")
            }
            None => (point_coverage(&dataset, &view, xy[0]), "straight line from the point"),
        };
        if format == Format::Html {
            let body = format!(
                "<p>lon {lon}, lat {lat}{} · {}</p>{}",
                year.map_or(String::new(), |y| format!(", facilities open by {y}")),
                html::escape(&super::respond::metric_sentence(&dataset, lang)),
                kinds_html(&kinds)
            );
            return Ok(html::response(html::page("Point coverage 点位覆盖", lang.tag(), &body)));
        }
        Ok(super::respond::json_ok(&json!({
            "lon": lon,
            "lat": lat,
            "year": year,
            "working_crs": dataset.working_crs,
            "metric": dataset.metric_kind().as_str(),
            "distance": distance,
            "kinds": kinds,
        })))
    })
    .await?
}

async fn get_estate_coverage(
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path(estate_id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f", "year"])?;
    let format = negotiate(&pairs, &headers)?;
    let year = year_param(&pairs, &dataset)?;
    let position = dataset
        .estate_position(&estate_id)
        .ok_or_else(|| ApiError::NoFeature { collection: "estates".into(), id: estate_id.clone() })?;
    let lang = Lang::from_headers(&headers);
    tokio::task::spawn_blocking(move || {
        let view = dataset.year_view(year)?;
        let kinds = estate_coverage(&dataset, &view, position);
        let estate = &dataset.estates[position];
        if format == Format::Html {
            let body = format!(
                "<p>{} · {} · {} households · distances from the {}{}</p>{}",
                html::escape(estate.name.as_deref().unwrap_or("")),
                html::escape(estate.district.as_deref().unwrap_or("")),
                estate.households.map_or_else(|| "?".to_owned(), |h| h.to_string()),
                view.table.params.distance_from.as_str(),
                year.map_or(String::new(), |y| format!(", facilities open by {y}")),
                kinds_html(&kinds)
            );
            return Ok(html::response(html::page(&format!("Estate {estate_id} coverage 小区覆盖"), lang.tag(), &body)));
        }
        Ok(super::respond::json_ok(&json!({
            "estate": {
                "id": attr_json(&id_value(&estate.id)),
                "name": estate.name,
                "district": estate.district,
                "households": estate.households,
            },
            "year": year,
            "distance_from": view.table.params.distance_from.as_str(),
            "metric": view.table.params.metric.as_str(),
            "working_crs": dataset.working_crs,
            "kinds": kinds,
        })))
    })
    .await?
}

/// Per kind: the coverage cell plus every facility within the radius, nearest first.
fn estate_coverage(dataset: &Arc<Dataset>, view: &YearView, position: usize) -> Vec<Value> {
    let estate = &dataset.estates[position];
    let metric: &dyn DistanceMetric = match view.table.params.distance_from {
        DistanceFrom::Boundary => &BoundaryDistance,
        DistanceFrom::Centroid => &CentroidDistance,
    };
    let anchor = metric.anchor(estate);
    let speed = dataset.network.as_ref().map_or(f64::NAN, |n| n.metric.params().speed_m_per_min);
    dataset
        .catalogue
        .kinds
        .iter()
        .enumerate()
        .map(|(k, spec)| {
            let kind = KindId(u16::try_from(k).expect("validated catalogue"));
            let cell = view.table.get(position, kind);
            let radius = view.table.radii_m[k];
            if let Some(straight) = &view.straight {
                // Walking distance: the table's figures, with the straight line beside them. The
                // list of every facility within the radius needs a walk to each; the count and
                // capacity within it are the table's.
                let s = straight.get(position, kind);
                let network_m = cell.nearest.map(|n| n.distance_m);
                let straight_m = s.nearest.map(|n| n.distance_m);
                return json!({
                    "kind": spec.key,
                    "label_zh": spec.label_zh,
                    "label_en": spec.label_en,
                    "radius_m": radius,
                    "covered": cell.covered,
                    "distance_m": network_m.map(round_mm),
                    "network_m": network_m.map(round_mm),
                    "straight_m": straight_m.map(round_mm),
                    "walk_min": network_m.map(|d| (d / speed * 10.0).round() / 10.0),
                    "detour": match (network_m, straight_m) {
                        (Some(n), Some(s)) if s > 0.0 => Some((n / s * 100.0).round() / 100.0),
                        _ => None,
                    },
                    "covered_straight": s.covered,
                    "nearest": cell.nearest.map(|n| facility_json(dataset, n.facility, n.distance_m)),
                    "nearest_straight": s.nearest.map(|n| facility_json(dataset, n.facility, n.distance_m)),
                    "count_within": cell.count_within,
                    "capacity_within": cell.capacity_within,
                    "required": cell.required,
                    "shortfall": cell.shortfall,
                });
            }
            let mut within: Vec<(u32, f64)> = anchor.map_or_else(Vec::new, |a| {
                view.facility_index(dataset)
                    .within(kind, a.xy, radius + a.reach_m)
                    .map(|f| (f.data.facility, metric.distance_m(estate, &a, Coord { x: f.geom()[0], y: f.geom()[1] })))
                    .filter(|(_, d)| *d <= radius)
                    .collect()
            });
            within.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            json!({
                "kind": spec.key,
                "label_zh": spec.label_zh,
                "label_en": spec.label_en,
                "radius_m": radius,
                "covered": cell.covered,
                "distance_m": cell.nearest.map(|n| round_mm(n.distance_m)),
                "nearest": cell.nearest.map(|n| facility_json(dataset, n.facility, n.distance_m)),
                "count_within": cell.count_within,
                "capacity_within": cell.capacity_within,
                "required": cell.required,
                "shortfall": cell.shortfall,
                "facilities": within.iter().map(|&(i, d)| facility_json(dataset, i, d)).collect::<Vec<_>>(),
            })
        })
        .collect()
}
