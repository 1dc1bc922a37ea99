//! `gapmap report` with the renovation programme (issue #16): the programme sections in every
//! format, the report in Chinese and English (golden Markdown, the XLSX read back), and the link
//! to coverage — the gaps renovation closed and those still open — recomputed here from the raw
//! rows (projects CSV, facilities GeoJSON properties) with a brute-force `geo` distance, on the
//! hand-made fixture (`tests/fixtures/programme_report`) and on the demo city.
//!
//! Only coordinates come from gapmap (`io::load` projects them into the working CRS).

#[path = "common/oracle.rs"]
#[expect(dead_code, reason = "this file uses the boundary distance only")]
mod oracle;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader as _, Xlsx};
use gapmap::analysis::{StraightLine, TrendParams};
use gapmap::config::Config;
use gapmap::io::load::{load, LoadOptions, Loaded};
use gapmap::io::programme::{estate_refs, load_programme, today, LoadedProgramme};
use gapmap::model::Catalogue;
use gapmap::programme::ItemOutcome;
use gapmap::report::{self, Lang, Report, ReportInput, SectionInput};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

struct City {
    config: Config,
    catalogue: Catalogue,
    loaded: Loaded,
    data: LoadedProgramme,
    targets: gapmap::analysis::Targets,
}

fn city(config: &str) -> City {
    let config = Config::from_file(&repo(config)).expect("config");
    let catalogue = gapmap::cli::catalogue_for(&config).expect("catalogue");
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(config.estates.as_ref().expect("estates"), &config.facilities, &options, &|_| {}).expect("loads");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    let section = config.programme.as_ref().expect("[programme]");
    let data = load_programme(section, &estate_refs(&loaded.estates), today()).expect("programme loads");
    assert!(data.report.rejected.is_empty(), "{:?}", data.report.rejected);
    let targets = report::targets::load_targets(config.report.targets.as_ref().expect("targets"), &catalogue).expect("targets");
    City { config, catalogue, loaded, data, targets }
}

fn programme_report(c: &City, from: i32, year: i32, lang: Lang) -> Report {
    let metric = StraightLine::new(&c.loaded.facilities, c.config.analysis.distance_from);
    let mut report = report::build_report(&ReportInput {
        estates: &c.loaded.estates,
        facilities: &c.loaded.facilities,
        metric: &metric,
        timeline: None,
        catalogue: &c.catalogue,
        working_crs: &c.loaded.working_crs,
        params: TrendParams { renovation_built_before: c.config.report.renovation_built_before, ..TrendParams::new(from, year) },
        targets: &c.targets,
        targets_source: Some("targets.toml"),
        title: None,
    })
    .expect("the report builds");
    // Keep the golden files free of the version number.
    report.generator = "gapmap".into();
    report.set_lang(lang, None);
    let section = c.config.programme.as_ref().expect("[programme]");
    report::add_programme(
        &mut report,
        &SectionInput {
            data: &c.data,
            gate_pct: section.gate_pct,
            stock_built_before: c.config.report.renovation_built_before,
            estates: &c.loaded.estates,
            facilities: &c.loaded.facilities,
            metric: &metric,
            catalogue: &c.catalogue,
            targets: &c.targets.renovation,
        },
    )
    .expect("the programme sections build");
    report
}

// ---------------------------------------------------------------------------------------------
// The oracle of the link to coverage: raw rows, plain loops.

type Row = HashMap<String, String>;

fn raw_rows(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let headers: Vec<String> = reader.headers().expect("headers").iter().map(str::to_owned).collect();
    reader.records().map(|r| headers.iter().cloned().zip(r.expect("record").iter().map(str::to_owned)).filter(|(_, v)| !v.is_empty()).collect()).collect()
}

/// A facility as its GeoJSON feature states it: kind key and opening year.
fn raw_facilities(path: &Path) -> HashMap<String, (String, Option<i32>)> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("facilities")).expect("json");
    doc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (p["id"].to_string(), (p["kind"].as_str().expect("kind").to_owned(), p["opened_year"].as_i64().map(|y| i32::try_from(y).expect("year"))))
        })
        .collect()
}

/// What the oracle says of one project and one kind it lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct OracleItem {
    project: String,
    kind: String,
    outcome: ItemOutcome,
}

/// Per project item naming a catalogue kind, by plain loops over every facility: opened in
/// [batch year, year] within the radius (and none open by the batch within it) closes the gap;
/// and per kind, the renovated estates (each once) with no facility of the kind open by `year`
/// within the radius.
fn oracle_gaps(c: &City, projects_csv: &Path, facilities_geojson: &Path, year: i32) -> (Vec<OracleItem>, BTreeMap<String, u64>) {
    let raw = raw_facilities(facilities_geojson);
    let estates: HashMap<String, &gapmap::model::Estate> = c.loaded.estates.iter().map(|e| (e.id.to_string(), e)).collect();
    // (kind, opened, location) of every facility from the raw properties; the location in the
    // working CRS from the loader.
    let facilities: Vec<(String, Option<i32>, geo::Point<f64>)> = c
        .loaded
        .facilities
        .iter()
        .map(|f| {
            let (kind, opened) = raw[&f.id.to_string()].clone();
            (kind, opened, f.location)
        })
        .collect();
    let radius = |kind: &str| c.catalogue.kinds.iter().find(|k| k.key == kind).map(|k| k.radius_m);
    let within = |estate: &str, kind: &str, open: &dyn Fn(Option<i32>) -> bool| -> bool {
        let r = radius(kind).expect("a kind");
        facilities.iter().any(|(k, o, p)| k == kind && open(*o) && oracle::boundary_distance_m(&estates[estate].geometry, *p) <= r)
    };
    let rows: Vec<Row> = raw_rows(projects_csv).into_iter().filter(|p| p["batch_year"].parse::<i32>().expect("year") <= year).collect();
    let mut items = Vec::new();
    for p in &rows {
        let batch: i32 = p["batch_year"].parse().expect("year");
        for item in p["items"].split(';') {
            let kind = item.split(':').next().expect("key");
            if radius(kind).is_none() {
                continue;
            }
            let added = within(&p["estate_id"], kind, &|o| o.is_some_and(|o| o >= batch && o <= year));
            let before = within(&p["estate_id"], kind, &|o| o.is_none_or(|o| o < batch));
            let outcome = match (added, before) {
                (true, false) => ItemOutcome::Closed,
                (true, true) => ItemOutcome::AlreadyCovered,
                (false, _) => ItemOutcome::NotAdded,
            };
            items.push(OracleItem { project: p["id"].clone(), kind: kind.to_owned(), outcome });
        }
    }
    let renovated: BTreeSet<&str> = rows.iter().map(|p| p["estate_id"].as_str()).collect();
    let mut open = BTreeMap::new();
    for k in &c.catalogue.kinds {
        let n = renovated.iter().filter(|e| !within(e, &k.key, &|o| o.is_none_or(|o| o <= year))).count();
        if n > 0 {
            open.insert(k.key.clone(), n as u64);
        }
    }
    items.sort();
    (items, open)
}

fn check_gaps_against_oracle(c: &City, report: &Report, projects_csv: &Path, facilities_geojson: &Path) -> Vec<OracleItem> {
    let (want_items, want_open) = oracle_gaps(c, projects_csv, facilities_geojson, report.year);
    let gaps = &report.programme.as_ref().expect("programme").gaps;
    let mut got_items: Vec<OracleItem> = gaps.links.iter().filter_map(|l| l.item.map(|outcome| OracleItem { project: l.project.clone(), kind: l.kind.clone(), outcome })).collect();
    got_items.sort();
    assert_eq!(got_items, want_items);
    let got_open: BTreeMap<String, u64> = gaps.by_kind.iter().filter(|k| k.still_open > 0).map(|k| (k.kind.clone(), k.still_open)).collect();
    assert_eq!(got_open, want_open);
    // The per-kind counts are the items' outcomes counted.
    for k in &gaps.by_kind {
        let count = |o: ItemOutcome| want_items.iter().filter(|i| i.kind == k.kind && i.outcome == o).count() as u64;
        assert_eq!((k.closed, k.already_covered, k.not_added), (count(ItemOutcome::Closed), count(ItemOutcome::AlreadyCovered), count(ItemOutcome::NotAdded)), "{}", k.kind);
        assert_eq!(k.items, k.closed + k.already_covered + k.not_added);
    }
    want_items
}

const FIXTURE: &str = "tests/fixtures/programme_report/gapmap.toml";

#[test]
fn gaps_closed_and_open_on_the_fixture_equal_the_raw_rows_and_the_hand_count() {
    let c = city(FIXTURE);
    let report = programme_report(&c, 2020, 2021, Lang::En);
    let dir = repo("tests/fixtures/programme_report");
    let items = check_gaps_against_oracle(&c, &report, &dir.join("projects.csv"), &dir.join("facilities.geojson"));
    // As the fixture's header works them out by hand.
    let by_hand = [
        ("P1", "market", ItemOutcome::NotAdded),
        ("P2", "nursery", ItemOutcome::AlreadyCovered),
        ("P3", "parking", ItemOutcome::Closed),
        ("P4", "day_care", ItemOutcome::Closed),
        ("P4", "market", ItemOutcome::AlreadyCovered),
        ("P5", "market", ItemOutcome::AlreadyCovered),
        ("P6", "nursery", ItemOutcome::NotAdded),
    ];
    let items: Vec<(&str, &str, ItemOutcome)> = items.iter().map(|i| (i.project.as_str(), i.kind.as_str(), i.outcome)).collect();
    assert_eq!(items, by_hand);
    // In 2020 the 2021 batch is not there and the 2021 facilities are not open.
    let earlier = programme_report(&c, 2020, 2020, Lang::En);
    let items = check_gaps_against_oracle(&c, &earlier, &dir.join("projects.csv"), &dir.join("facilities.geojson"));
    assert_eq!(items.len(), 3);
}

#[test]
fn gaps_closed_and_open_in_the_demo_equal_the_raw_rows() {
    let c = city("data/demo/gapmap.toml");
    let report = programme_report(&c, 2018, 2021, Lang::En);
    let items = check_gaps_against_oracle(&c, &report, &repo("data/demo/projects.csv"), &repo("data/demo/facilities.geojson"));
    assert!(items.iter().any(|i| i.outcome == ItemOutcome::Closed), "the demo closes some gaps");
    assert!(items.iter().any(|i| i.outcome == ItemOutcome::NotAdded), "and leaves some open");
}

/// The gate figures of the report from the raw survey rows: per project its latest survey,
/// exactly 80 % passing.
#[test]
fn report_gate_counts_exactly_80_as_passing() {
    let c = city(FIXTURE);
    let report = programme_report(&c, 2020, 2021, Lang::En);
    let p = &report.programme.as_ref().expect("programme").report.programme;
    let surveys = raw_rows(&repo("tests/fixtures/programme_report/surveys.csv"));
    let mut latest: BTreeMap<&str, &Row> = BTreeMap::new();
    for s in &surveys {
        let id = s["project_id"].as_str();
        if latest.get(id).is_none_or(|l| l["date"] < s["date"]) {
            latest.insert(id, s);
        }
    }
    let pct = |s: &Row| s.get("satisfied_pct").map_or_else(|| s["satisfied"].parse::<f64>().expect("n") * 100.0 / s["respondents"].parse::<f64>().expect("n"), |p| p.parse().expect("pct"));
    let passed = latest.values().filter(|s| pct(s) >= 80.0).count();
    let failed = latest.values().filter(|s| pct(s) < 80.0).count();
    assert_eq!((p.total.gate_passed, p.total.gate_failed), (passed, failed));
    // P1 (40 of 50) and P4 (16 of 20) sit exactly on the gate and pass.
    for id in ["P1", "P4"] {
        let r = p.projects.iter().find(|r| r.project.id == id).expect("project");
        assert_eq!(r.gate.gate, gapmap::programme::Gate::Passed, "{id}");
        assert_eq!(r.gate.satisfied_pct, Some(80.0), "{id}");
    }
}

// ---------------------------------------------------------------------------------------------
// The formats.

#[test]
fn markdown_with_programme_zh() {
    let c = city(FIXTURE);
    let md = report::render_markdown(&programme_report(&c, 2020, 2021, Lang::Zh));
    assert!(md.starts_with("# 2021年社区设施配建目标与覆盖情况报告"), "{md}");
    for words in ["## 老旧小区改造", "### 一、改造批次", "### 六、改造与设施覆盖", "缺口已补齐", "老年人日间照料中心（托老所）", "2021年", "户数（户）"] {
        assert!(md.contains(words), "{words}");
    }
    insta::assert_snapshot!("report_programme_zh_md", md);
}

#[test]
fn markdown_with_programme_en() {
    let c = city(FIXTURE);
    let md = report::render_markdown(&programme_report(&c, 2020, 2021, Lang::En));
    insta::assert_snapshot!("report_programme_en_md", md);
}

#[test]
fn xlsx_with_programme_reads_back_with_the_raw_figures() {
    let c = city(FIXTURE);
    let report = programme_report(&c, 2020, 2021, Lang::Zh);
    let bytes = report::render_xlsx(&report).expect("xlsx");
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("opens");
    let names = book.sheet_names();
    assert_eq!(names.first().map(String::as_str), Some("报告"));
    for sheet in ["Summary 2021", "batches", "funding", "gate", "wishes_city", "coverage_gaps", "coverage_links"] {
        assert!(names.iter().any(|n| n == sheet), "{sheet} in {names:?}");
    }
    let raw = raw_rows(&repo("tests/fixtures/programme_report/projects.csv"));
    let batches = book.worksheet_range("batches").expect("sheet");
    let rows: Vec<&[Data]> = batches.rows().collect();
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let total = rows.last().expect("total row");
    assert_eq!(total[0], Data::String("合计".into()));
    let households: f64 = raw.iter().map(|p| p["households"].parse::<f64>().expect("n")).sum();
    assert_eq!(total[col("户数（户）")], Data::Float(households));
    let invest: f64 = raw.iter().map(|p| p.iter().filter(|(k, _)| k.starts_with("investment_")).map(|(_, v)| v.parse::<f64>().expect("yuan")).sum::<f64>()).sum();
    let Data::Float(wan) = total[col("总投资（万元）")] else { panic!("number") };
    assert!((wan - invest / 1e4).abs() < 1e-9, "{wan} vs {}", invest / 1e4);
    // The link to coverage per kind, as the oracle counts it.
    let (items, open) = oracle_gaps(&c, &repo("tests/fixtures/programme_report/projects.csv"), &repo("tests/fixtures/programme_report/facilities.geojson"), 2021);
    let sheet = book.worksheet_range("coverage_gaps").expect("sheet");
    let rows: Vec<&[Data]> = sheet.rows().collect();
    let day_care = rows.iter().find(|r| r[0] == Data::String("老年人日间照料中心（托老所）".into())).expect("day care row");
    let closed = items.iter().filter(|i| i.kind == "day_care" && i.outcome == ItemOutcome::Closed).count();
    assert_eq!(day_care[2], Data::Float(f64::from(u32::try_from(closed).expect("few"))));
    assert_eq!(day_care[5], Data::Float(f64::from(u32::try_from(open["day_care"]).expect("few"))));
    // Every item and every open gap has its row.
    let links = book.worksheet_range("coverage_links").expect("sheet");
    assert_eq!(links.rows().count(), 1 + report.programme.as_ref().expect("programme").gaps.links.len());
}

#[test]
fn html_with_programme_is_chinese_self_contained_and_prints_on_a4() {
    let c = city(FIXTURE);
    let html = report::render_html(&programme_report(&c, 2020, 2021, Lang::Zh));
    assert!(html.contains("<html lang=\"zh-CN\">"));
    assert!(html.contains("@page { size: A4") && html.contains("@page wide { size: A4 landscape"));
    // Three report charts plus the gap maps, and the programme's three charts.
    assert!(html.matches("<svg").count() >= 6, "charts");
    assert!(html.contains("老旧小区改造") && html.contains("六、改造与设施覆盖"));
    assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
}

#[test]
fn json_carries_the_programme_and_the_language() {
    let c = city(FIXTURE);
    let json: Value = serde_json::from_str(&report::render_json(&programme_report(&c, 2020, 2021, Lang::Zh))).expect("JSON");
    assert_eq!(json["lang"], "zh");
    assert_eq!(json["programme"]["programme"]["total"]["projects"], 6);
    assert_eq!(json["programme"]["gaps"]["estates"], 6);
    let en: Value = serde_json::from_str(&report::render_json(&programme_report(&c, 2020, 2021, Lang::En))).expect("JSON");
    assert!(en.get("lang").is_none(), "English, the default, is left out");
}

#[test]
fn cli_writes_the_programme_in_every_format_in_chinese() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join("zh");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["report", "--config", FIXTURE, "--year", "2021", "--lang", "zh", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for name in ["report-2021.html", "report-2021.md", "report-2021.xlsx", "report-2021.json", "report-2021-summary.csv", "report-2021-programme-batches.csv", "report-2021-programme-coverage_gaps.csv"] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let md = std::fs::read_to_string(out.join("report-2021.md")).expect("md");
    assert!(md.starts_with("# 2021年社区设施配建目标与覆盖情况报告"));
    let csv = std::fs::read_to_string(out.join("report-2021-programme-coverage_gaps.csv")).expect("csv");
    assert!(csv.starts_with("\u{feff}设施类型,"), "{csv}");
    // report.lang in the config picks the language too; --lang en overrides it.
    let config = dir.path().join("zh.toml");
    let text = std::fs::read_to_string(repo(FIXTURE)).expect("config").replace("[report]\n", "[report]\nlang = \"zh\"\n");
    let text = ["estates.geojson", "facilities.geojson", "targets.toml", "projects.csv", "surveys.csv", "wishes.csv"].iter().fold(text, |t, f| t.replace(&format!("\"{f}\""), &format!("\"{}\"", repo("tests/fixtures/programme_report").join(f).display())));
    std::fs::write(&config, text).expect("written");
    for (args, title) in [(&[][..], "# 2021年社区设施配建目标与覆盖情况报告"), (&["--lang", "en"][..], "# Facility targets and coverage 2021")] {
        let out = dir.path().join("config");
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap")).args(["report", "--config"]).arg(&config).args(["--year", "2021", "--format", "md"]).args(args).arg("--out").arg(&out).output().expect("runs");
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        assert!(std::fs::read_to_string(out.join("report-2021.md")).expect("md").starts_with(title), "{args:?}");
    }
}
