//! The web map in a real browser: `gapmap serve` on a generated city, on loopback port 0, and
//! `tests/browser/map.test.mjs` driving Debian's headless chromium through playwright-core
//! against it (see that file for what is checked), once measured by straight line and once by
//! walking along the generated streets; the city has no facility of one kind ([`EMPTY_KIND`]),
//! which the map must mark as "no data". The screenshots are saved as
//! `target/test-artifacts/webmap.png` and `webmap-walking.png` (with `-popup`, `-plan` and
//! `-phone` variants).
//!
//! The straight-line city also carries a renovation programme (`common::programme::write_programme`: projects in
//! every status, one in three surveyed projects below the satisfaction gate, wishes), so the
//! script also switches to the programme view, checks an estate's colour against its project's
//! status, the project popup (funding split, top wishes) and the satisfaction filter.
//!
//! Needs `/usr/bin/chromium`, node and `web/node_modules`: `bash scripts/setup.sh` installs them.
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::programme::{write_programme, PROGRAMME};
use common::server::{gapmap, serve};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Serves a generated city (`generate` with `extra` arguments, then `config`) and runs
/// `tests/browser/map.test.mjs` against it, saving the screenshot as `target/test-artifacts/NAME.png`.
fn run_map_test(extra: &[&str], config: &str, name: &str) {
    let chromium = std::env::var("GAPMAP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: run `bash scripts/setup.sh` (it installs Debian's chromium)");
    assert!(root().join("web/node_modules/playwright-core").is_dir(), "web/node_modules is missing: run `bash scripts/setup.sh` (it runs `npm ci` in web/)");

    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().to_str().unwrap();
    let mut args = vec!["generate", "--estates", "600", "--facilities", "1800", "--seed", "7", "--out", city];
    args.extend_from_slice(extra);
    gapmap(&args);
    drop_kind(&dir.path().join("facilities.geojson"), EMPTY_KIND);
    if config.contains("[programme]") {
        write_programme(dir.path());
    }
    let config_path = dir.path().join("gapmap.toml");
    std::fs::write(&config_path, config).unwrap();
    let (_server, url) = serve(&config_path);

    let screenshot = root().join(format!("target/test-artifacts/{name}.png"));
    let out = Command::new("node")
        .arg(root().join("tests/browser/map.test.mjs"))
        .arg(&url)
        .arg(&screenshot)
        .env("GAPMAP_CHROMIUM", &chromium)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run `bash scripts/setup.sh`"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "the browser test failed:\n{stdout}{stderr}");
    assert!(screenshot.metadata().is_ok_and(|m| m.len() > 10_000), "no screenshot at {}", screenshot.display());
}

/// The kind the test city has no facility of: the map must call it "no data", not a gap.
const EMPTY_KIND: &str = "ev_charger";

/// Removes every facility of `kind` from a GeoJSON file of facilities.
fn drop_kind(path: &Path, kind: &str) {
    let mut collection: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let features = collection["features"].as_array_mut().unwrap();
    let before = features.len();
    features.retain(|f| f["properties"]["kind"] != kind);
    assert!(features.len() < before, "the generated city has no {kind} to remove");
    std::fs::write(path, collection.to_string()).unwrap();
}

const CITY: &str = "[estates]\npath = \"estates.geojson\"\n\n[[facilities]]\npath = \"facilities.geojson\"\n";

#[test]
fn web_map_in_chromium() {
    run_map_test(&[], &format!("{CITY}{PROGRAMME}"), "webmap");
}

/// The same city measured by walking along its generated streets: the script also checks the
/// straight-line / walking switch, the popup's two distances and the streets layer.
#[test]
fn web_map_walking_in_chromium() {
    let config = format!("{CITY}\n[analysis]\nmetric = \"network\"\n\n[network]\npath = \"streets.geojson\"\n");
    run_map_test(&["--streets"], &config, "webmap-walking");
}
