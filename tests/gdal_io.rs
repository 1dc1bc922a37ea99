//! GDAL reading and writing: layer choice, declared CRS, field types, lon/lat tables,
//! OpenStreetMap roles, and `FlatGeobuf` / `GeoPackage` output.
//!
//! Inputs are made at test time in a temporary directory (with `write_gdal` or `ogr2ogr` from
//! gdal-bin); the only committed fixture is the hand-written `fixtures/gdal/small.osm`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use approx::assert_relative_eq;
use gapmap::io::gdal::{write_gdal, GdalSource, OsmRole};
use gapmap::io::write::OutFeature;
use gapmap::io::{FeatureSource, LoadError, LoadReport, RawFeature, SourceInfo, WriteError};
use gapmap::model::{AttrValue, Attributes, FeatureId};
use geo::{point, polygon, Contains, Geometry, MultiPolygon};

/// Everything one read produced.
struct Read {
    features: Vec<RawFeature>,
    report: LoadReport,
    info: SourceInfo,
}

fn read(mut source: GdalSource) -> Result<Read, LoadError> {
    let mut report = LoadReport::default();
    let mut features = Vec::new();
    let info = source.read(&mut report, &mut |f| features.push(f))?;
    Ok(Read { features, report, info })
}

fn ogr2ogr(args: &[&str]) -> Result<()> {
    let output =
        Command::new("ogr2ogr").args(args).output().context("running ogr2ogr (gdal-bin)")?;
    ensure!(
        output.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn write_text(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

fn text(s: &str) -> AttrValue {
    AttrValue::Text(s.to_owned())
}

fn prop<'a>(feature: &'a RawFeature, name: &str) -> &'a AttrValue {
    feature.property(name).unwrap_or_else(|| panic!("feature {} has no `{name}`", feature.index))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

const ESTATES_GEOJSON: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"Garden Court","households":820},
  "geometry":{"type":"Polygon","coordinates":[[[121.47,31.23],[121.472,31.23],[121.472,31.232],[121.47,31.23]]]}},
 {"type":"Feature","properties":{"name":"Hill Top","households":310},
  "geometry":{"type":"Polygon","coordinates":[[[121.48,31.23,5],[121.482,31.23,5],[121.482,31.232,6],[121.48,31.23,5]]]}}
]}"#;

const FACILITIES_GEOJSON: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"Little Stars","capacity":120,"rating":4.5},
  "geometry":{"type":"Point","coordinates":[121.473,31.231]}},
 {"type":"Feature","properties":{"name":"Sunset","capacity":null,"rating":3.0},
  "geometry":{"type":"Point","coordinates":[121.476,31.234]}},
 {"type":"Feature","properties":{"name":"Nowhere","capacity":10,"rating":1.0},"geometry":null}
]}"#;

/// A `GeoPackage` with layers `estates` (one polygon with Z) and `facilities` (one null geometry).
fn two_layer_gpkg(dir: &Path) -> Result<PathBuf> {
    let estates = write_text(dir, "estates.geojson", ESTATES_GEOJSON)?;
    let facilities = write_text(dir, "facilities.geojson", FACILITIES_GEOJSON)?;
    let gpkg = dir.join("city.gpkg");
    ogr2ogr(&[
        "-f",
        "GPKG",
        path_str(&gpkg),
        path_str(&estates),
        "-nln",
        "estates",
        "-dim",
        "XYZ",
    ])?;
    ogr2ogr(&["-update", path_str(&gpkg), path_str(&facilities), "-nln", "facilities"])?;
    Ok(gpkg)
}

#[test]
fn gpkg_named_layer_is_read_with_fid_crs_and_field_types() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gpkg = two_layer_gpkg(dir.path())?;
    let read = read(GdalSource::new(&gpkg).with_layer("facilities"))?;

    assert_eq!(read.info.format, "GPKG");
    assert_eq!(read.info.layer.as_deref(), Some("facilities"));
    assert_eq!(read.info.declared_crs.as_deref(), Some("EPSG:4326"));
    assert_eq!(read.features.len(), 3);
    let first = &read.features[0];
    assert_eq!((first.index, first.fid.clone()), (0, Some(FeatureId::Int(1))));
    assert_eq!(first.geometry, Some(Geometry::Point(point!(x: 121.473, y: 31.231))));
    assert_eq!(
        first.properties,
        [
            ("name".to_owned(), text("Little Stars")),
            ("capacity".to_owned(), AttrValue::Int(120)),
            ("rating".to_owned(), AttrValue::Float(4.5)),
        ]
    );
    assert_eq!(prop(&read.features[1], "capacity"), &AttrValue::Null);
    // A null geometry reaches the loader, which rejects it in its own words.
    assert_eq!(read.features[2].geometry, None);
    assert!(read.report.rejected.is_empty());
    Ok(())
}

#[test]
fn gpkg_z_geometries_are_flattened() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gpkg = two_layer_gpkg(dir.path())?;
    let read = read(GdalSource::new(&gpkg).with_layer("estates"))?;
    let expected = polygon![(x: 121.48, y: 31.23), (x: 121.482, y: 31.23), (x: 121.482, y: 31.232), (x: 121.48, y: 31.23)];
    assert_eq!(read.features[1].geometry, Some(Geometry::Polygon(expected)));
    Ok(())
}

#[test]
fn gpkg_without_layer_name_is_ambiguous() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gpkg = two_layer_gpkg(dir.path())?;
    match read(GdalSource::new(&gpkg)) {
        Err(LoadError::AmbiguousLayer { path, available }) => {
            assert_eq!(path, gpkg);
            assert_eq!(available, "estates, facilities");
        }
        other => panic!("expected AmbiguousLayer, got {:?}", other.map(|r| r.info)),
    }
    Ok(())
}

#[test]
fn gpkg_unknown_layer_lists_the_available_ones() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let gpkg = two_layer_gpkg(dir.path())?;
    let err = read(GdalSource::new(&gpkg).with_layer("schools")).err().context("must fail")?;
    assert!(
        matches!(&err, LoadError::NoLayer { layer, available, .. } if layer == "schools" && available == "estates, facilities"),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("no layer named `schools`; the file has: estates, facilities"));
    Ok(())
}

#[test]
fn curved_geometries_are_rejected_with_a_reason() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = write_text(
        dir.path(),
        "curves.csv",
        "id,WKT\n1,\"CURVEPOLYGON(CIRCULARSTRING(0 0,1 1,2 0,1 -1,0 0))\"\n2,\"POLYGON((0 0,1 0,1 1,0 0))\"\n",
    )?;
    let gpkg = dir.path().join("curves.gpkg");
    ogr2ogr(&["-f", "GPKG", path_str(&gpkg), path_str(&csv), "-nlt", "GEOMETRY"])?;
    let read = read(GdalSource::new(&gpkg))?;
    assert_eq!(read.features.len(), 1);
    assert_eq!(read.report.rejected.len(), 1);
    let rejection = &read.report.rejected[0];
    assert_eq!((rejection.index, rejection.id.as_deref()), (0, Some("1")));
    assert!(
        rejection.reason.contains("Curve Polygon")
            && rejection.reason.contains("CONVERT_TO_LINEAR"),
        "{}",
        rejection.reason
    );
    Ok(())
}

#[test]
fn shapefile_declares_its_prj_crs_or_none() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let facilities = write_text(dir.path(), "facilities.geojson", FACILITIES_GEOJSON)?;
    let shp = dir.path().join("facilities.shp");
    ogr2ogr(&["-f", "ESRI Shapefile", path_str(&shp), path_str(&facilities)])?;

    let with_prj = read(GdalSource::new(&shp))?;
    assert_eq!(with_prj.info.format, "ESRI Shapefile");
    assert_eq!(with_prj.info.declared_crs.as_deref(), Some("EPSG:4326"));
    assert_eq!(with_prj.features.len(), 3);
    assert_eq!(with_prj.features[0].fid, Some(FeatureId::Int(0)));
    assert_eq!(prop(&with_prj.features[0], "capacity"), &AttrValue::Int(120));
    assert_eq!(prop(&with_prj.features[1], "capacity"), &AttrValue::Null);
    assert_eq!(with_prj.features[2].geometry, None);

    // GDAL's GeoJSON driver gives data with Z a 3D CRS, which the .prj keeps ("WGS_1984_3D");
    // geometries are read in 2D, and so is the declared CRS.
    let estates = write_text(dir.path(), "estates.geojson", ESTATES_GEOJSON)?;
    let shp_3d = dir.path().join("estates.shp");
    ogr2ogr(&["-f", "ESRI Shapefile", path_str(&shp_3d), path_str(&estates)])?;
    let prj = std::fs::read_to_string(shp_3d.with_extension("prj"))?;
    assert!(prj.contains("WGS_1984_3D"), "{prj}");
    let declared_3d = read(GdalSource::new(&shp_3d))?.info.declared_crs.context("has a .prj")?;
    assert!(
        declared_3d.starts_with("GEOGCS[") && !declared_3d.contains("ellipsoidal height"),
        "{declared_3d}"
    );
    // With an EPSG code, PROJ finds the registered 2D CRS.
    let gpkg_3d = dir.path().join("estates.gpkg");
    ogr2ogr(&["-f", "GPKG", path_str(&gpkg_3d), path_str(&estates), "-a_srs", "EPSG:4979"])?;
    let declared_4979 = read(GdalSource::new(&gpkg_3d))?.info.declared_crs;
    assert_eq!(declared_4979.as_deref(), Some("EPSG:4326"));

    std::fs::remove_file(shp.with_extension("prj"))?;
    let without_prj = read(GdalSource::new(&shp))?;
    assert_eq!(without_prj.info.declared_crs, None);
    assert_eq!(without_prj.features.len(), 3);
    Ok(())
}

#[test]
fn gdal_geojson_lists_unset_fields_and_dates() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_text(
        dir.path(),
        "mixed.geojson",
        r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"n":7,"tags":[1,2,3],"opened":"2024-05-01T08:30:00+08:00","day":"2024-05-01"},
  "geometry":{"type":"Point","coordinates":[1,2]}},
 {"type":"Feature","properties":{"tags":[4]},"geometry":{"type":"Point","coordinates":[3,4]}}
]}"#,
    )?;
    let read = read(GdalSource::new(&path))?;
    assert_eq!(read.info.format, "GeoJSON");
    let [first, second] = &read.features[..] else { panic!("two features") };
    assert_eq!(prop(first, "n"), &AttrValue::Int(7));
    assert_eq!(prop(first, "tags"), &AttrValue::Json("[1,2,3]".to_owned()));
    assert_eq!(prop(first, "opened"), &text("2024-05-01T08:30:00+08:00"));
    assert_eq!(prop(first, "day"), &text("2024-05-01"));
    // Absent from the second feature: unset in OGR, which must read as null, not 0.
    assert_eq!(prop(second, "n"), &AttrValue::Null);
    assert_eq!(prop(second, "opened"), &AttrValue::Null);
    Ok(())
}

fn all_types_features() -> Vec<OutFeature> {
    let props =
        |items: Vec<(&str, AttrValue)>| items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let estate = |x0: f64| {
        Geometry::MultiPolygon(MultiPolygon(vec![polygon![
            (x: x0, y: 31.23), (x: x0 + 0.002, y: 31.23), (x: x0 + 0.002, y: 31.232), (x: x0, y: 31.232), (x: x0, y: 31.23)
        ]]))
    };
    vec![
        OutFeature {
            geometry: estate(121.47),
            properties: props(vec![
                ("estate", text("Garden Court")),
                ("households", AttrValue::Int(820)),
                ("gap_m", AttrValue::Float(312.5)),
                ("covered", AttrValue::Bool(true)),
                ("kinds", AttrValue::Json(r#"["kindergarten","clinic"]"#.to_owned())),
                ("note", AttrValue::Null),
            ]),
        },
        OutFeature {
            geometry: estate(121.48),
            properties: props(vec![
                ("estate", text("River View \"东\"")),
                ("households", AttrValue::Int(-3_000_000_000)),
                ("gap_m", AttrValue::Float(0.0)),
                ("covered", AttrValue::Bool(false)),
                ("note", text("no kinds property")),
            ]),
        },
    ]
}

/// What reading `written` back must give: JSON becomes text, missing properties null.
fn expected_back(written: &[OutFeature]) -> Vec<(Geometry<f64>, Attributes)> {
    let names = ["estate", "households", "gap_m", "covered", "kinds", "note"];
    written
        .iter()
        .map(|f| {
            let props = names
                .iter()
                .map(|name| {
                    let value = f
                        .properties
                        .iter()
                        .find(|(k, _)| k == name)
                        .map_or(AttrValue::Null, |(_, v)| v.clone());
                    let value = match value {
                        AttrValue::Json(s) => AttrValue::Text(s),
                        other => other,
                    };
                    ((*name).to_owned(), value)
                })
                .collect();
            (f.geometry.clone(), props)
        })
        .collect()
}

fn round_trip(driver: &str, file: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(file);
    let written = all_types_features();
    write_gdal(&path, driver, "coverage", &written)?;

    let read = read(GdalSource::new(&path))?;
    assert_eq!(read.info.format, driver);
    assert_eq!(read.info.layer.as_deref(), Some("coverage"));
    assert_eq!(read.info.declared_crs.as_deref(), Some("EPSG:4326"));
    let mut back: Vec<_> = read
        .features
        .into_iter()
        .map(|f| (f.geometry.expect("written with geometry"), f.properties))
        .collect();
    // FlatGeobuf's spatial index stores features in Hilbert order, not in the order written.
    back.sort_by_key(|(_, props)| props[0].1.to_string());
    assert_eq!(back, expected_back(&written));

    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    assert_eq!(leftovers, [std::ffi::OsString::from(file)], "only the output remains");
    Ok(())
}

#[test]
fn flatgeobuf_round_trip_keeps_geometry_and_property_types() -> Result<()> {
    round_trip("FlatGeobuf", "coverage.fgb")
}

#[test]
fn geopackage_round_trip_keeps_geometry_and_property_types() -> Result<()> {
    round_trip("GPKG", "coverage.gpkg")
}

#[test]
fn write_replaces_the_file_and_clears_a_stale_partial() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("out.gpkg");
    std::fs::write(&path, "old contents")?;
    let stale = dir.path().join(".out.gpkg.partial.gpkg");
    std::fs::write(&stale, "half a file from a crash")?;
    std::fs::write(dir.path().join(".out.gpkg.partial.gpkg-journal"), "stale journal")?;

    let features = vec![
        OutFeature { geometry: Geometry::Point(point!(x: 1.0, y: 2.0)), properties: Vec::new() },
        OutFeature {
            geometry: Geometry::Polygon(
                polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 0.0)],
            ),
            properties: Vec::new(),
        },
    ];
    write_gdal(&path, "GPKG", "mixed", &features)?;
    let read = read(GdalSource::new(&path))?;
    let geometries: Vec<_> = read.features.into_iter().map(|f| f.geometry).collect();
    assert_eq!(geometries, features.into_iter().map(|f| Some(f.geometry)).collect::<Vec<_>>());
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 1, "partial and journal are gone");
    Ok(())
}

#[test]
fn empty_layers_are_written() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for (driver, file) in [("FlatGeobuf", "empty.fgb"), ("GPKG", "empty.gpkg")] {
        let path = dir.path().join(file);
        write_gdal(&path, driver, "estates", &[])?;
        let read = read(GdalSource::new(&path))?;
        assert_eq!((read.features.len(), read.info.layer.as_deref()), (0, Some("estates")));
    }
    Ok(())
}

#[test]
fn write_rejects_other_drivers() {
    let err = write_gdal(Path::new("out.shp"), "ESRI Shapefile", "x", &[]).err();
    assert!(matches!(err, Some(WriteError::UnsupportedFormat { .. })), "{err:?}");
}

const BOM: &str = "\u{feff}";

#[test]
fn csv_lonlat_builds_points_and_rejects_bad_rows() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = write_text(
        dir.path(),
        "facilities.csv",
        &format!(
            "{BOM}id,name,lon,lat,capacity\n\
             k1,Little Stars, 121.473 ,31.231,120\n\
             k2,Sunset,121.476,31.234,\n\
             k3,Broken,abc,31.2,10\n\
             k4,Half,121.5,,10\n"
        ),
    )?;
    let read = read(GdalSource::new(&csv).with_lonlat_fields("lon", "lat"))?;

    assert_eq!(read.info.format, "CSV");
    assert_eq!(read.info.declared_crs, None);
    assert_eq!(read.features.len(), 2);
    let first = &read.features[0];
    assert_eq!(first.geometry, Some(Geometry::Point(point!(x: 121.473, y: 31.231))));
    // The BOM is not part of the first column's name, and lon/lat are gone.
    assert_eq!(
        first.properties,
        [
            ("id".to_owned(), text("k1")),
            ("name".to_owned(), text("Little Stars")),
            ("capacity".to_owned(), text("120"))
        ]
    );
    assert_eq!(read.features[1].index, 1);
    let rejected: Vec<_> = read
        .report
        .rejected
        .iter()
        .map(|r| (r.file.clone(), r.index, r.id.clone(), r.reason.clone()))
        .collect();
    assert_eq!(
        rejected,
        [
            (csv.clone(), 2, Some("k3".to_owned()), "lon `abc` is not a number".to_owned()),
            (csv.clone(), 3, Some("k4".to_owned()), "lat is empty".to_owned()),
        ]
    );
    Ok(())
}

#[test]
fn csv_missing_lonlat_column_names_the_columns() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let csv = write_text(dir.path(), "points.csv", "id,x,y\n1,2,3\n")?;
    let err =
        read(GdalSource::new(&csv).with_lonlat_fields("lon", "lat")).err().context("must fail")?;
    assert!(
        err.to_string().contains("no longitude column `lon`; the columns are: id, x, y"),
        "{err}"
    );
    Ok(())
}

#[test]
fn csv_with_non_utf8_bytes_does_not_panic() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("latin1.csv");
    // "Café" in Latin-1: the 0xE9 byte is not UTF-8.
    std::fs::write(&path, b"id,name,lon,lat\n1,Caf\xe9,121.47,31.23\n2,Plain,121.48,31.24\n")?;
    let read = read(GdalSource::new(&path).with_lonlat_fields("lon", "lat"))?;
    assert_eq!(read.features.len(), 2);
    // GDAL hands the bytes over unchanged and the gdal crate decodes lossily.
    assert_eq!(prop(&read.features[0], "name"), &text("Caf\u{fffd}"));
    assert_eq!(prop(&read.features[1], "name"), &text("Plain"));
    Ok(())
}

#[test]
fn missing_file_is_a_read_error() {
    let err = read(GdalSource::new("/nonexistent/estates.gpkg")).err();
    assert!(matches!(err, Some(LoadError::Read { .. })), "{:?}", err.map(|e| e.to_string()));
}

#[test]
fn osm_role_on_a_non_osm_file_is_an_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_text(dir.path(), "estates.geojson", ESTATES_GEOJSON)?;
    let err = read(GdalSource::new(&path).with_osm(OsmRole::Estates)).err().context("must fail")?;
    assert!(err.to_string().contains("GeoJSON driver"), "{err}");
    Ok(())
}

fn small_osm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gdal/small.osm")
}

fn text_id(id: &str) -> FeatureId {
    FeatureId::Text(id.to_owned())
}

fn check_osm_estates(path: &Path) -> Result<()> {
    let read = read(GdalSource::new(path).with_osm(OsmRole::Estates))?;
    assert_eq!(read.info.format, "OSM");
    assert_eq!(read.info.declared_crs.as_deref(), Some("EPSG:4326"));
    assert_eq!(read.info.layer.as_deref(), Some("multipolygons"));
    let ids: Vec<_> = read.features.iter().map(|f| f.fid.clone()).collect();
    assert_eq!(ids, [Some(text_id("way/101")), Some(text_id("way/102"))]);
    let garden = &read.features[0];
    assert_eq!(prop(garden, "name"), &text("Garden Court"));
    assert_eq!(prop(garden, "landuse"), &text("residential"));
    assert_eq!(prop(garden, "population"), &text("2400"), "expanded from other_tags");
    assert_eq!(garden.property("other_tags"), None);
    // An absent tag with a column of its own is null, not an empty string.
    assert_eq!(prop(garden, "amenity"), &AttrValue::Null);
    let Some(Geometry::MultiPolygon(area)) = &garden.geometry else {
        panic!("{:?}", garden.geometry)
    };
    assert!(area.contains(&point!(x: 121.471, y: 31.231)));
    assert_eq!(
        read.report.warnings,
        [format!(
            "2 multipolygons in {} are not landuse=residential and were skipped",
            path.display()
        )]
    );
    assert!(read.report.rejected.is_empty());
    Ok(())
}

fn check_osm_facilities(path: &Path) -> Result<()> {
    let read = read(GdalSource::new(path).with_osm(OsmRole::Facilities))?;
    assert_eq!(read.info.layer.as_deref(), Some("points,multipolygons"));
    let mut ids: Vec<_> = read.features.iter().filter_map(|f| f.fid.clone()).collect();
    ids.sort();
    let expected: Vec<_> =
        ["node/17", "node/18", "way/101", "way/102", "way/103", "way/104"].map(text_id).into();
    assert_eq!(ids, expected);
    let mut indexes: Vec<_> = read.features.iter().map(|f| f.index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5]);

    let by_id = |id: &str| {
        read.features
            .iter()
            .find(|f| f.fid == Some(text_id(id)))
            .unwrap_or_else(|| panic!("no {id}"))
    };
    let kindergarten = by_id("node/17");
    // PBF stores coordinates as multiples of 1e-7 degrees.
    let Some(Geometry::Point(p)) = kindergarten.geometry else {
        panic!("{:?}", kindergarten.geometry)
    };
    assert_relative_eq!(p, point!(x: 121.473, y: 31.231), epsilon = 1e-9);
    assert_eq!(prop(kindergarten, "amenity"), &text("kindergarten"));
    assert_eq!(prop(kindergarten, "capacity"), &text("120"));
    assert_eq!(prop(kindergarten, "operator"), &text(r#"Sunshine "Little Stars" Ltd \ Pudong"#));
    assert_eq!(kindergarten.property("osm_geometry"), None);
    assert_eq!(kindergarten.property("other_tags"), None);
    let day_care = by_id("node/18");
    assert_eq!(prop(day_care, "social_facility"), &text("day_care"));
    assert_eq!(prop(day_care, "social_facility:for"), &text("senior"));

    let parking = by_id("way/104");
    assert_eq!(prop(parking, "amenity"), &text("parking"));
    assert_eq!(prop(parking, "osm_geometry"), &text("area"));
    let Some(Geometry::Point(p)) = parking.geometry else { panic!("{:?}", parking.geometry) };
    assert!(
        (121.485..=121.486).contains(&p.x()) && (31.238..=31.239).contains(&p.y()),
        "{p:?} inside the car park"
    );
    assert!(read.report.warnings.is_empty(), "{:?}", read.report.warnings);
    Ok(())
}

#[test]
fn osm_xml_estates_are_residential_areas() -> Result<()> {
    check_osm_estates(&small_osm())
}

#[test]
fn osm_xml_facilities_are_nodes_and_areas() -> Result<()> {
    check_osm_facilities(&small_osm())
}

#[test]
fn osm_layer_without_role_is_read_like_any_layer() -> Result<()> {
    let points = read(GdalSource::new(small_osm()).with_layer("points"))?;
    assert_eq!(points.info.layer.as_deref(), Some("points"));
    assert_eq!(points.features.len(), 2);
    // No role, no OSM processing: other_tags stays as GDAL wrote it.
    let other_tags = prop(&points.features[1], "other_tags");
    assert_eq!(
        other_tags,
        &text(
            r#""amenity"=>"social_facility","social_facility"=>"day_care","social_facility:for"=>"senior""#
        )
    );
    let err = read(GdalSource::new(small_osm())).err();
    assert!(matches!(err, Some(LoadError::AmbiguousLayer { .. })), "{err:?}");
    Ok(())
}

#[test]
fn osm_pbf_reads_like_xml() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pbf = dir.path().join("small.osm.pbf");
    let converted = Command::new("osmium").arg("cat").arg(small_osm()).arg("-o").arg(&pbf).output();
    match converted {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("note: osmium not installed (apt-get install osmium-tool); PBF part skipped");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
        Ok(out) => {
            ensure!(out.status.success(), "osmium: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    check_osm_estates(&pbf)?;
    check_osm_facilities(&pbf)
}
