//! `GET /reports` and `GET /reports/{year}` on the demo city: the served JSON is byte for byte
//! the file `gapmap report` writes from the same config, every format is what it says (HTML
//! self-contained, Markdown, an XLSX that reads back), bad requests are 400s naming the
//! parameter, repeated requests are 304s, and a reload reads the targets file again.

#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::http::StatusCode;
use calamine::{Reader as _, Xlsx};
use common::http::{get_with, Answer};
use gapmap::config::Config;
use gapmap::http::{load_dataset, AppState};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn demo_config() -> Config {
    Config::from_file(&repo("data/demo/gapmap.toml")).expect("the demo config reads")
}

/// The demo city, loaded once per test binary (read-only tests).
fn demo() -> AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let config = demo_config();
            AppState::new(config.clone(), load_dataset(&config).expect("the demo loads"))
        })
        .clone()
}

/// Asserts a 400 naming `parameter`.
fn assert_bad(answer: &Answer, parameter: &str) {
    answer.assert_error(StatusCode::BAD_REQUEST, parameter);
    assert_eq!(answer.json()["code"], "InvalidParameterValue");
}

async fn get(uri: &str) -> Answer {
    get_with(&demo(), uri, &[]).await
}

/// The row of `kind` in `year` among the report's city-wide figures.
fn overall<'a>(report: &'a Value, kind: &str, year: i64) -> &'a Value {
    report["trend"]["overall"]
        .as_array()
        .expect("overall rows")
        .iter()
        .find(|r| r["kind"] == kind && r["year"] == year)
        .unwrap_or_else(|| panic!("no {kind} row for {year}"))
}

#[tokio::test]
async fn served_json_is_the_file_the_cli_writes() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["report", "--config"])
        .arg(repo("data/demo/gapmap.toml"))
        .args(["--year", "2021", "--format", "json", "--out"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read(out.path().join("report-2021.json")).unwrap();

    let served = get("/reports/2021?f=json").await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.text());
    assert_eq!(served.header("content-type"), Some("application/json"));
    assert!(served.body == written, "GET /reports/2021 differs from `gapmap report --format json`");

    // Both took the period and the targets from `[report]` in the demo config.
    let report = served.json();
    assert_eq!(report["year"], 2021);
    assert_eq!(report["from"], 2018);
    assert!(report["targets_source"].as_str().unwrap().ends_with("targets.toml"));
    // The Shijiazhuang 2021 figures the demo data reproduce (../shared/DOMAIN.md), with targets.
    for (kind, opened) in [("day_care", 304), ("market", 15), ("parking", 205), ("ev_charger", 685), ("nursery", 48)] {
        let row = overall(&report, kind, 2021);
        assert_eq!(row["opened"], opened, "{kind}: {row}");
        assert!(row["target_new_facilities"].is_number(), "{kind} has a 2021 target: {row}");
    }
    assert_eq!(overall(&report, "nursery", 2021)["capacity_added"], 7262);
}

#[tokio::test]
async fn html_is_one_self_contained_page_by_f_or_accept() {
    let by_f = get("/reports/2021?f=html").await;
    assert_eq!(by_f.status, StatusCode::OK);
    assert_eq!(by_f.header("content-type"), Some("text/html; charset=utf-8"));
    let by_accept = get_with(&demo(), "/reports/2021", &[("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")]).await;
    assert_eq!(by_accept.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(by_f.body == by_accept.body);
    let html = by_f.text();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"), "{}", &html[..80]);
    assert!(html.contains("<svg"), "charts and map are inline SVG");
    for external in ["src=\"http", "href=\"http", "<script src", "<link rel=\"stylesheet\" href"] {
        assert!(!html.contains(external), "the report must not fetch anything: found {external}");
    }
    assert!(html.contains("2021"));
}

#[tokio::test]
async fn markdown_and_xlsx() {
    let md = get("/reports/2021?f=md").await;
    assert_eq!(md.status, StatusCode::OK);
    assert_eq!(md.header("content-type"), Some("text/markdown; charset=utf-8"));
    assert!(md.text().starts_with("# "), "{}", &md.text()[..60]);
    assert!(md.text().contains("day_care") || md.text().contains("Day-care"));

    let xlsx = get("/reports/2021?f=xlsx").await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert_eq!(xlsx.header("content-type"), Some(gapmap::http::report::XLSX));
    assert_eq!(xlsx.header("content-disposition"), Some("attachment; filename=\"report-2021.xlsx\""));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(xlsx.body.clone())).expect("a readable workbook");
    let sheets = book.sheet_names();
    assert!(sheets.len() >= 3, "a sheet per table: {sheets:?}");
    let first = book.worksheet_range(&sheets[0]).expect("the first sheet reads");
    assert!(first.height() > 1, "the first sheet has rows");
}

#[tokio::test]
async fn from_overrides_the_config_and_early_years_start_at_themselves() {
    let report = get("/reports/2021?from=2020").await.json();
    assert_eq!((report["year"].as_i64(), report["from"].as_i64()), (Some(2021), Some(2020)));
    // `report.from = 2018` is after 2015, so the 2015 report covers 2015 alone.
    let early = get("/reports/2015").await.json();
    assert_eq!((early["year"].as_i64(), early["from"].as_i64()), (Some(2015), Some(2015)));
    // A year before any opening still reports: nothing opened.
    let empty = get("/reports/1950").await.json();
    assert_eq!(overall(&empty, "day_care", 1950)["opened"], 0);
}

#[tokio::test]
async fn bad_requests_name_the_parameter() {
    assert_bad(&get("/reports/twenty").await, "year");
    assert_bad(&get("/reports/99999").await, "year");
    assert_bad(&get("/reports/2021?from=2022").await, "from");
    assert_bad(&get("/reports/2021?from=1900").await, "from");
    assert_bad(&get("/reports/2021?from=last").await, "from");
    assert_bad(&get("/reports/2021?f=pdf").await, "f");
    assert_bad(&get("/reports/2021?colour=red").await, "colour");
    assert_bad(&get("/reports?year=2021").await, "year");
    assert_eq!(get("/reports/2021/kinds").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn listing_links_every_year_with_data() {
    let list = get("/reports").await.json();
    let reports = list["reports"].as_array().unwrap();
    let years: Vec<i64> = reports.iter().map(|r| r["year"].as_i64().unwrap()).collect();
    assert!(years.contains(&2021) && years.contains(&2018), "{years:?}");
    assert!(years.windows(2).all(|w| w[0] == w[1] + 1), "newest first, no gaps: {years:?}");
    let r2021 = reports.iter().find(|r| r["year"] == 2021).unwrap();
    assert_eq!(r2021["from"], 2018);
    let hrefs: Vec<&str> = r2021["links"].as_array().unwrap().iter().map(|l| l["href"].as_str().unwrap()).collect();
    assert!(hrefs.iter().any(|h| h.ends_with("/reports/2021?f=xlsx")), "{hrefs:?}");
    assert_eq!(list["targets"], "targets.toml");
    let html = get("/reports?f=html").await;
    assert!(html.text().contains("/reports/2021?f=html"));
    // The landing page and the API definition point here.
    let landing = get("/?f=json").await.json();
    assert!(landing["links"].as_array().unwrap().iter().any(|l| l["href"].as_str().unwrap().ends_with("/reports")));
    let api = get("/api").await.json();
    let params: Vec<&str> = api["paths"]["/reports/{year}"]["get"]["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    // `from` cannot be declared (the period's start must not follow its end, which OpenAPI
    // cannot say); the operation's description explains it. `lang` picks the report's language.
    assert_eq!(params, ["year", "f", "lang"]);
    assert!(api["paths"]["/reports/{year}"]["get"]["description"].as_str().unwrap().contains("`from=YEAR`"));
}

#[tokio::test]
async fn repeated_requests_are_not_modified_and_cached() {
    let first = get("/reports/2020").await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = get_with(&demo(), "/reports/2020", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // The format is negotiated, so both the answer and its 304 say what it varies on.
    assert!(first.header("vary").is_some_and(|v| v.contains("accept")), "{:?}", first.header("vary"));
    assert!(again.header("vary").is_some_and(|v| v.contains("accept")), "{:?}", again.header("vary"));
    let second = get("/reports/2020").await;
    assert!(first.body == second.body);
    assert!(demo().dataset().reports.cached() >= 1);
}

#[tokio::test]
async fn reload_reads_the_targets_file_again_and_a_bad_one_keeps_the_old_data() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.toml");
    let write_targets = |day_care_2021: u32| {
        std::fs::write(&targets, format!("[[target]]\nyear = 2021\nkind = \"day_care\"\nnew_facilities = {day_care_2021}\n")).unwrap();
    };
    write_targets(300);
    let demo_dir = repo("data/demo");
    let config_path = dir.path().join("gapmap.toml");
    std::fs::write(
        &config_path,
        format!(
            "[estates]\npath = {:?}\n[[facilities]]\npath = {:?}\n[report]\ntargets = \"targets.toml\"\n",
            demo_dir.join("estates.geojson"),
            demo_dir.join("facilities.geojson")
        ),
    )
    .unwrap();
    let config = Config::from_file(&config_path).unwrap();
    let state = AppState::with_config_file(config.clone(), load_dataset(&config).unwrap(), config_path);
    let target = |report: Value| overall(&report, "day_care", 2021)["target_new_facilities"].clone();
    assert_eq!(target(get_with(&state, "/reports/2021", &[]).await.json()), 300);

    write_targets(320);
    state.reload().await.expect("the reload succeeds");
    assert_eq!(target(get_with(&state, "/reports/2021", &[]).await.json()), 320);

    std::fs::write(&targets, "[[target]]\nyear = 2021\nkind = \"no_such_kind\"\nnew_facilities = 1\n").unwrap();
    let e = state.reload().await.expect_err("an unknown kind fails the reload");
    assert!(e.to_string().contains("no_such_kind"), "{e}");
    assert_eq!(target(get_with(&state, "/reports/2021", &[]).await.json()), 320, "the old data keeps serving");
}
