//! The OpenAPI document at `/api` checked by independent tools against a running `gapmap serve`
//! on a small generated city (with one catalogue kind no facility has, so an empty service area
//! is served, and a renovation programme): `openapi-spec-validator` checks the document itself,
//! and schemathesis sends a bounded number of generated requests and checks every answer's
//! status, media type, headers and body against what the document declares, and that requests
//! the document allows are answered.
//!
//! The Python tools live in `target/venv-openapi` (`bash scripts/setup.sh` installs them; this
//! test does too when they are missing).
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::programme::{write_programme, PROGRAMME};
use common::server::{gapmap, serve};

/// The pinned tool versions (also in `scripts/setup.sh`).
const TOOLS: &[&str] = &["openapi-spec-validator==0.9.0", "schemathesis==4.32.5"];

/// Generated requests per operation and mode: enough to reach every parameter, bounded for a
/// shared 2-core machine (about 20 s for both runs).
const MAX_EXAMPLES: &str = "10";


fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's `bin/`, installing the tools into it when they are missing.
fn tools() -> PathBuf {
    let venv = root().join("target/venv-openapi");
    let bin = venv.join("bin");
    let ready = || Command::new(bin.join("python")).args(["-c", "import openapi_spec_validator, schemathesis"]).status().is_ok_and(|s| s.success());
    if ready() {
        return bin;
    }
    let created = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success());
    assert!(created, "cannot create {} (python3 -m venv); install python3-venv, or run `bash scripts/setup.sh`", venv.display());
    let out = Command::new("nice").args(["-n", "19"]).arg(bin.join("pip")).args(["install", "-q"]).args(TOOLS).output().unwrap();
    assert!(
        out.status.success(),
        "pip could not install {TOOLS:?} into {} (is PyPI reachable?): {}\nInstall them there by hand, or run `bash scripts/setup.sh`.",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ready(), "the tools in {} do not import after installing", venv.display());
    bin
}



/// Runs schemathesis over `/api` with `args`, in `dir`; panics with its report on a failure.
fn schemathesis(bin: &Path, url: &str, dir: &Path, args: &[&str]) {
    let out = Command::new("nice")
        .args(["-n", "19"])
        .arg(bin.join("schemathesis"))
        .args(["run", &format!("{url}/api"), "--max-examples", MAX_EXAMPLES, "--seed", "15", "--workers", "1", "--phases", "examples,fuzzing"])
        .args(["--request-timeout", "60", "--generation-database", "none", "--warnings", "off", "--no-color"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis {args:?} found problems:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("passed"), "schemathesis ran nothing:\n{report}");
}

#[test]
fn independent_tools_accept_the_document_and_the_answers() {
    let bin = tools();
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().to_str().unwrap();
    gapmap(&["generate", "--estates", "150", "--facilities", "450", "--seed", "11", "--out", city]);
    std::fs::write(
        dir.path().join("catalogue.toml"),
        "[[kind]]\nkey = \"reading_room\"\nlabel_zh = \"阅览室\"\nlabel_en = \"Reading room\"\nradius_m = 500\ncircle = \"10min\"\nclause = \"test: a kind no facility has\"\n",
    )
    .unwrap();
    let config = dir.path().join("gapmap.toml");
    // With a renovation programme, so that `projects`, `wishes` and the districts' programme
    // figures are in the document and checked too.
    write_programme(dir.path());
    std::fs::write(&config, format!("[estates]\npath = \"estates.geojson\"\n[[facilities]]\npath = \"facilities.geojson\"\n[analysis]\ncatalogue = \"catalogue.toml\"\n[report]\nfrom = 2015\n{PROGRAMME}")).unwrap();
    let (_server, url) = serve(&config);

    let validate = "import json, sys, urllib.request\nfrom openapi_spec_validator import validate\nd = json.load(urllib.request.urlopen(sys.argv[1] + '/api'))\nvalidate(d)\nassert '/collections/projects/items' in d['paths'] and '/collections/wishes/items/{featureId}' in d['paths'], 'no programme collections'\n";
    let out = Command::new(bin.join("python")).args(["-c", validate, &url]).output().unwrap();
    assert!(out.status.success(), "openapi-spec-validator rejects /api:\n{}", String::from_utf8_lossy(&out.stderr));

    // Every operation, valid and invalid requests: each answer's status is declared, and its
    // media type, headers and body match the declaration.
    schemathesis(
        &bin,
        &url,
        dir.path(),
        &["--mode", "all", "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"],
    );
    // Requests the document allows are answered (2xx, or 404 for a generated id). Items pages
    // and /coverage are left out: what they reject beyond their schemas (CQL2 grammar, bbox
    // corner order, points the working CRS cannot take) OpenAPI 3.0 cannot express; the router
    // tests in tests/http_ogc.rs cover their empty filter and sortby.
    schemathesis(
        &bin,
        &url,
        dir.path(),
        &["--mode", "positive", "--include-method", "GET", "--exclude-path-regex", "^/collections/[^/]+/items$|^/coverage$", "--checks", "positive_data_acceptance"],
    );
}
