//! The `service-areas` collection: per facility kind, where a facility of the kind is within its
//! service radius.
//!
//! - Straight line: the circles of the radius round every open facility, dissolved.
//! - Walking network: the street pieces within the radius on foot of an open facility
//!   ([`reachable_segments`], partial edges included), buffered by [`WALK_MARGIN_M`] and
//!   dissolved. A facility on a long straight street then serves a strip along it, not a disc.
//!
//! Both dissolve in square groups of a few radii, in parallel, then union the groups: one sweep
//! over everything is O(n log n) too, but small sweeps use every core and keep each one's
//! working set small (a city's reachable streets are hundreds of thousands of segments).

use std::collections::BTreeMap;
use std::sync::Arc;

use geo::algorithm::buffer::{BufferStyle, LineCap, LineJoin};
use geo::{Area, Buffer, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point};
use rayon::prelude::*;

use super::error::ServeError;
use super::dataset::transform_geometry;
use super::layer::{Layer, PendingFeature};
use crate::analysis::NetworkMetric;
use crate::io::crs::Transformer;
use crate::model::{AttrValue, Catalogue, Facility, FeatureId, KindId};
use crate::network::reachable_segments;

/// Coordinates of a service-area circle per full turn.
const CIRCLE_SEGMENTS: f64 = 48.0;

/// How far either side of a reachable street a resident still counts as reached, in metres.
///
/// A street centre line has no width, but the carriageway, pavement and the building fronts on
/// it do: 20 m covers a two-lane street with pavements (about 15 m between building lines in old
/// Chinese estates' 街坊 streets) plus a few metres of frontage, so an estate whose gate or
/// boundary lies on a reachable street shows as inside, while blocks behind it (reached only by
/// walking further) do not. Smaller margins fragment the area at tile zooms; larger ones start to
/// cover the block interiors a straight line would.
pub const WALK_MARGIN_M: f64 = 20.0;

/// Coordinates per full turn of the rounded ends and joins of the street buffer: the margin is
/// small, so a coarse round keeps vertex counts (and tiles) down.
const STREET_ROUND_SEGMENTS: f64 = 12.0;

/// How a service area is measured.
#[derive(Clone, Copy)]
pub enum AreaMetric<'a> {
    /// Circles of the radius.
    Straight,
    /// Streets within the radius on foot.
    Network(&'a NetworkMetric),
}

/// Builds the `service-areas` layer: one MultiPolygon feature per kind (CRS84), for the
/// facilities open in `year` (`None`: all).
///
/// # Errors
/// [`ServeError::Internal`] when the area cannot be converted to CRS84.
pub(crate) fn build_service_areas(facilities: &[Facility], catalogue: &Catalogue, year: Option<i32>, metric: AreaMetric<'_>, to_crs84: &Transformer) -> Result<Layer, ServeError> {
    let areas: Vec<(MultiPolygon<f64>, usize)> = (0..catalogue.len())
        .into_par_iter()
        .map(|k| {
            let kind = KindId(u16::try_from(k).expect("validated catalogue"));
            let radius_m = catalogue.kinds[k].radius_m;
            let open = |f: &Facility| f.kind == kind && f.open_in(year);
            let count = facilities.iter().filter(|f| open(f)).count();
            let area = match metric {
                AreaMetric::Straight => {
                    let points: Vec<Point<f64>> = facilities.iter().filter(|f| open(f)).map(|f| f.location).collect();
                    dissolve_circles(&points, radius_m)
                }
                AreaMetric::Network(network) => {
                    let k16 = u16::try_from(k).expect("validated catalogue");
                    let pieces = reachable_segments(network.graph(), network.on_edges(), radius_m, |f| f.kind == k16 && f.open_in(year));
                    dissolve_streets(pieces.iter().map(|s| s.line), radius_m)
                }
            };
            (area, count)
        })
        .collect();
    let (metric_name, margin) = match metric {
        AreaMetric::Straight => ("straight", AttrValue::Null),
        AreaMetric::Network(_) => ("network", AttrValue::Float(WALK_MARGIN_M)),
    };
    let mut pending = Vec::with_capacity(areas.len());
    for (spec, (area, count)) in catalogue.kinds.iter().zip(areas) {
        let area_m2 = area.unsigned_area();
        let area = transform_geometry(&Geometry::MultiPolygon(area), Some(to_crs84), false)?;
        let mut properties = vec![
            ("kind".into(), AttrValue::Text(spec.key.clone())),
            ("kind_label_zh".into(), AttrValue::Text(spec.label_zh.clone())),
            ("kind_label_en".into(), AttrValue::Text(spec.label_en.clone())),
            ("radius_m".into(), AttrValue::Float(spec.radius_m)),
            ("facilities".into(), AttrValue::Int(i64::try_from(count).unwrap_or(i64::MAX))),
            ("area_m2".into(), AttrValue::Float((area_m2 * 10.0).round() / 10.0)),
            ("year".into(), year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))),
            ("metric".into(), AttrValue::Text(metric_name.into())),
        ];
        if !matches!(margin, AttrValue::Null) {
            properties.push(("walk_margin_m".into(), margin.clone()));
        }
        pending.push(PendingFeature { id: FeatureId::Text(spec.key.clone()), geometry: Arc::new(area), properties });
    }
    Ok(Layer::from_features(pending, "MultiPolygon")?)
}

/// Square group of a point, `cell` metres a side.
#[expect(clippy::cast_possible_truncation, reason = "cell indices of city-sized extents")]
fn cell_of(x: f64, y: f64, cell: f64) -> (i64, i64) {
    ((x / cell).floor() as i64, (y / cell).floor() as i64)
}

/// Unions per-group parts.
fn union_parts(parts: Vec<MultiPolygon<f64>>) -> MultiPolygon<f64> {
    match parts.len() {
        0 => MultiPolygon::new(Vec::new()),
        1 => parts.into_iter().next().unwrap_or_else(|| MultiPolygon::new(Vec::new())),
        _ => geo::unary_union(parts.iter()),
    }
}

/// The union of circles of `radius_m` around `points` (working CRS).
pub(crate) fn dissolve_circles(points: &[Point<f64>], radius_m: f64) -> MultiPolygon<f64> {
    let cell = radius_m * 8.0;
    let mut groups: BTreeMap<(i64, i64), Vec<Point<f64>>> = BTreeMap::new();
    for p in points {
        groups.entry(cell_of(p.x(), p.y(), cell)).or_default().push(*p);
    }
    let parts: Vec<MultiPolygon<f64>> = groups
        .into_par_iter()
        .map(|(_, pts)| {
            // Built per task: the style holds an `Rc` and cannot cross threads.
            let style = BufferStyle::new(radius_m).line_cap(LineCap::Round(std::f64::consts::TAU / CIRCLE_SEGMENTS));
            MultiPoint::new(pts).buffer_with_style(style)
        })
        .collect();
    union_parts(parts)
}

/// The union of `lines` (working CRS) buffered by [`WALK_MARGIN_M`]; `radius_m` sizes the groups
/// (a facility's reach spans about two radii).
pub(crate) fn dissolve_streets(lines: impl Iterator<Item = geo::Line<f64>>, radius_m: f64) -> MultiPolygon<f64> {
    let cell = (radius_m * 4.0).max(WALK_MARGIN_M * 16.0);
    let mut groups: BTreeMap<(i64, i64), Vec<LineString<f64>>> = BTreeMap::new();
    for line in lines {
        // Pieces shorter than a millimetre add nothing the margin round their ends does not.
        let (a, b) = (line.start, line.end);
        let mid = geo::Coord { x: (a.x + b.x) / 2.0, y: (a.y + b.y) / 2.0 };
        let ls = if (a.x - b.x).hypot(a.y - b.y) < 1e-3 { LineString::new(vec![a, geo::Coord { x: a.x + 1e-3, y: a.y }]) } else { LineString::new(vec![a, b]) };
        groups.entry(cell_of(mid.x, mid.y, cell)).or_default().push(ls);
    }
    let parts: Vec<MultiPolygon<f64>> = groups
        .into_par_iter()
        .map(|(_, lines)| {
            let round = std::f64::consts::TAU / STREET_ROUND_SEGMENTS;
            let style = BufferStyle::new(WALK_MARGIN_M).line_cap(LineCap::Round(round)).line_join(LineJoin::Round(round));
            MultiLineString::new(lines).buffer_with_style(style)
        })
        .collect();
    union_parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circles_dissolve_into_one_area() {
        let points = vec![Point::new(0.0, 0.0), Point::new(100.0, 0.0), Point::new(5000.0, 0.0)];
        let area = dissolve_circles(&points, 100.0);
        assert_eq!(area.0.len(), 2);
        let expected = 3.0 * std::f64::consts::PI * 100.0 * 100.0;
        assert!(area.unsigned_area() < expected && area.unsigned_area() > 0.5 * expected);
    }

    #[test]
    fn a_street_becomes_a_strip_of_twice_the_margin() {
        // 1 km along x in 10 m pieces, spread over several groups.
        let lines = (0..100).map(|i| geo::Line::new(geo::Coord { x: f64::from(i) * 10.0, y: 0.0 }, geo::Coord { x: f64::from(i + 1) * 10.0, y: 0.0 }));
        let area = dissolve_streets(lines, 100.0);
        assert_eq!(area.0.len(), 1, "one strip");
        let strip = 1000.0 * 2.0 * WALK_MARGIN_M + std::f64::consts::PI * WALK_MARGIN_M * WALK_MARGIN_M;
        let a = area.unsigned_area();
        assert!((a - strip).abs() < 0.02 * strip, "{a} vs {strip}");
    }
}
