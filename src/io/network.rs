//! Street network input: walkable lines and estate gates, reprojected to the working CRS.
//!
//! Sources are read as other inputs are: OpenStreetMap (`.osm`, `.osm.pbf`) through GDAL's OSM
//! driver, its `lines` layer for the ways and its `points` layer for the gates; `.geojson` by
//! the pure-Rust reader; GeoPackage, Shapefile, `FlatGeobuf` and the rest through GDAL (`layer`
//! as for other sources).
//!
//! Each feature is, in this order:
//! - a **gate** when it is a point tagged `entrance=*` (not `no`) or `barrier=gate`;
//! - **not walkable** when the `walkable` filter (CQL2 text, [`crate::filter`]) does not hold:
//!   skipped and counted, not rejected (a motorway is not a mistake in the data);
//! - a **street** when it is a LineString or MultiLineString (split into its lines) whose
//!   coordinates are finite, in range for a geographic CRS, and whose every line has two
//!   distinct vertices;
//! - otherwise **rejected** into the [`LoadReport`] with its file, index, id and reason. OSM
//!   nodes that are not gates (shops, bus stops…) are none of the network's business and are
//!   passed over.
//!
//! # The default walkable filter
//! With no `walkable` setting, OSM sources use [`DEFAULT_OSM_WALKABLE`]. Other sources use it
//! too when their features carry OSM `highway` tags (a GeoJSON exported from OSM); a source
//! with no `highway` property at all (a city's own footpath layer, Tilezen tiles) is taken
//! whole, with a warning that says how to filter it. That choice needs every feature read, so
//! until then a feature's verdict under the default is kept beside it, and a bad geometry among
//! features the default then drops is counted as not walkable rather than rejected.

use std::path::{Path, PathBuf};

use geo::{Coord, Geometry, LineString, Rect};
use serde::Serialize;

use super::crs::{self, CrsSpec, Transformer};
use super::gdal::{GdalSource, OsmRole};
use super::geojson::GeoJsonSource;
use super::{FeatureSource, LoadError, LoadReport, RawFeature};
use crate::analysis::{DistanceFrom, NetworkMetric, NetworkParams};
use crate::config::NetworkConfig;
use crate::filter::{self, Expr, FeatureView, Value};
use crate::model::AttrValue;
use crate::network::GraphStats;

/// The walkable ways of OpenStreetMap, as CQL2 text: footways, paths, pedestrian streets,
/// living streets, steps, residential and service streets, unclassified, tertiary, secondary
/// and primary roads (and their `_link`s), tracks and indoor corridors; not motorways or trunk
/// roads (absent from the list), not ways with `access` private or no (unless `foot` allows
/// walking there) and not ways with `foot = no`.
///
/// A comparison with a missing tag is unknown, hence false, in CQL2; so the tag tests read
/// "`access` IS NULL OR …", which keeps the many ways that carry no `access` or `foot` tag.
pub const DEFAULT_OSM_WALKABLE: &str = "highway IN ('footway','path','pedestrian','living_street','steps',\
'residential','service','unclassified','tertiary','tertiary_link','secondary','secondary_link',\
'primary','primary_link','track','corridor') \
AND (access IS NULL OR access NOT IN ('private','no') OR foot IN ('yes','designated','permissive')) \
AND (foot IS NULL OR foot <> 'no')";

/// The street network as loaded: walkable lines and gates in the working CRS.
#[derive(Debug, Clone)]
pub struct LoadedNetwork {
    /// The source file.
    pub path: PathBuf,
    /// Walkable lines (MultiLineStrings split), working CRS, metres.
    pub lines: Vec<LineString<f64>>,
    /// Estate gates (points tagged `entrance=*` or `barrier=gate`), working CRS, metres.
    pub gates: Vec<Coord<f64>>,
    /// Rejected network features and warnings; `accepted` counts the walkable features.
    pub report: LoadReport,
    /// Features the reader delivered (lines, points and anything else).
    pub features_read: usize,
    /// Features kept as streets.
    pub walkable: usize,
    /// Features the walkable filter left out.
    pub not_walkable: usize,
    /// The walkable filter applied, as CQL2 text; `None` when every line was taken.
    pub walkable_filter: Option<String>,
}

/// What results say about the network a run measured by: the source, the filter, the graph and
/// how the estates met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkSummary {
    /// The source file.
    pub path: PathBuf,
    /// The walkable filter applied (`null`: every line).
    pub walkable_filter: Option<String>,
    /// Features read from the source.
    pub features_read: usize,
    /// Features kept as streets.
    pub walkable_features: usize,
    /// Features the walkable filter left out.
    pub not_walkable_features: usize,
    /// Network features rejected.
    pub rejected_features: usize,
    /// Gates found.
    pub gates: usize,
    /// Dangling ends and gates join the network within this distance (metres).
    pub snap_m: f64,
    /// Walking speed for walking minutes (metres per minute).
    pub speed_m_per_min: f64,
    /// Nearest facilities further than this walk were not searched for (`null`: no limit).
    pub max_m: Option<f64>,
    /// The street graph.
    pub graph: GraphStats,
    /// Estates entered at their gates.
    pub gated_estates: usize,
    /// Estates with no way into the network (no node inside, none anywhere).
    pub unreachable_estates: usize,
}

impl NetworkSummary {
    /// The summary of `loaded`, prepared as `metric`.
    #[must_use]
    pub fn new(loaded: &LoadedNetwork, metric: &NetworkMetric) -> Self {
        let params = metric.params();
        Self {
            path: loaded.path.clone(),
            walkable_filter: loaded.walkable_filter.clone(),
            features_read: loaded.features_read,
            walkable_features: loaded.walkable,
            not_walkable_features: loaded.not_walkable,
            rejected_features: loaded.report.rejected.len(),
            gates: loaded.gates.len(),
            snap_m: params.snap_m,
            speed_m_per_min: params.speed_m_per_min,
            max_m: params.max_m.is_finite().then_some(params.max_m),
            graph: metric.stats(),
            gated_estates: metric.access().gated_estates,
            unreachable_estates: metric.access().unreachable_estates,
        }
    }
}

/// The search parameters `config` asks for, measuring from `distance_from`.
#[must_use]
pub fn network_params(config: &NetworkConfig, distance_from: DistanceFrom) -> NetworkParams {
    NetworkParams {
        snap_m: config.snap_m,
        max_m: config.max_m.unwrap_or(f64::INFINITY),
        speed_m_per_min: config.speed_m_per_min,
        distance_from,
    }
}

/// Whether a point with these tags marks a way into an estate: `entrance=*` (other than `no`)
/// or `barrier=gate`.
#[must_use]
pub fn is_gate(raw: &RawFeature) -> bool {
    let text = |key: &str| match raw.property(key) {
        Some(AttrValue::Text(t)) => Some(t.trim()),
        _ => None,
    };
    text("entrance").is_some_and(|v| !v.is_empty() && v != "no") || text("barrier") == Some("gate")
}

/// Reads the street network `config` names, keeps the walkable lines and the gates, and
/// reprojects them to `working_crs`.
///
/// The source CRS is the one the file declares, else `config.crs`, else `default_crs` (`--crs`),
/// else CRS84. `progress` receives a short message at each stage.
///
/// # Errors
/// Whole-source failures: an unreadable file, an unknown layer, a `walkable` filter that does
/// not parse ([`LoadError::Walkable`]), a CRS PROJ cannot use. Per-feature problems are in
/// [`LoadedNetwork::report`].
pub fn load_network(
    config: &NetworkConfig,
    default_crs: Option<&str>,
    working_crs: &str,
    progress: &dyn Fn(&str),
) -> Result<LoadedNetwork, LoadError> {
    let path = config.path.as_path();
    let osm = super::load::is_osm(path);
    let explicit = match &config.walkable {
        Some(text) => Some(parse_walkable(text, "network.walkable", path)?),
        None if osm => Some(parse_walkable(DEFAULT_OSM_WALKABLE, "the default walkable filter", path)?),
        None => None,
    };
    let default = match &explicit {
        Some(_) => None,
        None => Some(parse_walkable(DEFAULT_OSM_WALKABLE, "the default walkable filter", path)?),
    };
    let mut report = LoadReport::default();
    let mut reader = reader_for(config, osm, &mut report)?;

    progress(&format!("reading street network {}", path.display()));
    let mut sorted = Sorted::default();
    let info = reader.read(&mut report, &mut |raw| {
        sorted.features_read += 1;
        sorted.take(raw, osm, explicit.as_ref(), default.as_ref());
    })?;
    let sorted_read = sorted.features_read;

    // Under the deferred default, the filter applies when the source speaks OSM's tags.
    let apply_default = default.is_some() && sorted.any_highway;
    let walkable_filter = match (&config.walkable, osm || apply_default) {
        (Some(text), _) => Some(text.clone()),
        (None, true) => Some(DEFAULT_OSM_WALKABLE.to_owned()),
        (None, false) => None,
    };
    if default.is_some() && !apply_default && sorted.features_read > 0 {
        report.warn(format!(
            "{}: no `walkable` filter and no feature has a `highway` tag, so every line is taken as walkable; set [network] walkable = \"…\" (CQL2 text over the features' properties) to leave some out",
            path.display()
        ));
    }

    let crs_text = match (&info.declared_crs, &config.crs, default_crs) {
        (Some(declared), _, _) => declared.clone(),
        (None, Some(configured), _) => configured.clone(),
        (None, None, Some(cli)) => cli.to_owned(),
        (None, None, None) => {
            if info.format != "GeoJSON" && !osm {
                report.warn(format!("{} declares no CRS; assuming CRS84 (WGS84 lon/lat). Set [network] crs if that is wrong", path.display()));
            }
            "CRS84".to_owned()
        }
    };
    let crs: CrsSpec = crs_text.parse().map_err(|e| match e {
        LoadError::Crs { crs, message } => LoadError::Crs { crs, message: format!("{message} (the CRS of {})", path.display()) },
        other => other,
    })?;

    let (streets, gates, not_walkable) = settle(sorted, apply_default, crs.is_geographic(), path, &mut report);
    if not_walkable > 0 {
        report.warn(format!(
            "{}: {not_walkable} features are not walkable by the {} and were skipped",
            path.display(),
            if config.walkable.is_some() { "`walkable` filter" } else { "default walkable filter (OSM highways people walk on)" }
        ));
    }
    let walkable = streets.len();
    report.accepted.push((path.to_owned(), walkable));
    let bbox = streets.iter().flat_map(|s| s.parts.iter()).flat_map(|l| l.0.iter()).fold(None, |acc: Option<Rect<f64>>, c| {
        Some(acc.map_or_else(|| Rect::new(*c, *c), |r| Rect::new(Coord { x: r.min().x.min(c.x), y: r.min().y.min(c.y) }, Coord { x: r.max().x.max(c.x), y: r.max().y.max(c.y) })))
    });
    if let Some(w) = bbox.and_then(|b| crs::extent_warning(&crs, b)) {
        report.warn(format!("{}: {w}", path.display()));
    }

    progress("reprojecting street network");
    let mut lines: Vec<LineString<f64>> = streets.into_iter().flat_map(|s| s.parts).collect();
    let mut gates = gates;
    reproject(&mut lines, &mut gates, &Transformer::new(&crs, working_crs)?)?;
    Ok(LoadedNetwork {
        path: path.to_owned(),
        lines,
        gates,
        report,
        features_read: sorted_read,
        walkable,
        not_walkable,
        walkable_filter,
    })
}

/// The final verdicts, once the CRS and the default filter's fate are known: streets whose
/// coordinates pass, gates in range, rejections reported (in feature order), and how many
/// features are not walkable.
fn settle(sorted: Sorted, apply_default: bool, geographic: bool, path: &Path, report: &mut LoadReport) -> (Vec<Street>, Vec<Coord<f64>>, usize) {
    let mut not_walkable = sorted.not_walkable;
    let mut streets: Vec<Street> = Vec::with_capacity(sorted.streets.len());
    for street in sorted.streets {
        if apply_default && !street.default_walkable {
            not_walkable += 1;
            continue;
        }
        match check_street(&street.parts, geographic) {
            Ok(()) => streets.push(street),
            Err(reason) => report.reject(path, street.index, street.id, reason),
        }
    }
    for problem in sorted.rejected {
        if apply_default && !problem.default_walkable {
            not_walkable += 1;
        } else {
            report.reject(path, problem.index, problem.id, problem.reason);
        }
    }
    let mut gates = Vec::with_capacity(sorted.gates.len());
    for gate in sorted.gates {
        match check_coords(std::iter::once(&gate.at), geographic) {
            Ok(()) => gates.push(gate.at),
            Err(reason) => report.reject(path, gate.index, gate.id, format!("gate: {reason}")),
        }
    }
    report.rejected.sort_by_key(|r| r.index);
    (streets, gates, not_walkable)
}

/// Every line and gate converted by one transformation (parallel inside [`Transformer::apply`]).
fn reproject(lines: &mut [LineString<f64>], gates: &mut [Coord<f64>], transformer: &Transformer) -> Result<(), LoadError> {
    let mut coords: Vec<Coord<f64>> = lines.iter().flat_map(|l| l.0.iter().copied()).chain(gates.iter().copied()).collect();
    transformer.apply(&mut coords)?;
    let targets = lines.iter_mut().flat_map(|l| l.0.iter_mut()).chain(gates.iter_mut());
    for (target, c) in targets.zip(coords) {
        *target = c;
    }
    Ok(())
}

/// The reader for the network source: OSM through GDAL's OSM driver (ways and nodes), GeoJSON
/// by the pure-Rust reader, anything else by GDAL.
#[expect(clippy::case_sensitive_file_extension_comparisons, reason = "the name is lowercased first")]
fn reader_for(config: &NetworkConfig, osm: bool, report: &mut LoadReport) -> Result<Box<dyn FeatureSource>, LoadError> {
    let path = &config.path;
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if osm {
        if config.layer.as_deref().is_some_and(|l| l != "lines") {
            report.warn(format!("{}: [network] layer is ignored for OpenStreetMap input; its `lines` layer (and `points` for gates) is read", path.display()));
        }
        return Ok(Box::new(GdalSource::new(path.clone()).with_osm(OsmRole::Network)));
    }
    if name.ends_with(".geojson") || name.ends_with(".json") {
        if config.layer.is_some() {
            report.warn(format!("{}: [network] layer is ignored for GeoJSON, which has one layer", path.display()));
        }
        return Ok(Box::new(GeoJsonSource::new(path.clone())));
    }
    let gdal_formats = [".gpkg", ".shp", ".fgb", ".gml", ".kml", ".sqlite", ".shz", ".zip"];
    if gdal_formats.iter().any(|e| name.ends_with(e)) || path.is_dir() {
        return Ok(Box::new(GdalSource { path: path.clone(), layer: config.layer.clone(), lonlat_fields: None, osm: None }));
    }
    Err(LoadError::UnsupportedFormat { path: path.clone() })
}

fn parse_walkable(text: &str, key: &str, path: &Path) -> Result<Expr, LoadError> {
    filter::parse_cql2_text(text).map_err(|e| LoadError::Walkable { key: key.to_owned(), path: path.to_owned(), message: e.to_string() })
}

/// A feature as the filter module sees it: its properties (`id` falls back to the feature id).
struct FilterView<'a>(&'a RawFeature);

impl FeatureView for FilterView<'_> {
    fn property(&self, name: &str) -> Option<Value> {
        let value = match self.0.property(name) {
            Some(v) => v,
            None if name == "id" => {
                return self.0.fid.as_ref().map(|id| match id {
                    crate::model::FeatureId::Int(n) => Value::Int(*n),
                    crate::model::FeatureId::Text(s) => Value::Text(s.clone()),
                });
            }
            None => return None,
        };
        Some(match value {
            AttrValue::Null => Value::Null,
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(n) => Value::Int(*n),
            AttrValue::Float(x) => Value::Float(*x),
            AttrValue::Text(s) | AttrValue::Json(s) => Value::Text(s.clone()),
        })
    }

    fn geometry(&self) -> Option<&Geometry<f64>> {
        self.0.geometry.as_ref()
    }
}

/// A street candidate in the source CRS.
struct Street {
    index: usize,
    id: Option<String>,
    parts: Vec<LineString<f64>>,
    /// Whether the default filter keeps it (decides only when the default is deferred).
    default_walkable: bool,
}

struct Gate {
    index: usize,
    id: Option<String>,
    at: Coord<f64>,
}

struct Problem {
    index: usize,
    id: Option<String>,
    reason: String,
    default_walkable: bool,
}

/// Features read, sorted into streets, gates and problems.
#[derive(Default)]
struct Sorted {
    streets: Vec<Street>,
    gates: Vec<Gate>,
    rejected: Vec<Problem>,
    features_read: usize,
    not_walkable: usize,
    /// Some feature has a `highway` property.
    any_highway: bool,
}

impl Sorted {
    /// Sorts one feature; `explicit` is the filter in force, `default` the deferred default.
    fn take(&mut self, mut raw: RawFeature, osm: bool, explicit: Option<&Expr>, default: Option<&Expr>) {
        let index = raw.index;
        let id = feature_id(&raw);
        let point = match &raw.geometry {
            Some(Geometry::Point(p)) => Some(p.0),
            Some(Geometry::MultiPoint(mp)) if mp.0.len() == 1 => Some(mp.0[0].0),
            _ => None,
        };
        if let Some(at) = point.filter(|_| is_gate(&raw)) {
            self.gates.push(Gate { index, id, at });
            return;
        }
        if osm && point.is_some() {
            return; // an OSM node that is not a gate: not part of the network
        }
        if default.is_some() && raw.property("highway").is_some_and(|v| *v != AttrValue::Null) {
            self.any_highway = true;
        }
        if let Some(filter) = explicit {
            if !filter.evaluate(&FilterView(&raw)) {
                self.not_walkable += 1;
                return;
            }
        }
        let default_walkable = default.is_none_or(|d| d.evaluate(&FilterView(&raw)));
        match street_parts(raw.geometry.take()) {
            Ok(parts) => self.streets.push(Street { index, id, parts, default_walkable }),
            Err(reason) => self.rejected.push(Problem { index, id, reason, default_walkable }),
        }
    }
}

/// The feature's id for messages: the format's own id, else an `id` or `osm_id` property.
fn feature_id(raw: &RawFeature) -> Option<String> {
    raw.fid.as_ref().map(ToString::to_string).or_else(|| {
        ["id", "osm_id"].iter().find_map(|k| raw.property(k).filter(|v| **v != AttrValue::Null).map(ToString::to_string))
    })
}

/// The lines of a street geometry, or why it cannot be one.
fn street_parts(geometry: Option<Geometry<f64>>) -> Result<Vec<LineString<f64>>, String> {
    let parts = match geometry {
        None => return Err("missing or null geometry".to_owned()),
        Some(Geometry::LineString(l)) => vec![l],
        Some(Geometry::Line(l)) => vec![LineString::from(l)],
        Some(Geometry::MultiLineString(ml)) => ml.0,
        Some(other) => {
            return Err(format!(
                "wrong geometry type {}: street network features must be LineString or MultiLineString (gates: Points tagged entrance=* or barrier=gate)",
                super::load::geometry_name(&other)
            ))
        }
    };
    if parts.iter().all(|l| l.0.is_empty()) {
        return Err("empty geometry".to_owned());
    }
    Ok(parts)
}

/// Coordinates finite (and in range for a geographic CRS), every line with two distinct vertices.
fn check_street(parts: &[LineString<f64>], geographic: bool) -> Result<(), String> {
    let many = parts.len() > 1;
    for (i, line) in parts.iter().enumerate() {
        let part = if many { format!("line {i}: ") } else { String::new() };
        check_coords(line.0.iter(), geographic).map_err(|e| format!("{part}{e}"))?;
        let distinct = line.0.first().is_some_and(|first| line.0.iter().any(|c| c != first));
        if !distinct {
            return Err(format!(
                "{part}{} position(s) but fewer than 2 distinct vertices: a street needs a length; fix or delete the feature",
                line.0.len()
            ));
        }
    }
    Ok(())
}

fn check_coords<'a>(coords: impl Iterator<Item = &'a Coord<f64>>, geographic: bool) -> Result<(), String> {
    super::load::check_coords(coords, geographic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FeatureId;

    fn raw(tags: &[(&str, &str)], geometry: Option<Geometry<f64>>) -> RawFeature {
        RawFeature {
            index: 0,
            fid: Some(FeatureId::Text("way/1".into())),
            geometry,
            properties: tags.iter().map(|(k, v)| ((*k).to_owned(), AttrValue::Text((*v).to_owned()))).collect(),
        }
    }

    fn walkable(tags: &[(&str, &str)]) -> bool {
        let filter = filter::parse_cql2_text(DEFAULT_OSM_WALKABLE).expect("the default parses");
        filter.evaluate(&FilterView(&raw(tags, None)))
    }

    #[test]
    fn the_default_filter_keeps_untagged_access_and_drops_private_no_foot_and_motorways() {
        assert!(walkable(&[("highway", "residential")]), "no access or foot tag: kept");
        assert!(walkable(&[("highway", "footway"), ("access", "yes")]));
        assert!(walkable(&[("highway", "primary_link")]));
        assert!(walkable(&[("highway", "service"), ("access", "private"), ("foot", "yes")]), "foot=yes overrides access");
        assert!(!walkable(&[("highway", "service"), ("access", "private")]));
        assert!(!walkable(&[("highway", "track"), ("access", "no")]));
        assert!(!walkable(&[("highway", "secondary"), ("foot", "no")]));
        assert!(!walkable(&[("highway", "motorway")]));
        assert!(!walkable(&[("highway", "trunk")]));
        assert!(!walkable(&[("railway", "subway")]), "no highway tag: not a street");
    }

    #[test]
    fn gates_are_entrances_and_gate_barriers() {
        let p = Some(Geometry::Point(geo::point!(x: 1.0, y: 2.0)));
        assert!(is_gate(&raw(&[("entrance", "yes")], p.clone())));
        assert!(is_gate(&raw(&[("barrier", "gate")], p.clone())));
        assert!(!is_gate(&raw(&[("entrance", "no")], p.clone())));
        assert!(!is_gate(&raw(&[("barrier", "bollard")], p)));
    }

    #[test]
    fn multilinestrings_split_and_bad_lines_are_named() {
        let ml = geo::wkt! { MULTILINESTRING((0. 0.,1. 0.),(2. 0.,2. 1.)) };
        let parts = street_parts(Some(Geometry::MultiLineString(ml))).expect("two lines");
        assert_eq!(parts.len(), 2);
        assert!(check_street(&parts, true).is_ok());
        let stub = geo::wkt! { MULTILINESTRING((0. 0.,1. 0.),(2. 0.,2. 0.)) };
        let err = check_street(&street_parts(Some(Geometry::MultiLineString(stub))).expect("parts"), true).expect_err("a one-vertex line");
        assert!(err.starts_with("line 1: 2 position(s) but fewer than 2 distinct vertices"), "{err}");
        let far = geo::wkt! { LINESTRING(0. 0.,200. 0.) };
        assert!(check_street(std::slice::from_ref(&far), true).expect_err("out of range").contains("outside lon -180..180"));
        assert!(check_street(&[far], false).is_ok(), "projected metres may exceed 180");
        let err = street_parts(Some(Geometry::Polygon(geo::wkt! { POLYGON((0. 0.,1. 0.,1. 1.,0. 0.)) }))).expect_err("a polygon");
        assert!(err.starts_with("wrong geometry type Polygon"), "{err}");
        assert_eq!(street_parts(None).expect_err("no geometry"), "missing or null geometry");
        assert_eq!(street_parts(Some(Geometry::MultiLineString(geo::MultiLineString(vec![])))).expect_err("no lines"), "empty geometry");
    }
}
