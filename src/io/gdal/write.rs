//! Writing result layers to `FlatGeobuf` or `GeoPackage`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

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
/// - The file is written beside `path` as `.<name>.partial.<ext>`, checked, synced and renamed
///   onto `path`: a crash leaves the old file or the new one, never half of one. A partial file
///   left by an earlier crash is removed first.
///
/// # Errors
/// [`WriteError::UnsupportedFormat`] for a driver other than `FlatGeobuf` or `GPKG`;
/// [`WriteError::Gdal`] when GDAL fails, a property name or text holds a NUL byte, or the
/// written file does not read back with every feature; [`WriteError::Io`] when the file
/// cannot be synced or renamed.
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
    let partial = partial_path(path, extension)?;
    remove_partial(&partial).map_err(|source| WriteError::Io { path: partial.clone(), source })?;

    let written = write_partial(&partial, driver, layer_name, features)
        .map_err(|message| WriteError::Gdal { path: path.to_owned(), message })
        .and_then(|()| {
            File::open(&partial)
                .and_then(|f| f.sync_all())
                .and_then(|()| fs::rename(&partial, path))
                .map_err(|source| WriteError::Io { path: path.to_owned(), source })
        });
    if written.is_err() {
        // Best effort: the error being returned matters more than a failed clean-up.
        let _ = remove_partial(&partial);
        return written;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename itself durable; directories cannot be opened for syncing everywhere,
        // and by now the data is safe in either name, so a failure here is not an error.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// `dir/.name.partial.ext`: same directory (so the rename cannot cross file systems), hidden,
/// and with the extension the driver needs (`FlatGeobuf` makes a directory of a name without
/// `.fgb`).
fn partial_path(path: &Path, extension: &str) -> Result<PathBuf, WriteError> {
    let name = path.file_name().ok_or_else(|| WriteError::Io {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the output path has no file name"),
    })?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial.{extension}"));
    Ok(path.with_file_name(partial))
}

/// Removes a partial file and the `SQLite` journal files a crashed `GeoPackage` write can leave.
fn remove_partial(partial: &Path) -> io::Result<()> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = partial.as_os_str().to_owned();
        name.push(suffix);
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

    #[test]
    fn partial_path_is_hidden_beside_the_target() {
        let partial =
            partial_path(Path::new("/out/estates.gpkg"), "gpkg").expect("has a file name");
        assert_eq!(partial, Path::new("/out/.estates.gpkg.partial.gpkg"));
    }
}
