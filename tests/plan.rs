//! `gapmap plan` on the demo city: the problem it states, checked from outside.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gapmap::analysis::{compute_coverage, point_multipolygon_distance_m, DistanceFrom, RecordedHouseholds, StraightLine};
use gapmap::io::load::{load, LoadOptions};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn gapmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gapmap")).args(args).env_remove("RUST_LOG").output().expect("runs")
}

fn plan_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = dir.join("plan.json");
    let config = repo("data/demo/gapmap.toml");
    let mut args = vec!["plan", "--config", config.to_str().expect("utf-8"), "--kind", "day_care", "--out", out.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let o = gapmap(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("json")
}

/// Every site's `covers` is exactly the uncovered estates within the radius of its candidate
/// point (the estate's centroid), computed here by a plain scan; gains add up to the objective.
#[test]
fn covers_are_exactly_the_uncovered_estates_within_the_radius() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = plan_json(dir.path(), &["--count", "8", "--year", "2019"]);
    assert_eq!(plan["solver"], "exact");
    assert_eq!(plan["metric"], "straight");
    let sites = plan["sites"].as_array().expect("sites");
    assert_eq!(sites.len(), 8);

    // The same data through the library.
    let config = gapmap::config::Config::from_file(&repo("data/demo/gapmap.toml")).expect("config");
    let catalogue = gapmap::cli::catalogue_for(&config).expect("catalogue");
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(config.estates.as_ref().expect("estates"), &config.facilities, &options, &|_| {}).expect("loads");
    let kind = catalogue.kind_id("day_care").expect("kind");
    let radius = catalogue.spec(kind).radius_m;
    assert_eq!(plan["radius_m"], radius);
    let metric = StraightLine::new(&loaded.facilities, DistanceFrom::Boundary);
    let table = compute_coverage(&loaded.estates, &metric, &catalogue, Some(2019), &RecordedHouseholds, &()).expect("coverage");
    let uncovered: Vec<usize> = (0..loaded.estates.len()).filter(|&e| !table.get(e, kind).covered).collect();
    assert_eq!(plan["demand_estates"], uncovered.len());

    let mut seen = std::collections::HashSet::new();
    let (mut households, mut estates) = (0.0, 0);
    for site in sites {
        let id = site["id"].as_str().expect("id");
        let at = loaded.estates.iter().find(|e| e.id.to_string() == id).and_then(gapmap::model::Estate::centroid).expect("a centroid candidate");
        let mut expected: Vec<String> = uncovered
            .iter()
            .filter(|&&e| point_multipolygon_distance_m(at.0, &loaded.estates[e].geometry) <= radius)
            .map(|&e| loaded.estates[e].id.to_string())
            .collect();
        expected.sort();
        let mut got: Vec<String> = site["covers"].as_array().expect("covers").iter().map(|v| v.as_str().expect("id").to_owned()).collect();
        got.sort();
        assert_eq!(got, expected, "site {id}");
        // Marginal gains in rank order.
        let fresh: Vec<&String> = got.iter().filter(|e| seen.insert((*e).clone())).collect();
        assert_eq!(site["estates_new"], fresh.len(), "site {id}");
        let h: f64 = fresh.iter().map(|e| f64::from(loaded.estates.iter().find(|x| &x.id.to_string() == *e).and_then(|x| x.households).unwrap_or(0))).sum();
        assert_eq!(site["households_new"].as_f64(), Some(h), "site {id}");
        households += h;
        estates += fresh.len();
    }
    assert_eq!(plan["objective_households"].as_f64(), Some(households));
    assert_eq!(plan["objective_estates"], estates);
    assert_eq!(plan["gap_pct"].as_f64(), Some(0.0));
}

/// With no time the answer is greedy's, labelled so, with a bound no lower than the exact answer
/// and an objective no higher.
#[test]
fn no_time_gives_the_greedy_answer_with_a_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exact = plan_json(dir.path(), &["--count", "12"]);
    let greedy = plan_json(dir.path(), &["--count", "12", "--time-limit", "0"]);
    assert_eq!(exact["solver"], "exact");
    let e = exact["objective_households"].as_f64().expect("number");
    let g = greedy["objective_households"].as_f64().expect("number");
    let bound = greedy["bound_households"].as_f64().expect("number");
    assert!(g <= e && e <= bound, "greedy {g}, exact {e}, bound {bound}");
    if g < e {
        assert_eq!(greedy["solver"], "greedy");
        assert!(greedy["gap_pct"].as_f64().expect("number") > 0.0);
    }
}

/// CSV, GeoJSON and HTML outputs; a budget with costs; clear errors.
#[test]
fn outputs_budgets_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = repo("data/demo/gapmap.toml");
    let config = config.to_str().expect("utf-8");
    for ext in ["csv", "geojson", "html"] {
        let out = dir.path().join(format!("plan.{ext}"));
        let o = gapmap(&["plan", "--config", config, "--kind", "nursery", "--count", "3", "--candidates", "grid:400", "--out", out.to_str().expect("utf-8")]);
        assert!(o.status.success(), "{ext}: {}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&out).expect("written");
        match ext {
            "csv" => {
                assert!(text.starts_with("rank,id,lon,lat,cost,households_new,estates_new,covers\n"));
                assert_eq!(text.lines().count(), 4);
            }
            "geojson" => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                assert_eq!(v["features"].as_array().map(Vec::len), Some(3));
                assert_eq!(v["features"][0]["geometry"]["type"], "Point");
            }
            _ => assert!(text.contains("<svg") && text.contains("<table>")),
        }
    }
    // Unknown kind, a bare radius in analyze, no limit.
    let out = dir.path().join("x.json");
    let out = out.to_str().expect("utf-8");
    let o = gapmap(&["plan", "--config", config, "--kind", "spaceport", "--count", "3", "--out", out]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("spaceport"));
    let o = gapmap(&["plan", "--config", config, "--kind", "day_care", "--out", out]);
    assert!(!o.status.success());
    let o = gapmap(&["analyze", "--config", config, "--radius", "300", "--out", out]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("name the kind"), "{}", String::from_utf8_lossy(&o.stderr));
}

fn network_fixture(name: &str) -> String {
    repo("tests/fixtures/network").join(name).to_str().expect("utf-8").to_owned()
}

/// By walking distance, a site covers exactly the estates `analyze --metric network` would call
/// covered with a facility standing there (checked by running analyze with each site alone).
#[test]
fn walking_plan_agrees_with_walking_analysis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("plan.json");
    let (estates, facilities, streets) = (network_fixture("estates.geojson"), network_fixture("facilities.geojson"), network_fixture("streets.geojson"));
    let common = ["--estates", &estates, "--network", &streets, "--metric", "network", "--working-crs", "EPSG:4547"];
    let mut args = vec!["plan", "--kind", "kindergarten", "--count", "2", "--candidates", "grid:40", "--weight", "estates", "--facilities", &facilities, "--out", out.to_str().expect("utf-8")];
    args.extend_from_slice(&common);
    let o = gapmap(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("json");
    assert_eq!(plan["metric"], "network");
    // Estate 1 walks 570 m to the kindergarten (tests/network.rs), estate 2 170 m: one in demand.
    assert_eq!(plan["demand_estates"], 1);
    assert_eq!(plan["objective_estates"], 1);
    for site in plan["sites"].as_array().expect("sites") {
        let point = dir.path().join("site.geojson");
        let feature = serde_json::json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
            "properties": {"id": "site", "kind": "kindergarten"}}]});
        std::fs::write(&point, feature.to_string()).expect("write");
        let csv = dir.path().join("site.csv");
        let mut args = vec!["analyze", "--facilities", point.to_str().expect("utf-8"), "--out", csv.to_str().expect("utf-8")];
        args.extend_from_slice(&common);
        let o = gapmap(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(&csv).expect("csv");
        let covered_demand: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("1,kindergarten,") && l.split(',').nth(3) == Some("true"))
            .map(|l| l.split(',').next().expect("id").to_owned())
            .collect();
        let covers: Vec<String> = site["covers"].as_array().expect("covers").iter().map(|v| v.as_str().expect("id").to_owned()).collect();
        assert_eq!(covers, covered_demand, "site {}", site["id"]);
    }
}
