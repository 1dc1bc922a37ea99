//! Vector tiles: `/tiles/{collection}/{z}/{x}/{y}.mvt` (Mapbox Vector Tile 2.1, Web Mercator
//! XYZ) for estates, facilities, gaps, service areas, districts and, with a programme, projects
//! and wishes, each with a TileJSON 3.0 at
//! `/tiles/{collection}.json`.
//!
//! Tiles are cut on request from the served [`Dataset`]: the layer's R-tree finds the features
//! that touch the tile and its buffer, their CRS84 coordinates are projected to tile units,
//! polygons are clipped to the buffered tile (Sutherland–Hodgman: the clip window is a
//! rectangle, so the simple algorithm is exact), simplified with Ramer–Douglas–Peucker at half
//! a pixel of a 512-pixel tile, and written with the hand-rolled encoder in [`mvt`]. Nothing is
//! precomputed beyond what the items endpoints already hold, so a reload or a new `year=` costs
//! no tile generation; the `ETag` the routing middleware derives from the data version and the
//! URL lets browsers revalidate instead of downloading again.
//!
//! Polygons smaller than a pixel at a zoom become one-pixel squares, one per pixel, so a whole
//! city of small estates still shows at city zoom without sending every estate. Tiles carry only
//! what the styles draw with — per kind `{kind}_covered`, `{kind}_distance_m` (whole metres) and
//! `{kind}_shortfall` (only when positive) for estates, and the ids to fetch the full feature
//! from `/collections/{collection}/items/{id}` on a click.
//!
//! `?year=` gives coverage as of that year (estates, gaps, districts), leaves out facilities
//! opened later, and dissolves the service areas of the facilities open then (built once per
//! year and kept while the dataset is served); `?kind=` keeps one facility kind.

pub mod mvt;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Weak};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use geo::{Coord, Geometry, Rect, Simplify as _};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde_json::{json, Value};

use super::error::ApiError;
use super::ogc::Collection;
use super::params::{self, Lang, QueryPairs};
use crate::serve::service_area::AreaMetric;
use crate::serve::dataset::{Dataset, FeatureRef, Layer};
use super::state::AppState;
use super::{base_url, Snapshot};
use crate::io::crs::{CrsSpec, Transformer};
use crate::model::{AttrValue, FeatureId};

/// Tile units per tile side.
pub const EXTENT: u32 = 4096;

/// The largest zoom the TileJSONs advertise; clients over-zoom beyond it.
pub const MAX_ZOOM: u8 = 16;

/// The largest zoom a tile may be requested at.
pub const MAX_REQUEST_ZOOM: u8 = 22;

/// Zoom from which names (labels) are included.
pub const LABEL_ZOOM: u8 = 14;

/// Media type of a tile.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";

/// Buffer around the tile, in tile units (1/64 of the tile), so strokes and labels that cross
/// the edge join up.
const BUFFER: f64 = 64.0;

/// Simplification tolerance in tile units: half a pixel of a 512-pixel tile.
const SIMPLIFY: f64 = 0.5 * EXTENT as f64 / 512.0;

/// One pixel of a 512-pixel tile in tile units: polygons smaller than this become a square of
/// this size; facilities closer than two of these share one point below [`LABEL_ZOOM`].
const PIXEL: f64 = EXTENT as f64 / 512.0;

/// Years of service areas kept per process, across datasets; the oldest goes first.
const KEEP: usize = 16;

/// Zoom below which estate distances are rounded to a tenth of the radius.
pub const COARSE_ZOOM: u8 = 12;

/// Zoom from which single estates are drawn: below it an estate is a few pixels, a city of
/// 60,000 of them a speckled texture in tiles of megabytes, and the map shows districts (the
/// `districts` tiles, a choropleth of their coverage) instead. Estate and gap tiles (gaps are
/// estate polygons too) are empty below it; the TileJSONs say so with `minzoom`.
pub const AGGREGATE_ZOOM: u8 = 12;

/// The tile layer of estate labels in estate tiles (from [`LABEL_ZOOM`]): one point per estate,
/// in the one tile that holds it, so a label is not repeated for every tile an estate crosses.
pub const ESTATE_LABELS: &str = "estate-labels";

/// The tile layer of district labels in district tiles: one point per district, in the one
/// tile that holds it.
pub const DISTRICT_LABELS: &str = "district-labels";

/// Bytes of built tiles kept in memory across requests (the least recently used go first).
pub const TILE_CACHE_BYTES: usize = 64 << 20;

/// `Cache-Control` of a tile whose URL names the data version it was built from (`v=`, as the
/// TileJSONs write it): the bytes at that URL never change, so clients keep them.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Zoom from which the `streets` tiles carry the street network: below it a city's streets
/// are a grey mass that costs more to send than it tells.
pub const STREETS_MIN_ZOOM: u8 = 14;

/// The tile set of the street network (no collection: see [`super::streets`]).
pub const STREETS: &str = "streets";

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tiles", get(get_tilesets))
        .route("/tiles/{tileset}", get(get_tilejson))
        .route("/tiles/{collection}/{z}/{x}/{tile}", get(get_tile))
}

/// A tile address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    /// Zoom.
    pub z: u8,
    /// Column, 0 at 180° W.
    pub x: u32,
    /// Row, 0 at the north edge (XYZ scheme).
    pub y: u32,
}

impl TileId {
    /// Parses `z`, `x` and `y` (with or without `.mvt`) from a request path.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] naming the part that is out of range or not a number.
    pub fn parse(z: &str, x: &str, y: &str) -> Result<Self, ApiError> {
        let y = y.strip_suffix(".mvt").or_else(|| y.strip_suffix(".pbf")).unwrap_or(y);
        let z: u8 = z.parse().ok().filter(|z| *z <= MAX_REQUEST_ZOOM).ok_or_else(|| ApiError::bad("z", format!("`{z}` is not a zoom between 0 and {MAX_REQUEST_ZOOM}")))?;
        let n = 1_u64 << z;
        let coord = |name: &str, s: &str| -> Result<u32, ApiError> {
            s.parse::<u32>().ok().filter(|v| u64::from(*v) < n).ok_or_else(|| ApiError::bad(name, format!("`{s}` is not a tile {name} between 0 and {} at zoom {z}", n - 1)))
        };
        Ok(Self { z, x: coord("x", x)?, y: coord("y", y)? })
    }

    /// The tile's extent in CRS84 with `buffer` tile units around it.
    #[must_use]
    pub fn bounds_lonlat(self, buffer: f64) -> Rect<f64> {
        let n = f64::from(1_u32 << self.z.min(31));
        let pad = buffer / f64::from(EXTENT);
        let x0 = (f64::from(self.x) - pad) / n;
        let x1 = (f64::from(self.x) + 1.0 + pad) / n;
        let y0 = (f64::from(self.y) - pad) / n;
        let y1 = (f64::from(self.y) + 1.0 + pad) / n;
        let lon = |x: f64| x.clamp(0.0, 1.0) * 360.0 - 180.0;
        let lat = |y: f64| (std::f64::consts::PI * (1.0 - 2.0 * y.clamp(0.0, 1.0))).sinh().atan().to_degrees();
        Rect::new(Coord { x: lon(x0), y: lat(y1) }, Coord { x: lon(x1), y: lat(y0) })
    }
}

/// Projects CRS84 coordinates into one tile's units.
#[derive(Debug, Clone, Copy)]
struct Projector {
    scale: f64,
    x0: f64,
    y0: f64,
}

impl Projector {
    fn new(tile: TileId) -> Self {
        let n = f64::from(1_u32 << tile.z.min(31));
        Self { scale: n * f64::from(EXTENT), x0: f64::from(tile.x) * f64::from(EXTENT), y0: f64::from(tile.y) * f64::from(EXTENT) }
    }

    /// Spherical Web Mercator (EPSG:3857) to tile units.
    fn project(self, c: Coord<f64>) -> Coord<f64> {
        const MAX_LAT: f64 = 85.051_128_779_806_59;
        let x = (c.x + 180.0) / 360.0;
        let sin = c.y.clamp(-MAX_LAT, MAX_LAT).to_radians().sin();
        let y = 0.5 - ((1.0 + sin) / (1.0 - sin)).ln() / (4.0 * std::f64::consts::PI);
        Coord { x: x * self.scale - self.x0, y: y * self.scale - self.y0 }
    }
}

/// What a tile request asks for besides its address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileQuery {
    /// Coverage as of this year (estates, gaps, districts); facilities opened later are left out.
    pub year: Option<i32>,
    /// Only this facility kind (a catalogue key): its properties for estates and districts, its
    /// features for facilities, gaps and service areas.
    pub kind: Option<String>,
    /// The data version the client names (`v=`, written by the TileJSONs): a tile whose `v` is
    /// the served version is sent as immutable; any other is answered with the current data.
    pub version: Option<u64>,
}

impl TileQuery {
    /// Parameters a collection's tiles accept.
    #[must_use]
    pub fn accepted(c: Collection) -> &'static [&'static str] {
        let _ = c;
        &["year", "kind", "v"]
    }

    /// Parses and checks the query of a tile or TileJSON request.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] for an unknown parameter, a bad year or an unknown kind.
    pub fn parse(pairs: &QueryPairs, c: Collection, dataset: &Dataset) -> Result<Self, ApiError> {
        pairs.only(Self::accepted(c))?;
        let year = match pairs.get("year") {
            Some(s) => Some(params::parse_year("year", s)?),
            None => dataset.params.year,
        };
        let kind = match pairs.get("kind") {
            Some(k) if dataset.catalogue.kind_id(k).is_some() => Some(k.to_owned()),
            Some(k) => return Err(ApiError::bad("kind", format!("`{k}` is not a facility kind; use one of {}", dataset.catalogue.keys().collect::<Vec<_>>().join(", ")))),
            None => None,
        };
        let version = match pairs.get("v") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| ApiError::bad("v", format!("`{v}` is not a data version (a whole number)")))?),
            None => None,
        };
        Ok(Self { year, kind, version })
    }

    /// Zoom from which tiles of `c` carry features for this query (see [`AGGREGATE_ZOOM`]).
    #[must_use]
    pub fn min_zoom(&self, c: Collection) -> u8 {
        match c {
            Collection::Estates | Collection::Gaps => AGGREGATE_ZOOM,
            _ => 0,
        }
    }

    /// The canonical query string of tile URLs (`?year=…&kind=…&v=…`) for data `version`.
    fn query_string(&self, c: Collection, version: u64) -> String {
        let mut parts = Vec::new();
        let _ = c;
        if let Some(y) = self.year {
            parts.push(format!("year={y}"));
        }
        if let Some(k) = &self.kind {
            parts.push(format!("kind={}", params::encode(k)));
        }
        parts.push(format!("v={version}"));
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// The tiled collection named in a path.
fn tiled_collection(dataset: &Dataset, id: &str) -> Result<Collection, ApiError> {
    match Collection::parse(id) {
        Some(c) if c.served(dataset) => Ok(c),
        _ => Err(ApiError::NoCollection(id.to_owned())),
    }
}

/// How a column becomes a tile property.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Conversion {
    /// As it is.
    Keep,
    /// Rounded to a whole number (distances in metres: keeps the value table small).
    Whole,
    /// A distance in whole metres, and below [`COARSE_ZOOM`] in steps of this many metres (a
    /// tenth of the kind's radius: finer than the styles' ramp shows at that scale, and it
    /// makes city-wide tiles a third smaller).
    Distance(f64),
    /// Rounded to 0.1 and left out unless positive (shortfalls).
    Positive,
}

/// A column carried into tiles.
#[derive(Debug, Clone)]
struct TileColumn {
    index: usize,
    name: String,
    conversion: Conversion,
    min_zoom: u8,
}

/// The columns of `layer` that tiles of `c` carry, in order.
fn tile_columns(layer: &Layer, c: Collection, dataset: &Dataset, query: &TileQuery) -> Vec<TileColumn> {
    let mut wanted: Vec<(String, Conversion, u8)> = Vec::new();
    let kinds: Vec<&str> = match &query.kind {
        Some(k) => vec![k.as_str()],
        None => dataset.catalogue.keys().collect(),
    };
    match c {
        Collection::Estates => {
            // Names go to the label layer (one point per estate); the district lets the map
            // show one district's estates.
            wanted.push(("district".into(), Conversion::Keep, 0));
            for k in &kinds {
                let step = dataset.catalogue.kind_id(k).map_or(1.0, |id| (dataset.catalogue.spec(id).radius_m / 10.0).max(1.0));
                wanted.push((format!("{k}_covered"), Conversion::Keep, 0));
                wanted.push((format!("{k}_distance_m"), Conversion::Distance(step), 0));
                wanted.push((format!("{k}_shortfall"), Conversion::Positive, 0));
                // With a walking network, both figures, for the map's straight / walking switch.
                wanted.push((format!("{k}_straight_m"), Conversion::Distance(step), 0));
                wanted.push((format!("{k}_network_m"), Conversion::Distance(step), 0));
            }
        }
        Collection::Facilities => {
            for (name, conversion, zoom) in [("kind", Conversion::Keep, 0), ("opened_year", Conversion::Keep, 0), ("planned", Conversion::Keep, 0), ("capacity", Conversion::Keep, 0), ("name", Conversion::Keep, LABEL_ZOOM)] {
                wanted.push((name.into(), conversion, zoom));
            }
        }
        Collection::Gaps => {
            for (name, conversion, zoom) in [
                ("estate_id", Conversion::Keep, 0),
                ("kind", Conversion::Keep, 0),
                ("radius_m", Conversion::Whole, 0),
                ("distance_m", Conversion::Whole, 0),
                ("shortfall", Conversion::Positive, 0),
                ("estate_name", Conversion::Keep, LABEL_ZOOM),
            ] {
                wanted.push((name.into(), conversion, zoom));
            }
        }
        Collection::ServiceAreas => {
            for (name, conversion) in [("kind", Conversion::Keep), ("radius_m", Conversion::Whole), ("facilities", Conversion::Keep), ("metric", Conversion::Keep)] {
                wanted.push((name.into(), conversion, 0));
            }
        }
        Collection::Districts => {
            wanted.push(("district".into(), Conversion::Keep, 0));
            wanted.push(("estates".into(), Conversion::Keep, 0));
            wanted.push(("households".into(), Conversion::Keep, 0));
            for k in &kinds {
                // `_facilities` tells "no facility of this kind in the district" from 0 %.
                wanted.push((format!("{k}_facilities"), Conversion::Keep, 0));
                wanted.push((format!("{k}_estates_covered_pct"), Conversion::Keep, 0));
                wanted.push((format!("{k}_households_covered_pct"), Conversion::Keep, 0));
                wanted.push((format!("{k}_straight_estates_covered_pct"), Conversion::Keep, 0));
                wanted.push((format!("{k}_straight_households_covered_pct"), Conversion::Keep, 0));
            }
            for name in ["programme_projects", "programme_households", "programme_accepted", "programme_gate_failed"] {
                wanted.push((name.into(), Conversion::Keep, 0));
            }
        }
        // What the web map's programme view colours and filters by; the popup fetches the rest.
        Collection::Projects => {
            for name in ["batch_year", "status", "complete_pct", "gate", "satisfied_pct", "category"] {
                wanted.push((name.into(), Conversion::Keep, 0));
            }
        }
        Collection::Wishes => {
            for name in ["wishes_total", "top1_item", "top1_count"] {
                wanted.push((name.into(), Conversion::Keep, 0));
            }
        }
    }
    wanted
        .into_iter()
        .filter_map(|(name, conversion, min_zoom)| layer.column(&name).map(|index| TileColumn { index, name, conversion, min_zoom }))
        .collect()
}

/// A property value as a tile value; `None` leaves the property out.
fn tile_value(v: &AttrValue, conversion: Conversion, z: u8) -> Option<mvt::Value<'_>> {
    #[expect(clippy::cast_possible_truncation, reason = "rounded metres of a city fit an i64")]
    let whole = |x: f64| mvt::Value::Int(x.round() as i64);
    match (v, conversion) {
        (AttrValue::Float(x), Conversion::Distance(step)) if z < COARSE_ZOOM => x.is_finite().then(|| whole((x / step).round() * step)),
        (AttrValue::Float(x), Conversion::Distance(_)) => x.is_finite().then(|| whole(*x)),
        (AttrValue::Null, _) => None,
        (AttrValue::Float(x), Conversion::Positive) => (*x > 0.0 && x.is_finite()).then(|| mvt::Value::Double((x * 10.0).round() / 10.0)),
        (AttrValue::Int(n), Conversion::Positive) => (*n > 0).then_some(mvt::Value::Int(*n)),
        (AttrValue::Float(x), Conversion::Whole) => x.is_finite().then(|| whole(*x)),
        (AttrValue::Float(x), _) => x.is_finite().then_some(mvt::Value::Double(*x)),
        (AttrValue::Bool(b), _) => Some(mvt::Value::Bool(*b)),
        (AttrValue::Int(n), _) => Some(mvt::Value::Int(*n)),
        (AttrValue::Text(s) | AttrValue::Json(s), _) => Some(mvt::Value::Str(s)),
    }
}

/// Renders one tile of a collection: an MVT with one layer named after the collection (an empty
/// body when nothing falls in the tile). Blocking: computing a year's coverage the first time
/// takes a while, so call it from `spawn_blocking`.
///
/// # Errors
/// [`ApiError::NoCollection`] for districts when estates carry none, [`ApiError::Internal`]
/// when a year's coverage cannot be computed.
pub fn render_tile(dataset: &Arc<Dataset>, c: Collection, tile: TileId, query: &TileQuery) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    if tile.z < query.min_zoom(c) {
        return Ok(out);
    }
    let view = if c.by_year() { year_view(dataset, query.year)? } else { Arc::clone(&dataset.current) };
    let areas = if c == Collection::ServiceAreas { Some(service_areas(dataset, query.year)?) } else { None };
    let layer = match areas.as_ref().and_then(|a| a.layer.as_deref()) {
        Some(layer) => layer,
        None => c.layer(dataset, &view).ok_or_else(|| ApiError::NoCollection(c.id().to_owned()))?,
    };
    let bbox = tile.bounds_lonlat(BUFFER);
    // (feature, its polygons that touch the tile; `None`: the whole geometry).
    let candidates: Vec<(u32, Option<Vec<u32>>)> = match &areas {
        Some(a) => {
            let envelope = AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
            let mut by_feature: std::collections::BTreeMap<u32, Vec<u32>> = std::collections::BTreeMap::new();
            for part in a.parts.locate_in_envelope_intersecting(&envelope) {
                by_feature.entry(part.data.0).or_default().push(part.data.1);
            }
            by_feature.into_iter().map(|(f, mut parts)| {
                parts.sort_unstable();
                (f, Some(parts))
            }).collect()
        }
        None => layer.intersecting(Some(bbox)).into_iter().map(|f| (f, None)).collect(),
    };
    let columns: Vec<TileColumn> = tile_columns(layer, c, dataset, query).into_iter().filter(|col| tile.z >= col.min_zoom).collect();
    let kind_column = layer.column("kind").filter(|_| matches!(c, Collection::Facilities | Collection::Gaps | Collection::ServiceAreas));
    let year_column = layer.column("opened_year").filter(|_| c == Collection::Facilities);
    // Below AGGREGATE_ZOOM facilities are thinned to one per 5-pixel cell and kind, and
    // without `kind=` to one per 6-pixel cell of any kind (a city's eleven kinds would otherwise
    // fill a tile eleven times over): at most about 10,000 points, some 350 kB, per tile
    // however dense the city. From it, one per 2-pixel cell and kind up to LABEL_ZOOM.
    let shared = c == Collection::Facilities && query.kind.is_none() && tile.z < AGGREGATE_ZOOM;
    let thin = match (tile.z < AGGREGATE_ZOOM, shared) {
        (true, true) => 6.0 * PIXEL,
        (true, false) => 5.0 * PIXEL,
        (false, _) => 2.0 * PIXEL,
    };
    let kind_group = |f: &FeatureRef<'_>| -> u32 {
        if shared {
            return 0;
        }
        kind_column
            .and_then(|k| match &*f.value(k) {
                AttrValue::Text(s) => dataset.catalogue.kind_id(s).map(|id| u32::from(id.0)),
                _ => None,
            })
            .unwrap_or(0)
    };
    // One label point per estate (from LABEL_ZOOM) or district, in the tile that holds it.
    let (label_layer, label_column) = match c {
        Collection::Estates if tile.z >= LABEL_ZOOM => (Some(ESTATE_LABELS), layer.column("name")),
        Collection::Districts => (Some(DISTRICT_LABELS), layer.column("district")),
        _ => (None, None),
    };
    let mut labels = label_layer.map(|name| mvt::LayerBuilder::new(name, EXTENT));

    let projector = Projector::new(tile);
    let mut grid = HashSet::new();
    let mut builder = mvt::LayerBuilder::new(c.id(), EXTENT);
    for (position, parts) in candidates {
        let feature = layer.feature(position as usize);
        if let (Some(k), Some(wanted)) = (kind_column, &query.kind) {
            if !matches!(&*feature.value(k), AttrValue::Text(s) if s == wanted) {
                continue;
            }
        }
        if let (Some(col), Some(year)) = (year_column, query.year) {
            if matches!(*feature.value(col), AttrValue::Int(opened) if opened > i64::from(year)) {
                continue;
            }
        }
        let geometry = match (&parts, &**feature.geometry) {
            (Some(parts), Geometry::MultiPolygon(mp)) => tile_polygons(parts.iter().filter_map(|&j| mp.0.get(j as usize)), projector, kind_group(&feature), &mut grid),
            _ => tile_geometry(feature.geometry, projector, tile.z, thin, kind_group(&feature), &mut grid),
        };
        // Column values computed from a year's tables are owned: kept here while the
        // properties borrow them.
        let label = label_column.map(|col| feature.value(col));
        let values: Vec<_> = columns.iter().map(|col| feature.value(col.index)).collect();
        let mut properties: Vec<(&str, mvt::Value<'_>)> = Vec::with_capacity(columns.len() + 1);
        let id_value = match &*feature.id {
            FeatureId::Int(n) => mvt::Value::Int(*n),
            FeatureId::Text(s) => mvt::Value::Str(s),
        };
        let id = match &*feature.id {
            FeatureId::Int(n) => u64::try_from(*n).ok(),
            FeatureId::Text(_) => None,
        };
        if let (Some(labels), Some(point)) = (labels.as_mut(), label_point(feature.geometry, projector)) {
            properties.clear();
            if c == Collection::Estates {
                properties.push(("id", id_value));
            }
            if let Some(v) = label.as_deref().and_then(|v| tile_value(v, Conversion::Keep, tile.z)) {
                properties.push((if c == Collection::Estates { "name" } else { "district" }, v));
            }
            labels.add(id, &mvt::Geometry::Points(vec![point]), &properties);
        }
        let Some(geometry) = geometry else { continue };
        properties.clear();
        if !matches!(c, Collection::Gaps | Collection::ServiceAreas | Collection::Districts) {
            properties.push(("id", id_value));
        }
        for (col, v) in columns.iter().zip(&values) {
            if let Some(v) = tile_value(v, col.conversion, tile.z) {
                properties.push((col.name.as_str(), v));
            }
        }
        builder.add(id, &geometry, &properties);
    }
    if !builder.is_empty() {
        builder.write_to(&mut out);
    }
    if let Some(labels) = labels.filter(|l| !l.is_empty()) {
        labels.write_to(&mut out);
    }
    Ok(out)
}

/// Where a polygon's (or point's) label goes, in tile units: a point inside it (its largest
/// polygon's), `None` unless that point lies in the tile itself (not its buffer), so that of all
/// the tiles a feature crosses exactly one labels it.
fn label_point(geometry: &Geometry<f64>, projector: Projector) -> Option<mvt::TilePoint> {
    use geo::{Area as _, InteriorPoint as _};
    let point = match geometry {
        Geometry::MultiPolygon(mp) => mp.0.iter().max_by(|a, b| a.unsigned_area().total_cmp(&b.unsigned_area())).and_then(geo::Polygon::interior_point),
        other => other.interior_point(),
    }?;
    let c = projector.project(point.0);
    let extent = f64::from(EXTENT);
    (c.x >= 0.0 && c.x < extent && c.y >= 0.0 && c.y < extent).then(|| round(c))
}

/// Renders one tile of the street network: one feature of every edge that crosses the
/// buffered tile, clipped to it; empty below [`STREETS_MIN_ZOOM`] or without a network.
#[must_use]
pub fn render_streets_tile(dataset: &Dataset, tile: TileId) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(network) = dataset.network.as_ref().filter(|_| tile.z >= STREETS_MIN_ZOOM) else { return out };
    let projector = Projector::new(tile);
    let (min, max) = (-BUFFER, f64::from(EXTENT) + BUFFER);
    let mut lines: Vec<Vec<mvt::TilePoint>> = Vec::new();
    for [a, b] in network.streets.within(tile.bounds_lonlat(BUFFER)) {
        let Some((a, b)) = clip_segment(projector.project(a), projector.project(b), min, max) else { continue };
        let (a, b) = (round(a), round(b));
        if a == b {
            continue;
        }
        // Edges meet end to end along a street: extend the previous line instead of starting one.
        match lines.last_mut() {
            Some(line) if line.last() == Some(&a) => line.push(b),
            _ => lines.push(vec![a, b]),
        }
    }
    if lines.is_empty() {
        return out;
    }
    let mut builder = mvt::LayerBuilder::new(STREETS, EXTENT);
    builder.add(None, &mvt::Geometry::Lines(lines), &[]);
    builder.write_to(&mut out);
    out
}

/// Liang–Barsky: the part of segment `a`–`b` inside the square `[min, max]²`.
fn clip_segment(a: Coord<f64>, b: Coord<f64>, min: f64, max: f64) -> Option<(Coord<f64>, Coord<f64>)> {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for (p, q) in [(-dx, a.x - min), (dx, max - a.x), (-dy, a.y - min), (dy, max - a.y)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((Coord { x: a.x + t0 * dx, y: a.y + t0 * dy }, Coord { x: a.x + t1 * dx, y: a.y + t1 * dy }))
}

/// The TileJSON of the street network.
fn streets_tilejson(dataset: &Dataset, base: &str, lang: Lang) -> Value {
    let bounds = dataset.network.as_ref().and_then(|n| n.streets.extent()).map_or_else(|| vec![-180.0, -85.0, 180.0, 85.0], |e| vec![e.min().x, e.min().y, e.max().x, e.max().y]);
    let (title, description) = match lang {
        Lang::En => ("Walking network", "The walkable streets the walking distances are measured along (graph edges after snapping), from zoom 14."),
        Lang::Zh => ("步行网络", "计算步行距离所沿的可步行街道（连接后的路网边），自 14 级起显示。"),
    };
    json!({
        "tilejson": "3.0.0",
        "name": "gapmap streets",
        "description": description,
        "version": "1.0.0",
        "attribution": "gapmap",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{STREETS}/{{z}}/{{x}}/{{y}}.mvt?v={}", dataset.version)],
        "minzoom": STREETS_MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0, STREETS_MIN_ZOOM],
        "vector_layers": [{ "id": STREETS, "description": title, "minzoom": STREETS_MIN_ZOOM, "maxzoom": MAX_ZOOM, "fields": {} }],
    })
}

/// Coverage as of `year`, computed once however many tiles ask for it at the same moment: a
/// map asks for a dozen tiles of a new year together, and [`Dataset::year_view`] alone would run
/// the whole analysis for each of them at once. Blocking.
fn year_view(dataset: &Dataset, year: Option<i32>) -> Result<Arc<crate::serve::dataset::YearView>, ApiError> {
    static COMPUTING: Mutex<()> = Mutex::new(());
    if let Some(view) = dataset.cached_year(year) {
        return Ok(view);
    }
    let _computing = COMPUTING.lock().map_err(|_| ApiError::Internal("year lock poisoned".into()))?;
    Ok(dataset.year_view(year)?)
}

/// A polygon's bounding box (CRS84) with its (feature, polygon) positions.
type PartBox = GeomWithData<Rectangle<[f64; 2]>, (u32, u32)>;

/// Service areas of one year with an R-tree over their polygons: each kind's area is one
/// feature spanning the city, so the layer's own R-tree cannot narrow a tile down.
struct AreaTiles {
    /// The year's layer; `None` for the configured year (the served collection).
    layer: Option<Arc<Layer>>,
    /// Bounding boxes of every polygon, with (feature, polygon) positions.
    parts: RTree<PartBox>,
}

impl AreaTiles {
    fn new(layer: Option<Arc<Layer>>, served: &Layer) -> Self {
        let source = layer.as_deref().unwrap_or(served);
        let mut boxes = Vec::new();
        for (i, f) in source.iter().enumerate() {
            if let Geometry::MultiPolygon(mp) = &**f.geometry {
                for (j, p) in mp.0.iter().enumerate() {
                    if let Some(b) = bounds(&p.exterior().0) {
                        let ids = (u32::try_from(i).unwrap_or(u32::MAX), u32::try_from(j).unwrap_or(u32::MAX));
                        boxes.push(GeomWithData::new(Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]), ids));
                    }
                }
            }
        }
        Self { layer, parts: RTree::bulk_load(boxes) }
    }
}

/// Service areas as of `year`: the served collection for the configured year, else those of the
/// facilities open in `year` (circles, or reachable streets with a walking network), dissolved
/// per kind as the `service-areas` collection is;
/// built on first use and kept while the dataset lives (up to `KEEP` years).
fn service_areas(dataset: &Arc<Dataset>, year: Option<i32>) -> Result<Arc<AreaTiles>, ApiError> {
    type Cache = Vec<(Weak<Dataset>, Option<i32>, Arc<AreaTiles>)>;
    static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
    static BUILDING: Mutex<()> = Mutex::new(());
    let year = year.filter(|y| Some(*y) != dataset.params.year);
    let weak = Arc::downgrade(dataset);
    {
        let mut cache = CACHE.lock().map_err(|_| ApiError::Internal("service-area cache poisoned".into()))?;
        // A dead weak pointer keeps its allocation, so a live dataset never shares its address.
        cache.retain(|(d, _, _)| d.strong_count() > 0);
        if let Some((_, _, tiles)) = cache.iter().find(|(d, cached, _)| d.ptr_eq(&weak) && *cached == year) {
            return Ok(Arc::clone(tiles));
        }
    }
    // One build at a time: the tiles of a new year arrive together, and each would otherwise
    // dissolve the same circles.
    let _building = BUILDING.lock().map_err(|_| ApiError::Internal("service-area build lock poisoned".into()))?;
    if let Some((_, _, tiles)) = CACHE.lock().map_err(|_| ApiError::Internal("service-area cache poisoned".into()))?.iter().find(|(d, cached, _)| d.ptr_eq(&weak) && *cached == year) {
        return Ok(Arc::clone(tiles));
    }
    let layer = year.map(|y| build_service_areas(dataset, y)).transpose()?.map(Arc::new);
    let tiles = Arc::new(AreaTiles::new(layer, dataset.service_areas()?));
    let mut cache = CACHE.lock().map_err(|_| ApiError::Internal("service-area cache poisoned".into()))?;
    if cache.len() >= KEEP {
        cache.remove(0);
    }
    cache.push((weak, year, Arc::clone(&tiles)));
    Ok(tiles)
}

fn build_service_areas(dataset: &Dataset, year: i32) -> Result<Layer, ApiError> {
    let fail = |e: &dyn std::fmt::Display| ApiError::Internal(format!("service areas as of {year}: {e}"));
    let working: CrsSpec = dataset.working_crs.parse().map_err(|e| fail(&e))?;
    let to_crs84 = Transformer::new(&working, "CRS84").map_err(|e| fail(&e))?;
    let metric = dataset.network.as_ref().map_or(AreaMetric::Straight, |n| AreaMetric::Network(&n.metric));
    Ok(crate::serve::service_area::build_service_areas(&dataset.facilities, &dataset.catalogue, Some(year), metric, &to_crs84)?)
}

/// A CRS84 geometry in tile units: clipped, simplified, tiny polygons as pixel squares (one per
/// pixel and `group`), points thinned below [`LABEL_ZOOM`]. `None` when nothing is left.
fn tile_geometry(geometry: &Geometry<f64>, projector: Projector, z: u8, thin: f64, group: u32, grid: &mut HashSet<(u32, i32, i32)>) -> Option<mvt::Geometry> {
    match geometry {
        Geometry::Point(p) => tile_points(std::iter::once(p.0), projector, z, thin, group, grid),
        Geometry::MultiPoint(mp) => tile_points(mp.0.iter().map(|p| p.0), projector, z, thin, group, grid),
        Geometry::Polygon(p) => tile_polygons(std::slice::from_ref(p), projector, group, grid),
        Geometry::MultiPolygon(mp) => tile_polygons(&mp.0, projector, group, grid),
        Geometry::Rect(r) => tile_polygons(&[r.to_polygon()], projector, group, grid),
        Geometry::Triangle(t) => tile_polygons(&[t.to_polygon()], projector, group, grid),
        Geometry::Line(_) | Geometry::LineString(_) | Geometry::MultiLineString(_) | Geometry::GeometryCollection(_) => None,
    }
}

#[expect(clippy::cast_possible_truncation, reason = "tile units after clipping lie within a few thousand of the tile")]
fn round(c: Coord<f64>) -> mvt::TilePoint {
    [c.x.round() as i32, c.y.round() as i32]
}

/// Points in the buffered tile; below [`LABEL_ZOOM`] at most one per `thin`-sized cell and group.
fn tile_points(points: impl Iterator<Item = Coord<f64>>, projector: Projector, z: u8, thin: f64, group: u32, grid: &mut HashSet<(u32, i32, i32)>) -> Option<mvt::Geometry> {
    let limit = f64::from(EXTENT) + BUFFER;
    let out: Vec<mvt::TilePoint> = points
        .map(|c| projector.project(c))
        .filter(|c| c.x >= -BUFFER && c.x <= limit && c.y >= -BUFFER && c.y <= limit)
        .filter(|c| {
            if z >= LABEL_ZOOM {
                return true;
            }
            #[expect(clippy::cast_possible_truncation, reason = "cells of a tile")]
            let cell = (group, (c.x / thin).floor() as i32, (c.y / thin).floor() as i32);
            grid.insert(cell)
        })
        .map(round)
        .collect();
    (!out.is_empty()).then_some(mvt::Geometry::Points(out))
}

fn tile_polygons<'a>(polygons: impl IntoIterator<Item = &'a geo::Polygon<f64>>, projector: Projector, group: u32, grid: &mut HashSet<(u32, i32, i32)>) -> Option<mvt::Geometry> {
    let (min, max) = (-BUFFER, f64::from(EXTENT) + BUFFER);
    let mut out = Vec::new();
    for polygon in polygons {
        let exterior: Vec<Coord<f64>> = polygon.exterior().0.iter().map(|c| projector.project(*c)).collect();
        let Some(bbox) = bounds(&exterior) else { continue };
        if bbox.max().x < min || bbox.min().x > max || bbox.max().y < min || bbox.min().y > max {
            continue;
        }
        if bbox.width() < PIXEL && bbox.height() < PIXEL {
            let centre = bbox.center();
            #[expect(clippy::cast_possible_truncation, reason = "cells of a tile")]
            let cell = (group, (centre.x / PIXEL).floor() as i32, (centre.y / PIXEL).floor() as i32);
            if centre.x < min || centre.x > max || centre.y < min || centre.y > max || !grid.insert(cell) {
                continue;
            }
            let h = PIXEL / 2.0;
            let square = [(-h, -h), (h, -h), (h, h), (-h, h)].map(|(dx, dy)| round(Coord { x: centre.x + dx, y: centre.y + dy }));
            out.push(vec![square.to_vec()]);
            continue;
        }
        let inside = bbox.min().x >= min && bbox.max().x <= max && bbox.min().y >= min && bbox.max().y <= max;
        let Some(shell) = tile_ring(exterior, inside, true) else { continue };
        let mut rings = vec![shell];
        for hole in polygon.interiors() {
            let projected: Vec<Coord<f64>> = hole.0.iter().map(|c| projector.project(*c)).collect();
            if bounds(&projected).is_some_and(|b| b.width() >= PIXEL || b.height() >= PIXEL) {
                rings.extend(tile_ring(projected, inside, false));
            }
        }
        out.push(rings);
    }
    (!out.is_empty()).then_some(mvt::Geometry::Polygons(out))
}

/// Clips (unless `inside`), simplifies, rounds and orients one projected ring (exterior rings
/// clockwise on screen, holes counter-clockwise); `None` when it collapses.
fn tile_ring(mut ring: Vec<Coord<f64>>, inside: bool, exterior: bool) -> Option<Vec<mvt::TilePoint>> {
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    if !inside {
        ring = clip_ring(&ring, -BUFFER, f64::from(EXTENT) + BUFFER);
    }
    if ring.len() < 3 {
        return None;
    }
    if ring.len() > 4 {
        ring.push(ring[0]);
        let simplified = geo::Polygon::new(geo::LineString(ring), Vec::new()).simplify(SIMPLIFY);
        let (exterior_ring, _) = simplified.into_inner();
        ring = exterior_ring.0;
        ring.pop();
    }
    let mut points: Vec<mvt::TilePoint> = Vec::with_capacity(ring.len());
    for c in ring {
        let p = round(c);
        if points.last() != Some(&p) {
            points.push(p);
        }
    }
    while points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    if points.len() < 3 {
        return None;
    }
    let area = mvt::ring_area(&points);
    if area == 0 {
        return None;
    }
    if (area > 0) != exterior {
        points.reverse();
    }
    Some(points)
}

fn bounds(coords: &[Coord<f64>]) -> Option<Rect<f64>> {
    let first = *coords.first()?;
    let (mut lo, mut hi) = (first, first);
    for c in coords {
        lo.x = lo.x.min(c.x);
        lo.y = lo.y.min(c.y);
        hi.x = hi.x.max(c.x);
        hi.y = hi.y.max(c.y);
    }
    Some(Rect::new(lo, hi))
}

/// Sutherland–Hodgman clipping of an open ring to the square `[min, max]²`.
fn clip_ring(ring: &[Coord<f64>], min: f64, max: f64) -> Vec<Coord<f64>> {
    let mut out = ring.to_vec();
    for edge in 0..4 {
        let input = std::mem::take(&mut out);
        let Some(&last) = input.last() else { break };
        let inside = |c: Coord<f64>| match edge {
            0 => c.x >= min,
            1 => c.x <= max,
            2 => c.y >= min,
            _ => c.y <= max,
        };
        let cross = |a: Coord<f64>, b: Coord<f64>| match edge {
            0 | 1 => {
                let x = if edge == 0 { min } else { max };
                Coord { x, y: a.y + (x - a.x) * (b.y - a.y) / (b.x - a.x) }
            }
            _ => {
                let y = if edge == 2 { min } else { max };
                Coord { x: a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y), y }
            }
        };
        let mut previous = last;
        for &current in &input {
            if inside(current) {
                if !inside(previous) {
                    out.push(cross(previous, current));
                }
                out.push(current);
            } else if inside(previous) {
                out.push(cross(previous, current));
            }
            previous = current;
        }
    }
    out
}

/// The TileJSON of a collection's tiles.
fn tilejson(dataset: &Dataset, c: Collection, query: &TileQuery, base: &str, lang: Lang) -> Value {
    let layer = c.layer(dataset, &dataset.current);
    let bounds = layer.and_then(|l| l.extent).map_or_else(|| vec![-180.0, -85.0, 180.0, 85.0], |e| vec![e.min().x, e.min().y, e.max().x, e.max().y]);
    let centre = [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0];
    let mut fields = serde_json::Map::new();
    if let Some(layer) = layer {
        if !matches!(c, Collection::Gaps | Collection::ServiceAreas | Collection::Districts) {
            fields.insert("id".into(), json!("feature id: fetch the feature from /collections/{collection}/items/{id}"));
        }
        for col in tile_columns(layer, c, dataset, query) {
            let kind = layer.columns[col.index].kind.json_type();
            let note = match col.conversion {
                Conversion::Keep => kind.to_owned(),
                Conversion::Whole => format!("{kind}, rounded to whole metres"),
                Conversion::Distance(step) => format!("{kind}, rounded to whole metres (below zoom {COARSE_ZOOM} to {step} m)"),
                Conversion::Positive => format!("{kind}, rounded to 0.1; left out when not positive"),
            };
            let note = if col.min_zoom > 0 { format!("{note}; from zoom {}", col.min_zoom) } else { note };
            fields.insert(col.name, json!(note));
        }
    }
    let min_zoom = query.min_zoom(c);
    let mut vector_layers = vec![json!({ "id": c.id(), "description": c.title(lang), "minzoom": min_zoom, "maxzoom": MAX_ZOOM, "fields": fields })];
    match c {
        Collection::Estates => vector_layers.push(json!({
            "id": ESTATE_LABELS,
            "description": "one label point per estate, in the tile that holds it",
            "minzoom": LABEL_ZOOM,
            "maxzoom": MAX_ZOOM,
            "fields": { "id": "estate id", "name": "String" },
        })),
        Collection::Districts => vector_layers.push(json!({
            "id": DISTRICT_LABELS,
            "description": "one label point per district, in the tile that holds it",
            "minzoom": 0,
            "maxzoom": MAX_ZOOM,
            "fields": { "district": "String" },
        })),
        _ => {}
    }
    json!({
        "tilejson": "3.0.0",
        "name": format!("gapmap {}", c.id()),
        "description": c.description(lang),
        "version": "1.0.0",
        "attribution": "gapmap",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt{}", c.id(), query.query_string(c, dataset.version))],
        "minzoom": min_zoom,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": [centre[0], centre[1], 12],
        "vector_layers": vector_layers,
    })
}

fn json_response(value: &Value) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], value.to_string()).into_response()
}

/// Collections with tiles in this dataset.
fn tiled_collections(dataset: &Dataset) -> Vec<Collection> {
    Collection::ALL.into_iter().filter(|c| c.served(dataset)).collect()
}

async fn get_tilesets(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    let base = base_url(&state, &headers);
    let lang = Lang::from_headers(&headers);
    let sets: Vec<Value> = tiled_collections(&dataset)
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id(),
                "title": c.title(lang),
                "tilejson": format!("{base}/tiles/{}.json", c.id()),
                "tiles": format!("{base}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt", c.id()),
                "parameters": TileQuery::accepted(c),
            })
        })
        .collect();
    let mut sets = sets;
    if dataset.network.is_some() {
        sets.push(json!({
            "id": STREETS,
            "title": if lang == Lang::Zh { "步行网络" } else { "Walking network" },
            "tilejson": format!("{base}/tiles/{STREETS}.json"),
            "tiles": format!("{base}/tiles/{STREETS}/{{z}}/{{x}}/{{y}}.mvt"),
            "parameters": Vec::<&str>::new(),
        }));
    }
    Ok(json_response(&json!({ "tilesets": sets })))
}

async fn get_tilejson(
    State(state): State<AppState>,
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path(tileset): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let Some(id) = tileset.strip_suffix(".json") else {
        return Err(ApiError::NoRoute(format!("/tiles/{tileset}")));
    };
    let base = base_url(&state, &headers);
    if id == STREETS && dataset.network.is_some() {
        QueryPairs::parse(q.as_deref())?.only(&[])?;
        return Ok(json_response(&streets_tilejson(&dataset, &base, Lang::from_headers(&headers))));
    }
    let c = tiled_collection(&dataset, id)?;
    let query = TileQuery::parse(&QueryPairs::parse(q.as_deref())?, c, &dataset)?;
    super::ogc::ready(&dataset, c).await?;
    Ok(json_response(&tilejson(&dataset, c, &query, &base, Lang::from_headers(&headers))))
}

async fn get_tile(Extension(Snapshot(dataset)): Extension<Snapshot>, Path((collection, zoom, column, row)): Path<(String, String, String, String)>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let pairs = QueryPairs::parse(q.as_deref())?;
    let (key, version) = if collection == STREETS && dataset.network.is_some() {
        let tile = TileId::parse(&zoom, &column, &row)?;
        pairs.only(&["v"])?;
        let version = pairs.get("v").map(|v| v.parse::<u64>().map_err(|_| ApiError::bad("v", format!("`{v}` is not a data version (a whole number)")))).transpose()?;
        (CacheKey::new(&dataset, STREETS, tile, &TileQuery::default()), version)
    } else {
        let c = tiled_collection(&dataset, &collection)?;
        let tile = TileId::parse(&zoom, &column, &row)?;
        let query = TileQuery::parse(&pairs, c, &dataset)?;
        (CacheKey::new(&dataset, c.id(), tile, &query), query.version)
    };
    let (body, hit) = if let Some(body) = cache().get(&key) { (body, true) } else {
        let built = {
            let dataset = Arc::clone(&dataset);
            let key = key.clone();
            tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
                if key.collection == STREETS {
                    return Ok(render_streets_tile(&dataset, key.tile));
                }
                let c = tiled_collection(&dataset, key.collection)?;
                render_tile(&dataset, c, key.tile, &TileQuery { year: key.year, kind: key.kind.clone(), version: None })
            })
            .await??
        };
        let body = bytes::Bytes::from(built);
        cache().put(key, body.clone());
        (body, false)
    };
    let mut timing = String::new();
    let _ = write!(timing, "render;dur={:.1}, cache;desc={}", started.elapsed().as_secs_f64() * 1000.0, if hit { "hit" } else { "miss" });
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static(MVT))], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&timing) {
        response.headers_mut().insert("server-timing", v);
    }
    // A URL naming the served data version always answers these bytes: clients keep the tile.
    if version == Some(dataset.version) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    Ok(response)
}

/// What identifies a built tile: the dataset (its address, version and load time: a reload
/// builds a new one), the tile set, the tile and the query (without `v`, which names the data
/// the client expects, not what is built).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    dataset: usize,
    version: u64,
    loaded: u128,
    collection: &'static str,
    tile: TileId,
    year: Option<i32>,
    kind: Option<String>,
}

impl CacheKey {
    fn new(dataset: &Arc<Dataset>, collection: &'static str, tile: TileId, query: &TileQuery) -> Self {
        Self {
            dataset: Arc::as_ptr(dataset) as usize,
            version: dataset.version,
            loaded: dataset.loaded_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            collection,
            tile,
            year: query.year,
            kind: query.kind.clone(),
        }
    }
}

/// Built tiles, least recently used first out, at most `budget` bytes (keys and bodies).
#[derive(Debug)]
pub struct TileCache {
    entries: std::collections::HashMap<CacheKey, (bytes::Bytes, u64)>,
    bytes: usize,
    clock: u64,
    budget: usize,
    hits: u64,
    misses: u64,
}

/// Bytes an entry is counted as beyond its body.
const ENTRY_OVERHEAD: usize = 128;

impl TileCache {
    fn new(budget: usize) -> Self {
        Self { entries: std::collections::HashMap::new(), bytes: 0, clock: 0, budget, hits: 0, misses: 0 }
    }

    fn cost(key: &CacheKey, body: &bytes::Bytes) -> usize {
        body.len() + ENTRY_OVERHEAD + key.kind.as_ref().map_or(0, String::len)
    }

    fn lookup(&mut self, key: &CacheKey) -> Option<bytes::Bytes> {
        self.clock += 1;
        let clock = self.clock;
        if let Some((body, used)) = self.entries.get_mut(key) {
            *used = clock;
            self.hits += 1;
            Some(body.clone())
        } else {
            self.misses += 1;
            None
        }
    }

    fn insert(&mut self, key: CacheKey, body: bytes::Bytes) {
        let cost = Self::cost(&key, &body);
        if cost > self.budget / 8 {
            return;
        }
        self.clock += 1;
        if let Some((old, _)) = self.entries.insert(key.clone(), (body, self.clock)) {
            self.bytes -= Self::cost(&key, &old);
        }
        self.bytes += cost;
        if self.bytes > self.budget {
            // Down to three quarters, oldest first: one sort per many insertions.
            let mut by_age: Vec<(u64, CacheKey)> = self.entries.iter().map(|(k, (_, used))| (*used, k.clone())).collect();
            by_age.sort_unstable_by_key(|(used, _)| *used);
            for (_, k) in by_age {
                if self.bytes <= self.budget / 4 * 3 {
                    break;
                }
                if let Some((b, _)) = self.entries.remove(&k) {
                    self.bytes -= Self::cost(&k, &b);
                }
            }
        }
    }

    /// Bytes held now.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The process's tile cache (shared by every dataset served: a reload's tiles replace the old
/// ones as they age out).
struct SharedCache(Mutex<TileCache>);

impl SharedCache {
    fn get(&self, key: &CacheKey) -> Option<bytes::Bytes> {
        self.0.lock().ok()?.lookup(key)
    }

    fn put(&self, key: CacheKey, body: bytes::Bytes) {
        if let Ok(mut cache) = self.0.lock() {
            cache.insert(key, body);
        }
    }
}

fn cache() -> &'static SharedCache {
    static CACHE: std::sync::OnceLock<SharedCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| SharedCache(Mutex::new(TileCache::new(TILE_CACHE_BYTES))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_bounds_and_projection_agree() {
        let tile = TileId { z: 12, x: 3347, y: 1552 };
        let b = tile.bounds_lonlat(0.0);
        let p = Projector::new(tile);
        let nw = p.project(Coord { x: b.min().x, y: b.max().y });
        let se = p.project(Coord { x: b.max().x, y: b.min().y });
        assert!(nw.x.abs() < 1e-6 && nw.y.abs() < 1e-6, "{nw:?}");
        assert!((se.x - f64::from(EXTENT)).abs() < 1e-6 && (se.y - f64::from(EXTENT)).abs() < 1e-6, "{se:?}");
    }

    #[test]
    fn segments_are_clipped_to_the_window() {
        let c = |x: f64, y: f64| Coord { x, y };
        assert_eq!(clip_segment(c(-50.0, 50.0), c(150.0, 50.0), 0.0, 100.0), Some((c(0.0, 50.0), c(100.0, 50.0))));
        assert_eq!(clip_segment(c(10.0, 10.0), c(20.0, 30.0), 0.0, 100.0), Some((c(10.0, 10.0), c(20.0, 30.0))));
        assert_eq!(clip_segment(c(-10.0, -10.0), c(-5.0, 200.0), 0.0, 100.0), None);
    }

    #[test]
    fn tile_ids_are_checked() {
        assert_eq!(TileId::parse("2", "3", "1.mvt").ok(), Some(TileId { z: 2, x: 3, y: 1 }));
        assert!(TileId::parse("2", "4", "1.mvt").is_err());
        assert!(TileId::parse("23", "0", "0.mvt").is_err());
        assert!(TileId::parse("a", "0", "0").is_err());
    }

    #[test]
    fn clipping_a_square_to_the_window() {
        let ring: Vec<Coord<f64>> = [(-10.0, -10.0), (10.0, -10.0), (10.0, 10.0), (-10.0, 10.0)].iter().map(|&(x, y)| Coord { x, y }).collect();
        let clipped = clip_ring(&ring, 0.0, 100.0);
        let b = bounds(&clipped).expect("not empty");
        assert_eq!((b.min().x, b.min().y, b.max().x, b.max().y), (0.0, 0.0, 10.0, 10.0));
        assert!(clip_ring(&ring, 20.0, 100.0).is_empty());
    }

    #[test]
    fn rings_are_oriented_and_tiny_polygons_become_pixels() {
        let ccw: Vec<Coord<f64>> = [(0.0, 0.0), (0.0, 100.0), (100.0, 100.0), (100.0, 0.0), (0.0, 0.0)].iter().map(|&(x, y)| Coord { x, y }).collect();
        let shell = tile_ring(ccw.clone(), true, true).expect("a ring");
        assert!(mvt::ring_area(&shell) > 0);
        let hole = tile_ring(ccw, true, false).expect("a ring");
        assert!(mvt::ring_area(&hole) < 0);

        // Two estates a metre apart at zoom 8 share one pixel square.
        let tile = TileId { z: 8, x: 209, y: 97 };
        let b = tile.bounds_lonlat(0.0);
        let c = b.center();
        let square = |dx: f64| geo::Polygon::new(geo::LineString::from(vec![(c.x + dx, c.y), (c.x + dx + 1e-5, c.y), (c.x + dx + 1e-5, c.y + 1e-5), (c.x + dx, c.y)]), vec![]);
        let mut grid = HashSet::new();
        let p = Projector::new(tile);
        assert!(tile_polygons(&[square(0.0)], p, 0, &mut grid).is_some());
        assert!(tile_polygons(&[square(1e-5)], p, 0, &mut grid).is_none());
    }
}
