//! The `gapmap` binary: outputs, exit codes and messages, as a planner meets them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{name}.geojson"))
}

fn gapmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gapmap")).args(args).env_remove("RUST_LOG").output().expect("runs")
}

fn analyze(estates: &str, facilities: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "analyze",
        "--estates",
        estates,
        "--facilities",
        facilities,
        "--out",
        out.to_str().expect("utf-8 temp path"),
    ];
    args.extend_from_slice(extra);
    gapmap(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn csv_has_the_exact_columns_sorted_rows_and_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("coverage.csv");
    let o = analyze(fixture("valid_estates").to_str().expect("utf-8"), fixture("valid_facilities").to_str().expect("utf-8"), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).expect("written");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("estate_id,kind,distance_m,covered,nearest_id,count_within,capacity_within,shortfall"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3 * 11, "3 estates × 11 catalogue kinds");
    // sorted by estate id (integers first), then kind key
    let keys: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| {
        let rank = |id: &str| id.parse::<i64>().map_or((1, 0, id.to_owned()), |n| (0, n, String::new()));
        rank(a.0).cmp(&rank(b.0)).then(a.1.cmp(b.1))
    });
    assert_eq!(keys, sorted);
    assert_eq!(rows[0][0], "1");
    assert_eq!(rows.last().expect("rows")[0], "A-3");
    for r in &rows {
        assert_eq!(r.len(), 8, "{r:?}");
        if r[2].is_empty() {
            assert_eq!(r[3], "false", "no facilities of the kind: empty distance and not covered");
            assert_eq!(r[4], "");
        } else {
            assert_eq!(r[2].split('.').nth(1).map(str::len), Some(4), "4 decimals: {r:?}");
        }
    }
    // The day-care station stands inside estate 1: distance 0, covered, 40 m² within 300 m;
    // estate 1 has 420 households → 15 m²/100 households = 63 m² required → 23 m² short.
    let day_care = rows.iter().find(|r| r[0] == "1" && r[1] == "day_care").expect("row");
    assert_eq!(&day_care[2..], ["0.0000", "true", "10", "1", "40", "23"]);
    // The kindergarten stands in estate 2's hole: 25 m-ish from the hole's edge, not 0.
    let kg = rows.iter().find(|r| r[0] == "2" && r[1] == "kindergarten").expect("row");
    let d: f64 = kg[2].parse().expect("distance");
    assert!(d > 10.0 && d < 30.0, "{kg:?}");
}

#[test]
fn invalid_features_abort_by_default_and_warn_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("coverage.csv");
    let estates = fixture("self_intersecting");
    let facilities = fixture("valid_facilities");
    let o = analyze(estates.to_str().expect("utf-8"), facilities.to_str().expect("utf-8"), &out, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("self_intersecting.geojson: feature 1 (id 2): invalid polygon"), "{err}");
    assert!(err.contains("--on-invalid warn"), "says what to do next: {err}");
    assert!(!out.exists(), "no output after abort");
    assert!(dir.path().join("coverage.load-report.json").exists(), "the report is written either way");

    let o = analyze(estates.to_str().expect("utf-8"), facilities.to_str().expect("utf-8"), &out, &["--on-invalid", "warn"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("coverage.load-report.json")).expect("report")).expect("json");
    assert_eq!(report["rejected"][0]["index"], 1);
    assert_eq!(report["rejected"][0]["id"], "2");
    let rows = std::fs::read_to_string(&out).expect("written").lines().count();
    assert_eq!(rows, 1 + 11, "one estate left");
}

#[test]
fn json_summary_radius_year_and_distance_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("summary.json");
    let e = fixture("valid_estates");
    let f = fixture("valid_facilities");
    let run = |extra: &[&str]| {
        let o = analyze(e.to_str().expect("utf-8"), f.to_str().expect("utf-8"), &out, extra);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&out).expect("written")).expect("json")
    };
    let kind = |doc: &serde_json::Value, key: &str| doc["overall"].as_array().expect("kinds").iter().find(|k| k["kind"] == key).cloned().expect("kind");
    let all = run(&[]);
    assert_eq!(all["working_crs"], "EPSG:4547");
    assert_eq!(all["params"]["distance_from"], "boundary");
    assert_eq!(kind(&all, "day_care")["estates_covered"], 1);
    // The day-care station opened in 2021: as of 2020 nothing covers.
    let y2020 = run(&["--year", "2020"]);
    assert_eq!(y2020["params"]["year"], 2020);
    assert_eq!(kind(&y2020, "day_care")["facilities"], 0);
    assert_eq!(kind(&y2020, "day_care")["estates_covered"], 0);
    // A 2 km radius reaches every estate.
    let wide = run(&["--radius", "day_care=2000"]);
    assert_eq!(kind(&wide, "day_care")["radius_m"], 2000.0);
    assert_eq!(kind(&wide, "day_care")["estates_covered"], 3);
    let centroid = run(&["--distance-from", "centroid"]);
    assert_eq!(centroid["params"]["distance_from"], "centroid");
    // per district
    let districts: Vec<_> = all["districts"].as_array().expect("districts").iter().map(|d| d["district"].as_str().expect("name").to_owned()).collect();
    assert_eq!(districts, ["桥西区", "长安区"]);
}

#[test]
fn geojson_geopackage_and_flatgeobuf_outputs_carry_coverage_properties() {
    let dir = tempfile::tempdir().expect("tempdir");
    for ext in ["geojson", "gpkg", "fgb"] {
        let out = dir.path().join(format!("estates.{ext}"));
        let o = analyze(fixture("valid_estates").to_str().expect("utf-8"), fixture("valid_facilities").to_str().expect("utf-8"), &out, &[]);
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        let mut report = gapmap::io::LoadReport::default();
        let mut features = Vec::new();
        let source: &mut dyn gapmap::io::FeatureSource = if ext == "geojson" {
            &mut gapmap::io::geojson::GeoJsonSource::new(&out)
        } else {
            &mut gapmap::io::gdal::GdalSource::new(&out)
        };
        let info = source.read(&mut report, &mut |f| features.push(f)).expect("reads back");
        assert_eq!(features.len(), 3, "{ext}");
        assert!(info.declared_crs.is_none() || info.declared_crs.as_deref() == Some("EPSG:4326"), "{ext}: {info:?}");
        let one = features.iter().find(|f| f.property("id").map(ToString::to_string).as_deref() == Some("1")).expect("estate 1");
        assert_eq!(one.property("day_care_distance_m").map(ToString::to_string).as_deref(), Some("0"), "{ext}");
        assert!(one.property("parking_covered").is_some(), "{ext}");
        assert_eq!(one.property("distance_from").map(ToString::to_string).as_deref(), Some("boundary"));
        let b = geo::BoundingRect::bounding_rect(one.geometry.as_ref().expect("geometry")).expect("non-empty");
        assert!((b.min().x - 114.50).abs() < 1e-6 && (b.min().y - 38.04).abs() < 1e-6, "{ext}: back in CRS84: {b:?}");
    }
}

#[test]
fn helpful_errors_for_common_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.csv");
    let o = analyze("nope.geojson", fixture("valid_facilities").to_str().expect("utf-8"), &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("config key `estates.path`: nope.geojson does not exist"), "{}", stderr(&o));

    let o = analyze(fixture("valid_estates").to_str().expect("utf-8"), fixture("valid_facilities").to_str().expect("utf-8"), &out, &["--radius", "spaceport=300"]);
    assert!(stderr(&o).contains("unknown facility kind `spaceport`"), "{}", stderr(&o));

    let o = analyze(fixture("valid_estates").to_str().expect("utf-8"), fixture("valid_facilities").to_str().expect("utf-8"), &dir.path().join("x.txt"), &[]);
    assert!(stderr(&o).contains("unsupported extension"), "{}", stderr(&o));

    let o = analyze(fixture("valid_estates").to_str().expect("utf-8"), fixture("valid_facilities").to_str().expect("utf-8"), &out, &["--working-crs", "EPSG:3857"]);
    assert!(stderr(&o).contains("Web Mercator distorts distances"), "{}", stderr(&o));

    let o = analyze(fixture("malformed_json").to_str().expect("utf-8"), fixture("valid_facilities").to_str().expect("utf-8"), &out, &[]);
    assert!(stderr(&o).contains("malformed JSON at line 3"), "{}", stderr(&o));
}

#[test]
fn print_config_round_trips_through_a_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = gapmap(&["analyze", "--config", "data/demo/gapmap.toml", "--radius", "market=800", "--year", "2021", "--print-config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert!(text.contains("market = 800.0") && text.contains("year = 2021"), "{text}");
    let config = dir.path().join("printed.toml");
    std::fs::write(&config, &text).expect("write");
    let again = gapmap(&["analyze", "--config", config.to_str().expect("utf-8"), "--print-config"]);
    assert_eq!(String::from_utf8(again.stdout).expect("utf-8"), text);
}

#[test]
fn generate_is_deterministic_and_analysable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for d in [&a, &b] {
        let o = gapmap(&["generate", "--estates", "200", "--facilities", "600", "--seed", "7", "--out", d.to_str().expect("utf-8")]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for f in ["estates.geojson", "facilities.geojson"] {
        assert_eq!(std::fs::read(a.join(f)).expect("a"), std::fs::read(b.join(f)).expect("b"), "{f} differs between runs");
    }
    let out = dir.path().join("c.csv");
    let o = analyze(a.join("estates.geojson").to_str().expect("utf-8"), a.join("facilities.geojson").to_str().expect("utf-8"), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).expect("csv").lines().count(), 1 + 200 * 11);
}
