//! The renovation programme (issue #16): loading, figures, the gate, funding, wishes and the
//! report. Every total is recomputed here from the raw CSV rows by plain loops (the oracle),
//! independently of `gapmap::programme`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader as _, Xlsx};
use gapmap::config::{Config, FundingRuleConfig, ProgrammeConfig, SourceConfig, TableSource};
use gapmap::io::load::{load, LoadOptions};
use gapmap::io::programme::{estate_refs, load_programme, today, LoadedProgramme};
use gapmap::model::{Catalogue, Estate, FeatureId};
use gapmap::programme::{self, Date, Gate, Programme, ProgrammeInput, Satisfied, Stock, Survey, SurveyTarget, Totals, WishScope};
use gapmap::report::programme::{build_programme_report, render_markdown, render_xlsx, Lang};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/programme").join(name)
}

fn catalogue() -> Catalogue {
    gapmap::io::catalogue::load_catalogue(None).expect("built-in catalogue")
}

fn estates(path: &Path) -> Vec<Estate> {
    let catalogue = catalogue();
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(&SourceConfig::from_path(path), &[], &options, &|_| ()).expect("estates load");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    loaded.estates
}

struct Setup {
    config: Config,
    estates: Vec<Estate>,
    data: LoadedProgramme,
}

fn setup(config_path: &Path) -> Setup {
    let config = Config::from_file(config_path).expect("config");
    let estates = estates(&config.estates.as_ref().expect("estates").path);
    let section = config.programme.as_ref().expect("[programme]");
    section.validate().expect("valid [programme]");
    let data = load_programme(section, &estate_refs(&estates), today()).expect("programme loads");
    Setup { config, estates, data }
}

fn analyze(s: &Setup, from: i32, year: i32, gate_pct: f64) -> Programme {
    let built_before = s.config.report.renovation_built_before;
    let old: Vec<&Estate> = s.estates.iter().filter(|e| e.built_year.is_some_and(|b| b < built_before)).collect();
    let in_stock: BTreeSet<FeatureId> = old.iter().map(|e| e.id.clone()).collect();
    let stock = Stock { estates: old.len() as u64, households: old.iter().map(|e| u64::from(e.households.unwrap_or(0))).sum(), built_before };
    let targets = match &s.config.report.targets {
        Some(t) => gapmap::report::targets::load_targets(t, &catalogue()).expect("targets").renovation,
        None => Vec::new(),
    };
    let projects: Vec<_> = s.data.projects.iter().filter(|p| p.batch_year <= year).cloned().collect();
    programme::analyze(&ProgrammeInput { projects: &projects, surveys: &s.data.surveys, wishes: &s.data.wishes, rules: &s.data.rules, gate_pct, targets: &targets, from, to: year, stock, in_stock: &in_stock })
}

// ---------- the oracle: raw rows, plain loops ----------

type Row = HashMap<String, String>;

fn raw_rows(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let headers: Vec<String> = reader.headers().expect("headers").iter().map(str::to_owned).collect();
    reader
        .records()
        .map(|r| headers.iter().cloned().zip(r.expect("record").iter().map(str::to_owned)).filter(|(_, v)| !v.is_empty()).collect())
        .collect()
}

/// Estate id → (district, households, built year), straight from the GeoJSON.
fn raw_estates(path: &Path) -> HashMap<String, (String, u64, i64)> {
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("estates")).expect("json");
    doc["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (p["id"].to_string(), (p["district"].as_str().unwrap_or("").to_owned(), p["households"].as_u64().unwrap_or(0), p["built_year"].as_i64().unwrap_or(0)))
        })
        .collect()
}

fn num(row: &Row, key: &str) -> f64 {
    row.get(key).map_or(0.0, |v| v.parse().expect("number"))
}

#[derive(Debug, Default, PartialEq)]
struct OracleTotals {
    projects: usize,
    estates: usize,
    buildings: u64,
    households: u64,
    floor_area_m2: f64,
    investment: BTreeMap<String, f64>,
    investment_total: f64,
    gate_passed: usize,
    gate_failed: usize,
    no_survey: usize,
    contradictions: usize,
}

/// The gate of one raw project row: its latest survey (by project id, or by estate for the
/// estate's latest batch up to the survey's year), exactly 80 % passing.
fn oracle_gate(project: &Row, projects: &[Row], surveys: &[Row], gate_pct: f64) -> Gate {
    let mut latest: Option<&Row> = None;
    for s in surveys {
        let year: i32 = s["date"][..4].parse().expect("year");
        let counts = if let Some(pid) = s.get("project_id") {
            pid == &project["id"]
        } else {
            let estate = &s["estate_id"];
            let best = projects.iter().filter(|p| &p["estate_id"] == estate && p["batch_year"].parse::<i32>().expect("year") <= year).max_by_key(|p| p["batch_year"].parse::<i32>().expect("year"));
            best.is_some_and(|b| b["id"] == project["id"])
        };
        if counts && latest.is_none_or(|l| l["date"] <= s["date"]) {
            latest = Some(s);
        }
    }
    match latest {
        None => Gate::NoSurvey,
        Some(s) => {
            let passes = match s.get("satisfied_pct") {
                Some(p) => p.parse::<f64>().expect("pct") >= gate_pct,
                None => num(s, "satisfied") * 100.0 >= gate_pct * num(s, "respondents"),
            };
            if passes {
                Gate::Passed
            } else {
                Gate::Failed
            }
        }
    }
}

fn oracle_totals(members: &[&Row], all: &[Row], surveys: &[Row], estates: &HashMap<String, (String, u64, i64)>, gate_pct: f64) -> OracleTotals {
    let mut t = OracleTotals::default();
    let mut ids = BTreeSet::new();
    for p in members {
        t.projects += 1;
        ids.insert(p["estate_id"].clone());
        t.buildings += p.get("buildings").map_or(0, |b| b.parse::<u64>().expect("buildings"));
        t.households += p.get("households").map_or_else(|| estates[&p["estate_id"]].1, |h| h.parse().expect("households"));
        t.floor_area_m2 += num(p, "floor_area_m2");
        let mut sum = 0.0;
        for (k, v) in *p {
            if let Some(source) = k.strip_prefix("investment_").filter(|s| *s != "yuan") {
                let y: f64 = v.parse().expect("yuan");
                *t.investment.entry(source.to_owned()).or_default() += y;
                sum += y;
            }
        }
        t.investment_total += p.get("investment_yuan").map_or(sum, |v| v.parse().expect("yuan"));
        let gate = oracle_gate(p, all, surveys, gate_pct);
        match gate {
            Gate::Passed => t.gate_passed += 1,
            Gate::Failed => t.gate_failed += 1,
            Gate::NoSurvey => t.no_survey += 1,
        }
        if p["status"] == "accepted" && gate != Gate::Passed {
            t.contradictions += 1;
        }
    }
    t.estates = ids.len();
    t
}

fn assert_totals(label: &str, got: &Totals, want: &OracleTotals) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    assert_eq!((got.projects, got.estates, got.buildings, got.households), (want.projects, want.estates, want.buildings, want.households), "{label}: counts");
    assert!(close(got.floor_area_m2, want.floor_area_m2), "{label}: floor area {} vs {}", got.floor_area_m2, want.floor_area_m2);
    assert!(close(got.investment_total_yuan, want.investment_total), "{label}: investment {} vs {}", got.investment_total_yuan, want.investment_total);
    assert_eq!(got.investment_yuan.keys().collect::<Vec<_>>(), want.investment.keys().collect::<Vec<_>>(), "{label}: sources");
    for (s, y) in &want.investment {
        assert!(close(got.investment_yuan[s], *y), "{label}: {s} {} vs {y}", got.investment_yuan[s]);
    }
    assert_eq!((got.gate_passed, got.gate_failed, got.no_survey, got.contradictions), (want.gate_passed, want.gate_failed, want.no_survey, want.contradictions), "{label}: gate");
}

/// Checks every batch, district and street row and the total against the oracle.
fn check_against_raw(figures: &Programme, projects_csv: &Path, surveys_csv: &Path, estates_geojson: &Path, year: i32) {
    let all = raw_rows(projects_csv);
    let surveys = raw_rows(surveys_csv);
    let estates = raw_estates(estates_geojson);
    let kept: Vec<&Row> = all.iter().filter(|p| p["batch_year"].parse::<i32>().expect("year") <= year).collect();
    let gate = figures.gate_pct;
    assert_totals("total", &figures.total, &oracle_totals(&kept, &all, &surveys, &estates, gate));
    let years: BTreeSet<&str> = kept.iter().map(|p| p["batch_year"].as_str()).collect();
    assert_eq!(figures.by_year.len(), years.len());
    for row in &figures.by_year {
        let members: Vec<&Row> = kept.iter().copied().filter(|p| p["batch_year"] == row.year.to_string()).collect();
        assert_totals(&format!("{}", row.year), &row.totals, &oracle_totals(&members, &all, &surveys, &estates, gate));
    }
    let districts: BTreeSet<(String, String)> = kept.iter().map(|p| (p["batch_year"].clone(), estates[&p["estate_id"]].0.clone())).collect();
    assert_eq!(figures.by_district.len(), districts.len());
    for row in &figures.by_district {
        let d = row.district.clone().expect("district");
        let members: Vec<&Row> = kept.iter().copied().filter(|p| p["batch_year"] == row.year.to_string() && estates[&p["estate_id"]].0 == d).collect();
        assert_totals(&format!("{} {d}", row.year), &row.totals, &oracle_totals(&members, &all, &surveys, &estates, gate));
    }
    let streets: BTreeSet<(String, String, Option<String>)> = kept.iter().map(|p| (p["batch_year"].clone(), estates[&p["estate_id"]].0.clone(), p.get("street").cloned())).collect();
    assert_eq!(figures.by_street.len(), streets.len());
    for row in &figures.by_street {
        let members: Vec<&Row> = kept.iter().copied().filter(|p| p["batch_year"] == row.year.to_string() && Some(&estates[&p["estate_id"]].0) == row.district.as_ref() && p.get("street") == row.street.as_ref()).collect();
        assert_totals(&format!("{} {:?}", row.year, row.street), &row.totals, &oracle_totals(&members, &all, &surveys, &estates, gate));
    }
}

// ---------- figures ----------

#[test]
fn fixture_totals_equal_the_raw_rows() {
    let s = setup(&fixture("gapmap.toml"));
    assert!(s.data.report.rejected.is_empty(), "{:?}", s.data.report.rejected);
    for year in [2020, 2021] {
        let figures = analyze(&s, 2020, year, 80.0);
        check_against_raw(&figures, &fixture("projects.csv"), &fixture("surveys.csv"), &fixture("estates.geojson"), year);
    }
}

#[test]
fn demo_totals_equal_the_raw_rows() {
    let s = setup(&repo("data/demo/gapmap.toml"));
    assert!(s.data.report.rejected.is_empty(), "{:?}", s.data.report.rejected.first());
    for year in [2021, 2025] {
        let figures = analyze(&s, 2018, year, 80.0);
        check_against_raw(&figures, &repo("data/demo/projects.csv"), &repo("data/demo/surveys.csv"), &repo("data/demo/estates.geojson"), year);
    }
}

#[test]
fn demo_programme_is_what_its_generator_promises() {
    let s = setup(&repo("data/demo/gapmap.toml"));
    let figures = analyze(&s, 2018, 2025, 80.0);
    // One project per estate with a renovation_year, in that year's batch.
    let raw = raw_estates(&repo("data/demo/estates.geojson"));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo("data/demo/estates.geojson")).expect("read")).expect("json");
    let renovated: BTreeMap<String, i64> = doc["features"].as_array().expect("features").iter().filter_map(|f| f["properties"]["renovation_year"].as_i64().map(|y| (f["properties"]["id"].to_string(), y))).collect();
    assert_eq!(figures.projects.len(), renovated.len());
    for p in &figures.projects {
        assert_eq!(renovated[&p.project.estate_id.to_string()], i64::from(p.project.batch_year));
        assert_eq!(u64::from(p.project.households), raw[&p.project.estate_id.to_string()].1);
    }
    // Two below the gate, one accepted without passing, seven passed only on a second survey.
    assert_eq!((figures.total.gate_failed, figures.total.contradictions), (3, 1));
    let reworked = figures.projects.iter().filter(|p| p.gate.gate == Gate::Passed && p.gate.surveys > 1).count();
    assert_eq!(reworked, 7);
    // The elevator subsidy: 70,000 yuan per elevator from the city (DOMAIN.md).
    let with_elevators = figures.projects.iter().find(|p| p.project.item_units("elevator") > 0).expect("a project with elevators");
    assert!((with_elevators.funding.subsidy_yuan - 70_000.0 * f64::from(with_elevators.project.item_units("elevator"))).abs() < 1e-6);
}

#[test]
fn funding_split_sums_to_the_investment_and_follows_the_rules() {
    for config in [fixture("gapmap.toml"), repo("data/demo/gapmap.toml")] {
        let s = setup(&config);
        let figures = analyze(&s, 2020, 2025, 80.0);
        for p in &figures.projects {
            let sum: f64 = p.funding.by_source_yuan.values().sum::<f64>() + p.funding.unassigned_yuan;
            assert!((sum - p.project.total_investment_yuan()).abs() < 1e-6, "{}: {sum} vs {}", p.project.id, p.project.total_investment_yuan());
            if let Some(diff) = &p.funding.difference_yuan {
                // Rules and records split the same total, so the differences cancel.
                assert!(diff.values().sum::<f64>().abs() < 1e-6, "{}: {diff:?}", p.project.id);
            }
        }
    }
    let s = setup(&fixture("gapmap.toml"));
    let figures = analyze(&s, 2020, 2021, 80.0);
    let split = |id: &str| figures.projects.iter().find(|p| p.project.id == id).expect("project").funding.clone();
    // P2, improvement with 2 elevators, 1,900,000 yuan: 140,000 subsidy (city), then
    // 1,760,000 split 40/30/30.
    let p2 = split("P2");
    assert_eq!(p2.by_source_yuan, BTreeMap::from([("city".into(), 140_000.0 + 704_000.0), ("district".into(), 528_000.0), ("residents".into(), 528_000.0)]));
    // Recorded 940,000 / 480,000 / 480,000.
    assert!((p2.difference_yuan.expect("recorded split")["district"] - 48_000.0).abs() < 1e-6);
    // P3, basic, a total of 1,000,000 only: 20/15/65, no difference to report.
    let p3 = split("P3");
    assert_eq!(p3.by_source_yuan, BTreeMap::from([("city".into(), 200_000.0), ("district".into(), 150_000.0), ("utility".into(), 650_000.0)]));
    assert!(p3.difference_yuan.is_none());
    // P6 has no money: nothing to split.
    assert!(split("P6").by_source_yuan.values().all(|y| *y == 0.0));
}

#[test]
fn gate_edges_exactly_80_passes_79_99_fails() {
    let s = setup(&fixture("gapmap.toml"));
    let figures = analyze(&s, 2020, 2021, 80.0);
    let gate = |id: &str| figures.projects.iter().find(|p| p.project.id == id).expect("project").gate.clone();
    // 40 of 50: exactly 80 %.
    assert_eq!(gate("P1").gate, Gate::Passed);
    // 79.99 %, yet "accepted": failed and a contradiction.
    assert_eq!((gate("P2").gate, gate("P2").contradiction), (Gate::Failed, true));
    // 75 % then 90 % after rework: the later survey decides.
    assert_eq!((gate("P3").gate, gate("P3").surveys), (Gate::Passed, 2));
    // Surveyed by estate 6: counts for its 2021 project.
    assert_eq!(gate("P5").gate, Gate::Passed);
    assert_eq!((gate("P4").gate, gate("P6").gate), (Gate::NoSurvey, Gate::NoSurvey));
    // At a 90 % gate, P1 (80 %) fails while P3 (90 %, exactly the gate) and P5 (95 %) pass.
    let strict = analyze(&s, 2020, 2021, 90.0);
    let g = |id: &str| strict.projects.iter().find(|p| p.project.id == id).expect("project").gate.gate;
    assert_eq!((g("P1"), g("P3"), g("P5")), (Gate::Failed, Gate::Passed, Gate::Passed));

    let date = Date::parse("2021-01-01").expect("date");
    let survey = |satisfied, respondents| Survey { target: SurveyTarget::Project("x".into()), date, respondents, satisfied };
    assert!(survey(Satisfied::Pct(80.0), 10).meets(80.0));
    assert!(!survey(Satisfied::Pct(79.99), 10).meets(80.0));
    assert!(survey(Satisfied::Count(4), 5).meets(80.0));
    assert!(!survey(Satisfied::Count(7999), 10_000).meets(80.0));
    assert!(survey(Satisfied::Count(8000), 10_000).meets(80.0));
}

#[test]
fn progress_counts_batches_against_targets_and_the_stock() {
    let s = setup(&fixture("gapmap.toml"));
    let figures = analyze(&s, 2020, 2021, 80.0);
    let row = |year: i32, district: Option<&str>| figures.progress.iter().find(|p| p.year == year && p.district.as_deref() == district).expect("row").clone();
    // 2020: estates 1, 2, 3 against 3.
    let r = row(2020, None);
    assert_eq!((r.estates, r.target_estates, r.estates_achieved_pct), (3, Some(3), Some(100.0)));
    // 2021: estates 4, 6, 5 with 400 + 100 + 250 households against 4 estates and 900.
    let r = row(2021, None);
    assert_eq!((r.estates, r.households, r.target_households), (3, 750, Some(900)));
    // Stock: built before 2000 = estates 1, 2, 3, 4, 6; estate 5 (2003) is renovated but not stock.
    assert_eq!((r.cumulative_estates, r.cumulative_stock_estates, r.stock_done_pct), (6, 5, Some(100.0)));
    // 长安区 2021: estate 6 against 1.
    let r = row(2021, Some("长安区"));
    assert_eq!((r.estates, r.estates_achieved_pct, r.stock_done_pct), (1, Some(100.0), None));
}

#[test]
fn wishes_ranked_per_estate_district_and_city() {
    let s = setup(&fixture("gapmap.toml"));
    let figures = analyze(&s, 2020, 2021, 80.0);
    let ranking = |scope: WishScope| -> Vec<(String, u64)> { figures.wishes.iter().find(|w| w.scope == scope).expect("scope").items.iter().map(|w| (w.item.clone(), w.count)).collect() };
    // Oracle: sums of the raw rows.
    let raw = raw_rows(&fixture("wishes.csv"));
    let estates = raw_estates(&fixture("estates.geojson"));
    let mut city: BTreeMap<String, u64> = BTreeMap::new();
    for w in &raw {
        *city.entry(w["item"].clone()).or_default() += w["count"].parse::<u64>().expect("count");
    }
    let mut want: Vec<(String, u64)> = city.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(ranking(WishScope::City), want);
    assert_eq!(ranking(WishScope::District("桥西区".into())), [("day_care".into(), 28), ("elevator".into(), 20), ("nursery".into(), 5)]);
    // A tie is ordered by item key.
    assert_eq!(ranking(WishScope::Estate(4.into())), [("day_care".into(), 20), ("elevator".into(), 20)]);
    let districts: BTreeSet<&String> = estates.values().map(|e| &e.0).collect();
    assert_eq!(figures.wishes.iter().filter(|w| matches!(w.scope, WishScope::District(_))).count(), districts.len());
}

// ---------- loading ----------

fn programme_config(projects: &str, surveys: Option<&str>) -> ProgrammeConfig {
    let mut c = Config::from_file(&fixture("gapmap.toml")).expect("config").programme.expect("[programme]");
    c.projects = Some(TableSource { path: fixture(projects), ..TableSource::default() });
    c.surveys = surveys.map(|s| TableSource { path: fixture(s), ..TableSource::default() });
    c.wishes = None;
    c
}

/// Loads a bad fixture: exactly one rejection, naming file, row and reason; the rest accepted.
fn one_bad_row(projects: &str, surveys: Option<&str>, row: usize, reason: &str) {
    let estates = estates(&fixture("estates.geojson"));
    let data = load_programme(&programme_config(projects, surveys), &estate_refs(&estates), today()).expect("loads");
    let [r] = data.report.rejected.as_slice() else { panic!("one rejection expected: {:?}", data.report.rejected) };
    let file = fixture(surveys.unwrap_or(projects));
    assert_eq!((&r.file, r.unit, r.row), (&file, "row", row), "{r}");
    assert!(r.reason.contains(reason), "{r}");
    let text = r.to_string();
    assert!(text.contains(&file.display().to_string()) && text.contains(&format!("row {row}")), "{text}");
    let accepted: usize = data.report.accepted.iter().map(|(_, n)| n).sum();
    let rows: usize = [Some(projects), surveys].into_iter().flatten().map(|f| raw_rows(&fixture(f)).len()).sum();
    assert_eq!(accepted + 1, rows, "every other row is accepted");
}

#[test]
fn bad_row_unknown_estate() {
    one_bad_row("bad_unknown_estate.csv", None, 3, "estate 99 is not in the estates file");
}

#[test]
fn bad_row_pct_outside_0_100() {
    one_bad_row("bad_pct_outside.csv", None, 3, "% complete 120 is outside 0–100");
}

#[test]
fn bad_row_future_batch() {
    one_bad_row("bad_future_batch.csv", None, 3, "batch year 2099 is in the future");
}

#[test]
fn bad_row_duplicate_project() {
    one_bad_row("bad_duplicate_project.csv", None, 3, "duplicate project P1 (first at row 2)");
}

#[test]
fn bad_row_shares_not_summing_to_100() {
    one_bad_row("bad_shares.csv", None, 3, "shares by source sum to 90 %, not 100 %");
}

#[test]
fn bad_row_future_survey_date() {
    one_bad_row("projects.csv", Some("bad_future_survey.csv"), 3, "survey date 2099-01-01 is in the future");
}

#[test]
fn bad_row_survey_pct_outside_0_100() {
    one_bad_row("projects.csv", Some("bad_survey_pct.csv"), 3, "satisfied 105 % is outside 0–100");
}

#[test]
fn funding_rule_shares_not_summing_to_100_is_a_config_error() {
    let mut c = programme_config("projects.csv", None);
    c.funding.push(FundingRuleConfig { category: Some("upgrade".into()), shares_pct: BTreeMap::from([("city".into(), 50.0), ("district".into(), 40.0)]), ..FundingRuleConfig::default() });
    let e = c.validate().expect_err("90 %");
    assert!(e.to_string().contains("programme.funding[4]") && e.to_string().contains("sum to 90 %"), "{e}");
}

#[test]
fn xlsx_geojson_and_gdal_tables_load_like_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = raw_rows(&fixture("projects.csv"));
    let mut reader = csv::Reader::from_path(fixture("projects.csv")).expect("csv");
    let headers: Vec<String> = reader.headers().expect("headers").iter().map(str::to_owned).collect();
    // XLSX: numbers as numbers, text as text, blanks blank.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("项目").expect("name");
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(0, u16::try_from(c).expect("col"), h).expect("write");
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, h) in headers.iter().enumerate() {
            let (r, c) = (u32::try_from(r + 1).expect("row"), u16::try_from(c).expect("col"));
            match row.get(h) {
                Some(v) if v.parse::<f64>().is_ok() => {
                    sheet.write_number(r, c, v.parse::<f64>().expect("number")).expect("write");
                }
                Some(v) => {
                    sheet.write_string(r, c, v).expect("write");
                }
                None => {}
            }
        }
    }
    let xlsx = dir.path().join("projects.xlsx");
    book.save(&xlsx).expect("save");
    // GeoJSON: the rows as feature properties.
    let features: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let props: serde_json::Map<String, serde_json::Value> = row.iter().map(|(k, v)| (k.clone(), v.parse::<f64>().map_or_else(|_| serde_json::Value::from(v.clone()), serde_json::Value::from))).collect();
            serde_json::json!({"type": "Feature", "geometry": null, "properties": props})
        })
        .collect();
    let geojson = dir.path().join("projects.geojson");
    std::fs::write(&geojson, serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()).expect("write");

    // A GeoPackage attribute table, through GDAL (ogr2ogr from gdal-bin, which the setup installs).
    let gpkg = dir.path().join("projects.gpkg");
    let status = std::process::Command::new("ogr2ogr").args(["-f", "GPKG", "-nln", "projects"]).arg(&gpkg).arg(fixture("projects.csv")).status().expect("ogr2ogr runs");
    assert!(status.success());

    let estates = estates(&fixture("estates.geojson"));
    let refs = estate_refs(&estates);
    let csv_loaded = load_programme(&programme_config("projects.csv", None), &refs, today()).expect("csv");
    for (path, sheet) in [(xlsx, Some("项目".to_owned())), (geojson, None), (gpkg, Some("projects".to_owned()))] {
        let mut c = programme_config("projects.csv", None);
        c.projects = Some(TableSource { path: path.clone(), sheet, ..TableSource::default() });
        let loaded = load_programme(&c, &refs, today()).expect("loads");
        assert!(loaded.report.rejected.is_empty(), "{path:?}: {:?}", loaded.report.rejected);
        assert_eq!(loaded.projects, csv_loaded.projects, "{path:?}");
    }
}

#[test]
fn mapped_columns_are_read_through_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("项目.csv");
    std::fs::write(&path, "编号,小区编号,年度,类别,状态,完成率,市级资金\nA,1,2020,基础类,已验收,100,1000\n").expect("write");
    let mut c = programme_config("projects.csv", None);
    let fields = [("id", "编号"), ("estate_id", "小区编号"), ("batch_year", "年度"), ("category", "类别"), ("status", "状态"), ("complete_pct", "完成率"), ("investment_city", "市级资金")];
    c.projects = Some(TableSource { path, sheet: None, fields: fields.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect() });
    let loaded = load_programme(&c, &estate_refs(&estates(&fixture("estates.geojson"))), today()).expect("loads");
    assert!(loaded.report.rejected.is_empty(), "{:?}", loaded.report.rejected);
    let p = &loaded.projects[0];
    assert_eq!((p.id.as_str(), p.batch_year, p.investment_yuan["city"], p.households), ("A", 2020, 1000.0, 300));
}

// ---------- the report ----------

fn fixture_report(lang: Lang) -> gapmap::report::programme::ProgrammeReport {
    let s = setup(&fixture("gapmap.toml"));
    build_programme_report(analyze(&s, 2020, 2021, 80.0), &catalogue(), &s.estates, lang, None)
}

#[test]
fn markdown_report_zh() {
    let md = render_markdown(&fixture_report(Lang::Zh));
    assert!(md.contains("# 2021年老旧小区改造工作报告"));
    insta::assert_snapshot!("programme_zh_md", md);
}

#[test]
fn markdown_report_en() {
    let md = render_markdown(&fixture_report(Lang::En));
    insta::assert_snapshot!("programme_en_md", md);
}

#[test]
fn xlsx_reads_back_with_the_oracle_figures() {
    let report = fixture_report(Lang::Zh);
    let bytes = render_xlsx(&report).expect("xlsx");
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("opens");
    let names = book.sheet_names();
    assert_eq!(names, ["报告", "batches", "districts", "streets", "progress", "funding", "gate", "rework", "projects", "wishes_city", "wishes_districts", "wishes_estates"]);
    let batches = book.worksheet_range("batches").expect("sheet");
    let rows: Vec<&[Data]> = batches.rows().collect();
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let total = rows.last().expect("total row");
    assert_eq!(total[0], Data::String("合计".into()));
    let raw = raw_rows(&fixture("projects.csv"));
    let estates = raw_estates(&fixture("estates.geojson"));
    let households: u64 = raw.iter().map(|p| p.get("households").map_or_else(|| estates[&p["estate_id"]].1, |h| h.parse().expect("n"))).sum();
    assert_eq!(total[col("户数（户）")], Data::Float(f64::from(u32::try_from(households).expect("small"))));
    let invest: f64 = raw.iter().map(|p| p.iter().filter(|(k, _)| k.starts_with("investment_")).map(|(_, v)| v.parse::<f64>().expect("yuan")).sum::<f64>()).sum();
    let Data::Float(wan) = total[col("总投资（万元）")] else { panic!("number") };
    assert!((wan - invest / 1e4).abs() < 1e-9, "{wan} vs {}", invest / 1e4);
    let projects = book.worksheet_range("projects").expect("sheet");
    assert_eq!(projects.rows().count(), raw.len() + 1);
}

#[test]
fn cli_writes_every_format_and_stops_on_bad_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["programme", "--config"])
        .arg(fixture("gapmap.toml"))
        .args(["--year", "2021", "--lang", "en", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    for name in ["programme-2021-en.html", "programme-2021-en.md", "programme-2021-en.xlsx", "programme-2021-en.json", "programme-2021-en-batches.csv", "programme-2021-en-wishes_estates.csv"] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let html = std::fs::read_to_string(out.join("programme-2021-en.html")).expect("html");
    assert!(html.contains("@page { size: A4") && html.matches("<svg").count() == 3, "three charts, A4");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("programme-2021-en.json")).expect("json")).expect("parses");
    assert_eq!(json["programme"]["total"]["projects"], 6);

    let config = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(fixture("gapmap.toml")).expect("config").replace("\"projects.csv\"", &format!("{:?}", fixture("bad_unknown_estate.csv").display().to_string())).replace("\"estates.geojson\"", &format!("{:?}", fixture("estates.geojson").display().to_string())).replace("\"surveys.csv\"", &format!("{:?}", fixture("surveys.csv").display().to_string())).replace("\"wishes.csv\"", &format!("{:?}", fixture("wishes.csv").display().to_string())).replace("\"targets.toml\"", &format!("{:?}", fixture("targets.toml").display().to_string()));
    std::fs::write(&config, text).expect("write");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap")).args(["programme", "--config"]).arg(&config).args(["--year", "2021", "--out"]).arg(&out).output().expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("bad_unknown_estate.csv: row 3 (id P2): estate 99 is not in the estates file"), "{stderr}");
    assert!(out.join("programme-2021.load-report.json").is_file());
    // --on-invalid warn goes on without the row; programme.lang picks the language.
    std::fs::write(&config, std::fs::read_to_string(&config).expect("read").replace("[programme]\n", "[programme]\nlang = \"en\"\n")).expect("write");
    let warned = dir.path().join("warned");
    let warn = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap")).args(["programme", "--config"]).arg(&config).args(["--year", "2021", "--on-invalid", "warn", "--format", "md", "--out"]).arg(&warned).output().expect("runs");
    assert!(warn.status.success(), "{}", String::from_utf8_lossy(&warn.stderr));
    let md = std::fs::read_to_string(warned.join("programme-2021-en.md")).expect("English, from the config");
    // The bad file's one good row (P1); the surveys of projects not loaded are rejected too.
    assert!(md.contains("| Total | 1 |"), "{md}");
}

// ---------- gapmap plan --weight wishes:ITEM ----------

/// The plan's objective is the residents asking for the item in the estates its sites newly
/// cover, summed here from the raw wishes CSV; an item nobody asked for is refused by name.
#[test]
fn plan_weighs_demand_by_the_wishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("plan.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["plan", "--config"])
        .arg(repo("data/demo/gapmap.toml"))
        .args(["--kind", "day_care", "--count", "3", "--weight", "wishes:day_care", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("plan")).expect("json");
    assert_eq!(doc["weight"], "wishes:day_care");
    let mut asking: HashMap<String, f64> = HashMap::new();
    for w in raw_rows(&repo("data/demo/wishes.csv")).iter().filter(|w| w["item"] == "day_care") {
        *asking.entry(w["estate_id"].clone()).or_default() += num(w, "count");
    }
    let covered: BTreeSet<String> = doc["sites"].as_array().expect("sites").iter().flat_map(|s| s["covers"].as_array().expect("covers").iter().map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_owned))).collect();
    let want: f64 = covered.iter().map(|e| asking.get(e).copied().unwrap_or(0.0)).sum();
    assert!(want > 0.0, "the sites go where residents asked");
    let got = doc["objective_weight"].as_f64().expect("objective");
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    // The default weight is still the households.
    let by_households = dir.path().join("households.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap")).args(["plan", "--config"]).arg(repo("data/demo/gapmap.toml")).args(["--kind", "day_care", "--count", "3", "--out"]).arg(&by_households).output().expect("runs");
    assert!(run.status.success());
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&by_households).expect("plan")).expect("json");
    assert_eq!(doc["objective_weight"], doc["objective_households"]);

    let run = std::process::Command::new(env!("CARGO_BIN_EXE_gapmap"))
        .args(["plan", "--config"])
        .arg(repo("data/demo/gapmap.toml"))
        .args(["--kind", "day_care", "--count", "3", "--weight", "wishes:swimming_pool", "--out"])
        .arg(dir.path().join("none.json"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("no resident asked for `swimming_pool`") && stderr.contains("day_care"), "{stderr}");
}
