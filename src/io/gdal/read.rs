//! Reading one GDAL layer: opening, choosing the layer, the declared CRS, and converting each
//! feature's fid, geometry and fields. [`super::osm`] reuses the pieces.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use gdal::errors::GdalError;
use gdal::vector::{
    geometry_type_flatten, geometry_type_to_name, Defn, Feature, FieldValue, Layer, LayerAccess,
    OGRFieldType,
};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::{Geometry, Point};

use super::ffi;
use super::GdalSource;
use crate::io::{LoadError, LoadReport, RawFeature, SourceInfo};
use crate::model::{AttrValue, Attributes, FeatureId};

/// Reads the layer `source` names (or its only layer).
pub(super) fn read(
    source: &GdalSource,
    report: &mut LoadReport,
    sink: &mut dyn FnMut(RawFeature),
) -> Result<SourceInfo, LoadError> {
    let path = source.path.as_path();
    let dataset = open(path, &open_options_for(path))?;
    let format = dataset.driver().short_name();
    let mut layer = choose_layer(&dataset, path, source.layer.as_deref())?;
    let layer_name = layer.name();
    if format == "OSM" {
        // Without this the OSM driver buffers the features of the other four layers while this
        // one is read, and fails on large files ("too many features have accumulated").
        declare_osm_interest(&dataset, path, &[&layer_name])?;
    }
    let declared_crs = declared_crs(&layer);
    let schema = Schema::of(layer.defn());
    let lonlat = match &source.lonlat_fields {
        Some((lon, lat)) => Some(LonLatColumns::find(&schema, lon, lat, path)?),
        None => None,
    };

    for (index, feature) in layer.features().enumerate() {
        let fid = fid_of(&feature);
        let mut properties = schema.properties(&feature);
        let geometry = match &lonlat {
            Some(columns) => match columns.point(&properties) {
                Ok(point) => {
                    columns.remove_from(&mut properties);
                    Some(Geometry::Point(point))
                }
                Err(reason) => {
                    report.reject(path, index, id_field(&properties), reason);
                    continue;
                }
            },
            None => match geometry_of(&feature) {
                Ok(geometry) => geometry,
                Err(reason) => {
                    let id =
                        id_field(&properties).or_else(|| fid.as_ref().map(ToString::to_string));
                    report.reject(path, index, id, reason);
                    continue;
                }
            },
        };
        sink(RawFeature { index, fid, geometry, properties });
    }

    Ok(SourceInfo { declared_crs, format, layer: Some(layer_name) })
}

/// Opens `path` as a read-only vector dataset.
pub(super) fn open(path: &Path, open_options: &[&str]) -> Result<Dataset, LoadError> {
    // GDAL's "cannot open" says little about a missing file; std says exactly that. GDAL virtual
    // paths (/vsizip/, /vsicurl/…) have no local metadata and go straight to GDAL.
    if !path.starts_with("/vsi") {
        if let Err(source) = std::fs::metadata(path) {
            return Err(LoadError::Read { path: path.to_owned(), source });
        }
    }
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
        open_options: (!open_options.is_empty()).then_some(open_options),
        ..DatasetOptions::default()
    };
    Dataset::open_ex(path, options).map_err(|e| gdal_error(path, &e))
}

/// Open options for `path`: CSV columns stay text (the loader converts them and reports bad
/// values with their row), and only the CSV driver gets them, since other drivers warn about
/// options they do not know.
fn open_options_for(path: &Path) -> Vec<&'static str> {
    let is_csv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv"));
    if is_csv {
        vec!["AUTODETECT_TYPE=NO"]
    } else {
        Vec::new()
    }
}

/// The layer named `name`, or the only layer.
fn choose_layer<'a>(
    dataset: &'a Dataset,
    path: &Path,
    name: Option<&str>,
) -> Result<Layer<'a>, LoadError> {
    let names: Vec<String> = dataset.layers().map(|l| l.name()).collect();
    match name {
        Some(name) if names.iter().any(|n| n == name) => {
            dataset.layer_by_name(name).map_err(|e| gdal_error(path, &e))
        }
        Some(name) => Err(LoadError::NoLayer {
            path: path.to_owned(),
            layer: name.to_owned(),
            available: names.join(", "),
        }),
        None => match names.len() {
            1 => dataset.layer(0).map_err(|e| gdal_error(path, &e)),
            0 => Err(LoadError::Gdal {
                path: path.to_owned(),
                message: "the file has no vector layer".to_owned(),
            }),
            _ => Err(LoadError::AmbiguousLayer {
                path: path.to_owned(),
                available: names.join(", "),
            }),
        },
    }
}

/// Tells the OSM driver which layers will be read, so that it neither parses nor buffers the
/// others (GDAL's documented `SET interest_layers` statement).
pub(super) fn declare_osm_interest(
    dataset: &Dataset,
    path: &Path,
    layers: &[&str],
) -> Result<(), LoadError> {
    let sql = format!("SET interest_layers = {}", layers.join(","));
    dataset
        .execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
        .map(drop)
        .map_err(|e| gdal_error(path, &e))
}

/// The layer's CRS, made 2D, as `EPSG:nnnn` when GDAL can name its EPSG code, else as WKT;
/// `None` when the layer has no CRS (a Shapefile without `.prj`, a CSV).
pub(super) fn declared_crs<L: LayerAccess>(layer: &L) -> Option<String> {
    let mut srs = layer.spatial_ref()?;
    if srs.is_compound() || srs.axes_count() > 2 {
        // Geometries lose Z on reading, so the CRS they are in is the 2D one. On failure the 3D
        // CRS is declared as it is; PROJ still transforms 2D points from it.
        let mut flat = srs.clone();
        if ffi::demote_to_2d(&mut flat).is_ok() {
            srs = flat;
        }
    }
    if let Some(code) = epsg_code(&srs) {
        return Some(format!("EPSG:{code}"));
    }
    // An ESRI-style .prj often spells WGS 84 or UTM without an authority; GDAL recognises those
    // exactly (no fuzzy matching), which gives the loader a name instead of a WKT blob.
    let mut identified = srs.clone();
    if identified.auto_identify_epsg().is_ok() {
        if let Some(code) = epsg_code(&identified) {
            return Some(format!("EPSG:{code}"));
        }
    }
    srs.to_wkt().ok().filter(|wkt| !wkt.is_empty())
}

fn epsg_code(srs: &gdal::spatial_ref::SpatialRef) -> Option<i32> {
    srs.auth_name()
        .filter(|name| name.eq_ignore_ascii_case("EPSG"))
        .and_then(|_| srs.auth_code().ok())
}

/// The feature's FID, when the driver assigns one.
pub(super) fn fid_of(feature: &Feature<'_>) -> Option<FeatureId> {
    let fid = feature.fid()?;
    Some(i64::try_from(fid).map_or_else(|_| FeatureId::Text(fid.to_string()), FeatureId::Int))
}

/// The value of a property named `id` (any case), for rejection messages.
pub(super) fn id_field(properties: &Attributes) -> Option<String> {
    properties
        .iter()
        .find(|(name, value)| name.eq_ignore_ascii_case("id") && *value != AttrValue::Null)
        .map(|(_, value)| value.to_string())
}

/// The feature's geometry in geo types: `Ok(None)` when it is null or empty, `Err(reason)` when
/// GDAL cannot convert it.
pub(super) fn geometry_of(feature: &Feature<'_>) -> Result<Option<Geometry<f64>>, String> {
    let Some(geometry) = feature.geometry() else { return Ok(None) };
    // SAFETY: only reads the handle the feature holds; a feature without geometry in a layer
    // that has a geometry column holds a null handle, which every other call would pass to GDAL.
    if unsafe { geometry.c_geometry() }.is_null() || geometry.is_empty() {
        return Ok(None);
    }
    let geometry_type = geometry.geometry_type();
    if geometry_type_flatten(geometry_type) == geometry_type {
        convert(geometry)
    } else {
        // Z and M are dropped: coverage is planar, and the crate converts 2D types only.
        let mut flat = geometry.clone();
        flat.flatten_to_2d();
        convert(&flat)
    }
    .map(Some)
}

fn convert(geometry: &gdal::vector::Geometry) -> Result<Geometry<f64>, String> {
    // gdal 0.19's conversion panics on a collection member of an unexpected type instead of
    // returning an error; one malformed feature must not take the whole load down.
    match catch_unwind(AssertUnwindSafe(|| geometry.to_geo())) {
        Ok(Ok(geometry)) => Ok(geometry),
        Ok(Err(GdalError::UnsupportedGdalGeometryType(ty))) => Err(format!(
            "GDAL geometry type {} cannot be read; convert curves to lines first \
             (ogr2ogr -nlt CONVERT_TO_LINEAR)",
            geometry_type_to_name(ty)
        )),
        Ok(Err(e)) => Err(format!("GDAL cannot convert the geometry: {}", gdal_message(&e))),
        Err(_) => Err("GDAL cannot convert the geometry: malformed geometry collection".to_owned()),
    }
}

/// Field names, types and boolean flags of a layer, read once.
pub(super) struct Schema {
    fields: Vec<(String, OGRFieldType::Type, bool)>,
}

impl Schema {
    pub(super) fn of(defn: &Defn) -> Self {
        let fields = defn
            .fields()
            .enumerate()
            .map(|(idx, field)| {
                (field.name(), field.field_type(), ffi::is_boolean_field(defn, idx))
            })
            .collect();
        Self { fields }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(name, _, _)| name.as_str())
    }

    /// Every field of `feature`, in layer order.
    pub(super) fn properties(&self, feature: &Feature<'_>) -> Attributes {
        self.fields
            .iter()
            .enumerate()
            .map(|(idx, (name, ty, is_bool))| {
                (name.clone(), field_value(feature, idx, *ty, *is_bool))
            })
            .collect()
    }
}

fn field_value(
    feature: &Feature<'_>,
    idx: usize,
    ty: OGRFieldType::Type,
    is_bool: bool,
) -> AttrValue {
    if !ffi::has_value(feature, idx) {
        return AttrValue::Null;
    }
    let value = match ty {
        OGRFieldType::OFTInteger if is_bool => {
            feature.field_as_integer(idx).ok().flatten().map(|n| AttrValue::Bool(n != 0))
        }
        OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 => {
            feature.field_as_integer64(idx).ok().flatten().map(AttrValue::Int)
        }
        OGRFieldType::OFTReal => feature.field_as_double(idx).ok().flatten().map(AttrValue::Float),
        OGRFieldType::OFTDate | OGRFieldType::OFTDateTime => {
            // GDAL's own text keeps what chrono would lose: fractional seconds and the
            // difference between "no time zone" and UTC.
            feature.field_as_string(idx).ok().flatten().map(|s| AttrValue::Text(iso_datetime(&s)))
        }
        OGRFieldType::OFTIntegerList
        | OGRFieldType::OFTInteger64List
        | OGRFieldType::OFTRealList
        | OGRFieldType::OFTStringList => feature.field(idx).ok().flatten().and_then(list_json),
        _ => feature.field_as_string(idx).ok().flatten().map(AttrValue::Text),
    };
    value.unwrap_or(AttrValue::Null)
}

fn list_json(value: FieldValue) -> Option<AttrValue> {
    let json = match value {
        FieldValue::IntegerListValue(v) => serde_json::to_string(&v),
        FieldValue::Integer64ListValue(v) => serde_json::to_string(&v),
        FieldValue::RealListValue(v) => serde_json::to_string(&v),
        FieldValue::StringListValue(v) => serde_json::to_string(&v),
        _ => return None,
    };
    json.ok().map(AttrValue::Json)
}

/// GDAL's date text (`2024/05/01`, `2024/05/01 08:30:00.250+08`, `… 08:30:00+0530`) as ISO 8601
/// (`2024-05-01`, `2024-05-01T08:30:00.250+08:00`, `…T08:30:00+05:30`). Text in any other shape
/// is returned unchanged.
pub(super) fn iso_datetime(gdal: &str) -> String {
    let (date, time) = match gdal.split_once(' ') {
        Some((date, time)) => (date, Some(time)),
        None => (gdal, None),
    };
    let date_ok = date.len() == 10
        && date.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '/' || c == '-',
            _ => c.is_ascii_digit(),
        });
    if !date_ok {
        return gdal.to_owned();
    }
    let mut iso = date.replace('/', "-");
    let Some(time) = time else { return iso };
    // The offset starts at the first sign after the seconds.
    let (clock, offset) = match time.find(['+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    iso.push('T');
    iso.push_str(clock.trim());
    match offset.len() {
        0 => {}
        // "+08" and "+0530"
        3 => {
            iso.push_str(offset);
            iso.push_str(":00");
        }
        5 => {
            iso.push_str(&offset[..3]);
            iso.push(':');
            iso.push_str(&offset[3..]);
        }
        _ => iso.push_str(offset),
    }
    iso
}

/// The two coordinate columns of a lon/lat table.
struct LonLatColumns {
    lon: String,
    lat: String,
}

impl LonLatColumns {
    /// Finds the columns by exact name, else ignoring ASCII case.
    fn find(schema: &Schema, lon: &str, lat: &str, path: &Path) -> Result<Self, LoadError> {
        let find = |wanted: &str, role: &str| {
            schema
                .names()
                .find(|n| *n == wanted)
                .or_else(|| schema.names().find(|n| n.eq_ignore_ascii_case(wanted)))
                .map(ToOwned::to_owned)
                .ok_or_else(|| LoadError::Gdal {
                    path: path.to_owned(),
                    message: format!(
                        "no {role} column `{wanted}`; the columns are: {}",
                        schema.names().collect::<Vec<_>>().join(", ")
                    ),
                })
        };
        Ok(Self { lon: find(lon, "longitude")?, lat: find(lat, "latitude")? })
    }

    /// The point, or why the row has none.
    fn point(&self, properties: &Attributes) -> Result<Point<f64>, String> {
        let lon = coordinate(properties, &self.lon)?;
        let lat = coordinate(properties, &self.lat)?;
        Ok(Point::new(lon, lat))
    }

    fn remove_from(&self, properties: &mut Attributes) {
        properties.retain(|(name, _)| *name != self.lon && *name != self.lat);
    }
}

fn coordinate(properties: &Attributes, column: &str) -> Result<f64, String> {
    let value = properties.iter().find(|(name, _)| name == column).map(|(_, v)| v);
    let text = match value {
        Some(AttrValue::Float(x)) => return finite(*x, column, &x.to_string()),
        #[expect(clippy::cast_precision_loss, reason = "coordinates are far below 2^53")]
        Some(AttrValue::Int(n)) => return Ok(*n as f64),
        Some(AttrValue::Text(s)) => s.trim(),
        _ => "",
    };
    if text.is_empty() {
        return Err(format!("{column} is empty"));
    }
    match text.parse::<f64>() {
        Ok(x) => finite(x, column, text),
        Err(_) => Err(format!("{column} `{text}` is not a number")),
    }
}

fn finite(x: f64, column: &str, text: &str) -> Result<f64, String> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{column} `{text}` is not a finite number"))
    }
}

/// A GDAL error on `path` as a [`LoadError`].
pub(super) fn gdal_error(path: &Path, error: &GdalError) -> LoadError {
    LoadError::Gdal { path: path.to_owned(), message: gdal_message(error) }
}

/// GDAL's own words when the error carries them, without the crate's "method X returned…"
/// wrapper.
pub(super) fn gdal_message(error: &GdalError) -> String {
    match error {
        GdalError::NullPointer { msg, .. } | GdalError::CplError { msg, .. } if !msg.is_empty() => {
            msg.clone()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_datetime_converts_gdal_text() {
        assert_eq!(iso_datetime("2024/05/01"), "2024-05-01");
        assert_eq!(iso_datetime("2024/05/01 08:30:00"), "2024-05-01T08:30:00");
        assert_eq!(iso_datetime("2024/05/01 08:30:00.250+08"), "2024-05-01T08:30:00.250+08:00");
        assert_eq!(iso_datetime("2024/05/01 08:30:00+0530"), "2024-05-01T08:30:00+05:30");
        assert_eq!(iso_datetime("2024/05/01 08:30:00-03"), "2024-05-01T08:30:00-03:00");
        assert_eq!(iso_datetime("2024/05/01 08:30:00+00"), "2024-05-01T08:30:00+00:00");
        assert_eq!(iso_datetime("yesterday"), "yesterday");
    }

    #[test]
    fn coordinates_are_trimmed_and_checked() {
        let props = |lon: &str| {
            vec![
                ("lon".to_owned(), AttrValue::Text(lon.to_owned())),
                ("lat".to_owned(), AttrValue::Text(" 31.2 ".to_owned())),
            ]
        };
        let columns = LonLatColumns { lon: "lon".to_owned(), lat: "lat".to_owned() };
        assert_eq!(columns.point(&props(" 121.5")), Ok(Point::new(121.5, 31.2)));
        assert_eq!(columns.point(&props("abc")), Err("lon `abc` is not a number".to_owned()));
        assert_eq!(columns.point(&props("  ")), Err("lon is empty".to_owned()));
        assert_eq!(
            columns.point(&props("inf")),
            Err("lon `inf` is not a finite number".to_owned())
        );
    }

    #[test]
    fn id_field_ignores_case_and_nulls() {
        let props = vec![("ID".to_owned(), AttrValue::Null), ("Id".to_owned(), AttrValue::Int(7))];
        assert_eq!(id_field(&props), Some("7".to_owned()));
        assert_eq!(id_field(&Vec::new()), None);
    }
}
