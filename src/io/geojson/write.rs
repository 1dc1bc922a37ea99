//! Streaming GeoJSON writer (RFC 7946).
//!
//! The JSON is written by hand into a large [`BufWriter`]: building a `serde_json::Value` (or a
//! `geojson::Feature`) per feature would allocate a tree per feature and make writing a million
//! features several times slower than formatting them. serde_json is used only where its
//! output must be exactly right and is cheap: escaping strings and formatting property floats
//! (shortest round-trip form, NaN and infinities as `null`).
//!
//! Coordinates are rounded to 7 decimals (about 1 cm at the equator), written without trailing
//! zeros. Polygon rings are reoriented when needed so that exterior rings are counter-clockwise
//! and holes clockwise (RFC 7946 §3.1.6), measured in the plane of lon/lat.
#![expect(clippy::doc_markdown, reason = "GeoJSON and CRS84 are format names, not code")]

use std::borrow::Borrow;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use geo::{Coord, Geometry, LineString, Polygon};

use crate::io::write::OutFeature;
use crate::io::WriteError;
use crate::model::AttrValue;

/// Output buffer size: large enough that the kernel sees few, big writes.
const BUFFER_BYTES: usize = 1 << 20;

/// Coordinates are rounded to `1 / COORD_SCALE` degrees (7 decimals, about 1 cm).
const COORD_SCALE: f64 = 1e7;

/// Decimal digits kept after the point; must match [`COORD_SCALE`].
const COORD_DECIMALS: u32 = 7;

/// Above this magnitude a scaled coordinate no longer fits an `i64` exactly; such values are not
/// lon/lat anyway and are written in shortest round-trip form instead.
const MAX_EXACT_SCALED: f64 = 9.0e15;

/// Writes `features` as a GeoJSON FeatureCollection to the file `path`, atomically.
///
/// The document goes to a hidden temporary file beside `path` first
/// ([`write_atomically`](crate::io::write::write_atomically)) and is renamed onto `path` only once
/// complete and synced, so readers never see a half-written file; on failure the
/// temporary file is removed. Geometries must be in CRS84 (lon, lat). `name`, when given,
/// becomes the collection's top-level `"name"` member (GDAL reads it as the layer name).
/// See [`write_feature_collection_to`] for the exact output format.
///
/// # Errors
/// [`WriteError::Io`] naming `path` when the file cannot be created, written or renamed, or when
/// a coordinate is NaN or infinite (GeoJSON cannot represent it).
///
/// # Examples
/// ```
/// use gapmap::io::geojson::write_feature_collection;
/// use gapmap::io::write::OutFeature;
/// use gapmap::model::AttrValue;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("facilities.geojson");
/// let feature = OutFeature {
///     geometry: geo::Point::new(114.51, 38.04).into(),
///     properties: vec![("kind".to_owned(), AttrValue::Text("market".to_owned()))],
/// };
/// write_feature_collection(&path, [&feature], Some("facilities"))?;
/// let text = std::fs::read_to_string(&path)?;
/// assert!(text.contains(r#""coordinates":[114.51,38.04]"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_feature_collection<F>(
    path: &Path,
    features: impl IntoIterator<Item = F>,
    name: Option<&str>,
) -> Result<(), WriteError>
where
    F: Borrow<OutFeature>,
{
    // The shared temporary naming, clean-up and sync (`io::write`); the document buffers itself.
    crate::io::write::write_atomically(path, |w| {
        write_feature_collection_to(w.get_mut(), features, name).map_err(|source| WriteError::Io { path: path.to_owned(), source })
    })
}

/// Writes `features` as a GeoJSON FeatureCollection to `writer`, buffered internally.
///
/// The output is one JSON document: the collection header (with `"name"` when given), then one
/// feature per line (`{"type":"Feature","geometry":…,"properties":…}`), then the closing
/// brackets and a newline. Geometries must be in CRS84 (lon, lat):
/// - coordinates are rounded to 7 decimals without trailing zeros (`114.5`, not `114.5000000`);
/// - `Line`, `Rect` and `Triangle` are written as `LineString` and `Polygon`;
/// - exterior rings are written counter-clockwise and holes clockwise (RFC 7946 §3.1.6),
///   reversing the stored order when needed;
/// - properties keep their order; [`AttrValue::Json`] is written verbatim (it must already be
///   valid JSON), non-finite floats are written as `null`.
///
/// The writer is flushed before returning; pass `&mut w` to keep using `w`.
///
/// # Errors
/// Any error from `writer`, or [`io::ErrorKind::InvalidData`] for a NaN or infinite coordinate.
///
/// # Examples
/// ```
/// use gapmap::io::write::OutFeature;
///
/// let feature = OutFeature { geometry: geo::Point::new(1.000_000_04, 2.5).into(), properties: vec![] };
/// let mut out = Vec::new();
/// gapmap::io::geojson::write_feature_collection_to(&mut out, [feature], None)?;
/// let text = String::from_utf8(out)?;
/// assert!(text.contains(r#""coordinates":[1,2.5]"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_feature_collection_to<F>(
    writer: impl Write,
    features: impl IntoIterator<Item = F>,
    name: Option<&str>,
) -> io::Result<()>
where
    F: Borrow<OutFeature>,
{
    let mut w = BufWriter::with_capacity(BUFFER_BYTES, writer);
    w.write_all(b"{\"type\":\"FeatureCollection\"")?;
    if let Some(name) = name {
        w.write_all(b",\"name\":")?;
        write_json_str(&mut w, name)?;
    }
    w.write_all(b",\"features\":[")?;
    for (index, feature) in features.into_iter().enumerate() {
        w.write_all(if index == 0 { b"\n" } else { b",\n" })?;
        write_feature(&mut w, feature.borrow()).map_err(|e| with_feature_index(e, index))?;
    }
    w.write_all(b"\n]}\n")?;
    w.flush()
}

/// Adds the feature position to data errors so the caller can find the culprit.
fn with_feature_index(error: io::Error, index: usize) -> io::Error {
    if error.kind() == io::ErrorKind::InvalidData {
        io::Error::new(io::ErrorKind::InvalidData, format!("feature {index}: {error}"))
    } else {
        error
    }
}

fn write_feature<W: Write>(w: &mut W, feature: &OutFeature) -> io::Result<()> {
    w.write_all(b"{\"type\":\"Feature\",\"geometry\":")?;
    write_geometry(w, &feature.geometry)?;
    w.write_all(b",\"properties\":{")?;
    for (i, (key, value)) in feature.properties.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write_json_str(w, key)?;
        w.write_all(b":")?;
        write_attr(w, value)?;
    }
    w.write_all(b"}}")
}

/// Writes one feature as the server serves it: `{"type":"Feature","id":ID,"geometry":…,
/// "properties":{…}}`, `id_json` already JSON (a number or a string). The same number and string
/// forms as [`write_feature_collection_to`].
///
/// # Errors
/// What `w` returns.
pub fn write_feature_with_id<'a, W, V>(w: &mut W, id_json: &[u8], geometry: &Geometry<f64>, properties: impl Iterator<Item = (&'a str, V)>) -> io::Result<()>
where
    W: Write,
    V: Borrow<AttrValue>,
{
    w.write_all(b"{\"type\":\"Feature\",\"id\":")?;
    w.write_all(id_json)?;
    w.write_all(b",\"geometry\":")?;
    write_geometry(w, geometry)?;
    w.write_all(b",\"properties\":{")?;
    for (i, (key, value)) in properties.enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write_json_str(w, key)?;
        w.write_all(b":")?;
        write_attr(w, value.borrow())?;
    }
    w.write_all(b"}}")
}

fn write_attr<W: Write>(w: &mut W, value: &AttrValue) -> io::Result<()> {
    match value {
        AttrValue::Null => w.write_all(b"null"),
        AttrValue::Bool(true) => w.write_all(b"true"),
        AttrValue::Bool(false) => w.write_all(b"false"),
        AttrValue::Int(n) => write_int(w, *n),
        // serde_json writes the shortest round-trip form (ryu) and non-finite values as null.
        AttrValue::Float(x) => serde_json::to_writer(&mut *w, x).map_err(io::Error::from),
        AttrValue::Text(s) => write_json_str(w, s),
        AttrValue::Json(raw) => w.write_all(raw.as_bytes()),
    }
}

fn write_json_str<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    serde_json::to_writer(&mut *w, s).map_err(io::Error::from)
}

fn write_int<W: Write>(w: &mut W, n: i64) -> io::Result<()> {
    let mut buf = [0u8; 20];
    let pos = format_digits(&mut buf, n.unsigned_abs());
    if n < 0 {
        w.write_all(b"-")?;
    }
    w.write_all(&buf[pos..])
}

/// Writes the decimal digits of `n` at the end of `buf`; returns where they start.
fn format_digits(buf: &mut [u8], mut n: u64) -> usize {
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + u8::try_from(n % 10).expect("a decimal digit fits u8");
        n /= 10;
        if n == 0 {
            return pos;
        }
    }
}

fn write_geometry<W: Write>(w: &mut W, geometry: &Geometry<f64>) -> io::Result<()> {
    match geometry {
        Geometry::Point(p) => {
            w.write_all(b"{\"type\":\"Point\",\"coordinates\":")?;
            write_position(w, p.0)?;
        }
        Geometry::MultiPoint(mp) => {
            w.write_all(b"{\"type\":\"MultiPoint\",\"coordinates\":[")?;
            for (i, p) in mp.iter().enumerate() {
                write_separator(w, i)?;
                write_position(w, p.0)?;
            }
            w.write_all(b"]")?;
        }
        Geometry::Line(line) => {
            w.write_all(b"{\"type\":\"LineString\",\"coordinates\":[")?;
            write_position(w, line.start)?;
            w.write_all(b",")?;
            write_position(w, line.end)?;
            w.write_all(b"]")?;
        }
        Geometry::LineString(ls) => {
            w.write_all(b"{\"type\":\"LineString\",\"coordinates\":")?;
            write_positions(w, ls.0.iter().copied())?;
        }
        Geometry::MultiLineString(mls) => {
            w.write_all(b"{\"type\":\"MultiLineString\",\"coordinates\":[")?;
            for (i, ls) in mls.iter().enumerate() {
                write_separator(w, i)?;
                write_positions(w, ls.0.iter().copied())?;
            }
            w.write_all(b"]")?;
        }
        Geometry::Polygon(polygon) => {
            w.write_all(b"{\"type\":\"Polygon\",\"coordinates\":")?;
            write_polygon_rings(w, polygon)?;
        }
        Geometry::MultiPolygon(mp) => {
            w.write_all(b"{\"type\":\"MultiPolygon\",\"coordinates\":[")?;
            for (i, polygon) in mp.iter().enumerate() {
                write_separator(w, i)?;
                write_polygon_rings(w, polygon)?;
            }
            w.write_all(b"]")?;
        }
        Geometry::Rect(rect) => {
            w.write_all(b"{\"type\":\"Polygon\",\"coordinates\":")?;
            write_polygon_rings(w, &rect.to_polygon())?;
        }
        Geometry::Triangle(triangle) => {
            w.write_all(b"{\"type\":\"Polygon\",\"coordinates\":")?;
            write_polygon_rings(w, &triangle.to_polygon())?;
        }
        Geometry::GeometryCollection(gc) => {
            w.write_all(b"{\"type\":\"GeometryCollection\",\"geometries\":[")?;
            for (i, g) in gc.iter().enumerate() {
                write_separator(w, i)?;
                write_geometry(w, g)?;
            }
            w.write_all(b"]")?;
        }
    }
    w.write_all(b"}")
}

fn write_separator<W: Write>(w: &mut W, index: usize) -> io::Result<()> {
    if index > 0 {
        w.write_all(b",")?;
    }
    Ok(())
}

/// `[[exterior…],[hole…],…]`, exterior counter-clockwise and holes clockwise.
fn write_polygon_rings<W: Write>(w: &mut W, polygon: &Polygon<f64>) -> io::Result<()> {
    w.write_all(b"[")?;
    write_ring(w, polygon.exterior(), true)?;
    for hole in polygon.interiors() {
        w.write_all(b",")?;
        write_ring(w, hole, false)?;
    }
    w.write_all(b"]")
}

fn write_ring<W: Write>(w: &mut W, ring: &LineString<f64>, counter_clockwise: bool) -> io::Result<()> {
    let area = twice_signed_area(&ring.0);
    // A degenerate ring (area 0) has no orientation: keep it as stored.
    let reverse = if counter_clockwise { area < 0.0 } else { area > 0.0 };
    if reverse {
        write_positions(w, ring.0.iter().rev().copied())
    } else {
        write_positions(w, ring.0.iter().copied())
    }
}

/// Shoelace formula, positive for counter-clockwise rings. Coordinates are taken relative to the
/// first one so that lon/lat far from the origin lose no precision.
fn twice_signed_area(coords: &[Coord<f64>]) -> f64 {
    let Some(&origin) = coords.first() else { return 0.0 };
    coords
        .windows(2)
        .map(|pair| {
            let a = pair[0] - origin;
            let b = pair[1] - origin;
            a.x * b.y - b.x * a.y
        })
        .sum()
}

fn write_positions<W: Write>(w: &mut W, coords: impl Iterator<Item = Coord<f64>>) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, c) in coords.enumerate() {
        write_separator(w, i)?;
        write_position(w, c)?;
    }
    w.write_all(b"]")
}

fn write_position<W: Write>(w: &mut W, c: Coord<f64>) -> io::Result<()> {
    w.write_all(b"[")?;
    write_coordinate(w, c.x)?;
    w.write_all(b",")?;
    write_coordinate(w, c.y)?;
    w.write_all(b"]")
}

/// One coordinate rounded to 7 decimals, trailing zeros (and a bare point) removed, `-0` as `0`.
///
/// Integer arithmetic on the scaled value avoids both float formatting cost and artefacts such
/// as `0.30000000000000004`.
fn write_coordinate<W: Write>(w: &mut W, value: f64) -> io::Result<()> {
    if !value.is_finite() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("coordinate {value} is not a finite number; GeoJSON cannot represent it"),
        ));
    }
    let scaled = (value * COORD_SCALE).round();
    if scaled.abs() >= MAX_EXACT_SCALED {
        return serde_json::to_writer(&mut *w, &value).map_err(io::Error::from);
    }
    #[expect(clippy::cast_possible_truncation, reason = "|scaled| < 9e15 is an exact integer within i64")]
    let scaled = scaled as i64;
    let magnitude = scaled.unsigned_abs();
    let unit = 10u64.pow(COORD_DECIMALS);
    let (whole, mut fraction) = (magnitude / unit, magnitude % unit);

    let mut buf = [0u8; 32];
    let mut pos = buf.len();
    if fraction != 0 {
        let mut digits = COORD_DECIMALS;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        for _ in 0..digits {
            pos -= 1;
            buf[pos] = b'0' + u8::try_from(fraction % 10).expect("a decimal digit fits u8");
            fraction /= 10;
        }
        pos -= 1;
        buf[pos] = b'.';
    }
    pos = format_digits(&mut buf[..pos], whole);
    if scaled < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    w.write_all(&buf[pos..])
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test should panic on any unexpected error")]
mod tests {
    use super::*;
    use geo::{coord, line_string, point, polygon, GeometryCollection, MultiPoint, MultiPolygon};
    use serde_json::Value;

    fn feature(geometry: impl Into<Geometry<f64>>, properties: Vec<(&str, AttrValue)>) -> OutFeature {
        OutFeature {
            geometry: geometry.into(),
            properties: properties.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    fn to_json(features: &[OutFeature], name: Option<&str>) -> Value {
        let mut out = Vec::new();
        write_feature_collection_to(&mut out, features, name).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    fn coordinate_text(value: f64) -> String {
        let mut out = Vec::new();
        write_coordinate(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Twice the signed area of a GeoJSON ring (`[[x, y], …]`), positive when counter-clockwise.
    fn json_ring_area(ring: &Value) -> f64 {
        let coords: Vec<Coord<f64>> = ring
            .as_array()
            .unwrap()
            .iter()
            .map(|p| coord! { x: p[0].as_f64().unwrap(), y: p[1].as_f64().unwrap() })
            .collect();
        twice_signed_area(&coords)
    }

    #[test]
    fn collection_structure_and_name() {
        let doc = to_json(
            &[
                feature(point!(x: 114.51, y: 38.04), vec![("id", AttrValue::Int(1))]),
                feature(point!(x: 114.52, y: 38.05), vec![("id", AttrValue::Int(2))]),
            ],
            Some("facilities"),
        );
        assert_eq!(doc["type"], "FeatureCollection");
        assert_eq!(doc["name"], "facilities");
        let features = doc["features"].as_array().unwrap();
        assert_eq!(features.len(), 2);
        assert_eq!(features[0]["type"], "Feature");
        assert_eq!(features[0]["geometry"]["type"], "Point");
        assert_eq!(features[0]["geometry"]["coordinates"], serde_json::json!([114.51, 38.04]));
        assert_eq!(features[1]["properties"]["id"], 2);
    }

    #[test]
    fn empty_collection_without_name() {
        let doc = to_json(&[], None);
        assert_eq!(doc, serde_json::json!({"type": "FeatureCollection", "features": []}));
    }

    #[test]
    fn properties_keep_order_and_types() {
        let props = vec![
            ("z_first", AttrValue::Null),
            ("bool", AttrValue::Bool(true)),
            ("int", AttrValue::Int(i64::MIN)),
            ("float", AttrValue::Float(0.1)),
            ("nan", AttrValue::Float(f64::NAN)),
            ("inf", AttrValue::Float(f64::NEG_INFINITY)),
            ("json", AttrValue::Json(r#"{"a":[1,2,{"b":null}]}"#.to_owned())),
            ("text", AttrValue::Text("ok".to_owned())),
        ];
        let mut out = Vec::new();
        write_feature_collection_to(&mut out, [feature(point!(x: 0.0, y: 0.0), props)], None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(
            r#""properties":{"z_first":null,"bool":true,"int":-9223372036854775808,"float":0.1,"nan":null,"inf":null,"json":{"a":[1,2,{"b":null}]},"text":"ok"}"#
        ), "{text}");
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["features"][0]["properties"]["json"]["a"][2]["b"], Value::Null);
    }

    #[test]
    fn strings_are_escaped() {
        let tricky = "和平\"花园\"\n二期\\\t\u{1}";
        let doc = to_json(
            &[feature(point!(x: 1.0, y: 2.0), vec![(tricky, AttrValue::Text(tricky.to_owned()))])],
            Some("名称 \"x\"\n"),
        );
        assert_eq!(doc["name"], "名称 \"x\"\n");
        assert_eq!(doc["features"][0]["properties"][tricky], tricky);
    }

    #[test]
    fn coordinates_are_rounded_without_trailing_zeros() {
        assert_eq!(coordinate_text(114.123_456_789), "114.1234568");
        assert_eq!(coordinate_text(114.5), "114.5");
        assert_eq!(coordinate_text(2.0), "2");
        assert_eq!(coordinate_text(0.1 + 0.2), "0.3");
        assert_eq!(coordinate_text(-0.000_000_01), "0");
        assert_eq!(coordinate_text(-0.0), "0");
        assert_eq!(coordinate_text(-0.000_000_05), "-0.0000001");
        assert_eq!(coordinate_text(-179.999_999_99), "-180");
        assert_eq!(coordinate_text(38.000_000_1), "38.0000001");
        assert_eq!(coordinate_text(-12.000_45), "-12.00045");
        // Out of lon/lat range: still valid JSON.
        assert_eq!(coordinate_text(1.0e12), "1000000000000.0");
        assert!(coordinate_text(1.0e300).parse::<f64>().is_ok());
    }

    #[test]
    fn non_finite_coordinate_is_an_error_with_feature_index() {
        let features = [feature(point!(x: 0.0, y: 0.0), vec![]), feature(point!(x: f64::NAN, y: 0.0), vec![])];
        let error = write_feature_collection_to(Vec::new(), &features, None).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().starts_with("feature 1:"), "{error}");
    }

    #[test]
    fn rings_are_reoriented() {
        // Exterior stored clockwise, hole stored counter-clockwise: both wrong for RFC 7946.
        let wrong = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 0.0, y: 10.0), (x: 10.0, y: 10.0), (x: 10.0, y: 0.0)],
            interiors: [[(x: 2.0, y: 2.0), (x: 4.0, y: 2.0), (x: 4.0, y: 4.0), (x: 2.0, y: 4.0)]],
        );
        let right = polygon!(
            exterior: [(x: 20.0, y: 0.0), (x: 30.0, y: 0.0), (x: 30.0, y: 10.0), (x: 20.0, y: 10.0)],
            interiors: [[(x: 22.0, y: 2.0), (x: 22.0, y: 4.0), (x: 24.0, y: 4.0), (x: 24.0, y: 2.0)]],
        );
        let doc = to_json(
            &[
                feature(wrong.clone(), vec![]),
                feature(MultiPolygon::new(vec![wrong.clone(), right.clone()]), vec![]),
                feature(Geometry::GeometryCollection(GeometryCollection::new_from(vec![wrong.into(), right.into()])), vec![]),
            ],
            None,
        );
        let features = &doc["features"];
        let mut polygons: Vec<&Value> = vec![&features[0]["geometry"]["coordinates"]];
        polygons.extend(features[1]["geometry"]["coordinates"].as_array().unwrap());
        for g in features[2]["geometry"]["geometries"].as_array().unwrap() {
            assert_eq!(g["type"], "Polygon");
            polygons.push(&g["coordinates"]);
        }
        assert_eq!(polygons.len(), 5);
        for rings in polygons {
            let rings = rings.as_array().unwrap();
            assert_eq!(rings.len(), 2);
            assert!(json_ring_area(&rings[0]) > 0.0, "exterior must be counter-clockwise: {}", rings[0]);
            assert!(json_ring_area(&rings[1]) < 0.0, "hole must be clockwise: {}", rings[1]);
            // Closed rings stay closed.
            let ring = rings[0].as_array().unwrap();
            assert_eq!(ring.first(), ring.last());
            assert_eq!(ring.len(), 5);
        }
    }

    #[test]
    fn other_geometry_types() {
        let doc = to_json(
            &[
                feature(MultiPoint::from(vec![(1.0, 2.0), (3.0, 4.0)]), vec![]),
                feature(line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)], vec![]),
                feature(geo::Line::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 1.0, y: 1.0 }), vec![]),
                feature(geo::Rect::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 1.0, y: 1.0 }), vec![]),
                feature(Geometry::GeometryCollection(GeometryCollection::new_from(vec![])), vec![]),
            ],
            None,
        );
        let f = &doc["features"];
        assert_eq!(f[0]["geometry"], serde_json::json!({"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]}));
        assert_eq!(f[1]["geometry"], serde_json::json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}));
        assert_eq!(f[2]["geometry"], f[1]["geometry"]);
        assert_eq!(f[3]["geometry"]["type"], "Polygon");
        assert!(json_ring_area(&f[3]["geometry"]["coordinates"][0]) > 0.0);
        assert_eq!(f[4]["geometry"], serde_json::json!({"type": "GeometryCollection", "geometries": []}));
    }

    #[test]
    fn output_parses_with_the_geojson_crate() {
        let mut out = Vec::new();
        let features = [feature(
            polygon![(x: 114.5, y: 38.0), (x: 114.6, y: 38.0), (x: 114.6, y: 38.1)],
            vec![("name", AttrValue::Text("和平小区".to_owned()))],
        )];
        write_feature_collection_to(&mut out, &features, Some("estates")).unwrap();
        let parsed: geojson::GeoJson = std::str::from_utf8(&out).unwrap().parse().unwrap();
        let geojson::GeoJson::FeatureCollection(fc) = parsed else { panic!("not a collection") };
        assert_eq!(fc.features.len(), 1);
        assert_eq!(fc.foreign_members.unwrap()["name"], "estates");
    }

    #[test]
    fn file_is_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.geojson");
        std::fs::write(&path, "old").unwrap();
        let features = vec![feature(point!(x: 1.0, y: 2.0), vec![("k", AttrValue::Int(7))])];
        write_feature_collection(&path, &features, Some("layer")).unwrap();
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["features"][0]["properties"]["k"], 7);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
    }

    #[test]
    fn failed_write_names_the_path_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.geojson");
        let features = [feature(point!(x: f64::INFINITY, y: 0.0), vec![])];
        let error = write_feature_collection(&path, &features, None).unwrap_err();
        assert!(matches!(&error, WriteError::Io { path: p, .. } if *p == path), "{error}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// `cargo test --release --lib io::geojson::write::tests::million_points -- --ignored --nocapture`
    #[test]
    #[ignore = "timing run; use --release"]
    #[expect(clippy::cast_precision_loss, reason = "test data")]
    fn million_points() {
        let features: Vec<OutFeature> = (0..1_000_000)
            .map(|i| {
                let t = f64::from(i) * 1e-6;
                feature(
                    point!(x: 114.4 + 0.2 * t, y: 37.95 + 0.17 * (t * 7.0).fract()),
                    vec![
                        ("id", AttrValue::Int(i64::from(i) + 1)),
                        ("kind", AttrValue::Text("ev_charger".to_owned())),
                        ("name", AttrValue::Text(format!("充电站{i}"))),
                        ("capacity", AttrValue::Int(i64::from(i % 20))),
                        ("opened_year", AttrValue::Int(2000 + i64::from(i % 25))),
                        ("district", AttrValue::Text("长安区".to_owned())),
                    ],
                )
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("points.geojson");
        let start = std::time::Instant::now();
        write_feature_collection(&path, &features, Some("facilities")).unwrap();
        let elapsed = start.elapsed();
        let bytes = std::fs::metadata(&path).unwrap().len();
        eprintln!(
            "1,000,000 points, 6 properties: {elapsed:.2?}, {:.1} MB, {:.0} MB/s",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / elapsed.as_secs_f64()
        );
    }

    /// Streams the 300,000-estate, 1,000,000-facility benchmark city to two files.
    /// `cargo test --release --lib io::geojson::write::tests::benchmark_city_streamed -- --ignored --nocapture`
    #[test]
    #[ignore = "timing run; use --release"]
    #[expect(clippy::cast_precision_loss, reason = "test output")]
    fn benchmark_city_streamed() {
        use crate::generate::{CityParams, CityPlan};
        let dir = tempfile::tempdir().unwrap();
        let start = std::time::Instant::now();
        let plan = CityPlan::new(&CityParams { estates: 300_000, facilities: 1_000_000, ..CityParams::default() });
        let planned = start.elapsed();
        write_feature_collection(&dir.path().join("estates.geojson"), plan.estates(), Some("estates")).unwrap();
        write_feature_collection(&dir.path().join("facilities.geojson"), plan.facilities(), Some("facilities")).unwrap();
        let size = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len() as f64 / 1e6;
        eprintln!(
            "planned in {planned:.2?}, planned and written in {:.2?}: estates {:.0} MB, facilities {:.0} MB",
            start.elapsed(),
            size("estates.geojson"),
            size("facilities.geojson")
        );
    }
}
