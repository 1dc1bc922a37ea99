//! The map styles: every `styles/*.json` — as committed and as served (absolute URLs, another
//! kind and year, a configured basemap) — passes MapLibre's official validator
//! (`gl-style-validate` from the `@maplibre/maplibre-gl-style-spec` npm package); no committed
//! style points outside gapmap; the QGIS style matches the MapLibre one; and the files built
//! from npm packages (web/dist, web/glyphs) are equal to a fresh build.
//!
//! Needs node and `web/node_modules` (`bash scripts/setup.sh` installs both).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

use std::path::{Path, PathBuf};
use std::process::Command;

use gapmap::config::{Config, SourceConfig};
use gapmap::generate::{generate_city, CityParams};
use gapmap::http::styles::{render_style, StyleQuery, STYLES};
use gapmap::http::load_dataset;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `node` with a script from web/, or a panic saying how to install what is missing.
fn node(args: &[&str]) -> std::process::Output {
    let modules = root().join("web/node_modules/@maplibre/maplibre-gl-style-spec");
    assert!(modules.is_dir(), "web/node_modules is missing: run `bash scripts/setup.sh` (it runs `npm ci` in web/)");
    Command::new("node")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run `bash scripts/setup.sh` (it installs Debian's nodejs and npm)"))
}

/// Runs the official validator on a file; the validator's messages on failure.
fn validate(path: &Path) -> Result<(), String> {
    let validator = root().join("web/node_modules/@maplibre/maplibre-gl-style-spec/dist/gl-style-validate.mjs");
    let out = node(&[validator.to_str().unwrap(), path.to_str().unwrap()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

fn style_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("styles")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    files
}

/// Every string in a JSON value, with its path.
fn strings(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| strings(v, &format!("{path}[{i}]"), out)),
        Value::Object(o) => o.iter().for_each(|(k, v)| strings(v, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

#[test]
fn committed_styles_pass_the_validator() {
    let files = style_files();
    let names: Vec<String> = files.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["coverage", "facilities", "gaps", "service-areas", "streets"]);
    assert_eq!(STYLES.len(), files.len(), "every file under styles/ is served");
    for file in &files {
        validate(file).unwrap_or_else(|e| panic!("{} fails gl-style-validate:\n{e}", file.display()));
    }
}

#[test]
fn the_validator_rejects_a_broken_style() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, r#"{"version": 8, "sources": {}, "layers": [{"id": "x", "type": "fil"}]}"#).unwrap();
    assert!(validate(&path).is_err(), "the validator must be able to fail");
}

#[test]
fn committed_styles_point_nowhere_outside_gapmap() {
    for file in style_files() {
        let style: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let mut all = Vec::new();
        strings(&style, "", &mut all);
        for (path, s) in &all {
            assert!(!s.contains("http://") && !s.contains("https://") && !s.starts_with("//"), "{}{path} is remote: {s}", file.display());
            assert!(!s.starts_with("mapbox://") && !s.contains("{key}") && !s.contains("access_token"), "{}{path}: {s}", file.display());
        }
        for (id, source) in style["sources"].as_object().unwrap() {
            let url = source["url"].as_str().unwrap_or_default();
            assert!(url.starts_with("/tiles/") && std::path::Path::new(url).extension().is_some_and(|e| e == "json"), "{} source {id} is not one of gapmap's tile sets: {url}", file.display());
        }
        assert!(style["sprite"].is_null(), "{}: no sprite is served", file.display());
        if let Some(glyphs) = style["glyphs"].as_str() {
            assert_eq!(glyphs, "/fonts/{fontstack}/{range}.pbf");
        }
        assert!(!style["sources"].as_object().unwrap().contains_key("basemap"), "the basemap is off by default");
        for layer in style["layers"].as_array().unwrap() {
            if let Some(fonts) = layer["layout"]["text-font"].as_array() {
                assert_eq!(fonts, &[Value::from(gapmap::http::styles::FONTSTACK)], "{}: labels use the glyphs gapmap serves", file.display());
            }
        }
    }
}

#[test]
fn served_styles_pass_the_validator() {
    let dir = tempfile::tempdir().unwrap();
    let city = generate_city(&CityParams { estates: 40, facilities: 120, seed: 5, ..CityParams::default() });
    gapmap::io::geojson::write_feature_collection(&dir.path().join("e.geojson"), &city.estates, None).unwrap();
    gapmap::io::geojson::write_feature_collection(&dir.path().join("f.geojson"), &city.facilities, None).unwrap();
    let mut config = Config {
        estates: Some(SourceConfig::from_path(dir.path().join("e.geojson"))),
        facilities: vec![SourceConfig::from_path(dir.path().join("f.geojson"))],
        ..Config::default()
    };
    let dataset = load_dataset(&config).unwrap();
    let base = "http://127.0.0.1:8080";
    for (name, _, _) in STYLES {
        for (query, basemap) in [
            (StyleQuery::default(), None),
            (StyleQuery { kind: Some("market".into()), year: Some(2012) }, None),
            (StyleQuery::default(), Some("https://tiles.example.org/{z}/{x}/{y}.png")),
        ] {
            config.serve.basemap_url = basemap.map(str::to_owned);
            let style = render_style(name, &dataset, &query, base, &config.serve).unwrap();
            let mut all = Vec::new();
            strings(&style, "", &mut all);
            for (path, s) in &all {
                if s.contains("://") {
                    assert!(s.starts_with(base) || basemap == Some(s.as_str()), "{name}{path}: {s}");
                }
            }
            let path = dir.path().join(format!("{name}.json"));
            std::fs::write(&path, serde_json::to_string_pretty(&style).unwrap()).unwrap();
            validate(&path).unwrap_or_else(|e| panic!("served {name} ({query:?}, basemap {basemap:?}) fails gl-style-validate:\n{e}"));
        }
    }
}

/// `[(color, label)]` of a style's legend.
fn legend(style: &Value) -> Vec<(String, String)> {
    style["metadata"]["gapmap:legend"].as_array().unwrap().iter().map(|i| (i["color"].as_str().unwrap().to_owned(), i["en"].as_str().unwrap_or_default().to_owned())).collect()
}

fn rgb(hex: &str) -> String {
    let n = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    format!("{},{},{},255", n(1), n(3), n(5))
}

#[test]
fn the_qgis_style_matches_the_maplibre_one() {
    let qml = std::fs::read_to_string(root().join("styles/estates-coverage.qml")).unwrap();
    assert!(qml.starts_with("<!DOCTYPE qgis") && qml.contains("<qgis ") && qml.trim_end().ends_with("</qgis>"));
    assert_eq!(qml.matches("<rule ").count(), 6);
    assert!(qml.contains("@gapmap_kind") && qml.contains("_covered") && qml.contains("_distance_m") && qml.contains("_shortfall"));
    let coverage: Value = serde_json::from_str(&std::fs::read_to_string(root().join("styles/coverage.json")).unwrap()).unwrap();
    // Every class of the MapLibre legend has its colour in QGIS (the ramp's ≈ 3 × radius colour
    // is QGIS's 2–4 × class).
    for (color, label) in legend(&coverage) {
        assert!(qml.contains(&rgb(&color)), "the QML lacks the colour {color} of `{label}`");
    }
    // Balanced tags, well enough for a file QGIS writes without mixed content.
    for tag in ["renderer-v2", "rules", "symbols", "labeling"] {
        assert_eq!(qml.matches(&format!("<{tag}")).count(), qml.matches(&format!("</{tag}>")).count(), "{tag}");
    }
}

#[test]
fn facility_colours_agree_between_styles() {
    let read = |n: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(root().join(format!("styles/{n}.json"))).unwrap()).unwrap() };
    let facilities = read("facilities");
    let areas = read("service-areas");
    // Built facilities are filled with their kind's colour; planned ones are rings of it.
    let paint = &facilities["layers"][1]["paint"];
    let planned = serde_json::json!(["==", ["get", "planned"], true]);
    assert_eq!((&paint["circle-color"][0], &paint["circle-color"][1], &paint["circle-color"][2]), (&Value::from("case"), &planned, &Value::from("#ffffff")));
    let circle = &paint["circle-color"][3];
    assert_eq!((&paint["circle-stroke-color"][1], &paint["circle-stroke-color"][2]), (&planned, circle));
    assert_eq!(circle, &areas["layers"][1]["paint"]["fill-color"]);
    assert_eq!(circle, &areas["layers"][2]["paint"]["line-color"]);
    let catalogue = std::fs::read_to_string(root().join("data/standards/gb50180-2018.toml")).unwrap();
    for line in catalogue.lines().filter_map(|l| l.strip_prefix("key = ")) {
        let key = line.trim_matches('"');
        assert!(circle.as_array().unwrap().iter().any(|v| v == key), "kind {key} has no colour");
    }
}

#[test]
fn built_web_files_are_up_to_date() {
    for script in ["web/build.mjs", "web/glyphs.mjs"] {
        let out = node(&[script, "--check"]);
        assert!(out.status.success(), "{script} --check failed: {}{}\nrun `node {script}` and commit the result", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}
