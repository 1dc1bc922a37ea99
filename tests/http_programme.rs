//! The renovation programme as served, on the demo city: the `projects`, `wishes` and
//! `districts` collections' counts and totals recomputed here from the raw CSV rows
//! (`data/demo/projects.csv`, `surveys.csv`, `wishes.csv`) and the estates file, not from the
//! programme module; the usual OGC filters (`status=accepted`, CQL2 on `satisfied_pct`, `sortby`,
//! `bbox`); the report's `lang=`; and no such collections without `[programme]`.

#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use axum::http::StatusCode;
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

/// The demo city with its programme, loaded once per test binary.
fn demo() -> AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let config = demo_config();
            AppState::new(config.clone(), load_dataset(&config).expect("the demo loads"))
        })
        .clone()
}

async fn get(uri: &str) -> Answer {
    get_with(&demo(), uri, &[]).await
}

/// Every feature of a collection's items (one page of at most 10,000), with `query` added.
async fn features(state: &AppState, collection: &str, query: &str) -> Vec<Value> {
    let answer = get_with(state, &format!("/collections/{collection}/items?limit=10000{query}"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let page = answer.json();
    assert_eq!(page["numberMatched"], page["numberReturned"], "one page holds them all");
    page["features"].as_array().unwrap().clone()
}

/// A CSV file as rows of header → cell.
fn csv_rows(path: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(repo(path)).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    reader.records().map(|r| headers.iter().cloned().zip(r.unwrap().iter().map(str::to_owned)).collect()).collect()
}

fn num(cell: &str) -> f64 {
    if cell.trim().is_empty() {
        0.0
    } else {
        cell.trim().parse().unwrap()
    }
}

/// Estate id → district, from the estates file.
fn estate_districts() -> HashMap<i64, String> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(repo("data/demo/estates.geojson")).unwrap()).unwrap();
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["properties"]["id"].as_i64().unwrap(), f["properties"]["district"].as_str().unwrap().to_owned()))
        .collect()
}

/// The oracle's view of one project row: its latest survey by date (`respondents`, `satisfied`
/// counts) decides the gate at 80 %.
#[derive(Debug, Clone)]
struct RawProject {
    estate: i64,
    district: String,
    status: String,
    households: f64,
    investment: f64,
    /// (satisfied %, passed) of the latest survey.
    survey: Option<(f64, bool)>,
}

fn raw_projects() -> BTreeMap<String, RawProject> {
    let districts = estate_districts();
    let mut latest: HashMap<String, (String, f64, f64)> = HashMap::new();
    for s in csv_rows("data/demo/surveys.csv") {
        let entry = (s["date"].clone(), num(&s["respondents"]), num(&s["satisfied"]));
        let id = s["project_id"].clone();
        if latest.get(&id).is_none_or(|l| l.0 <= entry.0) {
            latest.insert(id, entry);
        }
    }
    csv_rows("data/demo/projects.csv")
        .into_iter()
        .map(|r| {
            let estate: i64 = r["estate_id"].parse().unwrap();
            let investment = ["investment_city", "investment_district", "investment_utility", "investment_residents"].iter().map(|c| num(&r[*c])).sum();
            let survey = latest.get(&r["id"]).map(|(_, respondents, satisfied)| (satisfied * 100.0 / respondents, satisfied * 100.0 >= 80.0 * respondents));
            let p = RawProject { estate, district: districts[&estate].clone(), status: r["status"].clone(), households: num(&r["households"]), investment, survey };
            (r["id"].clone(), p)
        })
        .collect()
}

#[tokio::test]
async fn projects_are_the_raw_rows_with_their_gate_and_a_funding_split_summing_to_the_investment() {
    let raw = raw_projects();
    let served = features(&demo(), "projects", "").await;
    assert_eq!(served.len(), raw.len());
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for f in &served {
        let id = f["id"].as_str().unwrap();
        let p = &f["properties"];
        let r = &raw[id];
        assert_eq!(p["estate_id"], r.estate, "{id}");
        assert_eq!(p["district"], r.district.as_str(), "{id}");
        assert_eq!(p["status"], r.status.as_str(), "{id}");
        assert!((p["households"].as_f64().unwrap() - r.households).abs() < 1e-9, "{id}");
        assert!((p["investment_total_yuan"].as_f64().unwrap() - r.investment).abs() < 0.01, "{id}");
        // The split by rule adds up to the investment (what no share rule covers included).
        let split: f64 = p.as_object().unwrap().iter().filter(|(k, _)| k.starts_with("funding_") && k.ends_with("_yuan") && *k != "funding_subsidy_yuan").map(|(_, v)| v.as_f64().unwrap()).sum();
        assert!((split - r.investment).abs() < 1.0, "{id}: split {split} against {}", r.investment);
        let embedded: f64 = serde_json::from_str::<Value>(p["funding"].as_str().map_or_else(|| p["funding"].to_string(), str::to_owned).as_str()).unwrap().as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
        assert!((embedded + p["funding_unassigned_yuan"].as_f64().unwrap() - r.investment).abs() < 1.0, "{id}");
        match r.survey {
            None => {
                assert_eq!(p["gate"], "no_survey", "{id}");
                assert!(p["satisfied_pct"].is_null(), "{id}");
            }
            Some((pct, passed)) => {
                assert_eq!(p["gate"], if passed { "passed" } else { "failed" }, "{id}");
                assert!((p["satisfied_pct"].as_f64().unwrap() - pct).abs() < 0.006, "{id}: {} against {pct}", p["satisfied_pct"]);
            }
        }
        // The estate's geometry, in CRS84.
        assert_eq!(f["geometry"]["type"], "MultiPolygon");
        let lon = f["geometry"]["coordinates"][0][0][0][0].as_f64().unwrap();
        assert!((-180.0..=180.0).contains(&lon));
        *by_status.entry(r.status.clone()).or_default() += 1;
    }
    // A demo that exercises the gate: some projects fail it, most pass, some have no survey.
    let gates: Vec<&str> = served.iter().map(|f| f["properties"]["gate"].as_str().unwrap()).collect();
    for g in ["passed", "failed", "no_survey"] {
        assert!(gates.contains(&g), "the demo has a project with gate {g}");
    }

    // `status=accepted` keeps exactly the accepted rows.
    let accepted = features(&demo(), "projects", "&status=accepted").await;
    assert_eq!(accepted.len(), by_status["accepted"]);
    assert!(accepted.iter().all(|f| f["properties"]["status"] == "accepted"));
}

#[tokio::test]
async fn cql2_on_satisfaction_sortby_and_bbox() {
    let raw = raw_projects();
    let below: Vec<&String> = raw.iter().filter(|(_, p)| p.survey.is_some_and(|(pct, _)| pct < 80.0)).map(|(id, _)| id).collect();
    assert!(!below.is_empty(), "the demo has projects below the gate");
    let served = features(&demo(), "projects", "&filter=satisfied_pct%20%3C%2080").await;
    let mut ids: Vec<&str> = served.iter().map(|f| f["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, below.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    // The gate's verdict agrees with the filter.
    let failed = features(&demo(), "projects", "&gate=failed").await;
    assert_eq!(failed.len(), below.len());

    // A CQL2 conjunction on the batch year and status, against the raw rows.
    let rows = csv_rows("data/demo/projects.csv");
    let want = rows.iter().filter(|r| r["batch_year"] == "2021" && r["status"] == "accepted").count();
    let got = features(&demo(), "projects", "&filter=batch_year%3D2021%20AND%20status%3D%27accepted%27").await;
    assert_eq!(got.len(), want);

    // sortby: satisfaction descending, surveyed projects first.
    let sorted = features(&demo(), "projects", "&sortby=-satisfied_pct&filter=satisfied_pct%20IS%20NOT%20NULL").await;
    let values: Vec<f64> = sorted.iter().map(|f| f["properties"]["satisfied_pct"].as_f64().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(values.len(), raw.values().filter(|p| p.survey.is_some()).count());

    // bbox around one project's estate finds it.
    let all = features(&demo(), "projects", "").await;
    let first = &all[0];
    let ring = first["geometry"]["coordinates"][0][0].as_array().unwrap();
    let (lon, lat) = (ring[0][0].as_f64().unwrap(), ring[0][1].as_f64().unwrap());
    let near = features(&demo(), "projects", &format!("&bbox={},{},{},{}", lon - 1e-4, lat - 1e-4, lon + 1e-4, lat + 1e-4)).await;
    assert!(near.iter().any(|f| f["id"] == first["id"]));
    assert!(near.len() < all.len());

    // An unknown property in a filter is a 400 naming the collection.
    get("/collections/projects/items?filter=nonsense%3D1").await.assert_error(StatusCode::BAD_REQUEST, "projects");
}

#[tokio::test]
async fn wishes_per_estate_are_the_raw_rows_summed_and_ranked() {
    let mut per_estate: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    for w in csv_rows("data/demo/wishes.csv") {
        *per_estate.entry(w["estate_id"].parse().unwrap()).or_default().entry(w["item"].clone()).or_default() += w["count"].parse::<u64>().unwrap();
    }
    let served = features(&demo(), "wishes", "").await;
    assert_eq!(served.len(), per_estate.len());
    for f in &served {
        let estate = f["id"].as_i64().unwrap();
        let items = &per_estate[&estate];
        let p = &f["properties"];
        assert_eq!(p["wishes_total"], items.values().sum::<u64>(), "{estate}");
        assert_eq!(p["wish_items"], items.len(), "{estate}");
        let mut ranked: Vec<(&String, &u64)> = items.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        assert_eq!(p["top1_item"], ranked[0].0.as_str(), "{estate}");
        assert_eq!(p["top1_count"], *ranked[0].1, "{estate}");
        if let Some((item, count)) = ranked.get(1) {
            assert_eq!(p["top2_item"], item.as_str(), "{estate}");
            assert_eq!(p["top2_count"], **count, "{estate}");
        }
    }
    // A project carries its estate's top wishes.
    let projects = features(&demo(), "projects", "").await;
    let with = projects.iter().find(|f| per_estate.contains_key(&f["properties"]["estate_id"].as_i64().unwrap())).expect("a project of an estate with wishes");
    let top: Value = serde_json::from_str(with["properties"]["top_wishes"].as_str().map_or_else(|| with["properties"]["top_wishes"].to_string(), str::to_owned).as_str()).unwrap();
    let estate = with["properties"]["estate_id"].as_i64().unwrap();
    assert_eq!(top[0]["count"], *per_estate[&estate].values().max().unwrap());
}

#[tokio::test]
async fn districts_carry_the_programme_figures() {
    let raw = raw_projects();
    let mut want: BTreeMap<&str, (u64, f64, f64, u64, u64)> = BTreeMap::new();
    for p in raw.values() {
        let w = want.entry(p.district.as_str()).or_default();
        w.0 += 1;
        w.1 += p.households;
        w.2 += p.investment;
        w.3 += u64::from(p.status == "accepted");
        w.4 += u64::from(p.survey.is_some_and(|(_, passed)| !passed));
    }
    let served = features(&demo(), "districts", "").await;
    assert!(!served.is_empty());
    for f in &served {
        let p = &f["properties"];
        let d = p["district"].as_str().unwrap();
        let (projects, households, investment, accepted, failed) = want.get(d).copied().unwrap_or_default();
        assert_eq!(p["programme_projects"], projects, "{d}");
        assert!((p["programme_households"].as_f64().unwrap() - households).abs() < 1e-9, "{d}");
        assert!((p["programme_investment_yuan"].as_f64().unwrap() - investment).abs() < 0.02, "{d}");
        assert_eq!(p["programme_accepted"], accepted, "{d}");
        assert_eq!(p["programme_gate_failed"], failed, "{d}");
    }
    assert_eq!(served.iter().map(|f| f["properties"]["programme_projects"].as_u64().unwrap()).sum::<u64>(), raw.len() as u64);
    // `year=` counts the batches up to that year.
    let before: u64 = features(&demo(), "districts", "&year=2019").await.iter().map(|f| f["properties"]["programme_projects"].as_u64().unwrap()).sum();
    let rows = csv_rows("data/demo/projects.csv");
    assert_eq!(before, rows.iter().filter(|r| r["batch_year"].parse::<i32>().unwrap() <= 2019).count() as u64);
}

#[tokio::test]
async fn listed_with_queryables_and_tiles() {
    let list = get("/collections").await.json();
    let ids: Vec<&str> = list["collections"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"projects") && ids.contains(&"wishes"), "{ids:?}");
    let q = get("/collections/projects/queryables").await.json();
    for name in ["batch_year", "street", "status", "gate", "satisfied_pct", "complete_pct", "funding_city_yuan"] {
        assert!(q["properties"][name].is_object(), "{name} is queryable");
    }
    let one = get("/collections/projects/items/R2020-001").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["properties"]["estate_id"], 3);
    let tilejson = get("/tiles/projects.json").await;
    assert_eq!(tilejson.status, StatusCode::OK, "{}", tilejson.text());
    let fields = &tilejson.json()["vector_layers"][0]["fields"];
    assert!(fields["status"].is_string() && fields["complete_pct"].is_string() && fields["satisfied_pct"].is_string(), "{fields}");
}

#[tokio::test]
async fn the_report_takes_its_language() {
    let zh = get("/reports/2021?f=json&lang=zh").await;
    assert_eq!(zh.status, StatusCode::OK, "{}", zh.text());
    assert_eq!(zh.json()["lang"], "zh");
    let en = get("/reports/2021?f=md&lang=en").await.text();
    let zh_md = get("/reports/2021?f=md&lang=zh").await.text();
    assert_ne!(en, zh_md);
    assert!(zh_md.contains("满意度"), "the Chinese report names the satisfaction gate");
    get("/reports/2021?lang=fr").await.assert_error(StatusCode::BAD_REQUEST, "lang");
}

#[tokio::test]
async fn without_a_programme_there_are_no_such_collections() {
    let mut config = demo_config();
    config.programme = None;
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());
    for uri in ["/collections/projects", "/collections/wishes/items", "/collections/projects/queryables", "/tiles/wishes.json"] {
        let answer = get_with(&state, uri, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let list = get_with(&state, "/collections", &[]).await.json();
    assert!(list["collections"].as_array().unwrap().iter().all(|c| c["id"] != "projects" && c["id"] != "wishes"));
    let districts = features(&state, "districts", "").await;
    assert!(districts.iter().all(|f| f["properties"].get("programme_projects").is_none()));
}
