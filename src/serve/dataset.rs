//! The served dataset: loaded and analysed once, then read-only.
//!
//! A [`Dataset`] holds every collection as a columnar [`Layer`] (see [`crate::serve`]): rows of
//! ids and CRS84 geometries, typed property columns, an R-tree over their boxes. An items page
//! is an R-tree query, a filter over the columns and the page's features written as GeoJSON.
//! Coverage for other years (`year=`) is read from the dataset's coverage timeline (built once,
//! in the background after a load: [`Dataset::warm_up`]); a year's view shares the estates'
//! rows and own columns and adds its coverage table (the per-kind columns are computed from it
//! on demand), its gaps and districts, so a new year costs a table lookup per estate × kind and
//! a few bytes per estate, and a few years are cached ([`Dataset::year_view`]).
#![expect(clippy::doc_markdown, reason = "GeoJSON, OpenAPI and CRS84 are names, not code")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use geo::{ConvexHull, Coord, Geometry, MultiPoint};
use rayon::prelude::*;

use super::error::ServeError;
use super::service_area::{build_service_areas, AreaMetric};
use super::streets::Streets;
use super::trial::TrialIndex;
use crate::analysis::{self, AnalysisParams, CoverageMetric, CoverageTable, CoverageTimeline, MetricKind, NetworkMetric, NetworkParams, RecordedHouseholds, StraightLine, Summary, YearSpan};
use crate::config::{Config, OnInvalid};
use crate::index::FacilityIndex;
use crate::io::crs::{CrsSpec, Transformer};
use crate::io::load::LoadOptions;
use crate::io::network::{LoadedNetwork, NetworkSummary};
use crate::io::write::{comparison_value, estate_base_features, kind_value, MetricComparison, Results, COMPARISON_FIELDS, KIND_FIELDS};
use super::layer::{CellSource, ColumnData, Rows};
use crate::model::{AttrValue, Attributes, Catalogue, Estate, Facility, FeatureId, KindId};

/// Year views kept besides the current one; the least recently used is dropped beyond this. A
/// view holds every estate's served values and GeoJSON (about 1 GiB on a 60,000-estate city, so
/// 32 of them exhausted memory: issue 14); its coverage comes from the timeline, so building
/// another costs the rendering, not an analysis.
const YEAR_CACHE_LEN: usize = 2;

/// Render-cache budgets of the layers read most: the configured year's estates and gaps, and the
/// facilities (see [`Layer::set_render_cache`]); 64 MiB in all.
const RENDER_CACHE_ESTATES_BYTES: usize = 32 << 20;
const RENDER_CACHE_GAPS_BYTES: usize = 16 << 20;
const RENDER_CACHE_FACILITIES_BYTES: usize = 16 << 20;

pub use super::layer::{id_json, Column, ColumnType, FeatureRef, Layer, PendingFeature};

/// Coverage as of one year: the table and the year-dependent collections. The estates share
/// their rows and own properties with every other year's; what a year adds is its coverage
/// table (the per-kind columns are computed from it on demand), its gaps and its districts.
#[derive(Debug)]
pub struct YearView {
    /// The year (`None`: every facility counts).
    pub year: Option<i32>,
    /// Estate × kind coverage by the dataset's metric.
    pub table: Arc<CoverageTable>,
    /// The same by straight line, when the dataset's metric is the walking network (estates,
    /// gaps and districts carry both figures).
    pub straight: Option<Arc<CoverageTable>>,
    /// Summaries per kind and district.
    pub summary: Summary,
    /// `estates` collection.
    pub estates: Layer,
    /// `gaps` collection.
    pub gaps: Layer,
    /// `districts` collection, when estates carry districts.
    pub districts: Option<Layer>,
    /// Facilities open in `year`, per kind, built on first use (point queries and plans).
    index: OnceLock<FacilityIndex>,
    /// Per kind, the uncovered estates ready for trial points (`POST /what-if`), built on first use.
    trials: Vec<OnceLock<TrialIndex>>,
}

impl YearView {
    /// The trial index of `kind` in this view, built on first use (blocking: tens of
    /// milliseconds on a 60,000-estate city; call it off the executor).
    pub fn trial(&self, dataset: &Dataset, kind: KindId) -> &TrialIndex {
        self.trials[kind.index()].get_or_init(|| TrialIndex::build(&dataset.estates, &self.table, kind, dataset.network.is_none()))
    }

    /// The facilities open in this view's year, indexed per kind; built on first use
    /// (blocking: about 0.1 s for 200,000 facilities).
    pub fn facility_index(&self, dataset: &Dataset) -> &FacilityIndex {
        self.index.get_or_init(|| FacilityIndex::build(&dataset.facilities, dataset.catalogue.len(), self.year))
    }

    /// Heap bytes this view holds beyond what it shares with the dataset.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let own_columns = |l: &Layer| l.columns.iter().filter(|c| !matches!(&*c.data, crate::serve::ColumnData::Gather { .. })).map(|c| c.data.heap_bytes()).sum::<usize>();
        self.table.heap_bytes()
            + self.straight.as_ref().map_or(0, |t| t.heap_bytes())
            + own_columns(&self.estates)
            + self.gaps.heap_bytes()
            + self.districts.as_ref().map_or(0, Layer::heap_bytes)
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

    /// The file name of the network source.
    #[must_use]
    pub fn source_name(&self) -> String {
        self.summary.path.file_name().map_or_else(|| self.summary.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }
}

/// Everything one load produced; immutable except for the year cache.
#[derive(Debug)]
pub struct Dataset {
    /// The data version: a digest of the loaded content (see [`super::digest`]), so replicas
    /// over the same data agree on it; below 2^53.
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
    /// Facilities, working CRS, load order (the coverage table refers to these positions);
    /// shared with the year views' computed columns.
    pub facilities: Arc<Vec<Facility>>,
    /// The configured year's coverage.
    pub current: Arc<YearView>,
    /// `facilities` collection.
    pub facilities_layer: Layer,
    /// `service-areas` collection (configured year), dissolved on first use (seconds for 200,000
    /// facilities: not needed for the first answer).
    service_areas: OnceLock<Result<Layer, String>>,
    /// Output CRSs offered.
    pub crs: Vec<CrsOption>,
    /// CRS84 → working CRS.
    pub to_working: Transformer,
    /// Features rejected at load.
    pub rejected: usize,
    /// Report settings, targets and computed reports (`/reports`).
    pub reports: super::reports::Reports,
    /// The walking network, when `analysis.metric = "network"`.
    pub network: Option<ServedNetwork>,
    /// The renovation programme (`[programme]`): the `projects` and `wishes` collections and the
    /// districts' programme figures; its inputs are shared with `reports`.
    pub programme: Option<super::programme::ServedProgramme>,
    /// The estates' ids and CRS84 geometries, shared by every year's `estates` and `gaps`.
    estate_rows: Arc<Rows>,
    /// The estates' own properties (id, name, district, households, …, `distance_from`), shared
    /// by every year's `estates`.
    estate_columns: Vec<Column>,
    /// The type of facility ids as properties (`nearest_id`).
    facility_id_type: ColumnType,
    /// Per district, the convex hull of its estates (CRS84), built on first use.
    district_hulls: OnceLock<BTreeMap<String, Arc<Geometry<f64>>>>,
    /// Coverage through the years, built on first use or by [`Dataset::warm_up`].
    timelines: Timelines,
    /// Per estate × kind, the capacity required ([`analysis::required_capacity`]): the
    /// configured year's packed table's, shared by the tables of the years read from the
    /// timelines.
    required: Arc<[f64]>,
    /// What every year's summaries read of the estates and facilities (districts numbered).
    summary_basis: analysis::SummaryBasis,
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
    /// [`ServeError::Internal`] when the analysis fails.
    pub fn year_view(&self, year: Option<i32>) -> Result<Arc<YearView>, ServeError> {
        let poisoned = || ServeError::Internal("year cache poisoned".into());
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
        // The build's scratch (the packed cells, about 24 bytes per estate × kind) goes back to
        // the system, not kept by the allocator on the threads that freed it: after the answer
        // (inline it added about 8 ms to the 60,000 city's 20 ms).
        rayon::spawn(crate::diag::release_freed_memory_everywhere);
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
    /// [`ServeError::Internal`] when the analysis fails.
    pub fn timeline(&self) -> Result<Arc<CoverageTimeline>, ServeError> {
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
        built.clone().map_err(ServeError::Internal)
    }

    /// The straight-line timeline beside a walking metric; `None` for a straight-line dataset
    /// (its [`Dataset::timeline`] is the straight one).
    ///
    /// # Errors
    /// [`ServeError::Internal`] when the analysis fails.
    pub fn straight_timeline(&self) -> Result<Option<Arc<CoverageTimeline>>, ServeError> {
        if self.network.is_none() {
            return Ok(None);
        }
        let built = self.timelines.straight.get_or_init(|| {
            let straight = StraightLine::new(&self.facilities, self.params.distance_from);
            CoverageTimeline::build(&self.estates, &self.facilities, &straight, &self.catalogue, YearSpan::default(), &()).map(Arc::new).map_err(|e| e.to_string())
        });
        built.clone().map(Some).map_err(ServeError::Internal)
    }

    /// The `service-areas` collection of the configured year, dissolved on first use (blocking:
    /// seconds on a large city; call it off the executor).
    ///
    /// # Errors
    /// [`ServeError::Internal`] when the dissolve fails.
    pub fn service_areas(&self) -> Result<&Layer, ServeError> {
        let built = self.service_areas.get_or_init(|| {
            let started = std::time::Instant::now();
            let to_crs84 = Transformer::to_crs84(&self.working_crs).map_err(|e| e.to_string())?;
            let metric = self.network.as_ref().map_or(AreaMetric::Straight, |n| AreaMetric::Network(&n.metric));
            let layer = build_service_areas(&self.facilities, &self.catalogue, self.params.year, metric, &to_crs84).map_err(|e| e.to_string())?;
            tracing::info!(metric = self.params.metric.as_str(), elapsed_ms = started.elapsed().as_millis(), "service areas dissolved");
            Ok(layer)
        });
        built.as_ref().map_err(|e| ServeError::Internal(e.clone()))
    }

    /// The `service-areas` collection if it has been dissolved already.
    #[must_use]
    pub fn service_areas_built(&self) -> Option<&Layer> {
        self.service_areas.get().and_then(|r| r.as_ref().ok())
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
    /// not wait. The service areas are not built there: they convert to CRS84 through PROJ, and a
    /// detached thread inside PROJ when the process exits crashes it (PROJ's statics are torn
    /// down under it); they are dissolved on the first request that needs them, on the blocking
    /// pool, which the runtime joins. The thread lets go of the dataset when done.
    pub fn warm_up(self: &Arc<Self>) {
        let dataset = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("gapmap-timeline".into()).spawn(move || {
            if let Err(e) = dataset.timeline().and_then(|_| dataset.straight_timeline()) {
                tracing::warn!("coverage timeline: {e}");
            }
            // The searches' scratch space was freed on rayon's threads; give it back rather than
            // keep it resident beside the timeline.
            crate::diag::release_freed_memory_everywhere();
        });
        if let Err(e) = spawned {
            tracing::warn!("coverage timeline: cannot start its thread ({e}); it is built on first use");
        }
    }

    /// Heap bytes of the served data by part (`estates`, `facilities`, `service_areas`,
    /// `current_year`, `cached_years`, `timeline`), for `/metrics`. An estimate: the structures'
    /// own sizes, not the allocator's overhead; the model values (`estates`, `facilities` in the
    /// working CRS) and the street network are not counted.
    #[must_use]
    pub fn heap_bytes_by_part(&self) -> Vec<(&'static str, usize)> {
        let cached: usize = self.years.lock().map_or(0, |years| years.values().map(|v| v.heap_bytes()).sum());
        let timeline = [self.timelines.metric.get(), self.timelines.straight.get()].into_iter().flatten().filter_map(|t| t.as_ref().ok()).map(|t| t.heap_bytes()).sum::<usize>();
        vec![
            ("estates", self.estate_rows.heap_bytes() + self.estate_columns.iter().map(|c| c.data.heap_bytes()).sum::<usize>()),
            ("summary_basis", self.summary_basis.heap_bytes()),
            ("facilities", self.facilities_layer.heap_bytes()),
            ("service_areas", self.service_areas_built().map_or(0, |l| l.heap_bytes() + l.iter().map(|f| geometry_bytes(f.geometry)).sum::<usize>())),
            ("current_year", self.current.heap_bytes()),
            ("cached_years", cached),
            ("timeline", timeline),
            ("programme", self.programme.as_ref().map_or(0, super::programme::ServedProgramme::heap_bytes)),
        ]
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

    /// Serves the renovation programme: builds `projects` and `wishes` over the estates'
    /// geometries and rebuilds the current view's districts with the programme figures (year
    /// views built later read them from `self.programme`).
    ///
    /// # Errors
    /// [`ServeError::Internal`] when a layer cannot be built or the current view is shared
    /// already (call it right after [`build_dataset`]).
    pub fn attach_programme(&mut self, inputs: Arc<crate::report::ProgrammeInputs>) -> Result<(), ServeError> {
        self.programme = Some(super::programme::ServedProgramme::build(inputs, &self.estates, self.estate_rows.own_geometries())?);
        let current = &self.current;
        let metric_value = AttrValue::Text(current.table.params.metric.as_str().to_owned());
        let year_value = current.year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)));
        let straight = current.straight.as_ref().map(|t| analysis::summarize_with(&self.summary_basis, t, &self.catalogue));
        let districts = districts_layer(self, &current.summary, straight.as_ref(), &metric_value, &year_value)?;
        Arc::get_mut(&mut self.current).ok_or_else(|| ServeError::Internal("the current view is shared before the programme is attached".into()))?.districts = districts;
        Ok(())
    }
}

/// Coverage by the dataset's metric, and by straight line too when that metric is the network.
///
/// # Errors
/// [`ServeError::Internal`] when the analysis fails.
fn coverage_tables(
    estates: &[Estate],
    facilities: &[Facility],
    catalogue: &Catalogue,
    index: &FacilityIndex,
    params: AnalysisParams,
    network: Option<&NetworkMetric>,
) -> Result<(CoverageTable, Option<CoverageTable>), ServeError> {
    let straight = StraightLine::with_index(facilities, index, params.distance_from);
    let straight = analysis::compute_coverage(estates, &straight, catalogue, params.year, &RecordedHouseholds, &()).map_err(|e| ServeError::Internal(e.to_string()))?;
    let Some(network) = network else { return Ok((straight, None)) };
    let table = analysis::compute_coverage(estates, network, catalogue, params.year, &RecordedHouseholds, &()).map_err(|e| ServeError::Internal(e.to_string()))?;
    Ok((table, Some(straight)))
}

/// Loads the data a config names and builds the served dataset. Blocking (reads files, runs
/// the analysis); call it from `spawn_blocking`. Its version is the digest of what was loaded
/// ([`super::digest::data_version`]): the same data gives the same version on every replica.
///
/// # Errors
/// [`ServeError::Load`] naming the file or feature at fault.
pub fn load_dataset(config: &Config) -> Result<Dataset, ServeError> {
    let fail = |e: &dyn std::fmt::Display| ServeError::Load(e.to_string());
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
    crate::diag::release_freed_memory_everywhere();
    check_report(&loaded.report, "", config.analysis.on_invalid)?;
    if loaded.estates.is_empty() {
        // A database URI's password is never printed.
        return Err(fail(&format!("{}: no valid estates were loaded", crate::io::postgis::redact_path(&estates_source.path).display())));
    }
    let params = AnalysisParams { distance_from: config.analysis.distance_from, year: config.analysis.year, metric: config.analysis.metric };
    let network = match config.analysis.metric {
        MetricKind::Straight => None,
        MetricKind::Network => Some(load_network(config, &loaded.working_crs)?),
    };
    let programme = crate::report::ProgrammeInputs::load(config, &loaded.estates).map_err(|e| fail(&e))?.map(Arc::new);
    let reports = super::reports::Reports::load(&config.report, &catalogue).map_err(|e| fail(&e))?.with_programme(programme.clone());
    let version = super::digest::data_version(config, &loaded, network.as_ref().map(|n| &n.loaded)).map_err(|e| fail(&e))?;
    let mut dataset = build_dataset(loaded.estates, loaded.facilities, catalogue, &loaded.working_crs, params, network, version, loaded.report.rejected.len())?;
    crate::diag::release_freed_memory_everywhere();
    dataset.reports = reports;
    if let Some(inputs) = programme {
        dataset.attach_programme(inputs)?;
    }
    Ok(dataset)
}

/// Logs a load report's warnings and first rejections; under `on_invalid = "abort"` any rejection
/// fails the load. `what` names the features in messages (`""` or `"street network "`).
///
/// # Errors
/// [`ServeError::Load`] with the count and the first rejection.
fn check_report(report: &crate::io::LoadReport, what: &str, on_invalid: OnInvalid) -> Result<(), ServeError> {
    for w in &report.warnings {
        tracing::warn!("{what}{w}");
    }
    if report.has_rejections() {
        for r in report.rejected.iter().take(20) {
            tracing::warn!("{what}rejected: {r}");
        }
        if on_invalid == OnInvalid::Abort {
            return Err(ServeError::Load(format!(
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
/// [`ServeError::Load`] naming the file or feature at fault.
fn load_network(config: &Config, working_crs: &str) -> Result<NetworkInput, ServeError> {
    let fail = |e: &dyn std::fmt::Display| ServeError::Load(e.to_string());
    let network = config.network.as_ref().ok_or_else(|| fail(&"analysis.metric = \"network\" needs [network] path"))?;
    let loaded = crate::io::network::load_network(network, None, working_crs, &|m| tracing::debug!("{m}")).map_err(|e| fail(&e))?;
    check_report(&loaded.report, "street network ", config.analysis.on_invalid)?;
    let params = crate::io::network::network_params(network, config.analysis.distance_from);
    Ok(NetworkInput { loaded, params })
}

/// Builds the dataset from loaded model values (working CRS). With `network`, coverage is
/// measured by walking distance along it (built here once, for these estates and facilities),
/// and straight-line figures are kept beside it. `version` is the data version to serve it
/// under ([`load_dataset`] passes the content digest).
///
/// # Errors
/// [`ServeError::Load`] for CRS problems, [`ServeError::Internal`] otherwise.
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
) -> Result<Dataset, ServeError> {
    let crs_fail = |e: &dyn std::fmt::Display| ServeError::Load(format!("working CRS {working_crs}: {e}"));
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

    // Estate geometries and own properties in CRS84, once, as the rows and columns every year's
    // estates share; coverage properties are computed per year from its table.
    let phase = std::time::Instant::now();
    let logged = |what: &str| tracing::info!(elapsed_ms = phase.elapsed().as_millis(), "{what}");
    let index = FacilityIndex::build(&facilities, catalogue.len(), params.year);
    let (table, straight) = coverage_tables(&estates, &facilities, &catalogue, &index, params, network.as_ref().map(|n| &n.metric))?;
    logged("coverage of the configured year");
    // Kept packed (24 bytes a cell, not 72); the required capacities are shared with every year.
    let table = table.into_packed();
    let straight = straight.map(CoverageTable::into_packed);
    // A packed table keeps them apart (always: `required()` is `None` only for owned cells).
    let required = table.required().map_or_else(|| analysis::required_capacity(&estates, &catalogue, &RecordedHouseholds).into(), Arc::clone);
    // Point queries and plans rebuild it on first use (about 0.1 s for 200,000 facilities): not
    // kept for a first request that may never come.
    drop(index);
    let results = Results { estates: &estates, facilities: &facilities, table: &table, catalogue: &catalogue, working_crs };
    let base: Vec<PendingFeature> = estate_base_features(&results)
        .map_err(|e| crs_fail(&e))?
        .into_iter()
        .zip(&estates)
        .map(|(feature, estate)| PendingFeature { id: estate.id.clone(), geometry: Arc::new(feature.geometry), properties: feature.properties })
        .collect();
    let base = Layer::from_features(base, "MultiPolygon")?;
    base.rows().index_now();
    let facility_id_type = facilities.iter().fold(None, |t, f| ColumnType::merge(t, ColumnType::of(&id_value(&f.id)))).unwrap_or(ColumnType::String);

    logged("estates layer");
    let facilities_layer = build_facilities_layer(&facilities, &catalogue, &to_crs84)?;
    logged("facilities layer");
    let crs = crs_options(working_crs)?;
    let summary_basis = analysis::SummaryBasis::new(&estates, &facilities);
    let mut dataset = Dataset {
        version,
        loaded_at: SystemTime::now(),
        working_crs: working_crs.to_owned(),
        catalogue,
        params,
        estates,
        facilities: Arc::new(facilities),
        current: Arc::new(YearView {
            year: params.year,
            table: Arc::new(CoverageTable::empty(params)),
            straight: None,
            summary: Summary { params, overall: Vec::new(), districts: Vec::new() },
            estates: Layer::from_features(Vec::new(), "MultiPolygon")?,
            gaps: Layer::from_features(Vec::new(), "MultiPolygon")?,
            districts: None,
            index: OnceLock::new(),
            trials: Vec::new(),
        }),
        facilities_layer,
        service_areas: OnceLock::new(),
        crs,
        to_working,
        rejected,
        reports: super::reports::Reports::default(),
        network,
        programme: None,
        estate_rows: Arc::clone(base.rows()),
        estate_columns: base.columns,
        facility_id_type,
        district_hulls: OnceLock::new(),
        timelines: Timelines::default(),
        required,
        summary_basis,
        years: Mutex::new(BTreeMap::new()),
        years_order: Mutex::new(Vec::new()),
        building: Mutex::new(()),
    };
    let mut current = year_view_from(&dataset, table, straight)?;
    current.gaps.rows().index_now();
    logged("configured year's collections");
    current.estates.set_render_cache(RENDER_CACHE_ESTATES_BYTES);
    current.gaps.set_render_cache(RENDER_CACHE_GAPS_BYTES);
    dataset.current = Arc::new(current);
    Ok(dataset)
}

fn crs_options(working_crs: &str) -> Result<Vec<CrsOption>, ServeError> {
    let mut names = vec!["CRS84", "EPSG:4326", "EPSG:3857", "EPSG:4490"];
    if !names.iter().any(|n| n.eq_ignore_ascii_case(working_crs)) && epsg_code(working_crs).is_some() {
        names.push(working_crs);
    }
    names
        .into_iter()
        .map(|name| {
            let fail = |e: &dyn std::fmt::Display| ServeError::Load(format!("output CRS {name}: {e}"));
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

/// The `facilities` collection, in id order: columns built straight from the facilities (a
/// million facilities as features with named properties were 14 million small allocations).
/// The columns and their forms are those [`Layer::from_features`] gives the same properties:
/// `id`, `kind`, its labels, `name`, `capacity`, `capacity_unit`, `opened_year`, `planned`,
/// `district`, then the facilities' own properties in order of first appearance (one named like
/// a column above takes its place, as a later property of the same name would).
fn build_facilities_layer(facilities: &[Facility], catalogue: &Catalogue, to_crs84: &Transformer) -> Result<Layer, ServeError> {
    let mut coords: Vec<Coord<f64>> = facilities.iter().map(|f| f.location.0).collect();
    to_crs84.apply(&mut coords).map_err(|e| ServeError::Load(e.to_string()))?;
    let mut order: Vec<usize> = (0..facilities.len()).collect();
    order.par_sort_by(|&a, &b| facilities[a].id.cmp(&facilities[b].id));
    let ids = order.iter().map(|&i| facilities[i].id.clone()).collect();
    let geometries = order.iter().map(|&i| Arc::new(Geometry::Point(geo::Point(coords[i])))).collect();
    let rows = Arc::new(Rows::new(ids, geometries)?);
    let n = order.len();

    // The facilities' own property names, in order of first appearance.
    let mut extra_names: Vec<&str> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for &i in &order {
        for (name, _) in &facilities[i].extra {
            if seen.insert(name.as_str()) {
                extra_names.push(name);
            }
        }
    }
    // The last value a facility gives `name` among its own properties.
    let own = |f: &Facility, name: &str| f.extra.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let values = |name: &str, fixed: &(dyn Fn(&Facility) -> AttrValue + Sync)| -> Arc<ColumnData> {
        let overridden = seen.contains(name);
        let values: Vec<AttrValue> = order.par_iter().map(|&i| if overridden { own(&facilities[i], name) } else { None }.unwrap_or_else(|| fixed(&facilities[i]))).collect();
        Arc::new(ColumnData::from_values(values))
    };
    let kind_codes: Arc<[u32]> = order.iter().map(|&i| u32::from(facilities[i].kind.0)).collect();
    // A kind's key or label: one value per kind, gathered by each facility's kind.
    let per_kind = |name: &str, label: &(dyn Fn(&crate::model::KindSpec) -> String + Sync)| -> Column {
        if seen.contains(name) {
            return Column::new(name, values(name, &|f| AttrValue::Text(label(catalogue.spec(f.kind)))), n);
        }
        let source = Arc::new(ColumnData::Values(catalogue.kinds.iter().map(|s| AttrValue::Text(label(s))).collect()));
        Column::typed(name, ColumnType::String, Arc::new(ColumnData::Gather { source, rows: Arc::clone(&kind_codes) }))
    };
    let mut columns = vec![
        Column::new("id", values("id", &|f| id_value(&f.id)), n),
        per_kind("kind", &|s| s.key.clone()),
        per_kind("kind_label_zh", &|s| s.label_zh.clone()),
        per_kind("kind_label_en", &|s| s.label_en.clone()),
        Column::new("name", values("name", &|f| opt_text(f.name.as_ref())), n),
        Column::new("capacity", values("capacity", &|f| f.capacity.map_or(AttrValue::Null, AttrValue::Float)), n),
        Column::new("capacity_unit", values("capacity_unit", &|f| opt_text(catalogue.spec(f.kind).capacity_unit.as_ref())), n),
        Column::new("opened_year", values("opened_year", &|f| f.opened_year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))), n),
        Column::new("planned", values("planned", &|f| AttrValue::Bool(f.planned)), n),
        Column::new("district", values("district", &|f| opt_text(f.district.as_ref())), n),
    ];
    let fixed: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    for name in extra_names.into_iter().filter(|name| !fixed.iter().any(|f| f == name)) {
        columns.push(Column::new(name, values(name, &|_| AttrValue::Null), n));
    }
    let mut layer = Layer::new(rows, columns, "Point")?;
    layer.rows().index_now();
    layer.set_render_cache(RENDER_CACHE_FACILITIES_BYTES);
    Ok(layer)
}

/// `f`'s answer and the milliseconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let at = std::time::Instant::now();
    (f(), at.elapsed().as_secs_f64() * 1e3)
}

fn build_year_view(dataset: &Dataset, params: AnalysisParams) -> Result<YearView, ServeError> {
    let radii_m: Vec<f64> = dataset.catalogue.kinds.iter().map(|k| k.radius_m).collect();
    // The year's table is the position of each cell's state in the timeline (4 bytes a cell).
    let read = |t: &Arc<CoverageTimeline>| {
        t.table_view(params.year, Arc::clone(&dataset.required), radii_m.clone())
            .map_err(|e| ServeError::Internal(e.to_string()))?
            .ok_or_else(|| ServeError::Internal(format!("the coverage timeline does not answer {:?}", params.year)))
    };
    let started = std::time::Instant::now();
    let table = read(&dataset.timeline()?)?;
    let straight = dataset.straight_timeline()?.map(|t| read(&t)).transpose()?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    let view = year_view_from(dataset, table, straight)?;
    tracing::info!(year = params.year, read_ms, total_ms = started.elapsed().as_secs_f64() * 1e3, "year view built");
    Ok(view)
}

/// Coverage fields per kind in a year's estate columns: [`KIND_FIELDS`], then
/// [`COMPARISON_FIELDS`] beside a walking metric.
const FIELDS_PER_KIND: usize = KIND_FIELDS.len() + COMPARISON_FIELDS.len();

/// The tables a year's coverage columns are computed from.
#[derive(Debug)]
struct YearTables {
    table: Arc<CoverageTable>,
    straight: Option<Arc<CoverageTable>>,
    facilities: Arc<Vec<Facility>>,
    speed_m_per_min: f64,
}

impl YearTables {
    /// Field `f` of [`FIELDS_PER_KIND`] for estate `i` and `kind`.
    fn value(&self, i: usize, kind: KindId, f: usize) -> AttrValue {
        if f < KIND_FIELDS.len() {
            return kind_value(&self.table, &self.facilities, i, kind, f);
        }
        self.straight.as_ref().map_or(AttrValue::Null, |straight| {
            let comparison = MetricComparison { straight, network: &self.table, speed_m_per_min: self.speed_m_per_min };
            comparison_value(&comparison, i, kind, f - KIND_FIELDS.len())
        })
    }
}

/// A year's estates' coverage columns: field `kind × FIELDS_PER_KIND + f` of row (estate) `i`.
#[derive(Debug)]
struct EstateCells(Arc<YearTables>);

impl CellSource for EstateCells {
    fn value(&self, row: usize, field: usize) -> AttrValue {
        let kind = KindId(u16::try_from(field / FIELDS_PER_KIND).unwrap_or(u16::MAX));
        self.0.value(row, kind, field % FIELDS_PER_KIND)
    }

    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Fields of a gap computed from the tables (the others are gathered from its estate).
const GAP_FIELDS: [&str; 9] = ["radius_m", "nearest_id", "nearest_name", "distance_m", "shortfall", "straight_m", "network_m", "walk_min", "detour"];

/// A year's gaps: row `r` is estate `estate_of[r]` lacking kind `codes[r]`.
#[derive(Debug)]
struct GapCells {
    tables: Arc<YearTables>,
    estate_of: Arc<[u32]>,
    codes: Arc<[u32]>,
}

impl CellSource for GapCells {
    fn value(&self, row: usize, field: usize) -> AttrValue {
        let (i, kind) = (self.estate_of[row] as usize, KindId(u16::try_from(self.codes[row]).unwrap_or(u16::MAX)));
        let t = &self.tables;
        match field {
            0 => AttrValue::Float(t.table.radii_m[kind.index()]),
            1 => kind_value(&t.table, &t.facilities, i, kind, 2),
            2 => t.table.get(i, kind).nearest.map_or(AttrValue::Null, |n| opt_text(t.facilities[n.facility as usize].name.as_ref())),
            3 => kind_value(&t.table, &t.facilities, i, kind, 0),
            4 => kind_value(&t.table, &t.facilities, i, kind, 5),
            f => t.value(i, kind, KIND_FIELDS.len() + f - 5),
        }
    }

    fn heap_bytes(&self) -> usize {
        // The positions are the gaps' rows' (counted there).
        0
    }
}

/// The collections of one year's coverage: the estates' shared rows and own columns plus
/// columns computed from `table` (and `straight`), the gaps, the districts.
fn year_view_from(dataset: &Dataset, table: CoverageTable, straight: Option<CoverageTable>) -> Result<YearView, ServeError> {
    let catalogue = &dataset.catalogue;
    let year = table.params.year;
    let year_value = year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)));
    let metric_value = AttrValue::Text(table.params.metric.as_str().to_owned());
    let distance_from = AttrValue::Text(table.params.distance_from.as_str().to_owned());
    let speed_m_per_min = dataset.network.as_ref().map_or(f64::NAN, |n| n.metric.params().speed_m_per_min);
    let tables = Arc::new(YearTables { table: Arc::new(table), straight: straight.map(Arc::new), facilities: Arc::clone(&dataset.facilities), speed_m_per_min });
    let compared = tables.straight.is_some();
    let rows = dataset.estate_rows.len();
    let constant = |v: &AttrValue| Arc::new(ColumnData::Const(v.clone()));

    // Estates: shared rows and own columns, then the year's.
    let cells: Arc<dyn CellSource> = Arc::new(EstateCells(Arc::clone(&tables)));
    let mut columns = dataset.estate_columns.clone();
    columns.push(Column::new("metric", constant(&metric_value), rows));
    columns.push(Column::new("year", constant(&year_value), rows));
    let kind_types = [ColumnType::Number, ColumnType::Boolean, dataset.facility_id_type, ColumnType::Integer, ColumnType::Number, ColumnType::Number];
    for (k, key) in catalogue.keys().enumerate() {
        let fields = KIND_FIELDS.iter().zip(kind_types).enumerate().chain(COMPARISON_FIELDS.iter().map(|f| (f, ColumnType::Number)).enumerate().map(|(f, x)| (f + KIND_FIELDS.len(), x)).filter(|_| compared));
        for (f, (name, kind)) in fields {
            let data = Arc::new(ColumnData::Computed { source: Arc::clone(&cells), field: k * FIELDS_PER_KIND + f });
            columns.push(Column::typed(format!("{key}_{name}"), kind, data));
        }
    }
    let estates = Layer::new(Arc::clone(&dataset.estate_rows), columns, "MultiPolygon")?;

    // The passes below read every cell: from the cells in order (a year read from the timeline,
    // where its cells lie scattered, read out once into a copy dropped when the view is built).
    let ((dense, dense_straight), packed_ms) = timed(|| rayon::join(|| tables.table.in_order(), || tables.straight.as_ref().map(|t| t.in_order())));

    // The gaps, and the summaries with the districts, side by side.
    let build_gaps = || -> Result<Layer, ServeError> {
        // Gaps: one row per uncovered estate × kind, estate by estate: the estate's row again
        // (8 bytes: its position and the kind's), with the id `estate:kind`.
        let kinds = catalogue.len();
        let pairs: Vec<(u32, u32)> = (0..rows)
            .into_par_iter()
            .with_min_len(1024)
            .flat_map_iter(|i| {
                let dense = &dense;
                (0..kinds).filter_map(move |k| {
                    let kind = KindId(u16::try_from(k).ok()?);
                    (!dense.covered(i, kind)).then(|| (u32::try_from(i).unwrap_or(u32::MAX), u32::from(kind.0)))
                })
            })
            .collect();
        let (estate_of, codes): (Vec<u32>, Vec<u32>) = pairs.into_iter().unzip();
        let (estate_of, codes): (Arc<[u32]>, Arc<[u32]>) = (estate_of.into(), codes.into());
        let keys: Vec<String> = catalogue.keys().map(str::to_owned).collect();
        let gap_rows = Arc::new(Rows::gathered(Arc::clone(&dataset.estate_rows), Arc::clone(&estate_of), Arc::clone(&codes), keys)?);
        let gathered = |from: &str, to: &str| -> Result<Column, ServeError> {
            let source = dataset.estate_columns.iter().find(|c| c.name == from).ok_or_else(|| ServeError::Internal(format!("estates have no {from} column")))?;
            Ok(Column::typed(to, source.kind, Arc::new(ColumnData::Gather { source: Arc::clone(&source.data), rows: Arc::clone(&estate_of) })))
        };
        // The kind's key and labels: per kind one value, gathered by the kind's code.
        let dict = |name: &str, label: &dyn Fn(&crate::model::KindSpec) -> String| {
            let values = catalogue.kinds.iter().map(|spec| AttrValue::Text(label(spec))).collect();
            Column::typed(name, ColumnType::String, Arc::new(ColumnData::Gather { source: Arc::new(ColumnData::Values(values)), rows: Arc::clone(&codes) }))
        };
        let gap_cells: Arc<dyn CellSource> = Arc::new(GapCells { tables: Arc::clone(&tables), estate_of: Arc::clone(&estate_of), codes: Arc::clone(&codes) });
        let computed = |field: usize, kind: ColumnType| Column::typed(GAP_FIELDS[field], kind, Arc::new(ColumnData::Computed { source: Arc::clone(&gap_cells), field }));
        let gap_count = gap_rows.len();
        let mut gap_columns = vec![
            gathered("id", "estate_id")?,
            gathered("name", "estate_name")?,
            gathered("district", "district")?,
            gathered("households", "households")?,
            dict("kind", &|s| s.key.clone()),
            dict("kind_label_zh", &|s| s.label_zh.clone()),
            dict("kind_label_en", &|s| s.label_en.clone()),
            computed(0, ColumnType::Number),
            computed(1, dataset.facility_id_type),
            computed(2, ColumnType::String),
            computed(3, ColumnType::Number),
            computed(4, ColumnType::Number),
            Column::new("distance_from", constant(&distance_from), gap_count),
            Column::new("metric", constant(&metric_value), gap_count),
            Column::new("year", constant(&year_value), gap_count),
        ];
        if compared {
            gap_columns.extend((5..GAP_FIELDS.len()).map(|f| computed(f, ColumnType::Number)));
        }
        Ok(Layer::new(gap_rows, gap_columns, "MultiPolygon")?)
    };
    let build_summaries = || -> Result<(Summary, Option<Layer>), ServeError> {
        let ((summary, straight_summary), summarize_ms) = timed(|| {
            let summary = analysis::summarize_with(&dataset.summary_basis, &dense, catalogue);
            (summary, dense_straight.as_ref().map(|t| analysis::summarize_with(&dataset.summary_basis, t, catalogue)))
        });
        let (districts, districts_ms) = timed(|| districts_layer(dataset, &summary, straight_summary.as_ref(), &metric_value, &year_value));
        tracing::debug!(year, summarize_ms, districts_ms, "year view's summaries");
        Ok((summary, districts?))
    };
    let ((gaps, gaps_ms), (summaries, summaries_ms)) = rayon::join(|| timed(build_gaps), || timed(build_summaries));
    tracing::debug!(year, packed_ms, gaps_ms, summaries_ms, "year view's passes");
    let (gaps, (summary, districts)) = (gaps?, summaries?);
    let trials = (0..catalogue.len()).map(|_| OnceLock::new()).collect();
    Ok(YearView {
        year,
        table: Arc::clone(&tables.table),
        straight: tables.straight.clone(),
        summary,
        estates,
        gaps,
        districts,
        index: OnceLock::new(),
        trials,
    })
}

impl Dataset {
    /// Per district, the convex hull of its estates (CRS84); built once.
    fn district_hulls(&self) -> &BTreeMap<String, Arc<Geometry<f64>>> {
        self.district_hulls.get_or_init(|| {
            let mut points: BTreeMap<&str, Vec<Coord<f64>>> = BTreeMap::new();
            for (i, estate) in self.estates.iter().enumerate() {
                if let (Some(d), Geometry::MultiPolygon(mp)) = (estate.district.as_deref(), &**self.estate_rows.geometry(i)) {
                    points.entry(d).or_default().extend(mp.iter().flat_map(|p| p.exterior().0.iter().copied()));
                }
            }
            points
                .into_iter()
                .map(|(d, coords)| {
                    let points: MultiPoint<f64> = coords.into_iter().map(geo::Point).collect();
                    (d.to_owned(), Arc::new(Geometry::Polygon(points.convex_hull())))
                })
                .collect()
        })
    }
}

/// The `districts` collection of a view: per district the coverage summary of each kind (and by
/// straight line too when `straight` is given); `None` when estates carry no district.
fn districts_layer(dataset: &Dataset, summary: &Summary, straight: Option<&Summary>, metric_value: &AttrValue, year_value: &AttrValue) -> Result<Option<Layer>, ServeError> {
    if summary.districts.is_empty() {
        return Ok(None);
    }
    let hulls = dataset.district_hulls();
    // Programme figures for the projects batched up to the view's year.
    let programme = dataset.programme.as_ref().map(|p| p.district_properties(match year_value {
        AttrValue::Int(y) => i32::try_from(*y).ok(),
        _ => None,
    }));
    let empty = || Arc::new(Geometry::Polygon(geo::Polygon::new(geo::LineString(Vec::new()), Vec::new())));
    let pending = summary
        .districts
        .iter()
        .map(|d| {
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
            if let Some(figures) = &programme {
                p.extend(figures.get(&d.district).cloned().unwrap_or_else(super::programme::ServedProgramme::empty_district_properties));
            }
            PendingFeature { id: FeatureId::Text(d.district.clone()), geometry: hulls.get(&d.district).cloned().unwrap_or_else(empty), properties: p }
        })
        .collect();
    Ok(Some(Layer::from_features(pending, "Polygon")?))
}

/// `geometry` converted by `transformer` (when given), axes swapped when `swap` (latitude-first
/// CRSs).
///
/// # Errors
/// [`ServeError::Internal`] when PROJ rejects a coordinate.
pub(crate) fn transform_geometry(geometry: &Geometry<f64>, transformer: Option<&Transformer>, swap: bool) -> Result<Geometry<f64>, ServeError> {
    let mut out = geometry.clone();
    if let Some(t) = transformer {
        let mut coords: Vec<Coord<f64>> = Vec::new();
        visit_coords(&mut out, &mut |c| coords.push(*c));
        t.apply(&mut coords).map_err(|e| ServeError::Internal(e.to_string()))?;
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

/// Bytes of a geometry's coordinates.
fn geometry_bytes(geometry: &Geometry<f64>) -> usize {
    use geo::CoordsIter as _;
    geometry.coords_count() * size_of::<Coord<f64>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facilities layer built column by column equals the one built from features with
    /// named properties (the former way): names, order, types and every rendered feature, with
    /// own properties that vary between facilities and one named like a built-in column.
    #[test]
    #[expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]
    fn the_facilities_layer_equals_one_built_from_features() {
        let catalogue = crate::io::catalogue::builtin_catalogue();
        let facilities: Vec<Facility> = (0..40)
            .map(|i: i64| Facility {
                id: if i % 7 == 0 { FeatureId::Text(format!("f{i}")) } else { FeatureId::Int(40 - i) },
                kind: KindId(u16::try_from(i % 3).unwrap()),
                name: (i % 2 == 0).then(|| format!("name {}", i % 5)),
                capacity: (i % 3 == 0).then_some(f64::from(u32::try_from(i).unwrap()) * 1.5),
                opened_year: (i % 4 != 0).then_some(2000 + i32::try_from(i).unwrap()),
                planned: i % 5 == 0,
                district: Some(format!("d{}", i % 2)),
                location: geo::point!(x: 121.4 + f64::from(u32::try_from(i).unwrap()) * 1e-3, y: 31.2),
                extra: match i % 4 {
                    0 => vec![("source".into(), AttrValue::Text("amap".into()))],
                    1 => vec![("beds".into(), AttrValue::Int(i)), ("name".into(), AttrValue::Text("own name".into()))],
                    _ => vec![],
                },
            })
            .collect();
        let to_crs84 = Transformer::to_crs84("EPSG:4326").unwrap();
        let built = build_facilities_layer(&facilities, &catalogue, &to_crs84).unwrap();
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
                let mut location = vec![f.location.0];
                to_crs84.apply(&mut location).unwrap();
                PendingFeature { id: f.id.clone(), geometry: Arc::new(Geometry::Point(geo::Point(location[0]))), properties: p }
            })
            .collect();
        let reference = Layer::from_features(pending, "Point").unwrap();
        let columns = |l: &Layer| l.columns.iter().map(|c| (c.name.clone(), c.kind)).collect::<Vec<_>>();
        assert_eq!(columns(&built), columns(&reference));
        let rows: Vec<u32> = (0..u32::try_from(facilities.len()).unwrap()).collect();
        assert_eq!(built.render(&rows, None).unwrap(), reference.render(&rows, None).unwrap());
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59Z");
    }
}
