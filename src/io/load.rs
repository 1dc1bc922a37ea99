//! Source → model: read, validate, map fields, reproject.
//!
//! Every feature either becomes an [`Estate`]/[`Facility`] or a [`Rejection`](super::Rejection)
//! with its file, index, id and reason. Checks, in order: geometry present; geometry type;
//! coordinates finite (and within ±180°/±90° for geographic CRSs); rings of at least 4
//! positions; polygon validity per OGC ([`crate::model::check_polygon`], a sweep: self-intersections,
//! holes outside the shell…). Invalid polygons are **rejected, not repaired**: an automatic repair changes an
//! estate's footprint and so its coverage, which a planner must decide. Then ids (unique, or
//! merged with `merge_by_id`), typed fields and the facility kind.

use std::borrow::Cow;
use std::collections::hash_map::{Entry, HashMap};

use rayon::prelude::*;
use std::path::{Path, PathBuf};

use geo::{BoundingRect, Coord, Geometry, MultiPolygon, Point, Rect};

use super::crs::{self, CrsSpec, Transformer};
use super::gdal::{GdalSource, OsmRole};
use super::geojson::GeoJsonSource;
use super::postgis::{self, redact_path, PostgisSource};
use super::{FeatureSource, LoadError, LoadReport, RawFeature, SourceInfo};
use crate::config::SourceConfig;
use crate::model::{check_polygon, AttrValue, Attributes, Catalogue, Estate, Facility, FeatureId, KindId, PolygonProblem};

/// Feature ids to something, hashed with foldhash: SipHash over a million facility ids cost
/// about 0.2 CPU-s of the 300k × 1M bench's load (perf).
type IdMap<V> = HashMap<FeatureId, V, foldhash::fast::RandomState>;

/// Options shared by all sources of one load.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// Facility kinds and their OSM/AMap mappings.
    pub catalogue: &'a Catalogue,
    /// CRS for sources that declare none and set none in the config (`--crs`).
    pub default_crs: Option<&'a str>,
    /// Working CRS; `None` or `"auto"` chooses one from the estates' extent.
    pub working_crs: Option<&'a str>,
}

/// The loaded, validated, reprojected data.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Estates sorted by id, geometry in the working CRS.
    pub estates: Vec<Estate>,
    /// Facilities, location in the working CRS.
    pub facilities: Vec<Facility>,
    /// The working CRS used (`EPSG:4547`…).
    pub working_crs: String,
    /// The CRS the estates were read in (what a PostGIS output writes them back in).
    pub estates_crs: CrsSpec,
    /// Rejections and warnings.
    pub report: LoadReport,
}

/// Which role a source plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Estates,
    Facilities,
}

/// Loads estates and facilities.
///
/// `progress` receives a short message at each stage.
///
/// # Errors
/// Whole-source failures ([`LoadError`]); per-feature problems are in [`Loaded::report`].
pub fn load(
    estates: &SourceConfig,
    facilities: &[SourceConfig],
    options: &LoadOptions<'_>,
    progress: &dyn Fn(&str),
) -> Result<Loaded, LoadError> {
    load_with_planned(estates, facilities, &[], options, progress)
}

/// [`load`], with planned facilities (a what-if scenario: `--planned`, `[[planned]]`) read from
/// `planned` after the built ones, through the same checks, kind mapping and id uniqueness (a
/// planned facility may not reuse a built one's id). They come out after the built facilities
/// with [`Facility::planned`] set; one without an `opened_year` is given the current year, so it
/// counts from now on (and not in analyses of past years).
///
/// # Errors
/// Whole-source failures ([`LoadError`]); per-feature problems are in [`Loaded::report`].
pub fn load_with_planned(
    estates: &SourceConfig,
    facilities: &[SourceConfig],
    planned: &[SourceConfig],
    options: &LoadOptions<'_>,
    progress: &dyn Fn(&str),
) -> Result<Loaded, LoadError> {
    let all: Vec<SourceConfig>;
    let (facilities, planned_from) = if planned.is_empty() {
        (facilities, facilities.len())
    } else {
        all = facilities.iter().chain(planned).cloned().collect();
        (all.as_slice(), facilities.len())
    };
    let started = std::time::Instant::now();
    let progress = |message: &str| {
        crate::diag::log_stage(started, message);
        progress(message);
    };

    // Facilities need the estates only for the working CRS, so all but their reprojection runs
    // on a second thread while the estates load here: each file's JSON scan is single-threaded,
    // so one file at a time left a core idle. A plain thread, not `rayon::join`: the readers
    // block on channels while their batches parse on the rayon pool, so two scans on the pool's
    // workers could starve the parsing they wait for.
    let mut names = vec![redact_path(&estates.path).display().to_string()];
    names.extend(facilities.iter().map(|s| redact_path(&s.path).display().to_string()));
    progress(&format!("reading {}", names.join(", ")));
    let (estate_side, facility_side) = std::thread::scope(|scope| {
        let facility_reader = scope.spawn(|| {
            let read = read_facilities(facilities, planned_from, options);
            crate::diag::log_stage(started, "facilities read");
            read
        });
        let estate_side = load_estates(estates, options, &progress);
        let facility_side = facility_reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (estate_side, facility_side)
    });
    let (estate_list, working_crs, estates_crs, mut report) = estate_side?;

    // The report as a sequential load writes it: the estates', then each facility source's.
    let FacilitiesRead { facilities: mut facility_list, report: facility_report, sources, error } = facility_side;
    report.rejected.extend(facility_report.rejected);
    report.warnings.extend(facility_report.warnings);
    progress("reprojecting facilities");
    let mut first = 0;
    for (source, (end, crs)) in facilities.iter().zip(sources) {
        let batch = &mut facility_list[first..end];
        // Gathered and put back in parallel (0.14 -> 0.07 s for a million facilities).
        let mut coords: Vec<Coord<f64>> = batch.par_iter().map(|f| f.location.0).collect();
        Transformer::new(&crs, &working_crs)?.apply(&mut coords)?;
        batch.par_iter_mut().zip(coords).for_each(|(f, c)| f.location = Point(c));
        report.accepted.push((redact_path(&source.path), batch.len()));
        first = end;
    }
    // A source that failed to read fails the load after the sources before it, as when read in turn.
    if let Some(error) = error {
        return Err(error);
    }

    Ok(Loaded { estates: estate_list, facilities: facility_list, working_crs, estates_crs, report })
}

/// Loads point features from `source` the way facilities load (ids, fields, kind mapping,
/// per-feature rejections) and reprojects them into `working_crs`: candidate sites for
/// `gapmap plan`, trial locations. `source.kind` should name the kind they stand for.
///
/// # Errors
/// Whole-source failures; per-feature problems are in the returned report.
pub fn load_points(source: &SourceConfig, options: &LoadOptions<'_>, working_crs: &str) -> Result<(Vec<Facility>, LoadReport), LoadError> {
    let FacilitiesRead { facilities: mut points, mut report, sources, error } = read_facilities(std::slice::from_ref(source), 1, options);
    if let Some(error) = error {
        return Err(error);
    }
    if let Some((_, crs)) = sources.into_iter().next() {
        let mut coords: Vec<Coord<f64>> = points.iter().map(|f| f.location.0).collect();
        Transformer::new(&crs, working_crs)?.apply(&mut coords)?;
        for (f, c) in points.iter_mut().zip(coords) {
            f.location = Point(c);
        }
    }
    report.accepted.push((redact_path(&source.path), points.len()));
    Ok((points, report))
}

/// Reads, validates, de-duplicates and reprojects the estates, choosing the working CRS from
/// their extent unless the options name one. Returns them, the working CRS, the CRS they were
/// read in and their report.
fn load_estates(
    estates: &SourceConfig,
    options: &LoadOptions<'_>,
    progress: &dyn Fn(&str),
) -> Result<(Vec<Estate>, String, CrsSpec, LoadReport), LoadError> {
    let mut report = LoadReport::default();
    let (estate_chunks, estate_source) =
        read_converted(estates, Role::Estates, options, &mut report, &|raw| estate_from_raw(raw, estates))?;
    let mut estate_parts: Vec<(usize, Estate)> = Vec::with_capacity(estate_chunks.iter().map(Vec::len).sum());
    estate_parts.extend(estate_chunks.into_iter().flatten().filter_map(|(index, result)| {
            let estate = result.map_err(|(id, reason)| report.reject(&estates.path, index, id, reason)).ok()?;
            let in_range = !estate_source.geographic || {
                let coords = estate.geometry.0.iter().flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors())).flat_map(|r| r.0.iter());
                check_coords(coords, true).map_err(|reason| report.reject(&estates.path, index, Some(estate.id.to_string()), reason)).is_ok()
            };
            in_range.then_some((index, estate))
        }));
    estate_parts.sort_by_key(|(index, _)| *index);
    progress("checking estates");
    let mut estate_list = dedupe_estates(estate_parts, estates, &mut report);
    let estate_bbox = bbox_of(estate_list.iter().map(|e| e.geometry.bounding_rect()));
    if let Some(w) = estate_bbox.and_then(|b| crs::extent_warning(&estate_source.crs, b)) {
        report.warn(format!("{}: {w}", estates.path.display()));
    }

    let working_crs = match options.working_crs.map(str::trim) {
        Some(w) if !w.is_empty() && !w.eq_ignore_ascii_case("auto") => w.to_owned(),
        _ => {
            let Some(b) = estate_bbox else {
                let shown = redact_path(&estates.path);
                let rejected = report.rejected.iter().filter(|r| r.file == shown).cloned().collect();
                return Err(LoadError::NoEstates { path: shown, rejected });
            };
            let mut centre = [b.center()];
            Transformer::new(&estate_source.crs, "EPSG:4326")?.apply(&mut centre)?;
            crs::working_crs_for(centre[0])
        }
    };

    progress("reprojecting estates");
    let to_working = Transformer::new(&estate_source.crs, &working_crs)?;
    transform_estates(&mut estate_list, &to_working)?;
    report.accepted.push((redact_path(&estates.path), estate_list.len()));
    Ok((estate_list, working_crs, estate_source.crs, report))
}

/// The facility sources read, validated and de-duplicated, still in their source CRSs.
struct FacilitiesRead {
    /// Every source's accepted facilities, source after source.
    facilities: Vec<Facility>,
    /// Rejections and warnings; `accepted` stays empty until the facilities are reprojected.
    report: LoadReport,
    /// Per source read: where its facilities end in `facilities`, and its CRS.
    sources: Vec<(usize, CrsSpec)>,
    /// The failure that stopped reading at the source after those in `sources`.
    error: Option<LoadError>,
}

/// Reads the facility sources in order, until one fails; those from `planned_from` on are planned.
fn read_facilities(facilities: &[SourceConfig], planned_from: usize, options: &LoadOptions<'_>) -> FacilitiesRead {
    let mut read = FacilitiesRead { facilities: Vec::new(), report: LoadReport::default(), sources: Vec::new(), error: None };
    // First occurrence of each id: (source number, feature index).
    let mut seen_ids: IdMap<(usize, usize)> = IdMap::default();
    let context = FacilityContext { options, qualify_fallback_ids: facilities.len() > 1, sources: facilities, planned_from, current_year: current_year() };
    for number in 0..facilities.len() {
        match read_facility_source(number, &context, &mut seen_ids, &mut read.report, &mut read.facilities) {
            Ok(crs) => read.sources.push((read.facilities.len(), crs)),
            Err(e) => {
                read.error = Some(e);
                break;
            }
        }
    }
    read
}

/// What every facility source of one load shares.
struct FacilityContext<'a> {
    options: &'a LoadOptions<'a>,
    /// Several sources: ids that came from row numbers are prefixed with the file stem.
    qualify_fallback_ids: bool,
    /// Every facility source, to name the one an id was first seen in.
    sources: &'a [SourceConfig],
    /// Sources from this position on hold planned facilities.
    planned_from: usize,
    /// The opening year of planned facilities that give none.
    current_year: i32,
}

/// The current calendar year (UTC), from the system clock.
fn current_year() -> i32 {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let days = i64::try_from(days).expect("days since 1970 fit i64");
    // Howard Hinnant's days-from-civil inverse: the year of a day count since 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    i32::try_from(year).expect("a calendar year")
}

/// Reads, validates and de-duplicates (across sources, via `seen_ids`) one facility source into
/// `out`, still in the source's CRS, which it returns.
fn read_facility_source(
    number: usize,
    context: &FacilityContext<'_>,
    seen_ids: &mut IdMap<(usize, usize)>,
    report: &mut LoadReport,
    out: &mut Vec<Facility>,
) -> Result<CrsSpec, LoadError> {
    let source = &context.sources[number];
    let osm = is_osm(&source.path);
    let (mut converted, read) = read_converted(source, Role::Facilities, context.options, report, &|raw| {
        facility_from_raw(raw, source, osm, context.options.catalogue)
    })?;
    // Per-feature checks in parallel, in place: coordinates in range, fallback ids qualified,
    // planned facilities marked.
    let stem = match postgis::PgUri::parse(&source.path.to_string_lossy()).ok().and_then(|u| u.selection) {
        Some(postgis::Selection::Table { name, .. }) => name,
        Some(postgis::Selection::Query(_)) => "query".to_owned(),
        None => source.path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
    };
    let planned = number >= context.planned_from;
    converted.par_iter_mut().flat_map_iter(|chunk| chunk.iter_mut()).for_each(|(_, result)| {
        if let Ok((f, fallback)) = result {
            if planned {
                f.planned = true;
                f.opened_year = f.opened_year.or(Some(context.current_year));
            }
            if read.geographic {
                if let Err(reason) = check_coords(std::iter::once(&f.location.0), true) {
                    *result = Err((Some(f.id.to_string()), FacilityProblem::Invalid(reason)));
                    return;
                }
            }
            if *fallback && context.qualify_fallback_ids {
                f.id = FeatureId::Text(format!("{stem}:{}", f.id));
            }
        }
    });
    // Duplicates and the report, in source order (one thread: the first occurrence wins).
    let count = converted.iter().map(Vec::len).sum();
    seen_ids.reserve(count);
    let mut unmatched_osm = 0usize;
    let mut fallback_ids = 0usize;
    for (index, result) in converted.iter_mut().flat_map(|chunk| chunk.iter_mut()) {
        match result {
            Ok((f, id_from_fallback)) => {
                fallback_ids += usize::from(*id_from_fallback);
                match seen_ids.entry(f.id.clone()) {
                    Entry::Occupied(first) => {
                        let &(first_source, first_index) = first.get();
                        let reason = format!("duplicate facility id {} (first at {} feature {first_index})", f.id, context.sources[first_source].path.display());
                        report.reject(&source.path, *index, Some(f.id.to_string()), reason);
                        *result = Err((None, FacilityProblem::Reported));
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((number, *index));
                    }
                }
            }
            Err((_, FacilityProblem::NoKindOsm)) => unmatched_osm += 1,
            Err((id, FacilityProblem::Invalid(reason))) => report.reject(&source.path, *index, id.take(), std::mem::take(reason)),
            Err((_, FacilityProblem::Reported)) => {}
        }
    }
    // The accepted facilities moved to `out` in parallel, in order: one at a time this move was
    // a tenth of a second on the 1,000,000-facility bench, with the facility thread otherwise idle.
    let first = out.len();
    out.par_extend(converted.into_par_iter().flat_map_iter(|chunk| chunk.into_iter().filter_map(|(_, result)| result.ok().map(|(f, _)| f))));
    if unmatched_osm > 0 {
        report.warn(format!("{}: {unmatched_osm} OSM features match no catalogue kind's `osm` tags and were skipped", source.path.display()));
    }
    if fallback_ids > 0 {
        report.warn(format!("{}: {fallback_ids} facilities have no `{}` value; their feature id or position is used as id", source.path.display(), source.fields.get("id")));
    }
    // In parallel: sequentially, 0.04 s of the 1,000,000-facility bench with the other core idle.
    let bbox = out[first..]
        .par_chunks(65_536)
        .map(|chunk| bbox_of(chunk.iter().map(|f| Some(Rect::new(f.location.0, f.location.0)))))
        .reduce(|| None, |a, b| bbox_of([a, b].into_iter()));
    if let Some(w) = bbox.and_then(|b| crs::extent_warning(&read.crs, b)) {
        report.warn(format!("{}: {w}", source.path.display()));
    }
    Ok(read.crs)
}

/// What a read learned about its source.
struct ReadMeta {
    crs: CrsSpec,
    geographic: bool,
}

#[expect(clippy::case_sensitive_file_extension_comparisons, reason = "the name is lowercased first")]
pub(super) fn is_osm(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.ends_with(".pbf") || name.ends_with(".osm")
}

/// Raw features are converted in chunks of this many, in parallel, so a million raw features
/// (with their property lists) never sit in memory at once.
const CONVERT_CHUNK: usize = 32_768;

/// Converted features in source order, as `(index, result)` per chunk of at most
/// [`CONVERT_CHUNK`]; a failed conversion carries the feature's id for messages.
type Converted<T, E> = Vec<Vec<(usize, Result<T, (Option<String>, E)>)>>;

/// Reads a source and converts each feature with `convert`, in parallel per chunk.
#[expect(clippy::case_sensitive_file_extension_comparisons, reason = "the name is lowercased first")]
fn read_converted<T: Send, E: Send>(
    source: &SourceConfig,
    role: Role,
    options: &LoadOptions<'_>,
    report: &mut LoadReport,
    convert: &(dyn Fn(RawFeature) -> Result<T, (Option<String>, E)> + Sync),
) -> Result<(Converted<T, E>, ReadMeta), LoadError> {
    let name = source.path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let osm = is_osm(&source.path);
    let mut reader: Box<dyn FeatureSource> = if postgis::is_uri(&source.path) {
        Box::new(PostgisSource::from_uri(&source.path)?)
    } else if name.ends_with(".geojson") || name.ends_with(".json") {
        Box::new(GeoJsonSource::new(&source.path))
    } else if osm {
        Box::new(GdalSource {
            path: source.path.clone(),
            layer: None,
            lonlat_fields: None,
            osm: Some(match role {
                Role::Estates => OsmRole::Estates,
                Role::Facilities => OsmRole::Facilities,
            }),
        })
    } else if name.ends_with(".csv") {
        let lonlat = csv_lonlat_fields(source)?;
        Box::new(GdalSource { path: source.path.clone(), layer: source.layer.clone(), lonlat_fields: Some(lonlat), osm: None })
    } else if [".gpkg", ".shp", ".fgb", ".gml", ".kml", ".sqlite", ".shz", ".zip"].iter().any(|e| name.ends_with(e)) || source.path.is_dir() {
        Box::new(GdalSource { path: source.path.clone(), layer: source.layer.clone(), lonlat_fields: None, osm: None })
    } else {
        return Err(LoadError::UnsupportedFormat { path: source.path.clone() });
    };

    // One exactly sized vector per chunk: growing one vector of a million converted features
    // copied it whole at every doubling (measured: 0.3 CPU-s of the 300k × 1M bench's load).
    let mut converted: Converted<T, E> = Vec::new();
    let mut buffer: Vec<RawFeature> = Vec::with_capacity(CONVERT_CHUNK);
    let flush = |buffer: &mut Vec<RawFeature>, converted: &mut Converted<T, E>| {
        if !buffer.is_empty() {
            converted.push(buffer.par_drain(..).map(|raw| (raw.index, convert(raw))).collect());
        }
    };
    let mut filtered_out = 0usize;
    let info: SourceInfo = reader.read(report, &mut |f| {
        if matches_filter(&f, &source.filter) {
            buffer.push(f);
            if buffer.len() == CONVERT_CHUNK {
                flush(&mut buffer, &mut converted);
            }
        } else {
            filtered_out += 1;
        }
    })?;
    flush(&mut buffer, &mut converted);
    if filtered_out > 0 {
        report.warn(format!("{}: {filtered_out} features do not match the source's filter and were skipped", source.path.display()));
    }
    let crs_text = match (&info.declared_crs, &source.crs, options.default_crs) {
        (Some(declared), _, _) => declared.clone(),
        (None, Some(configured), _) => configured.clone(),
        (None, None, Some(cli)) => cli.to_owned(),
        (None, None, None) => {
            if info.format != "GeoJSON" && !osm {
                report.warn(format!("{} declares no CRS; assuming CRS84 (WGS84 lon/lat). Set `crs` for this source if that is wrong", source.path.display()));
            }
            "CRS84".to_owned()
        }
    };
    // Name the file: a bad CRS is a whole-source problem the user fixes in that file or source.
    let crs: CrsSpec = crs_text.parse().map_err(|e| match e {
        LoadError::Crs { crs, message } => LoadError::Crs { crs, message: format!("{message} (the CRS of {})", redact_path(&source.path).display()) },
        other => other,
    })?;
    let geographic = crs.is_geographic();
    Ok((converted, ReadMeta { crs, geographic }))
}

fn matches_filter(raw: &RawFeature, filter: &std::collections::BTreeMap<String, String>) -> bool {
    filter.iter().all(|(key, wanted)| match raw.property(key) {
        Some(AttrValue::Text(v)) => v == wanted,
        Some(AttrValue::Null) | None => false,
        Some(other) => other.to_string() == *wanted,
    })
}

fn csv_lonlat_fields(source: &SourceConfig) -> Result<(String, String), LoadError> {
    if let (Some(lon), Some(lat)) = (&source.lon_field, &source.lat_field) {
        return Ok((lon.clone(), lat.clone()));
    }
    // Only the header line is read: the file may be gigabytes.
    let read_error = |e| LoadError::Read { path: source.path.clone(), source: e };
    let file = std::fs::File::open(&source.path).map_err(read_error)?;
    let mut first = Vec::new();
    std::io::BufRead::read_until(&mut std::io::Read::take(std::io::BufReader::new(file), 1 << 20), b'\n', &mut first).map_err(read_error)?;
    let text = first.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&first);
    let header = String::from_utf8_lossy(text.strip_suffix(b"\n").unwrap_or(text)).into_owned();
    let columns: Vec<String> = header.split(',').map(|c| c.trim().trim_matches('"').to_owned()).collect();
    let find = |configured: &Option<String>, candidates: &[&str]| {
        configured.clone().or_else(|| {
            columns.iter().find(|c| candidates.iter().any(|k| c.eq_ignore_ascii_case(k))).cloned()
        })
    };
    let lon = find(&source.lon_field, &["lon", "lng", "longitude", "x", "经度"]);
    let lat = find(&source.lat_field, &["lat", "latitude", "y", "纬度"]);
    match (lon, lat) {
        (Some(lon), Some(lat)) => Ok((lon, lat)),
        _ => Err(LoadError::NotGeoJson {
            path: source.path.clone(),
            message: format!("no longitude/latitude columns found among [{}]; set lon_field and lat_field for this source", columns.join(", ")),
        }),
    }
}

fn raw_id(raw: &RawFeature, source: &SourceConfig) -> Option<String> {
    raw.property(source.fields.get("id"))
        .filter(|v| **v != AttrValue::Null)
        .map(ToString::to_string)
        .or_else(|| raw.fid.as_ref().map(ToString::to_string))
}

fn feature_id(raw: &RawFeature, source: &SourceConfig) -> Result<Option<FeatureId>, String> {
    let field = source.fields.get("id");
    match raw.property(field) {
        None | Some(AttrValue::Null) => Ok(raw.fid.clone()),
        Some(AttrValue::Int(n)) => Ok(Some(FeatureId::Int(*n))),
        #[expect(clippy::cast_possible_truncation, reason = "only integral values in i64 range take this arm")]
        Some(AttrValue::Float(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Some(FeatureId::Int(*x as i64))),
        Some(AttrValue::Text(s)) if !s.trim().is_empty() => Ok(Some(FeatureId::parse(s.trim()))),
        Some(other) => Err(format!("`{field}` is `{other}`, which cannot be an id")),
    }
}

/// A property as trimmed text, borrowed when it is text; `None` when absent, null or blank.
fn text_field<'r>(raw: &'r RawFeature, field: &str) -> Option<Cow<'r, str>> {
    match raw.property(field)? {
        AttrValue::Null => None,
        AttrValue::Text(s) if s.trim().is_empty() => None,
        AttrValue::Text(s) => Some(Cow::Borrowed(s.trim())),
        other => Some(Cow::Owned(other.to_string())),
    }
}

fn number_field(raw: &RawFeature, field: &str) -> Result<Option<f64>, String> {
    let value = match raw.property(field) {
        None | Some(AttrValue::Null) => return Ok(None),
        Some(AttrValue::Text(s)) if s.trim().is_empty() => return Ok(None),
        #[expect(clippy::cast_precision_loss, reason = "field values are far below 2^52")]
        Some(AttrValue::Int(n)) => *n as f64,
        Some(AttrValue::Float(x)) => *x,
        Some(AttrValue::Text(s)) => s.trim().parse::<f64>().map_err(|_| format!("`{field}` is `{s}`, not a number"))?,
        Some(other) => return Err(format!("`{field}` is `{other}`, not a number")),
    };
    if value.is_finite() {
        Ok(Some(value))
    } else {
        Err(format!("`{field}` is {value}, not a finite number"))
    }
}

#[expect(clippy::cast_possible_truncation, reason = "range-checked before the cast")]
fn int_field(raw: &RawFeature, field: &str, min: f64, max: f64) -> Result<Option<i64>, String> {
    match number_field(raw, field)? {
        None => Ok(None),
        Some(x) if x.fract() != 0.0 => Err(format!("`{field}` is {x}, not a whole number")),
        Some(x) if x < min || x > max => Err(format!("`{field}` is {x}, outside {min}..={max}")),
        Some(x) => Ok(Some(x as i64)),
    }
}

fn year_field(raw: &RawFeature, field: &str) -> Result<Option<i32>, String> {
    Ok(int_field(raw, field, 1000.0, 3000.0)?.map(|y| i32::try_from(y).expect("range-checked")))
}

/// Removes a text property and returns it trimmed, `None` when absent, null or blank.
fn take_text(raw: &mut RawFeature, field: &str) -> Option<String> {
    let position = raw.properties.iter().position(|(k, _)| k == field)?;
    match raw.properties.remove(position).1 {
        AttrValue::Null => None,
        AttrValue::Text(s) if s.trim().is_empty() => None,
        AttrValue::Text(s) if s.trim().len() == s.len() => Some(s),
        AttrValue::Text(s) => Some(s.trim().to_owned()),
        other => Some(other.to_string()),
    }
}

/// The feature's properties without the mapped ones, in source order.
fn remaining_properties(raw: RawFeature, mapped: &[&str]) -> Attributes {
    let mut properties = raw.properties;
    properties.retain(|(k, _)| !mapped.contains(&k.as_str()));
    // Kept for the life of the feature: without the parser's spare capacity (a million
    // facilities whose properties were all mapped would otherwise hold ~450 MB of nothing).
    properties.shrink_to_fit();
    properties
}

/// A coordinate in a message: as written for everyday values, in exponent form for huge ones
/// (1e308 written out is 309 digits).
struct Short(f64);

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.abs() >= 1e9 {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

pub(super) fn check_coords<'a>(coords: impl Iterator<Item = &'a Coord<f64>>, geographic: bool) -> Result<(), String> {
    for c in coords {
        if !(c.x.is_finite() && c.y.is_finite()) {
            return Err(format!("coordinate ({}, {}) is not finite", c.x, c.y));
        }
        if geographic && (c.x.abs() > 180.0 || c.y.abs() > 90.0) {
            return Err(format!(
                "coordinate ({}, {}) is outside lon -180..180 / lat -90..90{}",
                Short(c.x),
                Short(c.y),
                if c.y.abs() > 90.0 && c.x.abs() <= 90.0 { " (latitude and longitude swapped?)" } else { "; is the CRS right?" }
            ));
        }
    }
    Ok(())
}

fn estate_geometry(geometry: Option<Geometry<f64>>) -> Result<MultiPolygon<f64>, String> {
    let mp = match geometry {
        None => return Err("missing or null geometry".to_owned()),
        Some(Geometry::Polygon(p)) => MultiPolygon(vec![p]),
        Some(Geometry::MultiPolygon(mp)) => mp,
        Some(other) => return Err(format!("wrong geometry type {}: estates must be Polygon or MultiPolygon", geometry_name(&other))),
    };
    if mp.0.is_empty() || mp.0.iter().all(|p| p.exterior().0.is_empty()) {
        return Err("empty geometry".to_owned());
    }
    for (i, polygon) in mp.0.iter().enumerate() {
        let part = if mp.0.len() > 1 { format!("polygon {i}: ") } else { String::new() };
        for (r, ring) in std::iter::once(polygon.exterior()).chain(polygon.interiors()).enumerate() {
            check_coords(ring.0.iter(), false).map_err(|e| format!("{part}{e}"))?;
            let ring_name = if r == 0 { "exterior ring".to_owned() } else { format!("hole {r}") };
            if ring.0.len() < 4 {
                return Err(format!("{part}{ring_name} has {} positions; a ring needs at least 4 (3 corners and the closing position)", ring.0.len()));
            }

        }
        // O(n log n) (a sweep; `geo::Validation` compares every pair of segments: 82 s for one
        // 60,000-vertex estate).
        match check_polygon(polygon) {
            Ok(()) => {}
            Err(problem @ PolygonProblem::Degenerate { .. }) => return Err(format!("{part}{problem}")),
            Err(problem) => {
                return Err(format!("{part}invalid polygon: {problem}; fix it (e.g. QGIS \"Fix geometries\" or ST_MakeValid) and reload"));
            }
        }
    }
    Ok(mp)
}

pub(super) fn geometry_name(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) | Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
    }
}

fn estate_from_raw(mut raw: RawFeature, source: &SourceConfig) -> Result<Estate, (Option<String>, String)> {
    let f = &source.fields;
    let checked = (|| {
        let id = feature_id(&raw, source)?.ok_or_else(|| format!("no id: the `{}` property is missing; map the id field with [estates.fields] id = \"…\"", f.get("id")))?;
        let geometry = estate_geometry(raw.geometry.take())?;
        let households = int_field(&raw, f.get("households"), 0.0, f64::from(u32::MAX))?.map(|h| u32::try_from(h).expect("range-checked"));
        Ok((id, geometry, households, year_field(&raw, f.get("built_year"))?, year_field(&raw, f.get("renovation_year"))?))
    })();
    let (id, geometry, households, built_year, renovation_year) = checked.map_err(|reason| (raw_id(&raw, source), reason))?;
    // Mapped fields are moved out; whatever remains passes through as extra properties.
    let name = take_text(&mut raw, f.get("name"));
    let district = take_text(&mut raw, f.get("district"));
    let extra = remaining_properties(raw, &[f.get("id"), f.get("households"), f.get("built_year"), f.get("renovation_year")]);
    Ok(Estate { id, name, district, households, built_year, renovation_year, geometry, extra })
}

/// Rejects duplicate ids, or merges them when the source says pieces share ids; sorts by id.
fn dedupe_estates(parts: Vec<(usize, Estate)>, source: &SourceConfig, report: &mut LoadReport) -> Vec<Estate> {
    let mut by_id: IdMap<usize> = IdMap::with_capacity_and_hasher(parts.len(), foldhash::fast::RandomState::default());
    let mut out: Vec<(usize, Estate)> = Vec::with_capacity(parts.len());
    for (index, estate) in parts {
        match by_id.entry(estate.id.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push((index, estate));
            }
            Entry::Occupied(seen) if source.merge_by_id => {
                let pos = *seen.get();
                let first = &mut out[pos].1;
                first.geometry.0.extend(estate.geometry.0);
                first.name = first.name.take().or(estate.name);
                first.district = first.district.take().or(estate.district);
                first.households = first.households.or(estate.households);
                first.built_year = first.built_year.or(estate.built_year);
                first.renovation_year = first.renovation_year.or(estate.renovation_year);
            }
            Entry::Occupied(seen) => report.reject(
                &source.path,
                index,
                Some(estate.id.to_string()),
                format!("duplicate estate id {} (first at feature {}); set merge_by_id = true if the pieces form one estate", estate.id, out[*seen.get()].0),
            ),
        }
    }
    let mut estates: Vec<Estate> = out.into_iter().map(|(_, e)| e).collect();
    estates.sort_by(|a, b| a.id.cmp(&b.id));
    estates
}

fn bbox_of(rects: impl Iterator<Item = Option<Rect<f64>>>) -> Option<Rect<f64>> {
    rects.flatten().reduce(|a, b| {
        Rect::new(
            Coord { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
            Coord { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
        )
    })
}

fn transform_estates(estates: &mut [Estate], transformer: &Transformer) -> Result<(), LoadError> {
    // Chunks of estates in parallel, each flattened and put back by its own task: flattening all
    // estates on one thread took half of the 0.56 s this stage took on the 300,000-estate bench.
    estates.par_chunks_mut(ESTATES_PER_TRANSFORM).try_for_each(|chunk| {
        let mut coords = super::coords::flatten(chunk.iter().map(|e| &e.geometry));
        transformer.apply(&mut coords)?;
        super::coords::unflatten(chunk.iter_mut().map(|e| &mut e.geometry), coords);
        Ok(())
    })
}

/// Estates reprojected per parallel task (about 10,000 coordinates).
const ESTATES_PER_TRANSFORM: usize = 1_024;

enum FacilityProblem {
    /// An OSM feature that is not any catalogue kind: expected, counted, not an error.
    NoKindOsm,
    Invalid(String),
    /// Rejected and reported already (a duplicate id).
    Reported,
}

impl From<String> for FacilityProblem {
    fn from(s: String) -> Self {
        Self::Invalid(s)
    }
}

fn facility_from_raw(
    mut raw: RawFeature,
    source: &SourceConfig,
    osm: bool,
    catalogue: &Catalogue,
) -> Result<(Facility, bool), (Option<String>, FacilityProblem)> {
    let f = &source.fields;
    let checked = (|| {
        let kind = if osm {
            osm_kind(&raw, catalogue).ok_or(FacilityProblem::NoKindOsm)?
        } else {
            resolve_kind(&raw, source, catalogue)?
        };
        let location = match raw.geometry.as_ref() {
            None => return Err("missing or null geometry".to_owned().into()),
            Some(Geometry::Point(p)) => *p,
            Some(Geometry::MultiPoint(mp)) if mp.0.len() == 1 => mp.0[0],
            Some(Geometry::MultiPoint(mp)) if mp.0.is_empty() => return Err("empty geometry".to_owned().into()),
            Some(other) => return Err(format!("wrong geometry type {}: facilities must be Points", geometry_name(other)).into()),
        };
        check_coords(std::iter::once(&location.0), false)?;
        let (id, fallback) = match feature_id(&raw, source)? {
            Some(id) => (id, raw.property(f.get("id")).is_none_or(|v| *v == AttrValue::Null)),
            None => (FeatureId::Int(i64::try_from(raw.index).unwrap_or(i64::MAX)), true),
        };
        let capacity = number_field(&raw, f.get("capacity"))?;
        if let Some(c) = capacity.filter(|c| *c < 0.0) {
            return Err(format!("`{}` is {c}; capacity cannot be negative", f.get("capacity")).into());
        }
        Ok((kind, location, id, fallback, capacity, year_field(&raw, f.get("opened_year"))?))
    })();
    let (kind, location, id, fallback, capacity, opened_year) =
        checked.map_err(|problem: FacilityProblem| (raw_id(&raw, source), problem))?;
    // Mapped fields are moved out; whatever remains passes through as extra properties.
    let name = take_text(&mut raw, f.get("name"));
    let district = take_text(&mut raw, f.get("district"));
    let mapped: &[&str] = if source.kind.is_some() || osm { &[f.get("id"), f.get("capacity"), f.get("opened_year")] } else { &[f.get("id"), f.get("kind"), f.get("capacity"), f.get("opened_year")] };
    let extra = remaining_properties(raw, mapped);
    Ok((Facility { id, kind, name, capacity, opened_year, planned: false, district, location, extra }, fallback))
}

fn resolve_kind(raw: &RawFeature, source: &SourceConfig, catalogue: &Catalogue) -> Result<KindId, String> {
    if let Some(constant) = &source.kind {
        return catalogue.require_kind(constant).map_err(|e| e.to_string());
    }
    let field = source.fields.get("kind");
    // Borrowed when the value is text (nearly always): an allocation per facility otherwise.
    let value = text_field(raw, field).ok_or_else(|| format!("no kind: the `{field}` property is missing; map it with [facilities.fields] kind = \"…\" or set kind = \"…\" for the source"))?;
    let value = &*value;
    if let Some(mapped) = source.kind_values.get(value) {
        return catalogue.require_kind(mapped).map_err(|e| format!("kind_values maps `{value}` to an {e}"));
    }
    if let Some(id) = catalogue.kind_id(value) {
        return Ok(id);
    }
    // AMap type codes (`141204`, or several joined by `|`), then name keywords (`…;学校;幼儿园`).
    for (k, spec) in catalogue.kinds.iter().enumerate() {
        let id = KindId(u16::try_from(k).expect("validated catalogue"));
        if value.split('|').any(|code| spec.amap_types.iter().any(|t| code.trim().starts_with(t.as_str()))) {
            return Ok(id);
        }
    }
    for (k, spec) in catalogue.kinds.iter().enumerate() {
        if spec.keywords.iter().any(|w| value.contains(w.as_str())) {
            return Ok(KindId(u16::try_from(k).expect("validated catalogue")));
        }
    }
    Err(format!(
        "unknown kind `{value}`; map it with [facilities.kind_values] \"{value}\" = \"…\" (known: {})",
        catalogue.keys().collect::<Vec<_>>().join(", ")
    ))
}

/// The first catalogue kind whose `osm` tag set all match the feature's tags.
fn osm_kind(raw: &RawFeature, catalogue: &Catalogue) -> Option<KindId> {
    catalogue.kinds.iter().enumerate().find_map(|(k, spec)| {
        let matches = spec.osm.iter().any(|set| {
            set.split(';').all(|pair| match pair.split_once('=') {
                Some((key, value)) => matches!(raw.property(key.trim()), Some(AttrValue::Text(v)) if v == value.trim()),
                None => raw.property(pair.trim()).is_some(),
            })
        });
        matches.then(|| KindId(u16::try_from(k).expect("validated catalogue")))
    })
}

/// Path of the load report written beside an output file (`out.csv` → `out.load-report.json`).
#[must_use]
pub fn report_path_for(output: &Path) -> PathBuf {
    let stem = output.file_stem().map_or_else(|| "gapmap".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}.load-report.json"))
}
