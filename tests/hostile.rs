//! Hostile input: the bad-input corpus of issue #6 beyond `tests/load.rs` and `tests/gdal_io.rs`.
//!
//! Each case is a fixture in `tests/fixtures/hostile/` (or, for sizes no one commits, a file
//! generated into a temporary directory) with its documented outcome: a whole-file error that
//! names the file (and line/column for JSON and TOML), or per-feature rejections with index, id
//! and reason — never a panic, and every feature not rejected is loaded. The streaming GeoJSON
//! reader is checked against the in-memory one on every fixture, and for bounded memory.
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

use std::fmt::Write as _;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use gapmap::config::{Config, ConfigError, SourceConfig};
use gapmap::io::catalogue::builtin_catalogue;
use gapmap::io::geojson::{read_reader, read_slice, GeoJsonSource};
use gapmap::io::load::{load, LoadOptions, Loaded};
use gapmap::io::{FeatureSource as _, LoadError, LoadReport, RawFeature};
use gapmap::model::AttrValue;

fn hostile(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile").join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load_pair(estates: &Path, facilities: &Path) -> Result<Loaded, LoadError> {
    let catalogue = builtin_catalogue();
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    load(&SourceConfig::from_path(estates), &[SourceConfig::from_path(facilities)], &options, &|_| {})
}

/// Loads a hostile file as the estates, with valid facilities.
fn estates(name: &str) -> Result<Loaded, LoadError> {
    load_pair(&hostile(name), &fixture("valid_facilities.geojson"))
}

/// Loads a hostile file as the facilities, with valid estates.
fn facilities(name: &str) -> Result<Loaded, LoadError> {
    load_pair(&fixture("valid_estates.geojson"), &hostile(name))
}

/// (index, id, reason) of every rejection, by index.
fn rejections(loaded: &Loaded) -> Vec<(usize, Option<String>, String)> {
    let mut r: Vec<_> = loaded.report.rejected.iter().map(|r| (r.index, r.id.clone(), r.reason.clone())).collect();
    r.sort_by_key(|(index, _, _)| *index);
    r
}

fn estate_ids(loaded: &Loaded) -> Vec<String> {
    loaded.estates.iter().map(|e| e.id.to_string()).collect()
}

fn facility_ids(loaded: &Loaded) -> Vec<String> {
    loaded.facilities.iter().map(|f| f.id.to_string()).collect()
}

/// Asserts the rejected indices and that each reason contains its needle.
fn assert_rejected(loaded: &Loaded, expected: &[(usize, &str)]) {
    let r = rejections(loaded);
    let got: Vec<usize> = r.iter().map(|(i, _, _)| *i).collect();
    let want: Vec<usize> = expected.iter().map(|(i, _)| *i).collect();
    assert_eq!(got, want, "{r:#?}");
    for ((_, _, reason), (_, needle)) in r.iter().zip(expected) {
        assert!(reason.contains(needle), "`{reason}` should mention `{needle}`");
    }
}

/// Asserts a whole-file JSON error naming the file, at this line and column.
fn assert_json_error(result: Result<Loaded, LoadError>, name: &str, at: (usize, usize), needle: &str) {
    match result {
        Err(e @ LoadError::Json { line, column, .. }) => {
            let msg = e.to_string();
            assert_eq!((line, column), at, "{msg}");
            assert!(msg.contains(name) && msg.contains(needle), "`{msg}` should name {name} and mention `{needle}`");
        }
        Err(other) => panic!("{name}: expected a JSON error, got {other}"),
        Ok(l) => panic!("{name}: expected a JSON error, loaded {:?}", estate_ids(&l)),
    }
}

/// Asserts a whole-file error (not JSON syntax) whose message names the file and `needle`.
fn assert_file_error(result: Result<Loaded, LoadError>, name: &str, needle: &str) {
    match result {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(name) && msg.contains(needle), "`{msg}` should name {name} and mention `{needle}`");
        }
        Ok(l) => panic!("{name}: expected an error, loaded {:?}", estate_ids(&l)),
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-file errors: malformed or not GeoJSON.

#[test]
fn empty_and_whitespace_files_are_malformed_json() {
    assert_json_error(estates("empty_file.geojson"), "empty_file.geojson", (1, 0), "EOF while parsing");
    assert_json_error(estates("whitespace_only.geojson"), "whitespace_only.geojson", (3, 0), "EOF while parsing");
}

#[test]
fn trailing_data_after_the_document_is_malformed_json() {
    assert_json_error(estates("trailing_garbage.geojson"), "trailing_garbage.geojson", (2, 1), "trailing characters");
}

#[test]
fn comments_are_malformed_json() {
    assert_json_error(estates("comment.geojson"), "comment.geojson", (1, 1), "expected value");
}

#[test]
fn a_top_level_array_is_not_geojson() {
    assert_json_error(estates("top_level_array.geojson"), "top_level_array.geojson", (1, 0), "expected a GeoJSON object");
}

#[test]
fn features_must_be_an_array() {
    assert_json_error(estates("features_not_array.geojson"), "features_not_array.geojson", (1, 43), "expected an array of features");
    assert_file_error(estates("features_null.geojson"), "features_null.geojson", "without a `features` array");
}

#[test]
fn non_utf8_text_is_malformed_json_with_a_hint() {
    // GBK bytes inside a string: the position is the byte after the bad sequence.
    assert_json_error(estates("non_utf8.geojson"), "non_utf8.geojson", (1, 224), "re-save it as UTF-8");
}

#[test]
fn a_control_character_in_a_string_is_malformed_json() {
    // Found by fuzzing (geojson_read): a raw newline and NULs inside a key. The slice and stream
    // readers agree on the error; serde_json places it one line apart (see `same_place`).
    assert_json_error(estates("fuzz_control_character_in_key.geojson"), "fuzz_control_character_in_key.geojson", (1, 71), "control character");
}

#[test]
fn utf16_files_are_refused_by_name() {
    assert_file_error(estates("utf16.geojson"), "utf16.geojson", "the file is UTF-16");
    // Found by fuzzing (geojson_read): a UTF-8 BOM, then a UTF-16 one. The streaming reader
    // checked for UTF-16 before skipping the UTF-8 BOM and called it malformed JSON instead.
    assert_file_error(estates("fuzz_utf8_bom_then_utf16_bom.geojson"), "fuzz_utf8_bom_then_utf16_bom.geojson", "the file is UTF-16");
    let bytes = std::fs::read(hostile("fuzz_utf8_bom_then_utf16_bom.geojson")).unwrap();
    let e = read_reader(Path::new("x.geojson"), BufReader::new(&bytes[..]), &mut LoadReport::default(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("the file is UTF-16"), "{e}");
}

#[test]
fn an_empty_collection_of_estates_is_an_error() {
    assert_file_error(estates("empty_collection.geojson"), "empty_collection.geojson", "no valid estates");
    // Facilities may legitimately be none.
    let loaded = facilities("empty_collection.geojson").unwrap();
    assert!(loaded.facilities.is_empty() && loaded.report.rejected.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The legacy `crs` member.

#[test]
fn a_named_crs_member_is_honoured() {
    let loaded = estates("crs_member.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1"]);
    assert!(loaded.report.warnings.is_empty(), "{:?}", loaded.report.warnings);
}

#[test]
fn a_malformed_crs_member_names_the_file_and_the_fix() {
    assert_file_error(estates("crs_member_malformed.geojson"), "crs_member_malformed.geojson", "remove it (RFC 7946 data is CRS84)");
}

#[test]
fn an_unknown_crs_names_the_file() {
    // Bug fixed with this test: the message named the CRS but not the file that declared it.
    assert_file_error(estates("crs_member_unknown.geojson"), "crs_member_unknown.geojson", "EPSG:999999");
}

// ---------------------------------------------------------------------------------------------
// Per-feature rejections.

#[test]
fn mixed_geometry_types_keep_the_polygons() {
    let loaded = estates("mixed_geometry_types.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1", "4"]);
    assert_rejected(&loaded, &[
        (1, "wrong geometry type Point"),
        (2, "wrong geometry type LineString"),
        (4, "wrong geometry type MultiPoint"),
        (5, "wrong geometry type GeometryCollection"),
    ]);
    // As facilities, only a one-point MultiPoint would pass, and it has no kind here.
    let as_facilities = facilities("mixed_geometry_types.geojson").unwrap();
    assert!(as_facilities.facilities.is_empty());
    assert_eq!(as_facilities.report.rejected.len(), 6);
}

#[test]
fn empty_geometry_collections_are_rejected() {
    let loaded = estates("empty_geometry_collection.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1"]);
    assert_rejected(&loaded, &[(1, "wrong geometry type GeometryCollection"), (2, "a GeometryCollection without `geometries`")]);
}

#[test]
fn array_elements_that_are_not_features_are_rejected_one_by_one() {
    let loaded = estates("elements_not_features.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1"]);
    assert_rejected(&loaded, &[
        (1, "not a GeoJSON feature: invalid type: integer"),
        (2, "not a GeoJSON feature: invalid type: string"),
        (3, "not a GeoJSON feature: invalid type: null"),
        (4, "not a GeoJSON feature"),
        (5, "`type` is \"Point\", expected \"Feature\""),
        (6, "expected a properties object or null"),
    ]);
}

#[test]
fn a_single_feature_document_is_one_estate() {
    let loaded = estates("single_feature.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["9"]);
    assert_eq!(loaded.estates[0].name.as_deref(), Some("alone"));
}

#[test]
fn malformed_positions_are_rejected_and_extra_ordinates_ignored() {
    let loaded = estates("bad_positions.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1", "7"], "feature 7 has z and m values, which are ignored");
    assert_rejected(&loaded, &[
        (1, "a position needs at least two numbers"),
        (2, "invalid type: string \"114.5\""),
        (3, "expected an array of positions, found a single position"),
        (4, "expected a position [x, y], found a nested array"),
        (5, "a polygon with no rings"),
    ]);
}

#[test]
fn ids_that_cannot_be_ids_are_rejected_and_text_integers_collide() {
    let loaded = estates("bad_ids.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1", "123456789012345678"]);
    assert_rejected(&loaded, &[
        (1, "cannot be an id"),
        (2, "`id` is `true`, which cannot be an id"),
        (3, "cannot be an id"),
        (4, "`id` is `1.5`, which cannot be an id"),
        (5, "duplicate estate id 1 (first at feature 0)"),
        (6, "not a GeoJSON feature"),
    ]);
}

#[test]
fn holes_outside_the_shell_and_collapsed_rings_are_rejected() {
    let loaded = estates("hole_outside_shell.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1"]);
    assert_rejected(&loaded, &[(1, "interior ring at index 0 is not contained"), (2, "at least 3 distinct points")]);
}

#[test]
fn out_of_range_field_values_are_rejected_with_the_value() {
    let loaded = estates("out_of_range_fields.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["1"]);
    assert_rejected(&loaded, &[
        (1, "`households` is -5, outside"),
        (2, "`households` is 100000000000000000000, outside"),
        (3, "`built_year` is 99999, outside 1000..=3000"),
        (4, "`households` is inf, not a finite number"),
        (5, "`households` is `[1]`, not a number"),
    ]);
}

#[test]
fn bad_facilities_are_rejected_one_by_one() {
    let loaded = facilities("facility_bad_values.geojson").unwrap();
    assert_eq!(facility_ids(&loaded), ["10"]);
    assert_rejected(&loaded, &[
        (1, "capacity cannot be negative"),
        (2, "wrong geometry type MultiPoint"),
        (3, "empty geometry"),
        (4, "no kind"),
        (5, "no kind"),
        (6, "latitude and longitude swapped?"),
        (7, "duplicate facility id 10"),
        (8, "empty position"),
    ]);
}

#[test]
fn repeated_property_keys_are_rejected() {
    // Bug fixed with this test: `{"id":1,"id":2,"name":"first","name":"second"}` loaded as id 1
    // named "first" and passed the second `name` through, so outputs carried both.
    let loaded = estates("duplicate_keys.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["3"]);
    assert_rejected(&loaded, &[(0, "property `id` is given more than once")]);
}

#[test]
fn lone_surrogates_reject_their_feature() {
    let loaded = estates("lone_surrogate.geojson").unwrap();
    assert_eq!(estate_ids(&loaded), ["2"]);
    assert_rejected(&loaded, &[(0, "not a GeoJSON feature")]);
}

#[test]
fn control_characters_and_markup_in_text_are_kept_verbatim() {
    let loaded = estates("control_characters.geojson").unwrap();
    assert_eq!(loaded.estates[0].name.as_deref(), Some("a\u{0}b\u{1f}\n<script>"));
}

#[test]
fn a_bom_prefixed_file_loads() {
    let loaded = estates("bom_prefixed.geojson").unwrap();
    assert_eq!(loaded.estates[0].name.as_deref(), Some("北区"));
}

// ---------------------------------------------------------------------------------------------
// Generated: sizes and depths no one commits.

fn square(x: f64) -> String {
    format!("[[[{x},38.04],[{},38.04],[{},38.042],[{x},38.042],[{x},38.04]]]", x + 0.002, x + 0.002)
}

fn feature(id: usize, x: f64, properties: &str) -> String {
    format!(r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":{}}},"properties":{{"id":{id}{properties}}}}}"#, square(x))
}

fn write_temp(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_huge_property_is_kept_whole() {
    let dir = tempfile::tempdir().unwrap();
    let big = "界".repeat(8 << 20); // 24 MiB of UTF-8
    let text = format!(r#"{{"type":"FeatureCollection","features":[{},{}]}}"#, feature(1, 114.5, &format!(r#","note":"{big}""#)), feature(2, 114.51, ""));
    let path = write_temp(dir.path(), "huge_property.geojson", &text);
    let loaded = load_pair(&path, &fixture("valid_facilities.geojson")).unwrap();
    assert_eq!(estate_ids(&loaded), ["1", "2"]);
    assert!(loaded.estates[0].extra.iter().any(|(k, v)| k == "note" && *v == AttrValue::Text(big.clone())));
}

#[test]
fn deep_nesting_rejects_its_feature_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let nested = feature(1, 114.5, &format!(r#","nested":{deep}"#));
    let plain = feature(2, 114.51, "");
    let deep_coordinates = format!(r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":{deep}}},"properties":{{"id":3}}}}"#);
    let text = format!(r#"{{"type":"FeatureCollection","foreign":{deep},"features":[{nested},{plain},{deep_coordinates}]}}"#);
    let path = write_temp(dir.path(), "deep.geojson", &text);
    let loaded = load_pair(&path, &fixture("valid_facilities.geojson")).unwrap();
    assert_eq!(estate_ids(&loaded), ["2"], "the foreign top-level member is skipped");
    assert_rejected(&loaded, &[(0, "recursion limit exceeded"), (2, "recursion limit exceeded")]);
}

#[test]
fn a_hundred_thousand_properties_load_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut properties = String::new();
    for k in 0..100_000 {
        let _ = write!(properties, r#","p{k}":{k}"#);
    }
    let text = format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, feature(1, 114.5, &properties));
    let path = write_temp(dir.path(), "wide.geojson", &text);
    let started = std::time::Instant::now();
    let loaded = load_pair(&path, &fixture("valid_facilities.geojson")).unwrap();
    assert_eq!(loaded.estates[0].extra.len(), 100_000);
    // Quadratic duplicate detection would take minutes; linear takes well under a second
    // even unoptimised. The bound is loose for a loaded machine.
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Streaming and in-memory reading agree.

/// The outcome of a read as text, and the error position if it is a JSON error.
type Outcome = (String, Option<(usize, usize)>);

/// Whether two JSON error positions name the same place. serde_json counts differently on
/// slices and streams: a type error is one column apart (the peeked byte), and a control
/// character in a string is reported before it on a slice and after it on a stream (one line
/// on when it is a newline).
fn same_place((l1, c1): (usize, usize), (l2, c2): (usize, usize)) -> bool {
    (l1 == l2 && c1.abs_diff(c2) <= 1) || l1.abs_diff(l2) == 1
}

fn read_both(bytes: &[u8]) -> (Outcome, Vec<RawFeature>, LoadReport, Outcome, Vec<RawFeature>, LoadReport) {
    let path = Path::new("x.geojson");
    let outcome = |r: Result<gapmap::io::SourceInfo, LoadError>| match r {
        Ok(info) => (format!("ok {:?}", info.declared_crs), None),
        Err(LoadError::Json { line, column, message, .. }) => (format!("json: {message}"), Some((line, column))),
        Err(e) => (format!("error {e}"), None),
    };
    let (mut report_a, mut features_a) = (LoadReport::default(), Vec::new());
    let a = outcome(read_slice(path, bytes, &mut report_a, &mut |f| features_a.push(f)));
    let (mut report_b, mut features_b) = (LoadReport::default(), Vec::new());
    // A tiny buffer: every feature straddles many reads.
    let b = outcome(read_reader(path, BufReader::with_capacity(5, bytes), &mut report_b, &mut |f| features_b.push(f)));
    (a, features_a, report_a, b, features_b, report_b)
}

#[test]
fn streaming_and_in_memory_reads_agree_on_every_fixture() {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [fixture(""), hostile("")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "geojson") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 40, "{}", files.len());
    for path in files {
        assert_reads_agree(&path.display().to_string(), &std::fs::read(&path).unwrap());
    }
}

/// Reads `bytes` in memory (the fast splitter, then serde_json per feature) and streamed
/// (serde_json alone): the outcome, the features and the rejections must be the same.
fn assert_reads_agree(name: &str, bytes: &[u8]) {
    let (a, features_a, report_a, b, features_b, report_b) = read_both(bytes);
    assert_eq!(a.0, b.0, "{name}");
    if let (Some(x), Some(y)) = (a.1, b.1) {
        assert!(same_place(x, y), "{name}: {x:?} and {y:?}");
    }
    assert_eq!(features_a, features_b, "{name}");
    assert_eq!(report_a.rejected, report_b.rejected, "{name}");
}

/// A disk that fails part-way through a file.
struct FailingReader(&'static [u8]);

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_stream_is_an_io_error_naming_the_file() {
    let reader = BufReader::with_capacity(16, FailingReader(br#"{"type":"FeatureCollection","features":[{"type":"Feature","#));
    let e = read_reader(Path::new("/data/estates.geojson"), reader, &mut LoadReport::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }), "{e:?}");
    assert!(e.to_string().contains("/data/estates.geojson") && e.to_string().contains("disk on fire"), "{e}");
}

/// Nothing is dropped silently: for every fixture that loads, each array element is either an
/// estate (or a piece merged into one) or a rejection.
#[test]
fn every_feature_is_loaded_or_rejected() {
    for entry in std::fs::read_dir(hostile("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "geojson") {
            continue;
        }
        let Ok(loaded) = load_pair(&path, &fixture("valid_facilities.geojson")) else { continue };
        let text = std::fs::read(&path).unwrap();
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
        // Files with repeated keys or lone surrogates do not parse into a Value; count by hand.
        let count = match serde_json::from_slice::<serde_json::Value>(text) {
            Ok(doc) => doc["features"].as_array().map_or(1, Vec::len),
            Err(_) => loaded.estates.len() + loaded.report.rejected.len(),
        };
        assert_eq!(loaded.estates.len() + loaded.report.rejected.len(), count, "{}", path.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Config files: parse errors name file, line and column; values that cannot work name the key.

fn config(name: &str) -> Result<Config, ConfigError> {
    Config::from_file(&hostile(name)).and_then(|c| c.validate().map(|()| c))
}

fn assert_config_error(name: &str, needles: &[&str]) {
    let msg = config(name).expect_err(name).to_string();
    for needle in needles {
        assert!(msg.contains(needle), "{name}: `{msg}` should mention `{needle}`");
    }
}

#[test]
fn config_syntax_and_type_errors_name_line_and_column() {
    assert_config_error("config_malformed.toml", &["config_malformed.toml", "line 2, column 24", "invalid basic string"]);
    assert_config_error("config_unknown_serve_key.toml", &["line 3", "unknown field `max_limt`", "max_limit"]);
    assert_config_error("config_wrong_type.toml", &["line 2", "invalid type: string \"800m\", expected f64"]);
    assert_config_error("config_negative_limit.toml", &["line 2", "expected usize"]);
    assert_config_error("config_duplicate_key.toml", &["line 3", "duplicate key `bind`"]);
}

#[test]
fn config_values_that_cannot_work_name_the_key() {
    assert_config_error("config_nan_radius.toml", &["analysis.radius_m.market", "NaN is not a positive number"]);
    assert_config_error("config_infinite_radius.toml", &["analysis.radius_m.market", "inf is not a positive number"]);
    assert_config_error("config_short_token.toml", &["serve.admin_token", "at least 16 characters"]);
    assert_config_error("config_wildcard_cors.toml", &["serve.cors_origins", "`*` is not an origin"]);
    assert_config_error("config_limits_inverted.toml", &["serve.default_limit", "500 must be between 1 and max_limit (100)"]);
    assert_config_error("config_bad_bind.toml", &["serve.bind", "`localhost` is not an address"]);
    assert_config_error("config_missing_file.toml", &["estates.path", "no_such_estates.geojson does not exist"]);
}

#[test]
fn config_encoding_problems() {
    // A BOM (Windows Notepad) is fine; GBK text is refused naming the file.
    let c = config("config_bom.toml").unwrap();
    assert!(c.estates.unwrap().path.ends_with("valid_estates.geojson"));
    assert_config_error("config_non_utf8.toml", &["cannot read config", "config_non_utf8.toml", "valid UTF-8"]);
}

#[test]
fn config_unknown_kind_in_radius_fails_at_load_naming_the_key() {
    let c = config("config_unknown_kind.toml").expect("valid as far as the file goes");
    let e = gapmap::http::load_dataset(&c).expect_err("no such kind");
    assert!(e.to_string().contains("analysis.radius_m.spaceport"), "{e}");
}

#[test]
fn config_deep_nesting_is_an_error_not_a_crash() {
    let text = format!("a = {}1{}\n", "[".repeat(50_000), "]".repeat(50_000));
    let e = Config::from_toml(&text, Path::new("deep.toml")).expect_err("deep");
    assert!(e.to_string().contains("deep.toml"), "{e}");
    let text = format!("[serve]\nbind = \"{}\"\n", "x".repeat(10 << 20));
    let e = Config::from_toml(&text, Path::new("long.toml")).unwrap().validate().expect_err("not an address");
    assert!(e.to_string().contains("serve.bind") || e.to_string().contains("estates"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Targets files (`gapmap report`).

fn assert_targets_error(name: &str, needles: &[&str]) {
    let msg = gapmap::report::targets::load_targets(&hostile(name), &builtin_catalogue()).expect_err(name).to_string();
    for needle in [name].iter().chain(needles) {
        assert!(msg.contains(needle), "{name}: `{msg}` should mention `{needle}`");
    }
}

#[test]
fn targets_errors_name_file_line_and_key() {
    assert_targets_error("targets_unknown_kind.toml", &["line 3", "`kind`", "unknown facility kind `spaceport`"]);
    assert_targets_error("targets_bad_pct.toml", &["line 4", "`coverage_estates_pct`", "above 100"]);
    assert_targets_error("targets_negative.toml", &["line 4", "`new_facilities`", "negative"]);
    assert_targets_error("targets_duplicate.toml", &["`kind`", "duplicate target", "first at line"]);
    assert_targets_error("targets_no_figure.toml", &["line 2", "sets no figure"]);
    assert_targets_error("targets_unknown_key.toml", &["line 4", "`new_facilitys`"]);
    assert_targets_error("targets_wrong_type.toml", &["line 2", "`year`", "expected a number"]);
    assert_targets_error("targets_ragged.csv", &["line: 3", "2 fields"]);
    assert_targets_error("targets_nan.csv", &["line 2", "`capacity_added`", "finite"]);
}

#[test]
fn targets_csv_with_a_bom_loads() {
    let targets = gapmap::report::targets::load_targets(&hostile("targets_bom.csv"), &builtin_catalogue()).unwrap();
    assert_eq!(format!("{targets:?}").matches("FacilityTarget").count(), 1, "{targets:?}");
}

// ---------------------------------------------------------------------------------------------
// Streaming: a file far larger than the memory the reader uses.

/// Writes a FeatureCollection of about `megabytes` MiB: 1 KiB features with a padding property.
fn write_large(path: &Path, megabytes: usize) -> usize {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n").unwrap();
    let padding = "p".repeat(800);
    let count = megabytes * 1024;
    for i in 0..count {
        if i > 0 {
            out.write_all(b",\n").unwrap();
        }
        #[expect(clippy::cast_precision_loss, reason = "a small index")]
        let x = 100.0 + (i % 50_000) as f64 * 0.001;
        out.write_all(feature(i, x, &format!(r#","pad":"{padding}""#)).as_bytes()).unwrap();
    }
    out.write_all(b"\n]}\n").unwrap();
    out.flush().unwrap();
    count
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Streams a generated file of `GAPMAP_STREAM_MB` MiB through [`GeoJsonSource`], counting
/// features without keeping them, and prints (to stderr) the peak RSS growth. Run in a child process (by
/// the tests below) so that no other test shares its address space.
#[test]
#[ignore = "the child half of the streaming tests; does nothing unless GAPMAP_STREAM_MB is set"]
fn stream_child() {
    let Ok(megabytes) = std::env::var("GAPMAP_STREAM_MB") else { return };
    let megabytes: usize = megabytes.parse().unwrap();
    let dir = tempfile::tempdir_in(std::env::var("GAPMAP_STREAM_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string())).unwrap();
    let path = dir.path().join("large.geojson");
    let expected = write_large(&path, megabytes);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let before_kib = status_kib("VmHWM:");
    let started = std::time::Instant::now();
    let mut report = LoadReport::default();
    let mut count = 0usize;
    let mut last_index = None;
    // Streamed whatever the size (the default streams only files above 256 MiB).
    GeoJsonSource { stream_above_bytes: 0, ..GeoJsonSource::new(&path) }
        .read(&mut report, &mut |f| {
            assert!(f.geometry.is_some());
            assert_eq!(f.index, count, "features arrive in source order");
            last_index = Some(f.index);
            count += 1;
        })
        .unwrap();
    let elapsed = started.elapsed();
    let peak_kib = status_kib("VmHWM:");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
    assert_eq!((count, last_index), (expected, Some(expected - 1)));
    eprintln!("STREAM file_bytes={bytes} features={count} hwm_before_kib={before_kib} hwm_after_kib={peak_kib} seconds={:.1}", elapsed.as_secs_f64());
}

/// Runs [`stream_child`] in a fresh process and returns (file bytes, peak RSS growth in bytes).
fn run_stream_child(megabytes: usize) -> (u64, u64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "stream_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("GAPMAP_STREAM_MB", megabytes.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let line = stderr.lines().find_map(|l| l.split_once("STREAM ").map(|(_, rest)| rest)).unwrap_or_else(|| panic!("no STREAM line in {stderr}"));
    eprintln!("{line}");
    let field = |name: &str| -> u64 {
        line.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok()).unwrap()
    };
    (field("file_bytes"), (field("hwm_after_kib") - field("hwm_before_kib")) * 1024)
}

#[test]
fn streaming_memory_does_not_grow_with_the_file() {
    let (file_bytes, growth) = run_stream_child(128);
    // One batch (at most 8 MiB of feature text) and its parsed features, not the file.
    assert!(growth < 64 << 20, "peak RSS grew by {} MiB reading a {} MiB file", growth >> 20, file_bytes >> 20);
}

#[test]
#[ignore = "writes and streams a 3 GB file (about a minute in release); run with `cargo test --release --test hostile -- --ignored several_gigabytes`"]
fn several_gigabytes_stream_in_bounded_memory() {
    let (file_bytes, growth) = run_stream_child(3 * 1024);
    assert!(file_bytes > 3_000_000_000, "{file_bytes}");
    assert!(growth < 64 << 20, "peak RSS grew by {} MiB reading a {} MiB file", growth >> 20, file_bytes >> 20);
}

#[test]
#[ignore = "timing: streaming vs whole-file reading of a 512 MiB file; run with --release -- --ignored --nocapture stream_throughput"]
fn stream_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.geojson");
    let count = write_large(&path, 512);
    for round in 0..2 {
        let started = std::time::Instant::now();
        let bytes = std::fs::read(&path).unwrap();
        let mut n = 0usize;
        read_slice(&path, &bytes, &mut LoadReport::default(), &mut |_| n += 1).unwrap();
        drop(bytes);
        let whole = started.elapsed();
        let started = std::time::Instant::now();
        let mut m = 0usize;
        GeoJsonSource { stream_above_bytes: 0, ..GeoJsonSource::new(&path) }.read(&mut LoadReport::default(), &mut |_| m += 1).unwrap();
        let streamed = started.elapsed();
        assert_eq!((n, m), (count, count));
        eprintln!("round {round}: whole file {:.2} s, streamed {:.2} s", whole.as_secs_f64(), streamed.as_secs_f64());
    }
}

// ---------------------------------------------------------------------------------------------
// The in-memory reader's fast splitter against serde_json alone (the streaming reader).

#[test]
fn the_fast_splitter_agrees_with_serde_json_on_edge_cases() {
    let point = r#"{"type":"Feature","properties":{"id":1},"geometry":{"type":"Point","coordinates":[1,2]}}"#;
    let cases = [
        format!(r#"{{"type":"FeatureCollection","features":[{point},{point}]}}"#),
        format!(r#"{{"features":[{point}],"type":"FeatureCollection"}}"#),
        // A syntax error inside the second feature: the whole file is malformed.
        format!("{{\"type\":\"FeatureCollection\",\"features\":[{point},\n{{\"type\":\"Feature\",\"properties\":{{\"id\":2,}}}}]}}"),
        // A number out of range is a rejection, not a malformed file.
        format!(r#"{{"type":"FeatureCollection","features":[{point},{{"type":"Feature","properties":{{"id":1e999}},"geometry":null}}]}}"#),
        // Trailing comma, missing comma, duplicate member, members after the features.
        format!(r#"{{"type":"FeatureCollection","features":[{point},]}}"#),
        format!(r#"{{"type":"FeatureCollection","features":[{point} {point}]}}"#),
        format!(r#"{{"type":"FeatureCollection","features":[],"features":[{point}]}}"#),
        format!(r#"{{"type":"FeatureCollection","features":[{point}],"type":5}}"#),
        format!(r#"{{"type":"FeatureCollection","features":[{point}],"crs":{{"type":"name","properties":{{"name":"EPSG:4490"}}}}}}"#),
        format!(r#"{{"type":"Feature","features":[{point}]}}"#),
        // Escapes and brackets inside strings; elements that are not objects.
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a\"}]{[","n":"\\"},"geometry":null},null,3,"x"]}"#.to_owned(),
        // Mismatched brackets that still balance in count.
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":[1}],"geometry":null}]}"#.to_owned(),
        "{\"type\":\"FeatureCollection\",\"features\":[\u{1}]}".to_owned(),
        format!("{{\"type\":\"FeatureCollection\",\"features\":[{point}]}}  \n\t"),
        // Members after the features that the splitter does not accept.
        format!(r#"{{"type":"FeatureCollection","features":[{point},{point}],"na\u006de":"x"}}"#),
        format!(r#"{{"type":"FeatureCollection","features":[{point}],"name":"a","name":"b"}}"#),
        format!(r#"{{"type":"FeatureCollection","features":[{point}],"crs":{{"type":"name","properties":{{"name":"EPSG:4490"}}}}, "x": [}}"#),
        // A control character inside a feature's string.
        format!("{{\"type\":\"FeatureCollection\",\"features\":[{point},{{\"type\":\"Feature\",\"properties\":{{\"n\":\"a\u{1}b\"}},\"geometry\":null}}]}}"),
        // Whitespace around every token.
        format!("\n {{ \"type\" : \"FeatureCollection\" , \"features\" : [ \n {point} \n , \n {point} \n ] \n , \"name\" : \"n\" \n }} \n"),
        "{\"type\":\"FeatureCollection\",\"features\":[ ]}".to_owned(),
    ];
    for (i, case) in cases.iter().enumerate() {
        assert_reads_agree(&format!("case {i}: {case}"), case.as_bytes());
    }
    let mut bad_utf8 = format!(r#"{{"type":"FeatureCollection","features":[{point},{{"type":"Feature","properties":{{"n":"XX"}},"geometry":null}}]}}"#).into_bytes();
    let at = bad_utf8.windows(2).position(|w| w == b"XX").unwrap();
    bad_utf8[at] = 0xC3;
    assert_reads_agree("invalid UTF-8 in a feature", &bad_utf8);
    bad_utf8[at] = b'X';
    let mut in_name = b"{\"name\":\"\xFF\",".to_vec();
    in_name.extend_from_slice(&bad_utf8[1..]);
    assert_reads_agree("invalid UTF-8 before the features", &in_name);
}
