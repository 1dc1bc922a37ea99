//! Writing result layers to `FlatGeobuf` or `GeoPackage`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::Path;

use gdal::errors::GdalError;
use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{
    Feature, FieldDefn, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal,
};
use gdal::{Dataset, DatasetCapability, DriverManager};
use geo::Geometry;

use super::ffi;
use super::read::gdal_message;
use crate::io::write::OutFeature;
use crate::io::WriteError;
use crate::model::AttrValue;

/// Writes `features` as layer `layer_name` of a new `driver` file at `path`, replacing it.
///
/// - The layer's CRS is EPSG:4326 with longitude first, matching [`OutFeature`]'s CRS84.
/// - Its geometry type is the features' common type (`Point`, `MultiPolygon`…), or `Unknown`
///   when they differ or there are none.
/// - There is one field per property name, in first-seen order over all features. The first
///   non-null value decides the field type (`Int` → Integer64, `Float` → Real, `Bool` →
///   boolean Integer, `Text`/`Json` → String); a later value that does not fit widens it
///   (integers and reals → Real, anything and text → String) rather than being truncated.
///   A feature without a property gets null there.
/// - Features are written in one transaction when the driver has them (`GeoPackage`).
///   `FlatGeobuf` gets a spatial index, which stores features in Hilbert-curve order rather
///   than in the order given.
/// - The file is written beside `path` as `.<name>.tmp-<pid>.<ext>`
///   ([`temp_path_with_extension`](crate::io::write::temp_path_with_extension)), checked, synced
///   and renamed onto `path`, and the directory synced: a crash leaves the old file or the new
///   one, never half of one. Temporaries left by runs that were killed are removed first.
/// - Errors GDAL raises while writing fail the write even where the call returned success
///   (FlatGeobuf reports a full disk only that way); a full disk is reported as the OS error.
///
/// # Errors
/// [`WriteError::UnsupportedFormat`] for a driver other than `FlatGeobuf` or `GPKG`;
/// [`WriteError::Gdal`] when GDAL fails, a property name or text holds a NUL byte, or the
/// written file does not read back with every feature; [`WriteError::Io`] when the disk is full
/// or the file cannot be synced or renamed.
pub fn write_gdal(
    path: &Path,
    driver: &str,
    layer_name: &str,
    features: &[OutFeature],
) -> Result<(), WriteError> {
    let (driver, extension) = match driver {
        d if d.eq_ignore_ascii_case("FlatGeobuf") => ("FlatGeobuf", "fgb"),
        d if d.eq_ignore_ascii_case("GPKG") => ("GPKG", "gpkg"),
        _ => return Err(WriteError::UnsupportedFormat { path: path.to_owned() }),
    };
    if path.file_name().is_none() {
        return Err(WriteError::Io {
            path: path.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the output path has no file name"),
        });
    }
    crate::io::write::remove_stale_temporaries(path);
    let partial = crate::io::write::temp_path_with_extension(path, extension);
    remove_partial(&partial).map_err(|source| WriteError::Io { path: partial.clone(), source })?;

    let (written, raised) = ffi::collect_raised(|| write_partial(&partial, driver, layer_name, features));
    for warning in raised.iter().filter(|r| r.class == ffi::CE_WARNING) {
        tracing::warn!("{}: GDAL: {}", path.display(), warning.message);
    }
    let failures: Vec<&ffi::Raised> = raised.iter().filter(|r| r.class >= ffi::CE_FAILURE).collect();
    let written = if written.is_err() || !failures.is_empty() {
        Err(write_failure(path, &partial, written.err(), &failures))
    } else {
        File::open(&partial)
            .and_then(|f| crate::io::write::commit_temporary(&f, &partial, path))
            .map_err(|source| WriteError::Io { path: path.to_owned(), source })
    };
    if written.is_err() {
        // Best effort: the error being returned matters more than a failed clean-up.
        let _ = remove_partial(&partial);
    }
    written
}

/// The error for a failed GDAL write: the OS error when the disk is full (GDAL's own messages
/// say "Unexpected I/O failure", "returned error 6" or, when the close failed silently and the
/// file does not reopen, "GDALOpenEx returned a NULL pointer"), else GDAL's messages.
fn write_failure(path: &Path, partial: &Path, returned: Option<String>, raised: &[&ffi::Raised]) -> WriteError {
    const NO_SPACE: [i32; 3] = [libc::ENOSPC, libc::EDQUOT, libc::EFBIG];
    let os_error = raised.iter().filter_map(|r| r.os_error).find(|e| NO_SPACE.contains(e)).or_else(|| disk_full(partial).then_some(libc::ENOSPC));
    if let Some(code) = os_error {
        return WriteError::Io { path: path.to_owned(), source: io::Error::from_raw_os_error(code) };
    }
    let mut messages: Vec<String> = raised.iter().map(|r| r.message.clone()).collect();
    messages.extend(returned.filter(|m| !messages.contains(m)));
    WriteError::Gdal { path: path.to_owned(), message: messages.join("; ") }
}

/// Whether the file system holding `file` has no space left for this process.
fn disk_full(file: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(c_dir) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer statvfs fills; read only when it succeeds.
    unsafe { libc::statvfs(c_dir.as_ptr(), stats.as_mut_ptr()) == 0 && stats.assume_init().f_bavail == 0 }
}

/// Removes a partial file and the files GDAL derives from its name: SQLite's journals (a crashed
/// `GeoPackage` write) and FlatGeobuf's `_temp.fgb`.
fn remove_partial(partial: &Path) -> io::Result<()> {
    let mut names: Vec<std::ffi::OsString> = ["", "-journal", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = partial.as_os_str().to_owned();
            name.push(suffix);
            name
        })
        .collect();
    if let (Some(stem), Some(extension)) = (partial.file_stem(), partial.extension()) {
        let mut temp = stem.to_owned();
        temp.push("_temp.");
        temp.push(extension);
        names.push(partial.with_file_name(temp).into_os_string());
    }
    for name in names {
        match fs::remove_file(&name) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Writes and closes the file, then reads it back: GDAL before 3.7 reports no error from
/// closing, which is when `FlatGeobuf` writes most of the file.
fn write_partial(
    partial: &Path,
    driver: &str,
    layer_name: &str,
    features: &[OutFeature],
) -> Result<(), String> {
    let fields = infer_fields(features);
    let gdal = |e: GdalError| gdal_message(&e);
    let mut dataset = DriverManager::get_driver_by_name(driver)
        .and_then(|d| d.create_vector_only(partial))
        .map_err(gdal)?;
    let mut srs = SpatialRef::from_epsg(4326).map_err(gdal)?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    {
        let layer = dataset
            .create_layer(LayerOptions {
                name: layer_name,
                srs: Some(&srs),
                ty: geometry_type(features),
                options: None,
            })
            .map_err(gdal)?;
        for field in &fields {
            match field.kind {
                FieldKind::Bool => ffi::create_boolean_field(&layer, &field.name)?,
                kind => FieldDefn::new(&field.name, kind.ogr_type())
                    .and_then(|defn| defn.add_to_layer(&layer))
                    .map_err(|e| format!("field `{}`: {}", field.name, gdal_message(&e)))?,
            }
        }
    }
    if dataset.has_capability(DatasetCapability::TRANSACTIONS) {
        let transaction = dataset.start_transaction().map_err(gdal)?;
        write_features(&transaction, layer_name, &fields, features)?;
        transaction.commit().map_err(gdal)?;
    } else {
        write_features(&dataset, layer_name, &fields, features)?;
    }
    dataset.close().map_err(gdal)?;

    let check = Dataset::open(partial).map_err(gdal)?;
    let count = check.layer_by_name(layer_name).map_err(gdal)?.feature_count();
    if usize::try_from(count).ok() != Some(features.len()) {
        return Err(format!("wrote {} features but the file holds {count}", features.len()));
    }
    Ok(())
}

fn write_features(
    dataset: &Dataset,
    layer_name: &str,
    fields: &[FieldSpec],
    features: &[OutFeature],
) -> Result<(), String> {
    let layer = dataset.layer_by_name(layer_name).map_err(|e| gdal_message(&e))?;
    let index: HashMap<&str, usize> =
        fields.iter().enumerate().map(|(i, f)| (f.name.as_str(), i)).collect();
    for (n, out) in features.iter().enumerate() {
        let fail = |e: GdalError| format!("feature {n}: {}", gdal_message(&e));
        let mut feature = Feature::new(layer.defn()).map_err(fail)?;
        feature.set_geometry(out.geometry.to_gdal().map_err(fail)?).map_err(fail)?;
        for idx in 0..fields.len() {
            feature.set_field_null(idx).map_err(fail)?;
        }
        for (name, value) in &out.properties {
            let idx = index[name.as_str()];
            set_field(&mut feature, idx, fields[idx].kind, value)
                .map_err(|e| format!("feature {n}, property `{name}`: {}", gdal_message(&e)))?;
        }
        feature.create(&layer).map_err(fail)?;
    }
    Ok(())
}

fn set_field(
    feature: &mut Feature<'_>,
    idx: usize,
    kind: FieldKind,
    value: &AttrValue,
) -> Result<(), GdalError> {
    match (kind, value) {
        (_, AttrValue::Null) => feature.set_field_null(idx),
        (FieldKind::Bool, AttrValue::Bool(b)) => feature.set_field_integer(idx, i32::from(*b)),
        (FieldKind::Int, AttrValue::Int(n)) => feature.set_field_integer64(idx, *n),
        (FieldKind::Int, AttrValue::Bool(b)) => feature.set_field_integer64(idx, i64::from(*b)),
        (FieldKind::Real, AttrValue::Float(x)) => feature.set_field_double(idx, *x),
        #[expect(clippy::cast_precision_loss, reason = "the field was widened to Real on purpose")]
        (FieldKind::Real, AttrValue::Int(n)) => feature.set_field_double(idx, *n as f64),
        (FieldKind::Real, AttrValue::Bool(b)) => {
            feature.set_field_double(idx, f64::from(u8::from(*b)))
        }
        (FieldKind::Text, AttrValue::Text(s) | AttrValue::Json(s)) => {
            feature.set_field_string(idx, s)
        }
        (FieldKind::Text, other) => feature.set_field_string(idx, &other.to_string()),
        (kind, other) => unreachable!("field kind {kind:?} was widened to hold {other:?}"),
    }
}

/// How a property is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Bool,
    Int,
    Real,
    Text,
}

impl FieldKind {
    fn of(value: &AttrValue) -> Option<Self> {
        match value {
            AttrValue::Null => None,
            AttrValue::Bool(_) => Some(Self::Bool),
            AttrValue::Int(_) => Some(Self::Int),
            AttrValue::Float(_) => Some(Self::Real),
            AttrValue::Text(_) | AttrValue::Json(_) => Some(Self::Text),
        }
    }

    /// The narrowest kind holding both without loss (apart from integers beyond 2^53 in Real).
    fn widen(self, other: Self) -> Self {
        use FieldKind::{Bool, Int, Real, Text};
        match (self, other) {
            (a, b) if a == b => a,
            (Text, _) | (_, Text) => Text,
            (Real, _) | (_, Real) => Real,
            (Int | Bool, Int | Bool) => Int,
        }
    }

    fn ogr_type(self) -> OGRFieldType::Type {
        match self {
            Self::Bool => OGRFieldType::OFTInteger,
            Self::Int => OGRFieldType::OFTInteger64,
            Self::Real => OGRFieldType::OFTReal,
            Self::Text => OGRFieldType::OFTString,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldSpec {
    name: String,
    kind: FieldKind,
}

/// One field per property name in first-seen order; a property that is null everywhere is
/// still written, as text.
fn infer_fields(features: &[OutFeature]) -> Vec<FieldSpec> {
    let mut fields: Vec<(String, Option<FieldKind>)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for feature in features {
        for (name, value) in &feature.properties {
            let at = *position.entry(name.as_str()).or_insert_with(|| {
                fields.push((name.clone(), None));
                fields.len() - 1
            });
            let slot = &mut fields[at].1;
            *slot = match (*slot, FieldKind::of(value)) {
                (Some(kind), Some(new)) => Some(kind.widen(new)),
                (kind, new) => kind.or(new),
            };
        }
    }
    fields
        .into_iter()
        .map(|(name, kind)| FieldSpec { name, kind: kind.unwrap_or(FieldKind::Text) })
        .collect()
}

/// The common geometry type, or `Unknown` (any geometry) when they differ.
fn geometry_type(features: &[OutFeature]) -> OGRwkbGeometryType::Type {
    let mut types = features.iter().map(|f| match &f.geometry {
        Geometry::Point(_) => OGRwkbGeometryType::wkbPoint,
        Geometry::Line(_) | Geometry::LineString(_) => OGRwkbGeometryType::wkbLineString,
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => {
            OGRwkbGeometryType::wkbPolygon
        }
        Geometry::MultiPoint(_) => OGRwkbGeometryType::wkbMultiPoint,
        Geometry::MultiLineString(_) => OGRwkbGeometryType::wkbMultiLineString,
        Geometry::MultiPolygon(_) => OGRwkbGeometryType::wkbMultiPolygon,
        Geometry::GeometryCollection(_) => OGRwkbGeometryType::wkbGeometryCollection,
    });
    match types.next() {
        Some(first) if types.all(|t| t == first) => first,
        _ => OGRwkbGeometryType::wkbUnknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{point, polygon, MultiPolygon};

    fn out(geometry: Geometry<f64>, properties: &[(&str, AttrValue)]) -> OutFeature {
        OutFeature {
            geometry,
            properties: properties.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        }
    }

    #[test]
    fn fields_are_typed_by_first_value_and_widened() {
        let p = Geometry::Point(point!(x: 0.0, y: 0.0));
        let features = [
            out(
                p.clone(),
                &[("a", AttrValue::Null), ("b", AttrValue::Int(1)), ("c", AttrValue::Bool(true))],
            ),
            out(
                p.clone(),
                &[
                    ("a", AttrValue::Int(2)),
                    ("b", AttrValue::Float(1.5)),
                    ("d", AttrValue::Json("[]".into())),
                ],
            ),
            out(
                p,
                &[
                    ("c", AttrValue::Int(3)),
                    ("e", AttrValue::Null),
                    ("b", AttrValue::Text("x".into())),
                ],
            ),
        ];
        let kinds: Vec<_> = infer_fields(&features).into_iter().map(|f| (f.name, f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("a".to_owned(), FieldKind::Int),
                ("b".to_owned(), FieldKind::Text),
                ("c".to_owned(), FieldKind::Int),
                ("d".to_owned(), FieldKind::Text),
                ("e".to_owned(), FieldKind::Text),
            ]
        );
    }

    #[test]
    fn geometry_type_is_common_or_unknown() {
        let square = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)];
        let multi = Geometry::MultiPolygon(MultiPolygon(vec![square.clone()]));
        assert_eq!(
            geometry_type(&[out(multi.clone(), &[]), out(multi, &[])]),
            OGRwkbGeometryType::wkbMultiPolygon
        );
        let mixed = [
            out(Geometry::Polygon(square), &[]),
            out(Geometry::Point(point!(x: 0.0, y: 0.0)), &[]),
        ];
        assert_eq!(geometry_type(&mixed), OGRwkbGeometryType::wkbUnknown);
        assert_eq!(geometry_type(&[]), OGRwkbGeometryType::wkbUnknown);
    }
}
