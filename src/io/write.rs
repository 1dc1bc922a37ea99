//! Writing results: CSV rows, GeoJSON / FlatGeobuf / GeoPackage estates, JSON summaries.
//!
//! Every file is written to a hidden temporary name in the target directory (`.<name>.tmp-<pid>`),
//! synced and renamed into place, so an interrupted run never leaves half a file behind; the
//! temporaries of runs killed before their rename are removed by the next write of the target.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use geo::Geometry;
use rayon::prelude::*;
use serde::Serialize;

use super::crs::Transformer;
use super::WriteError;
use super::network::NetworkSummary;
use crate::analysis::{AccessDecay, Accessibility, CoverageTable, MetricKind, Summary};
use crate::model::{AttrValue, Attributes, Catalogue, Estate, Facility, KindId};

/// A feature ready to write: geometry in CRS84, properties in output order.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFeature {
    /// Geometry in CRS84 (lon, lat).
    pub geometry: Geometry<f64>,
    /// Properties in output order.
    pub properties: Attributes,
}

/// The CSV header of `analyze --out x.csv`.
pub const COVERAGE_CSV_HEADER: &str =
    "estate_id,kind,distance_m,covered,nearest_id,count_within,capacity_within,shortfall";

/// Everything an output needs.
#[derive(Debug, Clone, Copy)]
pub struct Results<'a> {
    /// Estates (working CRS), in table order.
    pub estates: &'a [Estate],
    /// Facilities (working CRS).
    pub facilities: &'a [Facility],
    /// The coverage table.
    pub table: &'a CoverageTable,
    /// The catalogue the table was computed with.
    pub catalogue: &'a Catalogue,
    /// The working CRS of `estates` and `facilities`.
    pub working_crs: &'a str,
}

/// Writes to `path` through a temporary file renamed into place on success.
///
/// The temporary file is [`temp_path_for`]`(path)`; temporaries of the same target left by runs
/// that were killed are removed first ([`remove_stale_temporaries`]). The data is synced to disk
/// before the rename and the directory after it ([`commit_temporary`]), so a crash or power cut
/// leaves the old file or the complete new one.
///
/// # Errors
/// [`WriteError::Io`] or whatever `write` returns.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    remove_stale_temporaries(path);
    let tmp = temp_path_for(path);
    let io_err = |source| WriteError::Io { path: path.to_owned(), source };
    let file = File::create(&tmp).map_err(io_err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = write(&mut w)
        .and_then(|()| w.flush().map_err(io_err))
        .and_then(|()| commit_temporary(w.get_ref(), &tmp, path).map_err(io_err));
    if result.is_err() {
        // Best effort: the error being returned matters more than a failed clean-up.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file an output is written to before its rename: `.<name>.tmp-<pid>` beside
/// `path` (same directory, so the rename cannot cross file systems; hidden, so it does not show
/// among the outputs while it is written).
#[must_use]
pub fn temp_path_for(path: &Path) -> PathBuf {
    let mut name = temp_prefix(path);
    name.push(std::process::id().to_string());
    path.with_file_name(name)
}

/// [`temp_path_for`] ending in `.<extension>`, for writers that pick the format by extension
/// (GDAL's FlatGeobuf driver makes a directory of a name without `.fgb`). Files such a writer
/// derives from the name (SQLite's `-journal`, FlatGeobuf's `_temp.fgb`) share its prefix and are
/// cleaned up with it.
#[must_use]
pub fn temp_path_with_extension(path: &Path, extension: &str) -> PathBuf {
    let mut name = temp_path_for(path).into_os_string();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// `.<name>.tmp-`: what every temporary of `path` starts with.
fn temp_prefix(path: &Path) -> std::ffi::OsString {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_else(|| std::ffi::OsStr::new("out")));
    prefix.push(".tmp-");
    prefix
}

/// Removes the temporaries of `path` that runs killed before their rename left behind: files
/// beside it named `.<name>.tmp-<pid>…` whose process no longer exists, and the names earlier
/// versions used (`<name>.tmp-<pid>`, `.<name>.partial.<ext>` and its SQLite journals).
/// Temporaries of live processes (another run writing the same target) are kept. Best effort:
/// a file that cannot be removed stays, and writing goes on.
pub fn remove_stale_temporaries(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let Some(name) = path.file_name() else { return };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let current = temp_prefix(path);
    let mut legacy_tmp = name.to_owned();
    legacy_tmp.push(".tmp-");
    let mut legacy_partial = std::ffi::OsString::from(".");
    legacy_partial.push(name);
    legacy_partial.push(".partial.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let bytes = file_name.as_bytes();
        let stale = if let Some(rest) = bytes.strip_prefix(current.as_bytes()).or_else(|| bytes.strip_prefix(legacy_tmp.as_bytes())) {
            pid_prefix(rest).is_some_and(|pid| pid != std::process::id() && !process_exists(pid))
        } else {
            bytes.starts_with(legacy_partial.as_bytes())
        };
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id a temporary's name continues with (`1234` of `1234.fgb`).
fn pid_prefix(rest: &[u8]) -> Option<u32> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Whether process `pid` exists on this machine (signal 0 checks without sending anything).
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Makes a completely written temporary file the output: syncs `file` (open on `tmp`) to disk,
/// renames `tmp` onto `path`, then syncs the directory so the rename itself survives a crash.
///
/// # Errors
/// When syncing the file, the rename or syncing the directory fails (not when the file system
/// cannot sync directories at all).
pub fn commit_temporary(file: &File, tmp: &Path, path: &Path) -> std::io::Result<()> {
    file.sync_all()?;
    std::fs::rename(tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported) => Ok(()),
        other => other,
    }
}

/// Writes one CSV row per estate × kind, sorted by estate id then kind key.
///
/// Columns: [`COVERAGE_CSV_HEADER`]. `distance_m` has 4 decimals and is empty when the kind has
/// no facilities; `shortfall` is empty when the kind has no ratio or the estate no households.
///
/// # Errors
/// [`WriteError`] on I/O failure.
///
/// # Panics
/// When the facilities' ids take more than 4 GiB as CSV text.
pub fn write_coverage_csv(path: &Path, results: &Results<'_>) -> Result<(), WriteError> {
    let io_err = |source| WriteError::Io { path: path.to_owned(), source };
    write_atomically(path, |w| {
        writeln!(w, "{COVERAGE_CSV_HEADER}").and_then(|()| w.flush()).map_err(io_err)?;
        // Rendered blocks go straight to the file, not through the BufWriter's copy.
        let mut file: &File = w.get_ref();
        render_coverage_rows(results, |texts| texts.iter().try_for_each(|t| file.write_all(t.as_bytes()))).map_err(io_err)
    })
}

/// Renders the rows of [`write_coverage_csv`] (without the header) and hands them to `write`
/// block by block, in order: the one rendering of the coverage table that the CSV file and the
/// PostGIS output ([`super::postgis::write_results`], through `COPY … (FORMAT csv)`) both write.
///
/// # Errors
/// The first error `write` returns; rendering stops there.
///
/// # Panics
/// When the facilities' ids take more than 4 GiB as CSV text.
pub fn render_coverage_rows<E: Send>(
    results: &Results<'_>,
    mut write: impl FnMut(&[String]) -> Result<(), E> + Send,
) -> Result<(), E> {
    /// Estates per block; two blocks of rendered rows (~8 MB each on the bench) are alive at once.
    const BLOCK: usize = 16_384;
    /// Estates per rendering task.
    const CHUNK: usize = 512;
    let mut kinds: Vec<(usize, &str)> = results.catalogue.keys().enumerate().collect();
    kinds.sort_by(|a, b| a.1.cmp(b.1));
    let mut order: Vec<usize> = (0..results.estates.len()).collect();
    order.sort_by(|&a, &b| results.estates[a].id.cmp(&results.estates[b].id));
    let facility_ids = &CsvIds::new(results.facilities);
    let render = |block: &[usize], texts: &mut Vec<String>| {
        texts.resize_with(block.len().div_ceil(CHUNK), String::new);
        texts.par_iter_mut().zip(block.par_chunks(CHUNK)).for_each(|(text, estates)| {
            // The nearest facilities' ids are looked up for the whole chunk before any row is
            // rendered: independent loads whose cache misses overlap (measured on the 300k-estate
            // bench: 0.97 → 0.52 CPU-s, ~1.6 → ~0.9 s under load ~6).
            let nearest_ids: Vec<&str> = estates
                .iter()
                .flat_map(|&e| {
                    let row = results.table.estate(e);
                    kinds.iter().map(move |&(k, _)| row[k].nearest.map_or("", |n| facility_ids.get(n.facility)))
                })
                .collect();
            text.clear();
            let mut estate_id = String::new();
            for (&e, nearest_ids) in estates.iter().zip(nearest_ids.chunks_exact(kinds.len())) {
                estate_id.clear();
                push_csv_id(&mut estate_id, &results.estates[e].id);
                push_estate_rows(text, results, e, &estate_id, &kinds, nearest_ids);
            }
        });
    };
    // Each block is written while rayon renders the next one into the other set of buffers
    // (measured on the 300k-estate bench with `CsvIds`, load ~6 on 2 cores: 1.2 → 0.97 CPU-s,
    // ~2.0 → ~1.6 s).
    let mut blocks = order.chunks(BLOCK);
    let (mut ready, mut spare) = (Vec::new(), Vec::new());
    if let Some(block) = blocks.next() {
        render(block, &mut ready);
    }
    for block in blocks {
        let (written, ()) = rayon::join(|| write(&ready), || render(block, &mut spare));
        written?;
        std::mem::swap(&mut ready, &mut spare);
    }
    write(&ready)
}

/// Facilities' ids rendered once as CSV fields, 11 MB for the 1M facilities of the 300k-estate
/// bench: reading ids from the `Facility` structs (144 MB) instead cost a cache miss per row
/// (measured with the chunk-wide look-up: 0.85 CPU-s that way, 0.52 with this table, which takes
/// 0.04-0.08 s to build).
struct CsvIds {
    text: String,
    /// `text[starts[i]..starts[i + 1]]` is the id of facility `i`.
    starts: Vec<u32>,
}

impl CsvIds {
    fn new(facilities: &[Facility]) -> Self {
        let parts: Vec<(String, Vec<usize>)> = facilities
            .par_chunks(1 << 16)
            .map(|chunk| {
                let mut text = String::with_capacity(chunk.len() * 8);
                let ends = chunk
                    .iter()
                    .map(|f| {
                        push_csv_id(&mut text, &f.id);
                        text.len()
                    })
                    .collect();
                (text, ends)
            })
            .collect();
        let mut ids = Self {
            text: String::with_capacity(parts.iter().map(|(t, _)| t.len()).sum()),
            starts: Vec::with_capacity(facilities.len() + 1),
        };
        ids.starts.push(0);
        for (text, ends) in parts {
            let base = ids.text.len();
            ids.text.push_str(&text);
            ids.starts.extend(ends.into_iter().map(|end| u32::try_from(base + end).expect("facility ids under 4 GiB")));
        }
        ids
    }

    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        &self.text[self.starts[i] as usize..self.starts[i + 1] as usize]
    }
}

/// Appends estate `e`'s rows, one per kind of `kinds` (catalogue position, key), given its id
/// and each kind's nearest facility id as CSV text (`""` when none).
fn push_estate_rows(
    text: &mut String,
    results: &Results<'_>,
    e: usize,
    estate_id: &str,
    kinds: &[(usize, &str)],
    nearest_ids: &[&str],
) {
    let row = results.table.estate(e);
    for (&(k, key), nearest_id) in kinds.iter().zip(nearest_ids) {
        let cell = &row[k];
        text.push_str(estate_id);
        text.push(',');
        text.push_str(key);
        text.push(',');
        if let Some(nearest) = cell.nearest {
            push_fixed4(text, nearest.distance_m);
        }
        text.push_str(if cell.covered { ",true," } else { ",false," });
        text.push_str(nearest_id);
        text.push(',');
        text.push_str(itoa::Buffer::new().format(cell.count_within));
        text.push(',');
        push_number(text, cell.capacity_within);
        text.push(',');
        if let Some(s) = cell.shortfall {
            push_number(text, s);
        }
        text.push('\n');
    }
}

/// Appends `x` with exactly 4 decimals, rounded half away from zero. Integer arithmetic: std's
/// exact float formatting (`{:.4}`) was a tenth of the whole analysis on the 300,000-estate bench.
fn push_fixed4(out: &mut String, x: f64) {
    let scaled = (x.abs() * 10_000.0).round();
    if !scaled.is_finite() || scaled >= 9.0e15 {
        let _ = write!(out, "{x:.4}"); // non-finite or beyond exact integers: rare, let std do it
        return;
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 <= scaled < 9e15")]
    let scaled = scaled as u64;
    if x < 0.0 && scaled > 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(scaled / 10_000));
    let fraction = scaled % 10_000;
    out.push('.');
    for divisor in [1000, 100, 10, 1] {
        out.push(char::from(b'0' + u8::try_from(fraction / divisor % 10).expect("a digit")));
    }
}

/// Appends a number with at most 4 decimals and no trailing zeros.
fn push_number(out: &mut String, x: f64) {
    let start = out.len();
    push_fixed4(out, x);
    let trimmed = out[start..].trim_end_matches('0').trim_end_matches('.').len();
    out.truncate(start + trimmed);
    if &out[start..] == "-0" {
        out.truncate(start);
        out.push('0');
    }
}

/// Appends an id as the coverage CSV writes it (quoted when it needs to be).
pub(crate) fn push_csv_id(out: &mut String, id: &crate::model::FeatureId) {
    match id {
        crate::model::FeatureId::Int(n) => out.push_str(itoa::Buffer::new().format(*n)),
        crate::model::FeatureId::Text(s) => out.push_str(&csv_field(s)),
    }
}

/// A number with at most 4 decimals and no trailing zeros (`12`, `0.5`, `11.25`).
#[must_use]
pub fn fmt_number(x: f64) -> String {
    let mut s = String::new();
    push_number(&mut s, x);
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Estates as features in CRS84 with every per-kind coverage property
/// (`{kind}_distance_m`, `{kind}_covered`, `{kind}_nearest_id`, `{kind}_count_within`,
/// `{kind}_capacity_within`, `{kind}_shortfall`) after the estate's own properties.
///
/// # Errors
/// [`WriteError::Crs`] when the working CRS cannot be converted back.
pub fn estate_features(results: &Results<'_>) -> Result<Vec<OutFeature>, WriteError> {
    estate_features_compared(results, None)
}

/// [`estate_features`], and with `comparison` (a run measured by the walking network) also
/// `{kind}_straight_m`, `{kind}_network_m`, `{kind}_walk_min` and `{kind}_detour` after each
/// kind's six properties ([`comparison_properties`]).
///
/// # Errors
/// [`WriteError::Crs`] when the working CRS cannot be converted back.
pub fn estate_features_compared(results: &Results<'_>, comparison: Option<&MetricComparison<'_>>) -> Result<Vec<OutFeature>, WriteError> {
    estate_features_with(results, &EstateExtras { comparison, accessibility: None })
}

/// What an estates layer carries beyond the six coverage properties per kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct EstateExtras<'a> {
    /// Straight-line and walking figures side by side (a run measured by the walking network).
    pub comparison: Option<&'a MetricComparison<'a>>,
    /// 2SFCA scores (`{kind}_access`) for the kinds that have them.
    pub accessibility: Option<&'a Accessibility>,
}

/// Estates as features with, per kind in catalogue order: the six coverage properties
/// ([`kind_properties`]); `{kind}_nearest_planned` when any facility is planned
/// ([`nearest_planned_property`]); the four straight/walking figures with a comparison
/// ([`comparison_properties`]); `{kind}_access` for kinds with a 2SFCA score
/// ([`access_property`]).
///
/// # Errors
/// [`WriteError::Crs`] when the working CRS cannot be converted back.
pub fn estate_features_with(results: &Results<'_>, extras: &EstateExtras<'_>) -> Result<Vec<OutFeature>, WriteError> {
    let mut out = estate_base_features(results)?;
    let any_planned = results.facilities.iter().any(|f| f.planned);
    let per_kind = 6 + usize::from(any_planned) + if extras.comparison.is_some() { 4 } else { 0 } + usize::from(extras.accessibility.is_some());
    for (i, feature) in out.iter_mut().enumerate() {
        feature.properties.reserve_exact(per_kind * results.catalogue.len());
        for (k, key) in results.catalogue.keys().enumerate() {
            feature.properties.extend(kind_properties(results, i, k, key));
            if any_planned {
                feature.properties.push(nearest_planned_property(results, i, k, key));
            }
            if let Some(c) = extras.comparison {
                feature.properties.extend(comparison_properties(c, i, k, key));
            }
            if let Some(a) = extras.accessibility {
                feature.properties.extend(access_property(a, i, k, key));
            }
        }
    }
    Ok(out)
}

/// `{key}_nearest_planned`: whether estate `i`'s nearest facility of kind `k` is a planned one
/// (null when the kind has no facility).
///
/// # Panics
/// When `k` does not fit a kind id (catalogues have far fewer kinds).
#[must_use]
pub fn nearest_planned_property(results: &Results<'_>, i: usize, k: usize, key: &str) -> (String, AttrValue) {
    let cell = results.table.get(i, KindId(u16::try_from(k).expect("validated catalogue")));
    let planned = cell.nearest.map_or(AttrValue::Null, |n| AttrValue::Bool(results.facilities[n.facility as usize].planned));
    (format!("{key}_nearest_planned"), planned)
}

/// `{key}_access`: estate `i`'s 2SFCA score for kind `k`, in the kind's capacity unit per 1,000
/// residents (see [`crate::analysis::kind_accessibility`]); `None` for a kind without scores.
///
/// # Panics
/// When `k` does not fit a kind id (catalogues have far fewer kinds).
#[must_use]
pub fn access_property(accessibility: &Accessibility, i: usize, k: usize, key: &str) -> Option<(String, AttrValue)> {
    let kind = KindId(u16::try_from(k).expect("validated catalogue"));
    accessibility.is_scored(kind).then(|| {
        let score = accessibility.get(i, kind).filter(|s| s.is_finite());
        (format!("{key}_access"), score.map_or(AttrValue::Null, AttrValue::Float))
    })
}

/// Straight-line and walking distances side by side, for the outputs of a run measured by the
/// walking network. Kept beside [`Results`] rather than in it: a straight-line run has no second
/// table, and its outputs stay exactly what they were.
#[derive(Debug, Clone, Copy)]
pub struct MetricComparison<'a> {
    /// Coverage by straight line (same estates, facilities and catalogue).
    pub straight: &'a CoverageTable,
    /// Coverage by walking distance along the street network.
    pub network: &'a CoverageTable,
    /// Walking speed for walking minutes.
    ///
    /// # Units
    /// Metres per minute.
    pub speed_m_per_min: f64,
}

/// Estate `i`'s straight and walking figures for kind `k`: `{key}_straight_m`, `{key}_network_m`
/// (metres, to the millimetre), `{key}_walk_min` (network ÷ speed, to 0.01 min) and
/// `{key}_detour` (network ÷ straight, to 0.001; null when the straight distance is 0 or either
/// is missing). Null where the kind has no facility or none is reachable.
///
/// # Panics
/// When `k` does not fit a kind id (catalogues have far fewer kinds).
#[must_use]
pub fn comparison_properties(comparison: &MetricComparison<'_>, i: usize, k: usize, key: &str) -> [(String, AttrValue); 4] {
    let kind = KindId(u16::try_from(k).expect("validated catalogue"));
    std::array::from_fn(|field| (format!("{key}_{}", COMPARISON_FIELDS[field]), comparison_value(comparison, i, kind, field)))
}

/// The names (after the `{kind}_` prefix) of [`comparison_properties`], in order.
pub const COMPARISON_FIELDS: [&str; 4] = ["straight_m", "network_m", "walk_min", "detour"];

/// Property `field` ([`COMPARISON_FIELDS`]) of estate `i` and `kind`: the straight-line and
/// walking distances, walking minutes and the detour factor.
///
/// # Panics
/// When `field` is not below 4, or `i` or `kind` out of the tables' range.
#[must_use]
pub fn comparison_value(comparison: &MetricComparison<'_>, i: usize, kind: KindId, field: usize) -> AttrValue {
    let float = |x: Option<f64>| x.filter(|x| x.is_finite()).map_or(AttrValue::Null, AttrValue::Float);
    let network_m = || comparison.network.get(i, kind).nearest.map(|n| n.distance_m);
    let straight_m = || comparison.straight.get(i, kind).nearest.map(|n| n.distance_m);
    match field {
        0 => float(straight_m().map(round_mm)),
        1 => float(network_m().map(round_mm)),
        2 => float(network_m().map(|d| (d / comparison.speed_m_per_min * 100.0).round() / 100.0)),
        3 => float(match (straight_m(), network_m()) {
            (Some(s), Some(n)) if s > 0.0 => Some((n / s * 1000.0).round() / 1000.0),
            _ => None,
        }),
        _ => panic!("comparison field {field} of 4"),
    }
}

/// [`estate_features`] without the per-kind coverage properties: CRS84 geometry, the estate's
/// own properties and `distance_from`. What `gapmap serve` keeps per estate (the coverage
/// properties depend on the year asked for).
///
/// # Errors
/// [`WriteError::Crs`] when the working CRS cannot be converted to CRS84.
pub fn estate_base_features(results: &Results<'_>) -> Result<Vec<OutFeature>, WriteError> {
    let to_crs84 = Transformer::to_crs84(results.working_crs).map_err(|e| WriteError::Crs(e.to_string()))?;
    let mut geometries: Vec<geo::MultiPolygon<f64>> = results.estates.iter().map(|e| e.geometry.clone()).collect();
    let mut coords = super::coords::flatten(geometries.iter());
    to_crs84.apply(&mut coords).map_err(|e| WriteError::Crs(e.to_string()))?;
    super::coords::unflatten(geometries.iter_mut(), coords);
    let distance_from = results.table.params.distance_from.as_str();
    let mut out = Vec::with_capacity(results.estates.len());
    for (estate, geometry) in results.estates.iter().zip(geometries) {
        let mut p: Attributes = Vec::with_capacity(7 + estate.extra.len());
        p.push(("id".into(), id_value(&estate.id)));
        p.push(("name".into(), estate.name.clone().map_or(AttrValue::Null, AttrValue::Text)));
        p.push(("district".into(), estate.district.clone().map_or(AttrValue::Null, AttrValue::Text)));
        p.push(("households".into(), estate.households.map_or(AttrValue::Null, |h| AttrValue::Int(i64::from(h)))));
        p.push(("built_year".into(), estate.built_year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))));
        p.push(("renovation_year".into(), estate.renovation_year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))));
        p.extend(estate.extra.iter().cloned());
        p.push(("distance_from".into(), AttrValue::Text(distance_from.to_owned())));
        out.push(OutFeature { geometry: Geometry::MultiPolygon(geometry), properties: p });
    }
    Ok(out)
}

/// The six coverage properties of estate `i` and kind `k`.
pub(crate) fn kind_properties(results: &Results<'_>, i: usize, k: usize, key: &str) -> [(String, AttrValue); 6] {
    let kind = KindId(u16::try_from(k).expect("validated catalogue"));
    std::array::from_fn(|field| (format!("{key}_{}", KIND_FIELDS[field]), kind_value(results.table, results.facilities, i, kind, field)))
}

/// The names (after the `{kind}_` prefix) of the six coverage properties, in order.
pub const KIND_FIELDS: [&str; 6] = ["distance_m", "covered", "nearest_id", "count_within", "capacity_within", "shortfall"];

/// Coverage property `field` ([`KIND_FIELDS`]) of estate `i` and `kind`, as the outputs write it
/// (distances rounded to the millimetre; `facilities` are the table's).
///
/// # Panics
/// When `field` is not below 6, or `i` or `kind` out of the table's range.
#[must_use]
pub fn kind_value(table: &crate::analysis::CoverageTable, facilities: &[crate::model::Facility], i: usize, kind: KindId, field: usize) -> AttrValue {
    let cell = table.get(i, kind);
    match field {
        0 => cell.nearest.map_or(AttrValue::Null, |n| AttrValue::Float(round_mm(n.distance_m))),
        1 => AttrValue::Bool(cell.covered),
        2 => cell.nearest.map_or(AttrValue::Null, |n| id_value(&facilities[n.facility as usize].id)),
        3 => AttrValue::Int(i64::from(cell.count_within)),
        4 => AttrValue::Float(cell.capacity_within),
        5 => cell.shortfall.map_or(AttrValue::Null, AttrValue::Float),
        _ => panic!("coverage field {field} of 6"),
    }
}

fn round_mm(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn id_value(id: &crate::model::FeatureId) -> AttrValue {
    match id {
        crate::model::FeatureId::Int(n) => AttrValue::Int(*n),
        crate::model::FeatureId::Text(s) => AttrValue::Text(s.clone()),
    }
}

/// Writes estates with coverage properties; the format follows the extension
/// (`.geojson`/`.json` GeoJSON, `.fgb` FlatGeobuf, `.gpkg` GeoPackage, layer `estates`).
///
/// # Errors
/// [`WriteError`].
pub fn write_estates(path: &Path, results: &Results<'_>) -> Result<(), WriteError> {
    write_estates_compared(path, results, None)
}

/// [`write_estates`], with the straight and walking figures side by side when `comparison` is
/// given ([`estate_features_compared`]).
///
/// # Errors
/// [`WriteError`].
pub fn write_estates_compared(path: &Path, results: &Results<'_>, comparison: Option<&MetricComparison<'_>>) -> Result<(), WriteError> {
    write_estates_with(path, results, &EstateExtras { comparison, accessibility: None })
}

/// [`write_estates`] with the properties [`estate_features_with`] adds.
///
/// # Errors
/// [`WriteError`].
pub fn write_estates_with(path: &Path, results: &Results<'_>, extras: &EstateExtras<'_>) -> Result<(), WriteError> {
    let features = estate_features_with(results, extras)?;
    write_features(path, &features)
}

/// Writes estate features; the format follows the extension (`.geojson`, `.fgb`, `.gpkg`; layer
/// `estates`).
///
/// # Errors
/// [`WriteError`].
pub fn write_features(path: &Path, features: &[OutFeature]) -> Result<(), WriteError> {
    match extension(path).as_str() {
        "geojson" => super::geojson::write_feature_collection(path, features, Some("estates")),
        "fgb" => super::gdal::write_gdal(path, "FlatGeobuf", "estates", features),
        "gpkg" => super::gdal::write_gdal(path, "GPKG", "estates", features),
        _ => Err(WriteError::UnsupportedFormat { path: path.to_owned() }),
    }
}

/// The `.json` summary document.
#[derive(Debug, Serialize)]
pub struct SummaryDocument<'a> {
    /// Tool and version.
    pub generator: String,
    /// Catalogue title.
    pub catalogue: &'a str,
    /// Working CRS of the analysis.
    pub working_crs: &'a str,
    /// Estates analysed.
    pub estates: usize,
    /// Facilities loaded (all years).
    pub facilities: usize,
    /// Features rejected at load (network features included).
    pub rejected_features: usize,
    /// How distances were measured: `straight` or `network`.
    pub metric: MetricKind,
    /// The street network, when the metric is `network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<&'a NetworkSummary>,
    /// Planned facilities per kind key, those counted (open by the analysis year); absent when
    /// none is planned. They are included in the summaries' `facilities` counts.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub planned_facilities: std::collections::BTreeMap<String, usize>,
    /// The 2SFCA distance decay of the `{kind}_access` scores in the layers.
    pub accessibility_decay: AccessDecay,
    /// The summaries.
    #[serde(flatten)]
    pub summary: &'a Summary,
}

/// The load report written beside an output: rejections, warnings and accepted counts, and the
/// street network's figures when one was loaded.
#[derive(Debug, Serialize)]
pub struct LoadReportDocument<'a> {
    /// Rejections (network features included), warnings, accepted counts.
    #[serde(flatten)]
    pub report: &'a super::LoadReport,
    /// The street network and its graph, when the metric is `network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<&'a NetworkSummary>,
}

/// Writes a serialisable value as pretty JSON.
///
/// # Errors
/// [`WriteError`].
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), WriteError> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)
            .map_err(|e| WriteError::Encode { path: path.to_owned(), message: e.to_string() })?;
        w.write_all(b"\n").map_err(|source| WriteError::Io { path: path.to_owned(), source })
    })
}

/// The lower-case extension of `path` (`""` when none).
#[must_use]
pub fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// Planned facilities per kind key, those open by `year` (`None`: all): the JSON summaries'
/// `planned_facilities`.
#[must_use]
pub fn planned_per_kind(facilities: &[Facility], catalogue: &Catalogue, year: Option<i32>) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for f in facilities.iter().filter(|f| f.planned && f.open_in(year)) {
        *counts.entry(catalogue.spec(f.kind).key.clone()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_matches_std_formatting() {
        for x in [0.0, 1.0, 0.5, 12.345_65, 299.999_95, 1_234.000_04, 0.000_049, 7.25e6, -3.5] {
            let mut ours = String::new();
            push_fixed4(&mut ours, x);
            let theirs = format!("{x:.4}");
            let (a, b): (f64, f64) = (ours.parse().expect("number"), theirs.parse().expect("number"));
            assert!((a - b).abs() <= 1e-4 + 1e-12, "{x}: {ours} vs {theirs}");
        }
        let mut s = String::new();
        push_fixed4(&mut s, 250.0);
        assert_eq!(s, "250.0000");
    }

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(fmt_number(12.0), "12");
        assert_eq!(fmt_number(11.25), "11.25");
        assert_eq!(fmt_number(0.000_01), "0");
        assert_eq!(fmt_number(-0.000_01), "0");
        assert_eq!(fmt_number(2.5e-3), "0.0025");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("小区"), "小区");
    }

    #[test]
    fn temporaries_are_hidden_beside_the_target_and_carry_the_pid() {
        let pid = std::process::id();
        assert_eq!(temp_path_for(Path::new("/out/coverage.csv")), PathBuf::from(format!("/out/.coverage.csv.tmp-{pid}")));
        assert_eq!(temp_path_with_extension(Path::new("x.fgb"), "fgb"), PathBuf::from(format!(".x.fgb.tmp-{pid}.fgb")));
        assert_eq!(pid_prefix(b"1234.fgb-journal"), Some(1234));
        assert_eq!(pid_prefix(b".fgb"), None);
    }
}
