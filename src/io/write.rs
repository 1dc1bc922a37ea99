//! Writing results: CSV rows, GeoJSON / FlatGeobuf / GeoPackage estates, JSON summaries.
//!
//! Every file is written to a temporary name in the target directory and renamed into place,
//! so an interrupted run never leaves half a file behind.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use geo::Geometry;
use rayon::prelude::*;
use serde::Serialize;

use super::crs::Transformer;
use super::WriteError;
use crate::analysis::{CoverageTable, Summary};
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
/// # Errors
/// [`WriteError::Io`] or whatever `write` returns.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    let tmp = temp_path_for(path);
    let io_err = |source| WriteError::Io { path: path.to_owned(), source };
    let file = File::create(&tmp).map_err(io_err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = write(&mut w).and_then(|()| w.flush().map_err(io_err));
    match result {
        Ok(()) => std::fs::rename(&tmp, path).map_err(io_err),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// A temporary file name beside `path`.
#[must_use]
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes one CSV row per estate × kind, sorted by estate id then kind key.
///
/// Columns: [`COVERAGE_CSV_HEADER`]. `distance_m` has 4 decimals and is empty when the kind has
/// no facilities; `shortfall` is empty when the kind has no ratio or the estate no households.
///
/// # Errors
/// [`WriteError`] on I/O failure.
pub fn write_coverage_csv(path: &Path, results: &Results<'_>) -> Result<(), WriteError> {
    let mut kinds: Vec<(usize, &str)> = results.catalogue.keys().enumerate().collect();
    kinds.sort_by(|a, b| a.1.cmp(b.1));
    let mut order: Vec<usize> = (0..results.estates.len()).collect();
    order.sort_by(|&a, &b| results.estates[a].id.cmp(&results.estates[b].id));
    let io_err = |source| WriteError::Io { path: path.to_owned(), source };
    write_atomically(path, |w| {
        writeln!(w, "{COVERAGE_CSV_HEADER}").map_err(io_err)?;
        // Rows are rendered in parallel, a block of estates at a time, and written in order.
        for block in order.chunks(16_384) {
            let rendered: Vec<String> = block
                .par_chunks(512)
                .map(|estates| {
                    let mut text = String::with_capacity(estates.len() * kinds.len() * 64);
                    for &e in estates {
                        for &(k, key) in &kinds {
                            push_csv_row(&mut text, results, e, k, key);
                        }
                    }
                    text
                })
                .collect();
            for text in rendered {
                w.write_all(text.as_bytes()).map_err(io_err)?;
            }
        }
        Ok(())
    })
}

fn push_csv_row(line: &mut String, results: &Results<'_>, e: usize, k: usize, key: &str) {
    let cell = results.table.get(e, KindId(u16::try_from(k).expect("validated catalogue")));
    push_csv_id(line, &results.estates[e].id);
    line.push(',');
    line.push_str(key);
    line.push(',');
    if let Some(n) = cell.nearest {
        push_fixed4(line, n.distance_m);
    }
    line.push_str(if cell.covered { ",true," } else { ",false," });
    if let Some(n) = cell.nearest {
        push_csv_id(line, &results.facilities[n.facility as usize].id);
    }
    line.push(',');
    line.push_str(itoa::Buffer::new().format(cell.count_within));
    line.push(',');
    push_number(line, cell.capacity_within);
    line.push(',');
    if let Some(s) = cell.shortfall {
        push_number(line, s);
    }
    line.push('\n');
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

fn push_csv_id(out: &mut String, id: &crate::model::FeatureId) {
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
    let to_crs84 = Transformer::to_crs84(results.working_crs).map_err(|e| WriteError::Crs(e.to_string()))?;
    let mut geometries: Vec<geo::MultiPolygon<f64>> = results.estates.iter().map(|e| e.geometry.clone()).collect();
    let mut coords = super::coords::flatten(geometries.iter());
    to_crs84.apply(&mut coords).map_err(|e| WriteError::Crs(e.to_string()))?;
    super::coords::unflatten(geometries.iter_mut(), coords);
    let distance_from = results.table.params.distance_from.as_str();
    let mut out = Vec::with_capacity(results.estates.len());
    for (i, (estate, geometry)) in results.estates.iter().zip(geometries).enumerate() {
        let mut p: Attributes = Vec::with_capacity(8 + estate.extra.len() + 6 * results.catalogue.len());
        p.push(("id".into(), id_value(&estate.id)));
        p.push(("name".into(), estate.name.clone().map_or(AttrValue::Null, AttrValue::Text)));
        p.push(("district".into(), estate.district.clone().map_or(AttrValue::Null, AttrValue::Text)));
        p.push(("households".into(), estate.households.map_or(AttrValue::Null, |h| AttrValue::Int(i64::from(h)))));
        p.push(("built_year".into(), estate.built_year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))));
        p.push(("renovation_year".into(), estate.renovation_year.map_or(AttrValue::Null, |y| AttrValue::Int(i64::from(y)))));
        p.extend(estate.extra.iter().cloned());
        p.push(("distance_from".into(), AttrValue::Text(distance_from.to_owned())));
        for (k, key) in results.catalogue.keys().enumerate() {
            p.extend(kind_properties(results, i, k, key));
        }
        out.push(OutFeature { geometry: Geometry::MultiPolygon(geometry), properties: p });
    }
    Ok(out)
}

/// The six coverage properties of estate `i` and kind `k`.
pub(crate) fn kind_properties(results: &Results<'_>, i: usize, k: usize, key: &str) -> [(String, AttrValue); 6] {
    let cell = results.table.get(i, KindId(u16::try_from(k).expect("validated catalogue")));
    [
        (format!("{key}_distance_m"), cell.nearest.map_or(AttrValue::Null, |n| AttrValue::Float(round_mm(n.distance_m)))),
        (format!("{key}_covered"), AttrValue::Bool(cell.covered)),
        (format!("{key}_nearest_id"), cell.nearest.map_or(AttrValue::Null, |n| id_value(&results.facilities[n.facility as usize].id))),
        (format!("{key}_count_within"), AttrValue::Int(i64::from(cell.count_within))),
        (format!("{key}_capacity_within"), AttrValue::Float(cell.capacity_within)),
        (format!("{key}_shortfall"), cell.shortfall.map_or(AttrValue::Null, AttrValue::Float)),
    ]
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
    let features = estate_features(results)?;
    match extension(path).as_str() {
        "geojson" => super::geojson::write_feature_collection(path, &features, Some("estates")),
        "fgb" => super::gdal::write_gdal(path, "FlatGeobuf", "estates", &features),
        "gpkg" => super::gdal::write_gdal(path, "GPKG", "estates", &features),
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
    /// Features rejected at load.
    pub rejected_features: usize,
    /// The summaries.
    #[serde(flatten)]
    pub summary: &'a Summary,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_matches_std_formatting() {
        for x in [0.0, 1.0, 0.5, 12.345_65, 299.999_95, 1234.000_04, 0.000_049, 7.25e6, -3.5] {
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
}
