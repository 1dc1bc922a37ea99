//! What-if scenarios on the demo city: planned facilities (`--planned`) in `plan`, `analyze`,
//! `report` and `gapmap diff`, each checked against figures computed here independently.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::oracle::boundary_distance_m;
use gapmap::analysis::{compute_coverage, DistanceFrom, RecordedHouseholds, StraightLine};
use gapmap::io::load::{load, load_with_planned, LoadOptions};

const YEAR: i32 = 2019;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn gapmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gapmap")).args(args).env_remove("RUST_LOG").output().expect("runs")
}

fn ok(args: &[&str]) -> Output {
    let o = gapmap(args);
    assert!(o.status.success(), "gapmap {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
    o
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

fn config_path() -> PathBuf {
    repo("data/demo/gapmap.toml")
}

/// The demo estates' first exterior vertex (lon, lat as in the file) by estate id.
fn first_vertices() -> BTreeMap<i64, (f64, f64)> {
    let text = std::fs::read_to_string(repo("data/demo/estates.geojson")).expect("demo estates");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    doc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let ring = &f["geometry"]["coordinates"][0];
            let c = if f["geometry"]["type"] == "MultiPolygon" { &ring[0][0] } else { &ring[0] };
            (f["properties"]["id"].as_i64().expect("integer id"), (c[0].as_f64().expect("lon"), c[1].as_f64().expect("lat")))
        })
        .collect()
}

/// A planned facility: id, kind, on the boundary of estate `on`, opening in `year`.
struct Site {
    id: i64,
    kind: &'static str,
    on: i64,
    year: Option<i32>,
}

fn write_planned(dir: &Path, name: &str, sites: &[Site]) -> PathBuf {
    let vertices = first_vertices();
    let features: Vec<serde_json::Value> = sites
        .iter()
        .map(|site| {
            let (lon, lat) = vertices[&site.on];
            serde_json::json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"id": site.id, "kind": site.kind, "capacity": 50, "opened_year": site.year, "name": format!("planned {}", site.id)},
            })
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()).expect("write planned");
    path
}

/// The demo's estates without a day-care station within its radius in `YEAR`, by the library,
/// as estate ids in table order.
fn uncovered_day_care_ids() -> Vec<i64> {
    let config = gapmap::config::Config::from_file(&config_path()).expect("config");
    let catalogue = gapmap::cli::catalogue_for(&config).expect("catalogue");
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(config.estates.as_ref().expect("estates"), &config.facilities, &options, &|_| {}).expect("loads");
    let kind = catalogue.kind_id("day_care").expect("kind");
    let metric = StraightLine::new(&loaded.facilities, DistanceFrom::Boundary);
    let table = compute_coverage(&loaded.estates, &metric, &catalogue, Some(YEAR), &RecordedHouseholds, &()).expect("coverage");
    (0..loaded.estates.len())
        .filter(|&e| !table.get(e, kind).covered)
        .map(|e| match loaded.estates[e].id {
            gapmap::model::FeatureId::Int(n) => n,
            gapmap::model::FeatureId::Text(_) => unreachable!("demo ids are integers"),
        })
        .collect()
}

/// Three day-care stations planned by `YEAR` on uncovered estates, one planned for 2030 (which
/// must not count in `YEAR`) and a kindergarten.
fn scenario(dir: &Path) -> PathBuf {
    let u = uncovered_day_care_ids();
    assert!(u.len() > 20, "the demo has uncovered estates");
    let sites = [
        Site { id: 900_001, kind: "day_care", on: u[0], year: Some(2018) },
        Site { id: 900_002, kind: "day_care", on: u[u.len() / 3], year: Some(YEAR) },
        Site { id: 900_003, kind: "day_care", on: u[2 * u.len() / 3], year: Some(YEAR) },
        Site { id: 900_004, kind: "day_care", on: u[u.len() / 2], year: Some(2030) },
        Site { id: 900_005, kind: "kindergarten", on: u[u.len() - 1], year: Some(2017) },
    ];
    write_planned(dir, "planned.geojson", &sites)
}

fn plan_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = dir.join("plan.json");
    let config = config_path();
    let mut args = vec!["plan", "--config", s(&config), "--kind", "day_care", "--count", "3", "--year", "2019", "--out", s(&out)];
    args.extend_from_slice(extra);
    ok(&args);
    serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("json")
}

/// Planned facilities shrink `plan`'s demand by exactly the estates they cover: the uncovered
/// estates within the radius of a planned day-care station open by the year, found here by a
/// plain scan with `geo`'s distance.
#[test]
fn planned_facilities_shrink_plan_demand_by_exactly_the_estates_they_cover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planned = scenario(dir.path());
    let before = plan_json(dir.path(), &[]);
    let after = plan_json(dir.path(), &["--planned", s(&planned)]);

    // Independently: the baseline's uncovered estates, and the planned stations in the working CRS.
    let config = gapmap::config::Config::from_file(&config_path()).expect("config");
    let catalogue = gapmap::cli::catalogue_for(&config).expect("catalogue");
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let planned_source = gapmap::config::SourceConfig::from_path(&planned);
    let loaded = load_with_planned(config.estates.as_ref().expect("estates"), &config.facilities, std::slice::from_ref(&planned_source), &options, &|_| {}).expect("loads");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    let kind = catalogue.kind_id("day_care").expect("kind");
    let radius = catalogue.spec(kind).radius_m;
    let stations: Vec<&gapmap::model::Facility> = loaded.facilities.iter().filter(|f| f.planned && f.kind == kind).collect();
    assert_eq!(stations.len(), 4);
    let counted: Vec<_> = stations.iter().filter(|f| f.opened_year.is_some_and(|y| y <= YEAR)).collect();
    assert_eq!(counted.len(), 3);

    let uncovered: BTreeSet<i64> = uncovered_day_care_ids().into_iter().collect();
    let mut shrink_estates = 0usize;
    let mut shrink_households = 0.0;
    let mut the_2030_one_would_add = 0usize;
    for e in &loaded.estates {
        let gapmap::model::FeatureId::Int(id) = e.id else { unreachable!() };
        if !uncovered.contains(&id) {
            continue;
        }
        let reaches = |f: &&&gapmap::model::Facility| boundary_distance_m(&e.geometry, f.location) <= radius;
        if counted.iter().any(&reaches) {
            shrink_estates += 1;
            shrink_households += f64::from(e.households.unwrap_or(0));
        } else if stations.iter().any(|f| f.opened_year == Some(2030) && reaches(&f)) {
            the_2030_one_would_add += 1;
        }
    }
    assert!(shrink_estates >= 3, "each counted station stands on an uncovered estate");
    assert!(the_2030_one_would_add >= 1, "the 2030 station would change the demand if it counted");
    assert_eq!(before["demand_estates"].as_u64().expect("n"), u64::try_from(uncovered.len()).expect("n"));
    assert_eq!(
        before["demand_estates"].as_u64().expect("n") - after["demand_estates"].as_u64().expect("n"),
        u64::try_from(shrink_estates).expect("n")
    );
    let households = |v: &serde_json::Value| v["demand_households"].as_f64().expect("households");
    assert!((households(&before) - households(&after) - shrink_households).abs() < 1e-9);
}

/// `analyze --out x.csv` read back: (estate id, kind) → covered.
fn covered_flags(path: &Path) -> BTreeMap<(String, String), bool> {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            ((r[0].to_owned(), r[1].to_owned()), &r[3] == "true")
        })
        .collect()
}

/// `gapmap diff --planned` lists exactly the estate × kind pairs whose covered flag differs
/// between two `analyze` runs (without and with the planned file); the JSON totals and the
/// GeoJSON agree with that list.
#[test]
fn diff_lists_exactly_the_estates_whose_covered_flag_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planned = scenario(dir.path());
    let config = config_path();
    let (base, with) = (dir.path().join("base.csv"), dir.path().join("with.csv"));
    ok(&["analyze", "--config", s(&config), "--year", "2019", "--out", s(&base)]);
    ok(&["analyze", "--config", s(&config), "--year", "2019", "--planned", s(&planned), "--out", s(&with)]);
    let (before, after) = (covered_flags(&base), covered_flags(&with));
    assert_eq!(before.len(), after.len());
    let expected: BTreeSet<(String, String, String)> = before
        .iter()
        .filter(|(key, b)| after[*key] != **b)
        .map(|((estate, kind), b)| (estate.clone(), kind.clone(), if *b { "uncovered" } else { "covered" }.to_owned()))
        .collect();
    assert!(expected.len() >= 4, "the scenario changes something: {expected:?}");

    let (csv_out, json_out, geojson_out) = (dir.path().join("d.csv"), dir.path().join("d.json"), dir.path().join("d.geojson"));
    for out in [&csv_out, &json_out, &geojson_out] {
        ok(&["diff", "--config", s(&config), "--year", "2019", "--planned", s(&planned), "--out", s(out)]);
    }
    let mut reader = csv::Reader::from_path(&csv_out).expect("csv");
    assert_eq!(reader.headers().expect("header").iter().collect::<Vec<_>>().join(","), gapmap::io::diff::DIFF_CSV_HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let got: BTreeSet<(String, String, String)> = rows.iter().map(|r| (r[0].to_owned(), r[1].to_owned(), r[2].to_owned())).collect();
    assert_eq!(rows.len(), got.len(), "one row per estate × kind");
    assert_eq!(got, expected);
    // Newly covered rows: within the radius after, not before; the nearest after is planned here.
    for r in rows.iter().filter(|r| &r[2] == "covered") {
        let after_m: f64 = r[5].parse().expect("distance after");
        assert!(r[4].is_empty() || r[4].parse::<f64>().expect("distance before") > after_m, "{r:?}");
        assert_eq!(&r[8], "true", "only planned facilities were added: {r:?}");
    }

    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_out).expect("json")).expect("json");
    assert_eq!(doc["estates_compared"], 3000);
    assert_eq!(doc["planned_facilities_after"], 5);
    assert_eq!(doc["planned_facilities_before"], 0);
    for k in doc["kinds"].as_array().expect("kinds") {
        let kind = k["kind"].as_str().expect("kind");
        let ids = |change: &str| expected.iter().filter(|(_, kk, c)| kk == kind && c == change).map(|(e, _, _)| e.clone()).collect::<BTreeSet<_>>();
        let list = |key: &str| k[key].as_array().expect("list").iter().map(|v| v.as_str().expect("id").to_owned()).collect::<BTreeSet<_>>();
        assert_eq!(list("newly_covered"), ids("covered"), "{kind}");
        assert_eq!(list("newly_uncovered"), ids("uncovered"), "{kind}");
        assert_eq!(k["estates_newly_covered"], ids("covered").len(), "{kind}");
        let gained: u64 = rows.iter().filter(|r| &r[1] == kind && &r[2] == "covered").map(|r| r[3].parse::<u64>().unwrap_or(0)).sum();
        assert_eq!(k["households_gained"], gained, "{kind}");
    }

    let layer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&geojson_out).expect("geojson")).expect("json");
    let layer_ids: BTreeSet<String> = layer["features"].as_array().expect("features").iter().map(|f| f["properties"]["id"].to_string()).collect();
    let estates: BTreeSet<String> = expected.iter().map(|(e, _, _)| e.clone()).collect();
    assert_eq!(layer_ids, estates);
    for f in layer["features"].as_array().expect("features") {
        let p = &f["properties"];
        if p["day_care_change"] == "covered" {
            assert!(p["day_care_after_m"].as_f64().expect("after") <= 300.0);
        }
    }
}

/// `analyze` marks what is planned: `<kind>_nearest_planned` in the layer, `planned_facilities`
/// in the JSON summary; the CSV keeps its columns. The layer also carries `<kind>_access`.
#[test]
fn analyze_marks_planned_facilities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planned = scenario(dir.path());
    let config = config_path();
    let (layer_out, summary_out, csv_out) = (dir.path().join("e.geojson"), dir.path().join("s.json"), dir.path().join("c.csv"));
    for out in [&layer_out, &summary_out, &csv_out] {
        ok(&["analyze", "--config", s(&config), "--year", "2019", "--planned", s(&planned), "--out", s(out)]);
    }
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary_out).expect("json")).expect("json");
    assert_eq!(summary["planned_facilities"], serde_json::json!({"day_care": 3, "kindergarten": 1}));
    let header = std::fs::read_to_string(&csv_out).expect("csv");
    assert_eq!(header.lines().next(), Some(gapmap::io::write::COVERAGE_CSV_HEADER));

    let layer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&layer_out).expect("geojson")).expect("json");
    let features = layer["features"].as_array().expect("features");
    let planned_nearest: Vec<&serde_json::Value> = features.iter().filter(|f| f["properties"]["day_care_nearest_planned"] == true).collect();
    assert!(!planned_nearest.is_empty());
    for f in &planned_nearest {
        let id = f["properties"]["day_care_nearest_id"].as_i64().expect("id");
        assert!((900_001..=900_003).contains(&id), "a counted planned station: {id}");
    }
    for f in features {
        let p = &f["properties"];
        assert!(p["market_nearest_planned"] == false, "nothing planned for markets");
        assert!(p["day_care_access"].as_f64().is_some_and(|a| a >= 0.0));
    }
    // Without planned facilities the layer has no such property.
    let plain = dir.path().join("plain.geojson");
    ok(&["analyze", "--config", s(&config), "--year", "2019", "--out", s(&plain)]);
    let text = std::fs::read_to_string(&plain).expect("geojson");
    assert!(!text.contains("_nearest_planned") && text.contains("day_care_access"));
}

/// The report separates built and planned openings.
#[test]
fn report_distinguishes_built_and_planned_openings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let planned = scenario(dir.path());
    let config = config_path();
    let out = dir.path().join("report");
    ok(&["report", "--config", s(&config), "--year", "2019", "--from", "2018", "--planned", s(&planned), "--format", "json,md", "--out", s(&out)]);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report-2019.json")).expect("json")).expect("json");
    let planned_rows = doc["planned"].as_array().expect("planned openings");
    let row = |year: i32, kind: &str| planned_rows.iter().find(|r| r["year"] == year && r["kind"] == kind).expect("row");
    assert_eq!(row(2019, "day_care")["opened_planned"], 2);
    assert_eq!(row(2018, "day_care")["opened_planned"], 1);
    assert!(planned_rows.iter().all(|r| r["kind"] != "kindergarten"), "2017 is before the period");
    // The trend's openings include the planned ones.
    let opened = doc["trend"]["overall"].as_array().expect("overall").iter().find(|r| r["year"] == 2019 && r["kind"] == "day_care").expect("row")["opened"].as_u64().expect("n");
    assert_eq!(opened, row(2019, "day_care")["opened_built"].as_u64().expect("n") + 2);
    let md = std::fs::read_to_string(out.join("report-2019.md")).expect("md");
    assert!(md.contains("Built and planned openings") && md.contains("2 planned"), "{md}");
}

/// Errors name the planned file, and a planned facility with an unknown kind is rejected with
/// file, feature index and id like any facility.
#[test]
fn planned_errors_name_the_file_feature_and_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_path();
    let out = dir.path().join("x.csv");
    let missing = dir.path().join("missing_planned.geojson");
    let o = gapmap(&["analyze", "--config", s(&config), "--planned", s(&missing), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("planned[0].path") && err.contains("missing_planned.geojson") && err.contains("does not exist"), "{err}");

    let bad = dir.path().join("bad_planned.geojson");
    let doc = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.5, 38.04]}, "properties": {"id": 901, "kind": "day_care", "opened_year": 2026}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.5, 38.05]}, "properties": {"id": 777, "kind": "cinema"}},
    ]});
    std::fs::write(&bad, doc.to_string()).expect("write");
    for command in ["analyze", "plan", "diff"] {
        let mut args = vec![command, "--config", s(&config), "--planned", s(&bad), "--out", s(&out)];
        if command == "plan" {
            args.extend(["--kind", "day_care", "--count", "1"]);
        }
        let o = gapmap(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{command}");
        assert!(err.contains("bad_planned.geojson: feature 1 (id 777): unknown kind `cinema`"), "{command}: {err}");
    }

    // A planned id may not reuse a built facility's id.
    let dup = dir.path().join("dup_planned.geojson");
    let doc = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [114.5, 38.04]}, "properties": {"id": 1, "kind": "day_care"}},
    ]});
    std::fs::write(&dup, doc.to_string()).expect("write");
    let o = gapmap(&["analyze", "--config", s(&config), "--planned", s(&dup), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("dup_planned.geojson: feature 0 (id 1): duplicate facility id 1"), "{err}");
}

/// `gapmap diff` says what it needs.
#[test]
fn diff_flags_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_path();
    let out = dir.path().join("d.csv");
    let o = gapmap(&["diff", "--config", s(&config), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nothing to compare") && err.contains("--planned") && err.contains("--against"), "{err}");

    let o = gapmap(&["diff", "--against", s(&config), "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("pass the baseline with --config"), "{err}");

    let planned = scenario(dir.path());
    let o = gapmap(&["diff", "--config", s(&config), "--planned", s(&planned), "--out", s(&dir.path().join("d.gpkg"))]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("use .csv, .geojson or .json"));

    let help = ok(&["diff", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in ["--planned", "--against", "newly", "households", "nearest_after_planned"] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }

    // Two configs: the same config on both sides changes nothing; a radius override on one side
    // cannot be expressed by flags (they apply to both), so compare against a config with a
    // wider day-care radius written here.
    let wider = dir.path().join("wider.toml");
    let demo = repo("data/demo");
    std::fs::write(
        &wider,
        format!(
            "[estates]\npath = \"{}\"\n[[facilities]]\npath = \"{}\"\n[analysis]\nradius_m = {{ day_care = 400 }}\n",
            s(&demo.join("estates.geojson")),
            s(&demo.join("facilities.geojson"))
        ),
    )
    .expect("write");
    let json = dir.path().join("same.json");
    ok(&["diff", "--config", s(&config), "--against", s(&config), "--year", "2019", "--out", s(&json)]);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
    assert!(doc["kinds"].as_array().expect("kinds").iter().all(|k| k["estates_newly_covered"] == 0 && k["estates_newly_uncovered"] == 0));
    ok(&["diff", "--config", s(&config), "--against", s(&wider), "--year", "2019", "--out", s(&json)]);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
    let day_care = doc["kinds"].as_array().expect("kinds").iter().find(|k| k["kind"] == "day_care").expect("day_care");
    assert_eq!(day_care["radius_m_after"], 400.0);
    assert!(day_care["estates_newly_covered"].as_u64().expect("n") > 0 && day_care["estates_newly_uncovered"] == 0);
    let market = doc["kinds"].as_array().expect("kinds").iter().find(|k| k["kind"] == "market").expect("market");
    assert_eq!(market["estates_newly_covered"], 0);
}
