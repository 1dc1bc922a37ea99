//! The served dataset: loaded, analysed and pre-rendered once, then read-only.
//!
//! A [`Dataset`] holds every collection as a [`Layer`]: features sorted by id, their CRS84
//! geometry, property values aligned with the layer's columns, an R-tree over their bounding
//! boxes and each feature's GeoJSON already rendered (CRS84, with its `id`). An items page is
//! then an R-tree query, a filter and a concatenation of bytes; only other output CRSs render
//! on request. Coverage for other years (`year=`) is read from the dataset's coverage timeline
//! (built once, in the background after a load: [`Dataset::warm_up`]) and its collections are
//! rendered on first use and cached for a few years ([`Dataset::year_view`]), so the executor
//! never waits for an analysis.
#![expect(clippy::doc_markdown, reason = "GeoJSON, OpenAPI and CRS84 are names, not code")]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use geo::{BoundingRect, ConvexHull, Coord, Geometry, Intersects, MultiPoint, Rect};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::error::ApiError;
use super::gzip::Piece;
use super::service_area::{build_service_areas, AreaMetric};
use super::streets::Streets;
use super::trial::TrialIndex;
use crate::analysis::{self, AnalysisParams, CoverageMetric, CoverageTable, CoverageTimeline, MetricKind, NetworkMetric, NetworkParams, RecordedHouseholds, StraightLine, Summary, YearSpan};
use crate::config::{Config, OnInvalid};
use crate::index::FacilityIndex;
use crate::io::crs::{CrsSpec, Transformer};
use crate::io::load::LoadOptions;
use crate::io::network::{LoadedNetwork, NetworkSummary};
use crate::io::write::{comparison_properties, estate_base_features, kind_properties, MetricComparison, OutFeature, Results};
use crate::model::{AttrValue, Attributes, Catalogue, Estate, Facility, FeatureId, KindId};

/// Year views kept besides the current one; the least recently used is dropped beyond this. A
/// view holds every estate's served values and GeoJSON (about 1 GiB on a 60,000-estate city, so
/// 32 of them exhausted memory: issue 14); its coverage comes from the timeline, so building
/// another costs the rendering, not an analysis.
const YEAR_CACHE_LEN: usize = 2;

/// The type of a column, as advertised in queryables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// JSON integers only.
    Integer,
    /// Any JSON number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// Strings (and anything else, as text).
    String,
}

impl ColumnType {
    /// The JSON Schema type name.
    #[must_use]
    pub fn json_type(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::String => "string",
        }
    }
}

/// A property every feature of a layer has (null where a feature has no value).
#[derive(Debug, Clone)]
pub struct Column {
    /// Property name.
    pub name: String,
    /// Type of its non-null values.
    pub kind: ColumnType,
}

/// One served feature.
#[derive(Debug, Clone)]
pub struct Feature {
    /// The feature id.
    pub id: FeatureId,
    /// Geometry in CRS84, shared between years.
    pub geometry: Arc<Geometry<f64>>,
    /// Bounding box of `geometry`; `None` for an empty geometry, which has no position.
    pub bbox: Option<Rect<f64>>,
    /// Property values aligned with [`Layer::columns`].
    pub values: Vec<AttrValue>,
    /// The GeoJSON feature in CRS84, with its `id` member, when the layer is pre-rendered (the
    /// current year's); other years' layers render their pages on request, so a year view holds
    /// values, not text.
    pub json: Option<Box<[u8]>>,
    /// `json` compressed, made on first use by a gzip page (see [`super::gzip`]).
    gz: OnceLock<Piece>,
}

impl Feature {
    /// `json` as a compressed piece, compressing it on first use; `None` when not pre-rendered.
    /// Blocking (62–81 µs for a 2.5 KB estate, measured): call it off the executor.
    pub fn gz(&self) -> Option<&Piece> {
        let json = self.json.as_deref()?;
        Some(self.gz.get_or_init(|| Piece::new(json)))
    }
}

/// A collection's features, ready to query.
#[derive(Debug)]
pub struct Layer {
    /// Features in id order.
    pub features: Vec<Feature>,
    /// Property columns, in output order.
    pub columns: Vec<Column>,
    /// Whether every feature's GeoJSON is pre-rendered ([`Feature::json`]).
    pub prerendered: bool,
    /// GeoJSON geometry type of the features.
    pub geometry_type: &'static str,
    /// Bounding box of all features (CRS84); empty geometries add nothing to it.
    pub extent: Option<Rect<f64>>,
    column_index: HashMap<String, usize>,
    by_id: HashMap<String, u32>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
}

/// A feature before indexing: id, CRS84 geometry and properties.
pub(crate) struct PendingFeature {
    pub(crate) id: FeatureId,
    pub(crate) geometry: Arc<Geometry<f64>>,
    pub(crate) properties: Attributes,
}

impl Layer {
    /// Builds a layer from features already in the order they are served.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when a geometry cannot be written as GeoJSON (a non-finite coordinate).
    pub(crate) fn build(pending: Vec<PendingFeature>, geometry_type: &'static str) -> Result<Self, ApiError> {
        Self::build_with(pending, geometry_type, true)
    }

    /// [`Layer::build`], rendering every feature's GeoJSON now (`prerender`) or leaving it to
    /// each request.
    ///
    /// # Errors
    /// As [`Layer::build`].
    pub(crate) fn build_with(pending: Vec<PendingFeature>, geometry_type: &'static str, prerender: bool) -> Result<Self, ApiError> {
        // Columns in order of first appearance. Features of a layer nearly always carry the same
        // names in the same order, so a feature whose names match the previous one's positionally
        // is not hashed name by name (hashing every name of every feature was most of a year
        // view's build on a 60,000-estate city).
        let mut columns: Vec<Column> = Vec::new();
        let mut column_index: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<&Attributes> = None;
        for f in &pending {
            if previous.is_some_and(|p| same_names(p.iter().map(|(name, _)| name.as_str()), &f.properties)) {
                continue;
            }
            for (name, _) in &f.properties {
                if !column_index.contains_key(name) {
                    column_index.insert(name.clone(), columns.len());
                    columns.push(Column { name: name.clone(), kind: ColumnType::String });
                }
            }
            previous = Some(&f.properties);
        }
        // Property position → column, for features named like the first one.
        let reference: Option<(Vec<String>, Vec<usize>)> =
            pending.first().map(|f| (f.properties.iter().map(|(name, _)| name.clone()).collect(), f.properties.iter().map(|(name, _)| column_index[name]).collect()));
        let slots = |properties: &Attributes| -> std::borrow::Cow<'_, [usize]> {
            match &reference {
                Some((names, slots)) if same_names(names.iter().map(String::as_str), properties) => std::borrow::Cow::Borrowed(slots.as_slice()),
                _ => std::borrow::Cow::Owned(properties.iter().map(|(name, _)| column_index[name]).collect()),
            }
        };

        // Columns seen only with nulls are advertised as strings.
        let types: Vec<Option<ColumnType>> = pending
            .par_iter()
            .fold(
                || vec![None; columns.len()],
                |mut types, f| {
                    for ((_, value), &i) in f.properties.iter().zip(slots(&f.properties).iter()) {
                        types[i] = merge_type(types[i], value_type(value));
                    }
                    types
                },
            )
            .reduce(|| vec![None; columns.len()], |a, b| a.into_iter().zip(b).map(|(x, y)| y.map_or(x, |t| merge_type(x, Some(t)))).collect());
        for (c, t) in columns.iter_mut().zip(types) {
            c.kind = t.unwrap_or(ColumnType::String);
        }

        let rendered: Vec<Option<Box<[u8]>>> = if prerender { render_lines(&pending, |_| None)?.into_iter().map(Some).collect() } else { vec![None; pending.len()] };
        let count = u32::try_from(pending.len()).map_err(|_| ApiError::Internal("more than u32::MAX features".into()))?;
        let features: Vec<Feature> = pending
            .into_par_iter()
            .zip(rendered)
            .map(|(f, json)| {
                // An empty geometry (a kind's service area without facilities) has no box: it
                // stays out of the extent and the index, so no bbox query finds it (it would sit
                // at 0,0).
                let bbox = f.geometry.bounding_rect();
                let mut values = vec![AttrValue::Null; columns.len()];
                let at = slots(&f.properties).into_owned();
                for ((_, value), i) in f.properties.into_iter().zip(at) {
                    values[i] = value;
                }
                Feature { id: f.id, geometry: f.geometry, bbox, values, json, gz: OnceLock::new() }
            })
            .collect();
        let (by_id, (extent, tree)) = rayon::join(
            || features.par_iter().zip(0..count).map(|(f, i)| (f.id.to_string(), i)).collect::<HashMap<String, u32>>(),
            || {
                let mut extent: Option<Rect<f64>> = None;
                let mut boxes = Vec::with_capacity(features.len());
                for (f, index) in features.iter().zip(0..count) {
                    if let Some(bbox) = f.bbox {
                        extent = Some(extent.map_or(bbox, |e| union_rect(e, bbox)));
                        boxes.push(GeomWithData::new(Rectangle::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]), index));
                    }
                }
                (extent, RTree::bulk_load(boxes))
            },
        );
        Ok(Self { features, columns, prerendered: prerender, geometry_type, extent, column_index, by_id, tree })
    }

    /// The position of a feature by its id as text.
    #[must_use]
    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).map(|&i| i as usize)
    }

    /// The position of a column.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<usize> {
        self.column_index.get(name).copied()
    }

    /// Positions of the features whose geometry intersects `bbox` (CRS84), ascending; all
    /// features when `bbox` is `None`.
    ///
    /// # Complexity
    /// O(log n + k) for the R-tree; an exact test only for features whose box straddles the edge.
    /// Containment is tested on the R-tree entry's own rectangle (the feature's box), so a
    /// feature inside the bbox is never read from `features`.
    #[must_use]
    pub fn intersecting(&self, bbox: Option<Rect<f64>>) -> Vec<u32> {
        let Some(bbox) = bbox else {
            return (0..u32::try_from(self.features.len()).unwrap_or(u32::MAX)).collect();
        };
        let envelope = AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        let mut hits: Vec<u32> = self
            .tree
            .locate_in_envelope_intersecting(&envelope)
            .filter(|entry| {
                let (lower, upper) = (entry.geom().lower(), entry.geom().upper());
                let inside = bbox.min().x <= lower[0] && bbox.min().y <= lower[1] && bbox.max().x >= upper[0] && bbox.max().y >= upper[1];
                inside || self.features[entry.data as usize].geometry.intersects(&bbox)
            })
            .map(|entry| entry.data)
            .collect();
        hits.sort_unstable();
        hits
    }
}

/// Whether `names` are `properties`' names, in the same order.
fn same_names<'a>(names: impl ExactSizeIterator<Item = &'a str>, properties: &Attributes) -> bool {
    names.len() == properties.len() && names.zip(properties).all(|(n, (p, _))| n == p)
}

/// The column type of a value; `None` for null.
fn value_type(value: &AttrValue) -> Option<ColumnType> {
    match value {
        AttrValue::Null => None,
        AttrValue::Bool(_) => Some(ColumnType::Boolean),
        AttrValue::Int(_) => Some(ColumnType::Integer),
        AttrValue::Float(_) => Some(ColumnType::Number),
        AttrValue::Text(_) | AttrValue::Json(_) => Some(ColumnType::String),
    }
}

/// A column's type after another value's: integers and numbers make numbers, anything else
/// mixed makes strings.
fn merge_type(seen: Option<ColumnType>, next: Option<ColumnType>) -> Option<ColumnType> {
    match (seen, next) {
        (seen, None) => seen,
        (None, t) => t,
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(ColumnType::Integer | ColumnType::Number), Some(ColumnType::Integer | ColumnType::Number)) => Some(ColumnType::Number),
        _ => Some(ColumnType::String),
    }
}

fn union_rect(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

/// Renders features as GeoJSON feature objects (with `id`), one byte string each, through the
/// crate's streaming writer. `geometry_for` may replace a geometry (another output CRS).
fn render_lines(
    pending: &[PendingFeature],
    geometry_for: impl Fn(usize) -> Option<Geometry<f64>> + Sync,
) -> Result<Vec<Box<[u8]>>, ApiError> {
    const CHUNK: usize = 2048;
    let chunks: Vec<Result<Vec<Box<[u8]>>, ApiError>> = pending
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let features = chunk.iter().enumerate().map(|(j, f)| OutFeature {
                geometry: geometry_for(c * CHUNK + j).unwrap_or_else(|| (*f.geometry).clone()),
                properties: f.properties.clone(),
            });
            render_chunk(features, chunk.iter().map(|f| &f.id))
        })
        .collect();
    let mut out = Vec::with_capacity(pending.len());
    for chunk in chunks {
        out.extend(chunk?);
    }
    Ok(out)
}

/// Writes `features` with the crate's GeoJSON writer and cuts the collection into one byte
/// string per feature (the writer puts each feature on its own line), adding the `id` member.
pub(crate) fn render_chunk<'a>(
    features: impl Iterator<Item = OutFeature>,
    ids: impl Iterator<Item = &'a FeatureId>,
) -> Result<Vec<Box<[u8]>>, ApiError> {
    const PREFIX: &[u8] = b"{\"type\":\"Feature\",";
    let mut buffer = Vec::new();
    crate::io::geojson::write_feature_collection_to(&mut buffer, features, None)
        .map_err(|e| ApiError::Internal(format!("rendering GeoJSON: {e}")))?;
    let mut out = Vec::new();
    let mut ids = ids;
    for line in buffer.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b",").unwrap_or(line);
        let Some(rest) = line.strip_prefix(PREFIX) else { continue };
        let id = ids.next().ok_or_else(|| ApiError::Internal("more features than ids".into()))?;
        let mut json = Vec::with_capacity(line.len() + 24);
        json.extend_from_slice(PREFIX);
        json.extend_from_slice(b"\"id\":");
        json.extend_from_slice(id_json(id).as_bytes());
        json.push(b',');
        json.extend_from_slice(rest);
        out.push(json.into_boxed_slice());
    }
    Ok(out)
}

/// A feature id as JSON: a number or a string.
#[must_use]
pub fn id_json(id: &FeatureId) -> String {
    match id {
        FeatureId::Int(n) => n.to_string(),
        FeatureId::Text(s) => serde_json::Value::String(s.clone()).to_string(),
    }
}

/// Coverage as of one year: the table and the year-dependent collections.
#[derive(Debug)]
pub struct YearView {
    /// The year (`None`: every facility counts).
    pub year: Option<i32>,
    /// Facilities open in `year`, per kind.
    pub index: FacilityIndex,
    /// Estate × kind coverage by the dataset's metric.
    pub table: CoverageTable,
    /// The same by straight line, when the dataset's metric is the walking network (estates,
    /// gaps and districts carry both figures).
    pub straight: Option<CoverageTable>,
    /// Summaries per kind and district.
    pub summary: Summary,
    /// `estates` collection.
    pub estates: Layer,
    /// `gaps` collection.
    pub gaps: Layer,
    /// `districts` collection, when estates carry districts.
    pub districts: Option<Layer>,
    /// Per kind, the uncovered estates ready for trial points (`POST /what-if`), built on first use.
    trials: Vec<OnceLock<TrialIndex>>,
}

impl YearView {
    /// The trial index of `kind` in this view, built on first use (blocking: tens of
    /// milliseconds on a 60,000-estate city; call it off the executor).
    pub fn trial(&self, dataset: &Dataset, kind: KindId) -> &TrialIndex {
        self.trials[kind.index()].get_or_init(|| TrialIndex::build(&dataset.estates, &self.table, kind, dataset.network.is_none()))
    }
}

/// An output CRS the server offers.
#[derive(Debug, Clone)]
pub struct CrsOption {
    /// OGC URI (`http://www.opengis.net/def/crs/EPSG/0/3857`).
    pub uri: String,
    /// Short name (`EPSG:3857`, `CRS84`).
    pub name: String,
    /// CRS84 → this CRS; `None` for CRS84 and EPSG:4326 (same datum and units).
    pub from_crs84: Option<Transformer>,
    /// This CRS → CRS84.
    pub to_crs84: Option<Transformer>,
    /// Axis order is latitude first (EPSG:4326, EPSG:4490).
    pub lat_first: bool,
}

/// OGC URI of CRS84.
pub const CRS84_URI: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// A street network to measure walking distance on: what the loader read (working CRS) and how
/// to search it.
#[derive(Debug, Clone)]
pub struct NetworkInput {
    /// Walkable lines, gates and the load report.
    pub loaded: LoadedNetwork,
    /// Snapping, speed and search limits (`distance_from` is the dataset's).
    pub params: NetworkParams,
}

/// The walking network of a dataset: the prepared metric (plain data, shared by every year
/// view, report and point query) and the streets for the tiles.
#[derive(Debug)]
pub struct ServedNetwork {
    /// Graph, estate entries and facility joins.
    pub metric: NetworkMetric,
    /// Source, filter, graph figures and how the estates met it, as `analyze` records them.
    pub summary: NetworkSummary,
    /// Edges in CRS84, for the `streets` tiles.
    pub streets: Streets,
}

impl ServedNetwork {
    /// What `/health`, the landing page and `/map/config.json` say of it.
    #[must_use]
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.summary).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("walk_margin_m".into(), serde_json::json!(super::service_area::WALK_MARGIN_M));
        }
        v
    }

    fn source_name(&self) -> String {
        self.summary.path.file_name().map_or_else(|| self.summary.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// Everything one load produced; immutable except for the year cache.
#[derive(Debug)]
pub struct Dataset {
    /// Bumped on every successful reload.
    pub version: u64,
    /// When this data was loaded.
    pub loaded_at: SystemTime,
    /// Metric CRS of `estates` and `facilities`.
    pub working_crs: String,
    /// Catalogue used.
    pub catalogue: Catalogue,
    /// Analysis parameters of the configured (current) view.
    pub params: AnalysisParams,
    /// Estates, working CRS, id order.
    pub estates: Vec<Estate>,
    /// Facilities, working CRS, load order (the coverage table refers to these positions).
    pub facilities: Vec<Facility>,
    /// The configured year's coverage.
    pub current: Arc<YearView>,
    /// `facilities` collection.
    pub facilities_layer: Layer,
    /// `service-areas` collection (configured year).
    pub service_areas: Layer,
    /// Output CRSs offered.
    pub crs: Vec<CrsOption>,
    /// CRS84 → working CRS.
    pub to_working: Transformer,
    /// Features rejected at load.
    pub rejected: usize,
    /// Report settings, targets and computed reports (`/reports`).
    pub reports: super::report::Reports,
    /// The walking network, when `analysis.metric = "network"`.
    pub network: Option<ServedNetwork>,
    estate_geometries: Vec<Arc<Geometry<f64>>>,
    estate_base: Vec<Attributes>,
    /// Coverage through the years, built on first use or by [`Dataset::warm_up`].
    timelines: Timelines,
    years: Mutex<BTreeMap<i32, Arc<YearView>>>,
    years_order: Mutex<Vec<i32>>,
    /// Held while a year view is built: one at a time, so a burst of new years cannot hold
    /// many half-built views at once.
    building: Mutex<()>,
}

/// The dataset's coverage timelines: by its metric, and by straight line beside a walking metric
/// (estates, gaps and districts carry both figures).
#[derive(Debug, Default)]
struct Timelines {
    metric: OnceLock<Result<Arc<CoverageTimeline>, String>>,
    straight: OnceLock<Result<Arc<CoverageTimeline>, String>>,
}

impl Dataset {
    /// The coverage view for `year`, if it is the current one or already cached.
    #[must_use]
    pub fn cached_year(&self, year: Option<i32>) -> Option<Arc<YearView>> {
        if year == self.current.year || year.is_none() {
            return Some(Arc::clone(&self.current));
        }
        let y = year?;
        self.years.lock().ok()?.get(&y).cloned()
    }

    /// The coverage view for `year`, building and caching it when needed (its coverage read
    /// from the timeline). Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the analysis fails.
    pub fn year_view(&self, year: Option<i32>) -> Result<Arc<YearView>, ApiError> {
        let poisoned = || ApiError::Internal("year cache poisoned".into());
        if let Some(view) = self.cached_year(year) {
            self.touch(year);
            return Ok(view);
        }
        let _building = self.building.lock().map_err(|_| poisoned())?;
        // Another request may have built it while this one waited.
        if let Some(view) = self.cached_year(year) {
            return Ok(view);
        }
        let params = AnalysisParams { year, ..self.params };
        let view = Arc::new(build_year_view(self, params)?);
        if let Some(y) = year {
            let mut cache = self.years.lock().map_err(|_| poisoned())?;
            let mut order = self.years_order.lock().map_err(|_| poisoned())?;
            order.retain(|&o| o != y);
            order.push(y);
            cache.insert(y, Arc::clone(&view));
            while order.len() > YEAR_CACHE_LEN {
                let oldest = order.remove(0);
                cache.remove(&oldest);
            }
        }
        Ok(view)
    }

    /// Marks a cached year as the most recently used.
    fn touch(&self, year: Option<i32>) {
        if let (Some(y), Ok(mut order)) = (year, self.years_order.lock()) {
            if let Some(at) = order.iter().position(|&o| o == y) {
                order.remove(at);
                order.push(y);
            }
        }
    }

    /// Coverage through the years by the dataset's metric, built on first use (blocking: one
    /// analysis per year in which a facility opens; call it off the executor).
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the analysis fails.
    pub fn timeline(&self) -> Result<Arc<CoverageTimeline>, ApiError> {
        let built = self.timelines.metric.get_or_init(|| {
            let started = std::time::Instant::now();
            let straight = StraightLine::new(&self.facilities, self.params.distance_from);
            let metric: &dyn CoverageMetric = match &self.network {
                Some(n) => &n.metric,
                None => &straight,
            };
            let t = CoverageTimeline::build(&self.estates, &self.facilities, metric, &self.catalogue, YearSpan::default(), &()).map_err(|e| e.to_string())?;
            tracing::info!(metric = metric.kind().as_str(), years = t.event_years().len(), steps = t.steps(), mib = t.heap_bytes() / (1 << 20), elapsed_ms = started.elapsed().as_millis(), "coverage timeline built");
            Ok(Arc::new(t))
        });
        built.clone().map_err(ApiError::Internal)
    }

    /// The straight-line timeline beside a walking metric; `None` for a straight-line dataset
    /// (its [`Dataset::timeline`] is the straight one).
    ///
    /// # Errors
    /// [`ApiError::Internal`] when the analysis fails.
    pub fn straight_timeline(&self) -> Result<Option<Arc<CoverageTimeline>>, ApiError> {
        if self.network.is_none() {
            return Ok(None);
        }
        let built = self.timelines.straight.get_or_init(|| {
            let straight = StraightLine::new(&self.facilities, self.params.distance_from);
            CoverageTimeline::build(&self.estates, &self.facilities, &straight, &self.catalogue, YearSpan::default(), &()).map(Arc::new).map_err(|e| e.to_string())
        });
        built.clone().map(Some).map_err(ApiError::Internal)
    }

    /// What is still being prepared in the background (for `/health`): empty once every year
    /// answers from the timeline.
    #[must_use]
    pub fn warming_up(&self) -> Vec<&'static str> {
        let mut pending = Vec::new();
        if self.timelines.metric.get().is_none() {
            pending.push("coverage timeline");
        }
        if self.network.is_some() && self.timelines.straight.get().is_none() {
            pending.push("straight-line coverage timeline");
        }
        pending
    }

    /// Builds the timelines on a background thread, so the first request for another year does
    /// not wait for them. The thread lets go of the dataset when done.
    pub fn warm_up(self: &Arc<Self>) {
        let dataset = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("gapmap-timeline".into()).spawn(move || {
            if let Err(e) = dataset.timeline().and_then(|_| dataset.straight_timeline()) {
                tracing::warn!("coverage timeline: {e}");
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("coverage timeline: cannot start its thread ({e}); it is built on first use");
        }
    }

    /// Number of years cached besides the current one.
    #[must_use]
    pub fn cached_years(&self) -> usize {
        self.years.lock().map_or(0, |c| c.len())
    }

    /// The output CRS named by a URI or short name (`EPSG:3857`, `[EPSG:3857]`, `CRS84`).
    #[must_use]
    pub fn find_crs(&self, name: &str) -> Option<&CrsOption> {
        let n = name.trim().trim_start_matches('[').trim_end_matches(']');
        self.crs.iter().find(|c| c.uri == n || c.name.eq_ignore_ascii_case(n) || (c.name == "CRS84" && (n.eq_ignore_ascii_case("OGC:CRS84") || n == "http://www.opengis.net/def/crs/OGC/1.3/CRS84")))
    }

    /// Estate position by id text.
    #[must_use]
    pub fn estate_position(&self, id: &str) -> Option<usize> {
        self.current.estates.position(id)
    }

    /// The metric coverage is measured by: straight line or walking network.
    #[must_use]
    pub fn metric_kind(&self) -> MetricKind {
        if self.network.is_some() {
            MetricKind::Network
        } else {
            MetricKind::Straight
        }
    }

    /// A one-line description of the metric for the landing page and collections.
    #[must_use]
    pub fn metric_sentence(&self, lang: super::params::Lang) -> String {
        match (&self.network, lang) {
            (None, super::params::Lang::En) => format!("Distances: straight line from the estate {}.", self.params.distance_from.as_str()),
            (None, super::params::Lang::Zh) => format!("距离：直线距离（自小区{}起算）。", if self.params.distance_from == analysis::DistanceFrom::Boundary { "边界" } else { "中心" }),
            (Some(n), super::params::Lang::En) => format!(
                "Distances: walking distance along the street network ({} nodes, {} edges, {:.1} km of streets, {} components; from {}), walking minutes at {} m/min; straight-line distances are given beside them.",
                n.summary.graph.nodes,
                n.summary.graph.edges,
                n.summary.graph.length_m / 1000.0,
                n.summary.graph.components,
                n.source_name(),
                n.summary.speed_m_per_min
            ),
            (Some(n), super::params::Lang::Zh) => format!(
                "距离：沿街道网络的步行距离（{} 个节点、{} 条边、街道 {:.1} 公里、{} 个连通分量；数据 {}），步行时间按每分钟 {} 米；同时给出直线距离。",
                n.summary.graph.nodes,
                n.summary.graph.edges,
                n.summary.graph.length_m / 1000.0,
                n.summary.graph.components,
                n.source_name(),
                n.summary.speed_m_per_min
            ),
        }
    }
}

/// Coverage by the dataset's metric, and by straight line too when that metric is the network.
///
/// # Errors
/// [`ApiError::Internal`] when the analysis fails.
fn coverage_tables(
    estates: &[Estate],
    facilities: &[Facility],
    catalogue: &Catalogue,
    index: &FacilityIndex,
    params: AnalysisParams,
    network: Option<&NetworkMetric>,
) -> Result<(CoverageTable, Option<CoverageTable>), ApiError> {
    let straight = StraightLine::with_index(facilities, index, params.distance_from);
    let straight = analysis::compute_coverage(estates, &straight, catalogue, params.year, &RecordedHouseholds, &()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let Some(network) = network else { return Ok((straight, None)) };
    let table = analysis::compute_coverage(estates, network, catalogue, params.year, &RecordedHouseholds, &()).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((table, Some(straight)))
}

/// Loads the data a config names and builds the served dataset. Blocking (reads files, runs
/// the analysis); call it from `spawn_blocking`.
///
/// # Errors
/// [`ApiError::ReloadFailed`] naming the file or feature at fault.
pub fn load_dataset(config: &Config, version: u64) -> Result<Dataset, ApiError> {
    let fail = |e: &dyn std::fmt::Display| ApiError::ReloadFailed(e.to_string());
    config.validate().map_err(|e| fail(&e))?;
    let mut catalogue = crate::io::catalogue::load_catalogue(config.analysis.catalogue.as_deref()).map_err(|e| fail(&e))?;
    for (kind, r) in &config.analysis.radius_m {
        catalogue.set_radius(kind, *r).map_err(|e| fail(&format!("analysis.radius_m.{kind}: {e}")))?;
    }
    let estates_source = config.estates.as_ref().ok_or_else(|| fail(&"no estates source"))?;
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: config.analysis.working_crs.as_deref() };
    let loaded = crate::io::load::load_with_planned(estates_source, &config.facilities, &config.planned, &options, &|m| tracing::debug!("{m}")).map_err(|e| fail(&e))?;
    // As `gapmap analyze` does: what the load freed on its reader threads goes back to the
    // system before the dataset is built, instead of adding to the peak.
    crate::diag::release_freed_memory();
    check_report(&loaded.report, "", config.analysis.on_invalid)?;
    if loaded.estates.is_empty() {
        return Err(fail(&format!("{}: no valid estates were loaded", estates_source.path.display())));
    }
    let params = AnalysisParams { distance_from: config.analysis.distance_from, year: config.analysis.year, metric: config.analysis.metric };
    let network = match config.analysis.metric {
        MetricKind::Straight => None,
        MetricKind::Network => Some(load_network(config, &loaded.working_crs)?),
    };
    let reports = super::report::Reports::load(&config.report, &catalogue).map_err(|e| fail(&e))?;
    let mut dataset = build_dataset(loaded.estates, loaded.facilities, catalogue, &loaded.working_crs, params, network, version, loaded.report.rejected.len())?;
    crate::diag::release_freed_memory();
    dataset.reports = reports;
    Ok(dataset)
}

/// Logs a load report's warnings and first rejections; under `on_invalid = "abort"` any rejection
/// fails the load. `what` names the features in messages (`""` or `"street network "`).
///
/// # Errors
/// [`ApiError::ReloadFailed`] with the count and the first rejection.
fn check_report(report: &crate::io::LoadReport, what: &str, on_invalid: OnInvalid) -> Result<(), ApiError> {
    for w in &report.warnings {
        tracing::warn!("{what}{w}");
    }
    if report.has_rejections() {
        for r in report.rejected.iter().take(20) {
            tracing::warn!("{what}rejected: {r}");
        }
        if on_invalid == OnInvalid::Abort {
            return Err(ApiError::ReloadFailed(format!(
                "{} {what}features were rejected (first: {}); fix them or set analysis.on_invalid = \"warn\"",
                report.rejected.len(),
                report.rejected[0]
            )));
        }
    }
    Ok(())
}

/// Reads `[network]` through the network loader, in the working CRS of the estates; its
/// rejected features are reported, and abort the load, as the estates' are.
///
/// # Errors
/// [`ApiError::ReloadFailed`] naming the file or feature at fault.
fn load_network(config: &Config, working_crs: &str) -> Result<NetworkInput, ApiError> {
    let fail = |e: &dyn std::fmt::Display| ApiError::ReloadFailed(e.to_string());
    let network = config.network.as_ref().ok_or_else(|| fail(&"analysis.metric = \"network\" needs [network] path"))?;
    let loaded = crate::io::network::load_network(network, None, working_crs, &|m| tracing::debug!("{m}")).map_err(|e| fail(&e))?;
    check_report(&loaded.report, "street network ", config.analysis.on_invalid)?;
    let params = crate::io::network::network_params(network, config.analysis.distance_from);
    Ok(NetworkInput { loaded, params })
}

/// Builds the dataset from loaded model values (working CRS). With `network`, coverage is
/// measured by walking distance along it (built here once, for these estates and facilities),
/// and straight-line figures are kept beside it.
///
/// # Errors
/// [`ApiError::ReloadFailed`] for CRS problems, [`ApiError::Internal`] otherwise.
#[expect(clippy::too_many_arguments, reason = "the parts of one load; a struct would only rename them")]
pub fn build_dataset(
    estates: Vec<Estate>,
    facilities: Vec<Facility>,
    catalogue: Catalogue,
    working_crs: &str,
    params: AnalysisParams,
    network: Option<NetworkInput>,
    version: u64,
    rejected: usize,
) -> Result<Dataset, ApiError> {
    let crs_fail = |e: &dyn std::fmt::Display| ApiError::ReloadFailed(format!("working CRS {working_crs}: {e}"));
    let working_spec: CrsSpec = working_crs.parse().map_err(|e| crs_fail(&e))?;
    let to_working = Transformer::new(&CrsSpec::Crs84, working_crs).map_err(|e| crs_fail(&e))?;
    let to_crs84 = Transformer::new(&working_spec, "CRS84").map_err(|e| crs_fail(&e))?;

    let network = match network {
        Some(NetworkInput { loaded, params: net_params }) => {
            let started = std::time::Instant::now();
            let net_params = NetworkParams { distance_from: params.distance_from, ..net_params };
            let metric = NetworkMetric::build(&loaded.lines, &loaded.gates, &estates, &facilities, net_params);
            let summary = NetworkSummary::new(&loaded, &metric);
            drop(loaded);
            let streets = Streets::build(metric.graph(), &to_crs84)?;
            let g = &summary.graph;
            tracing::info!(nodes = g.nodes, edges = g.edges, components = g.components, elapsed_ms = started.elapsed().as_millis(), "walking network prepared");
            Some(ServedNetwork { metric, summary, streets })
        }
        None => None,
    };
    let params = AnalysisParams { metric: if network.is_some() { MetricKind::Network } else { MetricKind::Straight }, ..params };

    // Estate geometries and own properties in CRS84, once; coverage properties come per year.
    let index = FacilityIndex::build(&facilities, catalogue.len(), params.year);
    let (table, straight) = coverage_tables(&estates, &facilities, &catalogue, &index, params, network.as_ref().map(|n| &n.metric))?;
    let results = Results { estates: &estates, facilities: &facilities, table: &table, catalogue: &catalogue, working_crs };
    // Without the coverage properties, which come per year: building them for every estate and
    // dropping them raised the peak by about 270 MB on a 60,000-estate city.
    let (estate_geometries, estate_base): (Vec<_>, Vec<_>) = estate_base_features(&results)
        .map_err(|e| crs_fail(&e))?
        .into_iter()
        .map(|feature| (Arc::new(feature.geometry), feature.properties))
        .unzip();

    let facilities_layer = build_facilities_layer(&facilities, &catalogue, &to_crs84)?;
    let area_metric = network.as_ref().map_or(AreaMetric::Straight, |n| AreaMetric::Network(&n.metric));
    let started = std::time::Instant::now();
    let service_areas = build_service_areas(&facilities, &catalogue, params.year, area_metric, &to_crs84)?;
    tracing::info!(metric = params.metric.as_str(), elapsed_ms = started.elapsed().as_millis(), "service areas dissolved");
    let crs = crs_options(working_crs)?;
    let mut dataset = Dataset {
        version,
        loaded_at: SystemTime::now(),
        working_crs: working_crs.to_owned(),
        catalogue,
        params,
        estates,
        facilities,
        current: Arc::new(YearView {
            year: params.year,
            index: FacilityIndex::build(&[], 0, None),
            table: table.clone(),
            straight: None,
            summary: Summary { params, overall: Vec::new(), districts: Vec::new() },
            estates: Layer::build(Vec::new(), "MultiPolygon")?,
            gaps: Layer::build(Vec::new(), "MultiPolygon")?,
            districts: None,
            trials: Vec::new(),
        }),
        facilities_layer,
        service_areas,
        crs,
        to_working,
        rejected,
        reports: super::report::Reports::default(),
        network,
        estate_geometries,
        estate_base,
        timelines: Timelines::default(),
        years: Mutex::new(BTreeMap::new()),
        years_order: Mutex::new(Vec::new()),
        building: Mutex::new(()),
    };
    dataset.current = Arc::new(year_view_from(&dataset, index, table, straight, true)?);
    Ok(dataset)
}

fn crs_options(working_crs: &str) -> Result<Vec<CrsOption>, ApiError> {
    let mut names = vec!["CRS84", "EPSG:4326", "EPSG:3857", "EPSG:4490"];
    if !names.iter().any(|n| n.eq_ignore_ascii_case(working_crs)) && epsg_code(working_crs).is_some() {
        names.push(working_crs);
    }
    names
        .into_iter()
        .map(|name| {
            let fail = |e: &dyn std::fmt::Display| ApiError::ReloadFailed(format!("output CRS {name}: {e}"));
            let (uri, transforms, lat_first) = match name {
                "CRS84" => (CRS84_URI.to_owned(), false, false),
                "EPSG:4326" => (epsg_uri("4326"), false, true),
                "EPSG:4490" => (epsg_uri("4490"), true, true),
                other => (epsg_uri(epsg_code(other).unwrap_or_default()), true, false),
            };
            let (from_crs84, to_crs84) = if transforms {
                let spec: CrsSpec = name.parse().map_err(|e| fail(&e))?;
                (
                    Some(Transformer::new(&CrsSpec::Crs84, name).map_err(|e| fail(&e))?),
                    Some(Transformer::new(&spec, "CRS84").map_err(|e| fail(&e))?),
                )
            } else {
                (None, None)
            };
            Ok(CrsOption { uri, name: name.to_ascii_uppercase(), from_crs84, to_crs84, lat_first })
        })
        .collect()
}

fn epsg_code(name: &str) -> Option<&str> {
    let code = name.strip_prefix("EPSG:").or_else(|| name.strip_prefix("epsg:"))?;
    code.bytes().all(|b| b.is_ascii_digit()).then_some(code)
}

fn epsg_uri(code: &str) -> String {
    format!("http://www.opengis.net/def/crs/EPSG/0/{code}")
}

fn build_facilities_layer(facilities: &[Facility], catalogue: &Catalogue, to_crs84: &Transformer) -> Result<Layer, ApiError> {
    let mut coords: Vec<Coord<f64>> = facilities.iter().map(|f| f.location.0).collect();
    to_crs84.apply(&mut coords).map_err(|e| ApiError::ReloadFailed(e.to_string()))?;
    let mut order: Vec<usize> = (0..facilities.len()).collect();
    order.sort_by(|&a, &b| facilities[a].id.cmp(&facilities[b].id));
    let pending = order
        .into_iter()
        .map(|i| {
            let f = &facilities[i];
            let spec = catalogue.spec(f.kind);
            let mut p: Attributes = vec![
                ("id".into(), id_value(&f.id)),
                ("kind".into(), AttrValue::Text(spec.key.clone())),
                ("kind_label_zh".into(), AttrValue::Text(spec.label_zh.clone())),
                ("kind_label_en".into(), AttrValue::Text(spec.label_en.clone())),
                ("name".into(), opt_text(f.name.as_ref())),
                ("capacity".into(), f.capacity.map_or(AttrValue::Null, AttrValue::Float)),
                ("capacity_unit".into(), opt_text(spec.capacity_unit.as_ref())),
                ("opened_year".into(), f.opened_year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))),
                ("planned".into(), AttrValue::Bool(f.planned)),
                ("district".into(), opt_text(f.district.as_ref())),
            ];
            p.extend(f.extra.iter().cloned());
            PendingFeature { id: f.id.clone(), geometry: Arc::new(Geometry::Point(geo::Point(coords[i]))), properties: p }
        })
        .collect();
    Layer::build(pending, "Point")
}

fn build_year_view(dataset: &Dataset, params: AnalysisParams) -> Result<YearView, ApiError> {
    let index = FacilityIndex::build(&dataset.facilities, dataset.catalogue.len(), params.year);
    let read = |t: &CoverageTimeline| {
        t.table_at(params.year, &dataset.estates, &dataset.catalogue, &RecordedHouseholds)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .ok_or_else(|| ApiError::Internal(format!("the coverage timeline does not answer {:?}", params.year)))
    };
    let table = read(&*dataset.timeline()?)?;
    let straight = dataset.straight_timeline()?.map(|t| read(&t)).transpose()?;
    year_view_from(dataset, index, table, straight, false)
}

/// The collections of one year's coverage. `prerender`: render every feature's GeoJSON now (the
/// current year's view, read most) rather than per request.
fn year_view_from(dataset: &Dataset, index: FacilityIndex, table: CoverageTable, straight: Option<CoverageTable>, prerender: bool) -> Result<YearView, ApiError> {
    let catalogue = &dataset.catalogue;
    let results = Results {
        estates: &dataset.estates,
        facilities: &dataset.facilities,
        table: &table,
        catalogue,
        working_crs: &dataset.working_crs,
    };
    let year = table.params.year;
    let year_value = year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)));
    let metric_value = AttrValue::Text(table.params.metric.as_str().to_owned());
    let speed_m_per_min = dataset.network.as_ref().map_or(f64::NAN, |n| n.metric.params().speed_m_per_min);
    let comparison = straight.as_ref().map(|straight| MetricComparison { straight, network: &table, speed_m_per_min });
    let keys: Vec<&str> = catalogue.keys().collect();
    let estates_pending = dataset
        .estates
        .par_iter()
        .enumerate()
        .map(|(i, estate)| {
            let mut p = dataset.estate_base[i].clone();
            p.push(("metric".into(), metric_value.clone()));
            p.push(("year".into(), year_value.clone()));
            for (k, key) in keys.iter().enumerate() {
                p.extend(kind_properties(&results, i, k, key));
                if let Some(c) = &comparison {
                    p.extend(comparison_properties(c, i, k, key));
                }
            }
            PendingFeature { id: estate.id.clone(), geometry: Arc::clone(&dataset.estate_geometries[i]), properties: p }
        })
        .collect();
    let estates = Layer::build_with(estates_pending, "MultiPolygon", prerender)?;

    // One feature per uncovered estate × kind, estate by estate (in parallel, kept in order).
    let gaps_pending: Vec<PendingFeature> = dataset.estates.par_iter().enumerate().flat_map_iter(|(i, estate)| {
        let mut gaps_pending = Vec::new();
        for (k, spec) in catalogue.kinds.iter().enumerate() {
            let cell = table.get(i, KindId(u16::try_from(k).expect("validated catalogue")));
            if cell.covered {
                continue;
            }
            let nearest = cell.nearest.map(|n| &dataset.facilities[n.facility as usize]);
            gaps_pending.push(PendingFeature {
                id: FeatureId::Text(format!("{}:{}", estate.id, spec.key)),
                geometry: Arc::clone(&dataset.estate_geometries[i]),
                properties: vec![
                    ("estate_id".into(), id_value(&estate.id)),
                    ("estate_name".into(), opt_text(estate.name.as_ref())),
                    ("district".into(), opt_text(estate.district.as_ref())),
                    ("households".into(), estate.households.map_or(AttrValue::Null, |h| AttrValue::Int(i64::from(h)))),
                    ("kind".into(), AttrValue::Text(spec.key.clone())),
                    ("kind_label_zh".into(), AttrValue::Text(spec.label_zh.clone())),
                    ("kind_label_en".into(), AttrValue::Text(spec.label_en.clone())),
                    ("radius_m".into(), AttrValue::Float(table.radii_m[k])),
                    ("nearest_id".into(), nearest.map_or(AttrValue::Null, |f| id_value(&f.id))),
                    ("nearest_name".into(), nearest.map_or(AttrValue::Null, |f| opt_text(f.name.as_ref()))),
                    ("distance_m".into(), cell.nearest.map_or(AttrValue::Null, |n| AttrValue::Float((n.distance_m * 1000.0).round() / 1000.0))),
                    ("shortfall".into(), cell.shortfall.map_or(AttrValue::Null, AttrValue::Float)),
                    ("distance_from".into(), AttrValue::Text(table.params.distance_from.as_str().to_owned())),
                    ("metric".into(), metric_value.clone()),
                    ("year".into(), year_value.clone()),
                ],
            });
            if let (Some(c), Some(gap)) = (&comparison, gaps_pending.last_mut()) {
                // The same four figures as the estate's, without the kind prefix.
                let prefix = format!("{}_", spec.key);
                let figures = comparison_properties(c, i, k, &spec.key);
                gap.properties.extend(figures.into_iter().map(|(name, v)| (name.strip_prefix(&prefix).unwrap_or(&name).to_owned(), v)));
            }
        }
        gaps_pending
    }).collect();
    let gaps = Layer::build_with(gaps_pending, "MultiPolygon", prerender)?;

    let summary = analysis::summarize(&dataset.estates, &dataset.facilities, &table, catalogue);
    let straight_summary = straight.as_ref().map(|t| analysis::summarize(&dataset.estates, &dataset.facilities, t, catalogue));
    let districts = districts_layer(dataset, &summary, straight_summary.as_ref(), &metric_value, &year_value)?;
    let trials = (0..catalogue.len()).map(|_| OnceLock::new()).collect();
    Ok(YearView { year, index, table, straight, summary, estates, gaps, districts, trials })
}

/// The `districts` collection of a view: per district the coverage summary of each kind (and by
/// straight line too when `straight` is given); `None` when estates carry no district.
fn districts_layer(dataset: &Dataset, summary: &Summary, straight: Option<&Summary>, metric_value: &AttrValue, year_value: &AttrValue) -> Result<Option<Layer>, ApiError> {
    let districts = if summary.districts.is_empty() {
        None
    } else {
        let mut hulls: BTreeMap<&str, Vec<Coord<f64>>> = BTreeMap::new();
        for (i, estate) in dataset.estates.iter().enumerate() {
            if let (Some(d), Geometry::MultiPolygon(mp)) = (estate.district.as_deref(), &*dataset.estate_geometries[i]) {
                hulls.entry(d).or_default().extend(mp.iter().flat_map(|p| p.exterior().0.iter().copied()));
            }
        }
        let pending = summary
            .districts
            .iter()
            .map(|d| {
                let points: MultiPoint<f64> = hulls.remove(d.district.as_str()).unwrap_or_default().into_iter().map(geo::Point).collect();
                let hull = points.convex_hull();
                let mut p: Attributes = vec![
                    ("district".into(), AttrValue::Text(d.district.clone())),
                    ("estates".into(), AttrValue::Int(d.kinds.first().map_or(0, |k| i64::try_from(k.estates).unwrap_or(i64::MAX)))),
                    ("households".into(), AttrValue::Int(d.kinds.first().map_or(0, |k| i64::try_from(k.households).unwrap_or(i64::MAX)))),
                    ("metric".into(), metric_value.clone()),
                    ("year".into(), year_value.clone()),
                ];
                let straight_kinds = straight.and_then(|s| s.districts.iter().find(|x| x.district == d.district)).map(|x| &x.kinds);
                for k in &d.kinds {
                    let n = |x: usize| AttrValue::Int(i64::try_from(x).unwrap_or(i64::MAX));
                    p.push((format!("{}_facilities", k.kind), n(k.facilities)));
                    p.push((format!("{}_estates_covered", k.kind), n(k.estates_covered)));
                    p.push((format!("{}_estates_covered_pct", k.kind), AttrValue::Float(round2(k.estates_covered_pct))));
                    p.push((format!("{}_households_covered_pct", k.kind), AttrValue::Float(round2(k.households_covered_pct))));
                    p.push((format!("{}_estates_short", k.kind), n(k.estates_short)));
                    p.push((format!("{}_shortfall_total", k.kind), AttrValue::Float(k.shortfall_total)));
                    if let Some(s) = straight_kinds.and_then(|ks| ks.iter().find(|s| s.kind == k.kind)) {
                        p.push((format!("{}_straight_estates_covered_pct", k.kind), AttrValue::Float(round2(s.estates_covered_pct))));
                        p.push((format!("{}_straight_households_covered_pct", k.kind), AttrValue::Float(round2(s.households_covered_pct))));
                    }
                }
                PendingFeature { id: FeatureId::Text(d.district.clone()), geometry: Arc::new(Geometry::Polygon(hull)), properties: p }
            })
            .collect();
        Some(Layer::build(pending, "Polygon")?)
    };
    Ok(districts)
}

/// `geometry` converted by `transformer` (when given), axes swapped when `swap` (latitude-first
/// CRSs).
///
/// # Errors
/// [`ApiError::Internal`] when PROJ rejects a coordinate.
pub(crate) fn transform_geometry(geometry: &Geometry<f64>, transformer: Option<&Transformer>, swap: bool) -> Result<Geometry<f64>, ApiError> {
    let mut out = geometry.clone();
    if let Some(t) = transformer {
        let mut coords: Vec<Coord<f64>> = Vec::new();
        visit_coords(&mut out, &mut |c| coords.push(*c));
        t.apply(&mut coords).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut next = coords.into_iter();
        visit_coords(&mut out, &mut |c| {
            if let Some(n) = next.next() {
                *c = n;
            }
        });
    }
    if swap {
        visit_coords(&mut out, &mut |c| std::mem::swap(&mut c.x, &mut c.y));
    }
    Ok(out)
}

/// Calls `f` on every coordinate of `geometry`, in a fixed order.
fn visit_coords(geometry: &mut Geometry<f64>, f: &mut dyn FnMut(&mut Coord<f64>)) {
    fn ring(ls: &mut geo::LineString<f64>, f: &mut dyn FnMut(&mut Coord<f64>)) {
        for c in &mut ls.0 {
            f(c);
        }
    }
    fn polygon(p: &mut geo::Polygon<f64>, f: &mut dyn FnMut(&mut Coord<f64>)) {
        p.exterior_mut(|r| ring(r, f));
        p.interiors_mut(|holes| holes.iter_mut().for_each(|h| ring(h, f)));
    }
    match geometry {
        Geometry::Point(p) => f(&mut p.0),
        Geometry::MultiPoint(mp) => mp.0.iter_mut().for_each(|p| f(&mut p.0)),
        Geometry::Line(l) => {
            f(&mut l.start);
            f(&mut l.end);
        }
        Geometry::LineString(ls) => ring(ls, f),
        Geometry::MultiLineString(mls) => mls.0.iter_mut().for_each(|ls| ring(ls, f)),
        Geometry::Polygon(p) => polygon(p, f),
        Geometry::MultiPolygon(mp) => mp.0.iter_mut().for_each(|p| polygon(p, f)),
        Geometry::GeometryCollection(gc) => gc.0.iter_mut().for_each(|g| visit_coords(g, f)),
        Geometry::Rect(r) => {
            let mut p = r.to_polygon();
            polygon(&mut p, f);
            *geometry = Geometry::Polygon(p);
        }
        Geometry::Triangle(t) => {
            let mut p = t.to_polygon();
            polygon(&mut p, f);
            *geometry = Geometry::Polygon(p);
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn opt_text(s: Option<&String>) -> AttrValue {
    s.map_or(AttrValue::Null, |s| AttrValue::Text(s.clone()))
}

/// A feature id as a property value.
#[must_use]
pub fn id_value(id: &FeatureId) -> AttrValue {
    match id {
        FeatureId::Int(n) => AttrValue::Int(*n),
        FeatureId::Text(s) => AttrValue::Text(s.clone()),
    }
}

/// RFC 3339 UTC timestamp with seconds (`2024-05-01T12:00:00Z`).
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }
}
