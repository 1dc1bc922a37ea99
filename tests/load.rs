//! Loading: one fixture per bad-input case, each with its documented outcome.

use std::path::{Path, PathBuf};

use gapmap::config::SourceConfig;
use gapmap::io::catalogue::builtin_catalogue;
use gapmap::io::load::{load, Loaded, LoadOptions};
use gapmap::io::LoadError;
use gapmap::model::FeatureId;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.geojson"))
}

fn load_pair(estates: SourceConfig, facilities: SourceConfig) -> Result<Loaded, LoadError> {
    let catalogue = builtin_catalogue();
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    load(&estates, &[facilities], &options, &|_| {})
}

fn estates(name: &str) -> Result<Loaded, LoadError> {
    load_pair(SourceConfig::from_path(fixture(name)), SourceConfig::from_path(fixture("valid_facilities")))
}

fn facilities(name: &str) -> Result<Loaded, LoadError> {
    load_pair(SourceConfig::from_path(fixture("valid_estates")), SourceConfig::from_path(fixture(name)))
}

/// (index, id, reason) of every rejection.
fn rejections(loaded: &Loaded) -> Vec<(usize, Option<String>, String)> {
    loaded.report.rejected.iter().map(|r| (r.index, r.id.clone(), r.reason.clone())).collect()
}

fn ids(loaded: &Loaded) -> Vec<String> {
    loaded.estates.iter().map(|e| e.id.to_string()).collect()
}

#[test]
fn valid_inputs_load_completely() {
    let loaded = estates("valid_estates").expect("loads");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    assert_eq!(ids(&loaded), ["1", "2", "A-3"], "sorted: integers first, then text");
    assert_eq!(loaded.facilities.len(), 3);
    assert_eq!(loaded.working_crs, "EPSG:4547", "Shijiazhuang's CGCS2000 zone (114°E)");
    let two_parts = &loaded.estates[2];
    assert_eq!(two_parts.geometry.0.len(), 2);
    assert_eq!(two_parts.extra, vec![("extra_note".to_owned(), gapmap::model::AttrValue::Text("kept".into()))]);
    assert_eq!(loaded.estates[1].geometry.0[0].interiors().len(), 1, "the hole survives");
    // `幼儿园` resolves to kindergarten through the catalogue's keywords.
    let catalogue = builtin_catalogue();
    assert_eq!(loaded.facilities[1].kind, catalogue.kind_id("kindergarten").expect("listed"));
}

#[test]
fn missing_and_null_geometry_are_rejected() {
    let loaded = estates("missing_geometry").expect("loads");
    assert_eq!(ids(&loaded), ["1"]);
    let r = rejections(&loaded);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0, r[0].1.as_deref()), (1, Some("2")));
    assert!(r.iter().all(|(_, _, reason)| reason == "missing or null geometry"), "{r:?}");
}

#[test]
fn wrong_geometry_type_is_rejected() {
    let r = rejections(&estates("wrong_geometry_type").expect("loads"));
    assert_eq!(r.len(), 1);
    assert!(r[0].2.contains("wrong geometry type LineString"), "{r:?}");
}

#[test]
fn out_of_range_and_swapped_coordinates_are_rejected() {
    let loaded = estates("out_of_range").expect("loads");
    assert_eq!(ids(&loaded), ["1"]);
    let r = rejections(&loaded);
    assert!(r[0].2.contains("outside lon -180..180"), "{r:?}");
    assert!(r[1].2.contains("swapped"), "{r:?}");
}

#[test]
fn huge_coordinates_are_rejected() {
    let r = rejections(&estates("huge_coordinates").expect("loads"));
    assert_eq!(r.len(), 1);
    assert!(r[0].2.contains("outside lon"), "{r:?}");
}

/// Issue 15 item 20: when every estate is rejected, the error lists each rejection (file, feature
/// index, id, reason) before its conclusion, instead of only "no valid estates were loaded".
#[test]
fn every_estate_rejected_says_why_before_the_conclusion() {
    let Err(e) = estates("all_rejected_estates") else { panic!("no estate is valid") };
    assert!(matches!(&e, LoadError::NoEstates { rejected, .. } if rejected.len() == 1), "{e:?}");
    let text = e.to_string();
    let (reason, conclusion) = (text.find("feature 0 (id 1): coordinate (1e308, 1e308) is outside lon"), text.find("no valid estates were loaded: all 1 were rejected"));
    assert!(reason.is_some() && conclusion.is_some() && reason < conclusion, "{text}");
}

#[test]
fn nan_is_malformed_json_with_position() {
    // JSON has no NaN: the whole file is malformed, reported with line and column.
    match estates("nan_coordinate") {
        Err(LoadError::Json { line: 1, column: 105, path, .. }) => assert!(path.ends_with("nan_coordinate.geojson")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn infinite_coordinates_are_rejected_per_feature() {
    // `1e999` is valid JSON syntax but overflows f64: that feature alone is rejected.
    let loaded = estates("infinite_coordinate").expect("loads");
    assert_eq!(ids(&loaded), ["2"]);
    let r = rejections(&loaded);
    assert_eq!((r[0].0, r[0].1.as_deref()), (0, Some("1")));
    assert!(r[0].2.contains("number out of range"), "{r:?}");
}

#[test]
fn malformed_and_truncated_json_name_line_and_column() {
    let e = estates("malformed_json").expect_err("malformed");
    let msg = e.to_string();
    assert!(msg.contains("malformed_json.geojson: malformed JSON at line 3, column"), "{msg}");
    let e = estates("truncated").expect_err("truncated");
    assert!(matches!(e, LoadError::Json { line: 1, .. }), "{e}");
}

#[test]
fn unreadable_file_names_the_path() {
    let e = estates("does_not_exist").expect_err("missing");
    assert!(e.to_string().starts_with("cannot read ") && e.to_string().contains("does_not_exist.geojson"), "{e}");
}

#[test]
fn not_a_feature_collection() {
    let e = estates("not_a_collection").expect_err("topology");
    assert!(e.to_string().contains("the top-level type is `Topology`"), "{e}");
}

#[test]
fn unclosed_rings_are_rejected() {
    let r = rejections(&estates("unclosed_ring").expect("loads"));
    assert_eq!(r.len(), 1);
    assert!(r[0].2.contains("exterior ring is not closed"), "{r:?}");
}

#[test]
fn degenerate_rings_are_rejected() {
    let r = rejections(&estates("degenerate_ring").expect("loads"));
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].2.contains("has 3 positions"), "{r:?}");
    assert!(r[1].2.contains("exterior ring is degenerate"), "a zero-area ring: {r:?}");
}

#[test]
fn self_intersecting_polygons_are_rejected_not_repaired() {
    let loaded = estates("self_intersecting").expect("loads");
    assert_eq!(ids(&loaded), ["1"]);
    let r = rejections(&loaded);
    assert!(r[0].2.contains("invalid polygon") && r[0].2.contains("self-intersection"), "{r:?}");
}

#[test]
fn empty_geometries_are_rejected() {
    let r = rejections(&estates("empty_geometry").expect("loads"));
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r.iter().all(|(_, _, reason)| reason.contains("empty geometry") || reason.contains("no rings")), "{r:?}");
}

#[test]
fn duplicate_ids_are_rejected_or_merged() {
    let loaded = estates("duplicate_ids").expect("loads");
    assert_eq!(ids(&loaded), ["1", "2"]);
    let r = rejections(&loaded);
    assert_eq!(r.len(), 1);
    assert!(r[0].2.contains("duplicate estate id 1 (first at feature 0)"), "{r:?}");

    let merged = load_pair(
        SourceConfig { merge_by_id: true, ..SourceConfig::from_path(fixture("tiled_pieces")) },
        SourceConfig::from_path(fixture("valid_facilities")),
    )
    .expect("loads");
    assert!(merged.report.rejected.is_empty());
    assert_eq!(ids(&merged), ["7", "8"]);
    assert_eq!(merged.estates[0].geometry.0.len(), 2);
    assert_eq!(merged.estates[0].households, Some(500));
}

#[test]
fn unknown_kinds_are_rejected_with_the_fix() {
    let loaded = facilities("unknown_kind").expect("loads");
    assert_eq!(loaded.facilities.len(), 1);
    let r = rejections(&loaded);
    assert_eq!(r[0].1.as_deref(), Some("2"));
    assert!(r[0].2.contains("unknown kind `spaceport`") && r[0].2.contains("kind_values"), "{r:?}");

    let mapped = load_pair(
        SourceConfig::from_path(fixture("valid_estates")),
        SourceConfig {
            kind_values: [("spaceport".to_owned(), "parking".to_owned())].into(),
            ..SourceConfig::from_path(fixture("unknown_kind"))
        },
    )
    .expect("loads");
    assert_eq!(mapped.facilities.len(), 2);
}

#[test]
fn mistyped_fields_are_rejected_with_the_value() {
    let loaded = estates("bad_field_types").expect("loads");
    let r = rejections(&loaded);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].2.contains("`households` is `many`, not a number"), "{r:?}");
    assert!(r[1].2.contains("`households` is 12.5, not a whole number"), "{r:?}");
    assert_eq!(loaded.estates[0].id, FeatureId::Int(3));
    assert_eq!(loaded.estates[0].built_year, Some(1998), "numeric text is accepted");
}

#[test]
fn declared_projected_crs_is_used() {
    let loaded = load_pair(
        SourceConfig { crs: Some("EPSG:4547".into()), ..SourceConfig::from_path(fixture("cgcs2000_input")) },
        SourceConfig::from_path(fixture("valid_facilities")),
    )
    .expect("loads");
    assert!(loaded.report.warnings.is_empty(), "{:?}", loaded.report.warnings);
    let b = geo::BoundingRect::bounding_rect(&loaded.estates[0].geometry).expect("non-empty");
    approx::assert_relative_eq!(b.width(), 200.0, epsilon = 1e-6);
    approx::assert_relative_eq!(b.min().x, 543_100.0, epsilon = 1e-6);
}

#[test]
fn degrees_declared_as_a_projected_crs_warn() {
    let loaded = estates("degrees_declared_as_cgcs2000").expect("loads");
    assert!(
        loaded.report.warnings.iter().any(|w| w.contains("degrees_declared_as_cgcs2000.geojson") && w.contains("EPSG:4547")),
        "{:?}",
        loaded.report.warnings
    );
}

#[test]
fn gcj02_input_is_shifted_to_wgs84() {
    let wgs = estates("valid_estates").expect("loads");
    let gcj = load_pair(
        SourceConfig { crs: Some("GCJ-02".into()), ..SourceConfig::from_path(fixture("valid_estates")) },
        SourceConfig::from_path(fixture("valid_facilities")),
    )
    .expect("loads");
    let a = geo::Centroid::centroid(&wgs.estates[0].geometry).expect("non-empty");
    let b = geo::Centroid::centroid(&gcj.estates[0].geometry).expect("non-empty");
    let shift_m = geo::Distance::distance(&geo::Euclidean, a, b);
    assert!((100.0..1000.0).contains(&shift_m), "GCJ-02 offsets are hundreds of metres, got {shift_m}");
}

#[test]
fn field_names_and_kind_values_are_mapped() {
    let facilities = SourceConfig {
        fields: gapmap::config::FieldMap {
            id: Some("ID".into()),
            kind: Some("类别".into()),
            name: Some("NAME".into()),
            capacity: Some("床位".into()),
            opened_year: Some("开业年份".into()),
            ..Default::default()
        },
        kind_values: [("养老驿站".to_owned(), "day_care".to_owned())].into(),
        ..SourceConfig::from_path(fixture("renamed_fields"))
    };
    let loaded = load_pair(SourceConfig::from_path(fixture("valid_estates")), facilities).expect("loads");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    let catalogue = builtin_catalogue();
    let f = &loaded.facilities;
    assert_eq!(f[0].id, FeatureId::Text("F-1".into()));
    assert_eq!(f[0].kind, catalogue.kind_id("day_care").expect("listed"), "kind_values");
    assert_eq!((f[0].name.as_deref(), f[0].capacity, f[0].opened_year), (Some("槐中养老驿站"), Some(30.0), Some(2019)));
    assert_eq!(f[1].kind, catalogue.kind_id("kindergarten").expect("listed"), "a catalogue keyword");
    assert_eq!((f[1].capacity, f[1].opened_year), (None, Some(2008)));
    assert_eq!(f[2].kind, catalogue.kind_id("kindergarten").expect("listed"), "an AMap type path");
    assert!(f[0].extra.is_empty(), "mapped fields are not repeated as extras: {:?}", f[0].extra);
}

#[test]
fn osm_estates_and_facilities_come_from_tags() {
    let osm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gdal/small.osm");
    let loaded = load_pair(SourceConfig::from_path(&osm), SourceConfig::from_path(&osm)).expect("loads");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    assert_eq!(ids(&loaded), ["way/101", "way/102"], "landuse=residential areas only");
    let catalogue = builtin_catalogue();
    let mut kinds: Vec<(String, &str)> = loaded
        .facilities
        .iter()
        .map(|f| (f.id.to_string(), catalogue.spec(f.kind).key.as_str()))
        .collect();
    kinds.sort();
    assert_eq!(kinds, [("node/17".to_owned(), "kindergarten"), ("node/18".to_owned(), "day_care"), ("way/104".to_owned(), "parking")]);
    let kindergarten = loaded.facilities.iter().find(|f| f.id.to_string() == "node/17").expect("node 17");
    assert_eq!(kindergarten.capacity, Some(120.0), "OSM capacity tag");
    assert!(
        loaded.report.warnings.iter().any(|w| w.contains("match no catalogue kind")),
        "unmatched OSM features are counted, not silently dropped: {:?}",
        loaded.report.warnings
    );
    assert_eq!(loaded.working_crs, "EPSG:4549", "121.47°E lies in the zone of 120°E");
}
