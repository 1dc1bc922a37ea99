//! The served year views against fresh analyses: for every year of a generated city (before its
//! first facility, each year facilities open, the present), the `estates` and `gaps` collections
//! served for `year=` (their coverage columns computed from the timeline's table, the estates'
//! own columns shared between years) hold exactly what `gapmap analyze --year` writes for that
//! year, feature by feature and property by property; and many years viewed in turn keep at
//! most a few views cached.
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::http::{get_with, SharedCity};
use gapmap::analysis::{compute_coverage, RecordedHouseholds, StraightLine};
use gapmap::io::write::{estate_features, Results};
use gapmap::model::{AttrValue, KindId};
use serde_json::Value;

static CITY: SharedCity = SharedCity::new(160, 700, 41, None);

fn json_of(v: &AttrValue) -> Value {
    match v {
        AttrValue::Null => Value::Null,
        AttrValue::Bool(b) => Value::Bool(*b),
        AttrValue::Int(n) => Value::from(*n),
        AttrValue::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        AttrValue::Text(s) => Value::String(s.clone()),
        AttrValue::Json(s) => serde_json::from_str(s).unwrap(),
    }
}

/// Equal values; numbers to 1e-9 relative (capacities summed in another order differ in the
/// last bit: the served index and a fresh one list facilities in different orders).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_year_served_equals_a_fresh_analysis_of_that_year() {
    let state = CITY.state();
    let dataset = state.dataset();
    let opened: BTreeSet<i32> = dataset.facilities.iter().filter_map(|f| f.opened_year).collect();
    let (first, last) = (*opened.first().unwrap(), *opened.last().unwrap());
    let mut years: Vec<Option<i32>> = vec![None, Some(first - 3), Some(first - 1)];
    years.extend(opened.iter().map(|&y| Some(y)));
    years.extend([Some(last + 1), Some(first + (last - first) / 2)]);
    assert!(years.len() > 10, "the generated city opens facilities over many years");

    for year in years {
        let query = year.map_or_else(String::new, |y| format!("&year={y}"));
        let metric = StraightLine::new(&dataset.facilities, dataset.params.distance_from);
        let table = compute_coverage(&dataset.estates, &metric, &dataset.catalogue, year.or(dataset.params.year), &RecordedHouseholds, &()).unwrap();
        let results = Results { estates: &dataset.estates, facilities: &dataset.facilities, table: &table, catalogue: &dataset.catalogue, working_crs: &dataset.working_crs };
        let expected = estate_features(&results).unwrap();

        let served = get_with(&state, &format!("/collections/estates/items?limit=10000{query}"), &[]).await.json();
        let features = served["features"].as_array().unwrap();
        assert_eq!(features.len(), expected.len(), "{year:?}");
        for ((feature, want), estate) in features.iter().zip(&expected).zip(&dataset.estates) {
            assert_eq!(feature["id"].to_string(), gapmap::serve::layer::id_json(&estate.id), "{year:?}");
            let properties = feature["properties"].as_object().unwrap();
            for (name, value) in &want.properties {
                let got = properties.get(name).unwrap_or_else(|| panic!("estate {} lacks {name}", estate.id));
                assert!(same(got, &json_of(value)), "estate {} property {name} in {year:?}: served {got}, analysed {value:?}", estate.id);
            }
            assert_eq!(properties["year"], year.or(dataset.params.year).map_or(Value::Null, Value::from));
        }

        let served = get_with(&state, &format!("/collections/gaps/items?limit=100000{query}"), &[]).await.json();
        let gaps: BTreeMap<String, &Value> = served["features"].as_array().unwrap().iter().map(|f| (f["id"].as_str().unwrap().to_owned(), f)).collect();
        let mut uncovered = 0;
        for (i, estate) in dataset.estates.iter().enumerate() {
            for (k, spec) in dataset.catalogue.kinds.iter().enumerate() {
                let cell = table.get(i, KindId(u16::try_from(k).unwrap()));
                let id = format!("{}:{}", estate.id, spec.key);
                if cell.covered {
                    assert!(!gaps.contains_key(&id), "{id} is covered in {year:?}");
                    continue;
                }
                uncovered += 1;
                let gap = &gaps.get(&id).unwrap_or_else(|| panic!("gap {id} missing in {year:?}"))["properties"];
                assert_eq!(gap["kind"], spec.key.as_str());
                assert_eq!(gap["estate_id"].to_string(), gapmap::serve::layer::id_json(&estate.id));
                assert_eq!(gap["radius_m"].as_f64(), Some(table.radii_m[k]));
                let distance = cell.nearest.map(|n| (n.distance_m * 1000.0).round() / 1000.0);
                assert_eq!(gap["distance_m"].as_f64(), distance, "{id} in {year:?}");
                let nearest = cell.nearest.map(|n| gapmap::serve::layer::id_json(&dataset.facilities[n.facility as usize].id));
                assert_eq!(Some(gap["nearest_id"].to_string()).filter(|s| s != "null"), nearest, "{id} in {year:?}");
                assert!(same(&gap["shortfall"], &cell.shortfall.map_or(Value::Null, Value::from)), "{id} in {year:?}");
            }
        }
        assert_eq!(gaps.len(), uncovered, "{year:?}");
    }
    // Every year was viewed; a few are kept.
    assert!(dataset.cached_years() <= 2, "{} years cached", dataset.cached_years());
}
