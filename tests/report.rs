//! `gapmap report`: every figure recomputed here from the raw GeoJSON features (openings,
//! stock, targets, renovation from the properties; coverage by a brute-force O(n·m) boundary
//! distance with `geo`), golden snapshots of Markdown and JSON, the XLSX read back, the HTML
//! checked to be self-contained, and the CLI end to end.
//!
//! Only coordinates come from gapmap (`io::load` projects them into the working CRS); the
//! coverage itself is this file's own brute force.

#![expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::float_cmp,
    reason = "small counts compared as floats; the compared values are exact"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader as _, Xlsx};
use gapmap::analysis::{DistanceFrom, StraightLine, Targets, TrendParams};
use gapmap::config::{Config, SourceConfig};
use gapmap::io::load::{load, LoadOptions, Loaded};
use gapmap::model::{Catalogue, Facility};
use gapmap::report::{self, Report, ReportInput};
use geo::{BoundingRect, Distance, Euclidean, Intersects, MultiPolygon, Point, Rect};
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ---------------------------------------------------------------------------------------------
// Raw features and the independent computation.

/// An estate as the raw file states it, with its footprint in the working CRS.
struct RawEstate {
    id: String,
    district: Option<String>,
    households: u64,
    built_year: Option<i64>,
    renovation_year: Option<i64>,
    geometry: MultiPolygon<f64>,
    bbox: Rect<f64>,
}

/// A facility as the raw file states it, with its position in the working CRS.
struct RawFacility {
    kind: String,
    capacity: f64,
    opened_year: Option<i64>,
    district: Option<String>,
    xy: Point<f64>,
    id: String,
}

fn features(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable GeoJSON");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    doc["features"].as_array().expect("a FeatureCollection").clone()
}

fn prop_str(p: &Value, key: &str) -> Option<String> {
    p.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn prop_id(p: &Value) -> String {
    match &p["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Joins the raw properties with the projected geometry `io::load` produced, by id.
fn raw_city(estates_path: &Path, facilities_path: &Path, loaded: &Loaded, kinds: &[String]) -> (Vec<RawEstate>, Vec<RawFacility>) {
    let estate_geometry: HashMap<String, &MultiPolygon<f64>> = loaded.estates.iter().map(|e| (e.id.to_string(), &e.geometry)).collect();
    let facility_xy: HashMap<String, Point<f64>> = loaded.facilities.iter().map(|f| (f.id.to_string(), f.location)).collect();
    let estates = features(estates_path)
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let id = prop_id(p);
            let geometry = estate_geometry[&id].clone();
            RawEstate {
                district: prop_str(p, "district"),
                households: p["households"].as_u64().unwrap_or(0),
                built_year: p["built_year"].as_i64(),
                renovation_year: p["renovation_year"].as_i64(),
                bbox: geometry.bounding_rect().expect("non-empty"),
                geometry,
                id,
            }
        })
        .collect();
    let facilities = features(facilities_path)
        .iter()
        .map(|f| &f["properties"])
        .filter(|p| kinds.iter().any(|k| Some(k.as_str()) == p["kind"].as_str()))
        .map(|p| {
            let id = prop_id(p);
            RawFacility {
                kind: prop_str(p, "kind").expect("kind"),
                capacity: p["capacity"].as_f64().unwrap_or(0.0),
                opened_year: p["opened_year"].as_i64(),
                district: prop_str(p, "district"),
                xy: facility_xy[&id],
                id,
            }
        })
        .collect();
    (estates, facilities)
}

/// Distance from a point to a rectangle (0 inside): a lower bound of the distance to anything
/// the rectangle holds. Only prunes the brute force; never decides coverage on its own.
fn rect_distance(r: &Rect<f64>, p: Point<f64>) -> f64 {
    let dx = (r.min().x - p.x()).max(0.0).max(p.x() - r.max().x);
    let dy = (r.min().y - p.y()).max(0.0).max(p.y() - r.max().y);
    dx.hypot(dy)
}

/// The estate-boundary distance, 0 inside: `geo`'s Euclidean distance and intersection.
fn boundary_distance(e: &RawEstate, p: Point<f64>) -> f64 {
    if e.geometry.intersects(&p) {
        0.0
    } else {
        Euclidean.distance(&p, &e.geometry)
    }
}

/// Per kind and estate: the earliest year from which a facility lies within the radius
/// (`i64::MIN` for a facility without opening year), `None` if none ever does. O(E · F).
fn first_covered_year(estates: &[RawEstate], facilities: &[RawFacility], kind: &str, radius_m: f64) -> Vec<Option<i64>> {
    let of_kind: Vec<&RawFacility> = facilities.iter().filter(|f| f.kind == kind).collect();
    estates
        .iter()
        .map(|e| {
            of_kind
                .iter()
                .filter(|f| rect_distance(&e.bbox, f.xy) <= radius_m && boundary_distance(e, f.xy) <= radius_m)
                .map(|f| f.opened_year.unwrap_or(i64::MIN))
                .min()
        })
        .collect()
}

/// Distance to the nearest facility of `kind` open by `year`, by brute force.
fn nearest_open(e: &RawEstate, facilities: &[RawFacility], kind: &str, year: i64) -> Option<f64> {
    let mut candidates: Vec<(f64, &RawFacility)> = facilities
        .iter()
        .filter(|f| f.kind == kind && f.opened_year.is_none_or(|y| y <= year))
        .map(|f| (rect_distance(&e.bbox, f.xy), f))
        .collect();
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best: Option<f64> = None;
    for (lower, f) in candidates {
        if best.is_some_and(|b| lower > b) {
            break;
        }
        let d = boundary_distance(e, f.xy);
        best = Some(best.map_or(d, |b| b.min(d)));
    }
    best
}

#[expect(clippy::cast_precision_loss, reason = "small counts")]
fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{what}: report {a}, recomputed {b}");
}

fn close_opt(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b, what),
        (None, None) => {}
        _ => panic!("{what}: report {a:?}, recomputed {b:?}"),
    }
}

/// Facility targets by (year, kind, district) and renovation targets by (year, district).
type RawTargets = (BTreeMap<(i64, String, Option<String>), toml::Table>, BTreeMap<(i64, Option<String>), toml::Table>);

/// Targets as the raw TOML states them.
fn raw_targets(text: &str) -> RawTargets {
    let doc: toml::Table = text.parse().expect("valid TOML");
    let district = |t: &toml::Table| t.get("district").and_then(toml::Value::as_str).map(str::to_owned);
    let mut facility = BTreeMap::new();
    for t in doc.get("target").and_then(toml::Value::as_array).into_iter().flatten() {
        let t = t.as_table().expect("a table").clone();
        facility.insert((t["year"].as_integer().expect("year"), t["kind"].as_str().expect("kind").to_owned(), district(&t)), t);
    }
    let mut renovation = BTreeMap::new();
    for t in doc.get("renovation").and_then(toml::Value::as_array).into_iter().flatten() {
        let t = t.as_table().expect("a table").clone();
        renovation.insert((t["year"].as_integer().expect("year"), district(&t)), t);
    }
    (facility, renovation)
}

fn target_num(t: Option<&toml::Table>, key: &str) -> Option<f64> {
    t.and_then(|t| t.get(key)).map(|v| v.as_float().or_else(|| v.as_integer().map(|n| n as f64)).expect("a number"))
}

/// Checks every figure of `report` against the raw features.
#[expect(clippy::too_many_lines, reason = "one recomputation per figure, in the report's order")]
fn check_every_figure(report: &Report, estates: &[RawEstate], facilities: &[RawFacility], kinds: &[(String, f64)], targets_toml: &str) {
    let trend = &report.trend;
    let (from, to) = (i64::from(report.from), i64::from(report.year));
    let (facility_targets, renovation_targets) = raw_targets(targets_toml);
    let districts: BTreeSet<String> = estates.iter().filter_map(|e| e.district.clone()).collect();
    assert_eq!(trend.districts, districts.iter().cloned().collect::<Vec<_>>());
    assert_eq!(report.estates, estates.len());

    // Places: the whole city (None), then each district.
    let places: Vec<Option<String>> = std::iter::once(None).chain(districts.iter().cloned().map(Some)).collect();
    let mut checked_rows = 0;
    for (kind, radius_m) in kinds {
        let first = first_covered_year(estates, facilities, kind, *radius_m);
        for place in &places {
            let in_place = |d: &Option<String>| place.is_none() || d == place;
            let members: Vec<usize> = (0..estates.len()).filter(|&i| in_place(&estates[i].district)).collect();
            let covered_at = |year: i64| -> (u64, u64) {
                let covered: Vec<usize> = members.iter().copied().filter(|&i| first[i].is_some_and(|y| y <= year)).collect();
                (covered.len() as u64, covered.iter().map(|&i| estates[i].households).sum())
            };
            let households: u64 = members.iter().map(|&i| estates[i].households).sum();
            for year in from..=to {
                let row = match place {
                    None => trend.overall.iter().find(|r| i64::from(r.year) == year && &r.kind == kind),
                    Some(d) => trend.by_district.iter().find(|t| &t.district == d).and_then(|t| t.kinds.iter().find(|r| i64::from(r.year) == year && &r.kind == kind)),
                }
                .unwrap_or_else(|| panic!("a row for {year} {kind} {place:?}"));
                let what = format!("{year} {kind} {}", place.as_deref().unwrap_or("city"));
                let here: Vec<&RawFacility> = facilities.iter().filter(|f| &f.kind == kind && in_place(&f.district)).collect();
                let opened: Vec<&&RawFacility> = here.iter().filter(|f| f.opened_year == Some(year)).collect();
                let open: Vec<&&RawFacility> = here.iter().filter(|f| f.opened_year.is_none_or(|y| y <= year)).collect();
                assert_eq!(row.opened, opened.len() as u64, "{what}: opened");
                close(row.capacity_added, opened.iter().map(|f| f.capacity).sum(), &format!("{what}: capacity added"));
                assert_eq!(row.facilities_total, open.len() as u64, "{what}: facilities open");
                close(row.capacity_total, open.iter().map(|f| f.capacity).sum(), &format!("{what}: capacity open"));

                let (covered, covered_households) = covered_at(year);
                let (before, before_households) = covered_at(year - 1);
                let n = members.len() as u64;
                assert_eq!((row.estates, row.households), (n, households), "{what}: estates and households");
                assert_eq!((row.estates_covered, row.households_covered), (covered, covered_households), "{what}: covered");
                assert_eq!(row.estates_uncovered, n - covered, "{what}: uncovered");
                close(row.estates_covered_pct, pct(covered, n), &format!("{what}: covered %"));
                close(row.households_covered_pct, pct(covered_households, households), &format!("{what}: households covered %"));
                assert_eq!(row.estates_covered_change, covered as i64 - before as i64, "{what}: change");
                assert_eq!(row.households_covered_change, covered_households as i64 - before_households as i64, "{what}: households change");
                close(row.estates_covered_pct_change, pct(covered, n) - pct(before, n), &format!("{what}: change pp"));
                close(row.households_covered_pct_change, pct(covered_households, households) - pct(before_households, households), &format!("{what}: households change pp"));

                let target = facility_targets.get(&(year, kind.clone(), place.clone()));
                let new = target_num(target, "new_facilities");
                close_opt(row.target_new_facilities.map(|t| t as f64), new, &format!("{what}: target new"));
                close_opt(row.new_facilities_achieved_pct, new.filter(|&t| t > 0.0).map(|t| opened.len() as f64 / t * 100.0), &format!("{what}: new achieved"));
                let capacity = target_num(target, "capacity_added");
                close_opt(row.target_capacity_added, capacity, &format!("{what}: target capacity"));
                close_opt(row.capacity_added_achieved_pct, capacity.filter(|&t| t > 0.0).map(|t| opened.iter().map(|f| f.capacity).sum::<f64>() / t * 100.0), &format!("{what}: capacity achieved"));
                let cover = target_num(target, "coverage_estates_pct");
                close_opt(row.target_coverage_estates_pct, cover, &format!("{what}: target coverage"));
                assert_eq!(row.coverage_estates_met, cover.map(|t| pct(covered, n) >= t), "{what}: coverage met");
                let cover_h = target_num(target, "coverage_households_pct");
                close_opt(row.target_coverage_households_pct, cover_h, &format!("{what}: target households coverage"));
                assert_eq!(row.coverage_households_met, cover_h.map(|t| pct(covered_households, households) >= t), "{what}: households coverage met");
                checked_rows += 1;
            }
        }
        // The gap list of the report year: exactly the uncovered estates, with their nearest distance.
        let expected: BTreeMap<String, Option<f64>> = (0..estates.len())
            .filter(|&i| first[i].is_none_or(|y| y > to))
            .map(|i| (estates[i].id.clone(), nearest_open(&estates[i], facilities, kind, to)))
            .collect();
        let listed: BTreeMap<String, Option<f64>> =
            trend.gaps.iter().filter(|g| &g.kind == kind).map(|g| (g.estate_id.to_string(), g.nearest_m)).collect();
        assert_eq!(listed.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{kind}: uncovered estates");
        for (id, d) in &expected {
            close_opt(listed[id], *d, &format!("{kind}: estate {id} nearest distance"));
        }
    }
    assert_eq!(checked_rows, trend.overall.len() + trend.by_district.iter().map(|d| d.kinds.len()).sum::<usize>(), "every kind row checked");
    assert_eq!(trend.overall.len(), kinds.len() * usize::try_from(to - from + 1).expect("a few years"));

    // Renovation, city-wide and per district.
    let before_year = i64::from(trend.params.renovation_built_before);
    for place in &places {
        let members: Vec<&RawEstate> = estates.iter().filter(|e| place.is_none() || &e.district == place).collect();
        for year in from..=to {
            let row = match place {
                None => trend.renovation.iter().find(|r| i64::from(r.year) == year),
                Some(d) => trend.by_district.iter().find(|t| &t.district == d).and_then(|t| t.renovation.iter().find(|r| i64::from(r.year) == year)),
            }
            .expect("a renovation row");
            let what = format!("renovation {year} {}", place.as_deref().unwrap_or("city"));
            let sum = |pred: &dyn Fn(&RawEstate) -> bool| -> (u64, u64) {
                let chosen: Vec<&&RawEstate> = members.iter().filter(|e| pred(e)).collect();
                (chosen.len() as u64, chosen.iter().map(|e| e.households).sum())
            };
            let renovated = sum(&|e| e.renovation_year == Some(year));
            let cumulative = sum(&|e| e.renovation_year.is_some_and(|r| r >= from && r <= year));
            let in_stock = |e: &RawEstate| e.built_year.is_some_and(|b| b < before_year);
            let stock = sum(&|e| in_stock(e));
            let done = sum(&|e| in_stock(e) && e.renovation_year.is_some_and(|r| r <= year));
            assert_eq!((row.estates_renovated, row.households_renovated), renovated, "{what}: renovated");
            assert_eq!((row.estates_cumulative, row.households_cumulative), cumulative, "{what}: cumulative");
            assert_eq!((row.stock_estates, row.stock_households), stock, "{what}: stock");
            assert_eq!((row.stock_done_estates, row.stock_done_households), done, "{what}: done");
            close(row.stock_done_estates_pct, pct(done.0, stock.0), &format!("{what}: done %"));
            close(row.stock_done_households_pct, pct(done.1, stock.1), &format!("{what}: households done %"));
            let target = renovation_targets.get(&(year, place.clone()));
            let t_estates = target_num(target, "estates");
            close_opt(row.target_estates.map(|t| t as f64), t_estates, &format!("{what}: target"));
            close_opt(row.estates_achieved_pct, t_estates.filter(|&t| t > 0.0).map(|t| renovated.0 as f64 / t * 100.0), &format!("{what}: achieved"));
            let t_households = target_num(target, "households");
            close_opt(row.households_achieved_pct, t_households.filter(|&t| t > 0.0).map(|t| renovated.1 as f64 / t * 100.0), &format!("{what}: households achieved"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The demo city.

const DEMO_TARGETS: &str = "data/demo/targets.toml";

struct Demo {
    loaded: Loaded,
    catalogue: Catalogue,
    targets_toml: String,
    targets: Targets,
}

fn demo() -> Demo {
    let config = Config::from_file(&repo("data/demo/gapmap.toml")).expect("demo config");
    let catalogue = gapmap::cli::catalogue_for(&config).expect("catalogue");
    let options = LoadOptions { catalogue: &catalogue, default_crs: None, working_crs: None };
    let loaded = load(config.estates.as_ref().expect("estates"), &config.facilities, &options, &|_| {}).expect("demo loads");
    assert!(loaded.report.rejected.is_empty(), "the demo loads cleanly");
    let targets_toml = std::fs::read_to_string(repo(DEMO_TARGETS)).expect("demo targets");
    let targets = report::targets::load_targets(&repo(DEMO_TARGETS), &catalogue).expect("valid targets");
    Demo { loaded, catalogue, targets_toml, targets }
}

fn demo_report(d: &Demo, from: i32, to: i32) -> Report {
    report::build_report(&ReportInput {
        estates: &d.loaded.estates,
        facilities: &d.loaded.facilities,
        metric: &StraightLine::new(&d.loaded.facilities, DistanceFrom::Boundary),
        timeline: None,
        catalogue: &d.catalogue,
        working_crs: &d.loaded.working_crs,
        params: TrendParams::new(from, to),
        targets: &d.targets,
        targets_source: Some("targets.toml"),
        title: None,
    })
    .expect("the report builds")
}

/// The Shijiazhuang 2021 figures (../shared/DOMAIN.md), the coverage they reached, every
/// figure of 2018–2021 recomputed, and every format rendered from the same report.
#[test]
fn demo_2021_report() {
    let d = demo();
    let report = demo_report(&d, 2018, 2021);
    let row = |kind: &str| report.trend.row(2021, kind).expect("a 2021 row");
    assert_eq!(row("day_care").opened, 304);
    assert_eq!(row("market").opened, 15);
    assert_eq!(row("parking").opened, 205);
    assert_eq!(row("ev_charger").opened, 685);
    assert_eq!(row("nursery").opened, 48);
    assert_eq!(row("nursery").capacity_added, 7262.0);
    // The 304 day-care stations moved coverage by a large step, short of the claimed full coverage.
    assert!(row("day_care").estates_covered_pct_change > 15.0, "{}", row("day_care").estates_covered_pct_change);
    assert_eq!(row("day_care").coverage_estates_met, Some(false));
    assert!(report.trend.unmatched_targets.is_empty(), "{:?}", report.trend.unmatched_targets);

    let kinds: Vec<(String, f64)> = d.catalogue.kinds.iter().map(|k| (k.key.clone(), k.radius_m)).collect();
    let keys: Vec<String> = kinds.iter().map(|k| k.0.clone()).collect();
    let (estates, facilities) = raw_city(&repo("data/demo/estates.geojson"), &repo("data/demo/facilities.geojson"), &d.loaded, &keys);
    check_every_figure(&report, &estates, &facilities, &kinds, &d.targets_toml);

    let md = report::render_markdown(&report);
    assert!(md.contains("**Elderly day-care station** (`day_care`): 304 opened (target 300: 101.3 %)"), "{}", &md[..2000]);
    assert!(md.contains("48 opened (target 50: 96.0 %), 7,262 places added"));
    check_html(&report);
    check_xlsx(&report);
    let json: Value = serde_json::from_str(&report::render_json(&report)).expect("valid JSON");
    assert_eq!(json["trend"]["gaps"].as_array().map(Vec::len), Some(report.trend.gaps.len()));
}

/// A district target and a target outside the period: matched, and listed as unmatched.
#[test]
fn one_year_report_and_unmatched_targets() {
    let mut d = demo();
    d.targets.facilities.push(gapmap::analysis::FacilityTarget {
        year: 2021,
        kind: "market".into(),
        district: Some("no such district".into()),
        new_facilities: Some(1),
        capacity_added: None,
        coverage_estates_pct: None,
        coverage_households_pct: None,
    });
    let report = demo_report(&d, 2021, 2021);
    assert_eq!(report.trend.overall.len(), d.catalogue.len());
    let district = report.trend.by_district.iter().find(|t| t.district == "长安区").expect("长安区");
    let day_care = district.kinds.iter().find(|r| r.kind == "day_care").expect("day_care");
    assert_eq!(day_care.target_coverage_estates_pct, Some(100.0));
    assert_eq!(
        report.trend.unmatched_targets,
        [
            "target 2020 day_care: 2020 is outside the report period",
            "target 2020 nursery: 2020 is outside the report period",
            "target 2021 market in no such district: no estate is in district `no such district`",
            "renovation target 2018: 2018 is outside the report period",
            "renovation target 2019: 2019 is outside the report period",
            "renovation target 2020: 2020 is outside the report period",
        ]
    );
    // A one-year period still draws its charts.
    check_html(&report);
}

fn check_html(report: &Report) {
    let html = report::render_html(report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("http://") && !html.contains("https://"), "no external reference");
    assert!(!html.contains("<script") && !html.contains(" src=") && !html.contains("<link"), "nothing loaded from elsewhere");
    assert!(html.contains("@media print") && html.contains("@page"), "print styles");
    assert!(!html.contains("chart not drawn"), "every chart drew");
    let svgs = html.matches("<svg").count();
    // Coverage trend, targets, renovation, the gap map and one map per kind with a target.
    let target_kinds = report
        .trend
        .overall
        .iter()
        .filter(|r| r.year == report.year && (r.target_new_facilities.is_some() || r.target_capacity_added.is_some() || r.target_coverage_estates_pct.is_some() || r.target_coverage_households_pct.is_some()))
        .count();
    let target_chart = usize::from(target_kinds > 0 || report.trend.renovation_row(report.year).is_some_and(|r| r.target_estates.is_some() || r.target_households.is_some()));
    assert_eq!(svgs, 3 + target_chart + target_kinds, "charts and maps");
    assert!(html.contains("Estates covered at year end, by kind"));
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
}

fn cell_f64(cell: &Data) -> f64 {
    match cell {
        Data::Float(x) => *x,
        Data::Int(n) => *n as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn check_xlsx(report: &Report) {
    let bytes = report::render_xlsx(report).expect("the workbook builds");
    let mut book = Xlsx::new(Cursor::new(bytes)).expect("a valid XLSX");
    let year = report.year;
    assert_eq!(
        book.sheet_names(),
        ["Report", &format!("Summary {year}"), "Kinds by year", "Districts by year", "Renovation", "Renovation by district", &format!("Gaps {year}"), "Kinds"]
    );
    let cover = book.worksheet_range("Report").expect("cover sheet");
    assert_eq!(cover.get((0, 0)), Some(&Data::String(report.title.clone())));

    // Every row of the year-by-kind sheet equals the report's row.
    let sheet = book.worksheet_range("Kinds by year").expect("kinds sheet");
    let header: Vec<String> = sheet.rows().next().expect("header").iter().map(ToString::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name} in {header:?}"));
    assert_eq!(sheet.height(), report.trend.overall.len() + 1);
    for (r, row) in sheet.rows().skip(1).zip(&report.trend.overall) {
        assert_eq!(cell_f64(&r[col("Year")]), f64::from(row.year));
        assert_eq!(r[col("Kind")], Data::String(row.kind.clone()));
        assert_eq!(cell_f64(&r[col("Opened")]), row.opened as f64);
        assert_eq!(cell_f64(&r[col("Open at year end")]), row.facilities_total as f64);
        assert_eq!(cell_f64(&r[col("Estates covered")]), row.estates_covered as f64);
        close(cell_f64(&r[col("Estates covered %")]), row.estates_covered_pct, "xlsx covered %");
        close(cell_f64(&r[col("Capacity added")]), row.capacity_added, "xlsx capacity");
        match row.target_new_facilities {
            Some(t) => assert_eq!(cell_f64(&r[col("Target new")]), t as f64),
            None => assert_eq!(r[col("Target new")], Data::Empty),
        }
        match row.coverage_estates_met {
            Some(met) => assert_eq!(r[col("Met")], Data::Bool(met)),
            None => assert_eq!(r[col("Met")], Data::Empty),
        }
    }
    let districts = book.worksheet_range("Districts by year").expect("districts sheet");
    assert_eq!(districts.height(), 1 + report.trend.by_district.iter().map(|d| d.kinds.len()).sum::<usize>());
    let renovation = book.worksheet_range("Renovation").expect("renovation sheet");
    for (r, row) in renovation.rows().skip(1).zip(&report.trend.renovation) {
        assert_eq!(cell_f64(&r[0]), f64::from(row.year));
        assert_eq!(cell_f64(&r[1]), row.estates_renovated as f64);
    }
    assert_eq!(renovation.height(), report.trend.renovation.len() + 1);
    let gaps = book.worksheet_range(&format!("Gaps {year}")).expect("gaps sheet");
    assert_eq!(gaps.height(), report.trend.gaps.len() + 1, "every gap, not a shortened list");
    for (r, g) in gaps.rows().skip(1).zip(&report.trend.gaps).take(50) {
        assert_eq!(r[0], Data::String(g.kind.clone()));
        assert_eq!(r[1], Data::String(g.estate_id.to_string()));
        match g.nearest_m {
            Some(m) => close(cell_f64(&r[5]), m, "xlsx nearest"),
            None => assert_eq!(r[5], Data::Empty),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A small generated city: golden snapshots and the same recomputation.

const SMALL_TARGETS: &str = r#"
[[target]]
year = 2021
kind = "day_care"
new_facilities = 2
coverage_estates_pct = 100

[[target]]
year = 2020
kind = "nursery"
new_facilities = 1
capacity_added = 150
coverage_households_pct = 50

[[target]]
year = 2021
kind = "market"
new_facilities = 0

[[renovation]]
year = 2021
estates = 2
households = 500
"#;

/// The small city keeps four kinds so that its snapshots stay readable.
const SMALL_KINDS: [&str; 4] = ["day_care", "nursery", "market", "ev_charger"];

struct Small {
    _dir: tempfile::TempDir,
    estates_path: PathBuf,
    facilities_path: PathBuf,
    loaded: Loaded,
    facilities: Vec<Facility>,
    catalogue: Catalogue,
}

fn small_city() -> Small {
    let dir = tempfile::tempdir().expect("a temp dir");
    let city = gapmap::generate::generate_city(&gapmap::generate::CityParams {
        estates: 24,
        facilities: 150,
        seed: 7,
        ..gapmap::generate::CityParams::default()
    });
    let estates_path = dir.path().join("estates.geojson");
    let facilities_path = dir.path().join("facilities.geojson");
    gapmap::io::geojson::write_feature_collection(&estates_path, &city.estates, Some("estates")).expect("written");
    gapmap::io::geojson::write_feature_collection(&facilities_path, &city.facilities, Some("facilities")).expect("written");
    let full = gapmap::io::catalogue::builtin_catalogue();
    let options = LoadOptions { catalogue: &full, default_crs: None, working_crs: None };
    let loaded = load(&SourceConfig::from_path(&estates_path), &[SourceConfig::from_path(&facilities_path)], &options, &|_| {}).expect("loads");
    assert!(loaded.report.rejected.is_empty());
    // A catalogue of four kinds, and the facilities of those kinds re-indexed into it.
    let catalogue = Catalogue { kinds: SMALL_KINDS.iter().map(|k| full.spec(full.kind_id(k).expect("known")).clone()).collect(), ..full.clone() };
    let facilities = loaded
        .facilities
        .iter()
        .filter_map(|f| {
            let key = &full.spec(f.kind).key;
            catalogue.kind_id(key).map(|kind| Facility { kind, ..f.clone() })
        })
        .collect();
    Small { _dir: dir, estates_path, facilities_path, loaded, facilities, catalogue }
}

fn small_report(s: &Small, targets: &Targets) -> Report {
    let mut report = report::build_report(&ReportInput {
        estates: &s.loaded.estates,
        facilities: &s.facilities,
        metric: &StraightLine::new(&s.facilities, DistanceFrom::Boundary),
        timeline: None,
        catalogue: &s.catalogue,
        working_crs: &s.loaded.working_crs,
        params: TrendParams::new(2020, 2021),
        targets,
        targets_source: Some("targets.toml"),
        title: Some("Small city 2021"),
    })
    .expect("the report builds");
    // Keep the golden files free of the version number.
    report.generator = "gapmap".into();
    report
}

#[test]
fn small_city_figures_and_snapshots() {
    let s = small_city();
    let targets = report::targets::parse_targets_toml(SMALL_TARGETS, Path::new("targets.toml"), &s.catalogue).expect("valid");
    let report = small_report(&s, &targets);
    assert!(!report.trend.gaps.is_empty() && report.trend.by_district.len() > 1, "the small city exercises gaps and districts");
    let kinds: Vec<(String, f64)> = s.catalogue.kinds.iter().map(|k| (k.key.clone(), k.radius_m)).collect();
    let keys: Vec<String> = SMALL_KINDS.iter().map(|&k| k.to_owned()).collect();
    let (estates, facilities) = raw_city(&s.estates_path, &s.facilities_path, &s.loaded, &keys);
    check_every_figure(&report, &estates, &facilities, &kinds, SMALL_TARGETS);
    assert_eq!(facilities.len(), s.facilities.len());
    assert!(facilities.iter().all(|f| s.facilities.iter().any(|g| g.id.to_string() == f.id)));

    insta::assert_snapshot!("small_city_md", report::render_markdown(&report));
    insta::assert_snapshot!("small_city_json", report::render_json(&report));
    let csv = report::render_csv(&report);
    let names: Vec<&str> = csv.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "report-2021-summary.csv",
            "report-2021-kinds.csv",
            "report-2021-districts.csv",
            "report-2021-renovation.csv",
            "report-2021-renovation-districts.csv",
            "report-2021-gaps.csv",
            "report-2021-kinds-legend.csv",
        ]
    );
    insta::assert_snapshot!("small_city_kinds_csv", &csv[1].1);
    check_html(&report);
    check_xlsx(&report);
}

// ---------------------------------------------------------------------------------------------
// The command line.

fn gapmap_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("gapmap").expect("the binary");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars() {
        if key.starts_with("GAPMAP_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn cli_writes_every_format() {
    let out = tempfile::tempdir().expect("a temp dir");
    let assert = gapmap_cmd()
        .args(["report", "--config", "data/demo/gapmap.toml", "--targets", DEMO_TARGETS, "--year", "2021", "--from", "2020", "--out"])
        .arg(out.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let mut files: Vec<String> = std::fs::read_dir(out.path()).expect("listed").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "report-2021-districts.csv",
            "report-2021-gaps.csv",
            "report-2021-kinds-legend.csv",
            "report-2021-kinds.csv",
            // The demo config has a [programme]: its tables and the link to coverage.
            "report-2021-programme-batches.csv",
            "report-2021-programme-coverage_gaps.csv",
            "report-2021-programme-coverage_links.csv",
            "report-2021-programme-districts.csv",
            "report-2021-programme-funding.csv",
            "report-2021-programme-gate.csv",
            "report-2021-programme-progress.csv",
            "report-2021-programme-projects.csv",
            "report-2021-programme-rework.csv",
            "report-2021-programme-streets.csv",
            "report-2021-programme-wishes_city.csv",
            "report-2021-programme-wishes_districts.csv",
            "report-2021-programme-wishes_estates.csv",
            "report-2021-renovation-districts.csv",
            "report-2021-renovation.csv",
            "report-2021-summary.csv",
            "report-2021.html",
            "report-2021.json",
            "report-2021.md",
            "report-2021.xlsx",
        ],
        "{stderr}"
    );
    // The out-of-period targets are warned about.
    assert!(stderr.contains("warning: target 2020") || stderr.contains("renovation target 2018"), "{stderr}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("report-2021.json")).expect("read")).expect("JSON");
    let day_care = json["trend"]["overall"].as_array().expect("rows").iter().find(|r| r["year"] == 2021 && r["kind"] == "day_care").expect("row");
    assert_eq!(day_care["opened"], 304);
    let summary = std::fs::read_to_string(out.path().join("report-2021-summary.csv")).expect("read");
    assert!(summary.starts_with("year,kind,opened,target_new_facilities,"), "{summary}");
    assert!(summary.contains("\n2021,market,15,15,100,"), "{summary}");
    // The programme's batches up to the report year, counted from the raw projects CSV.
    let projects = std::fs::read_to_string(repo("data/demo/projects.csv")).expect("projects");
    let batched = projects.lines().skip(1).filter(|l| l.split(',').nth(2).and_then(|y| y.parse::<i32>().ok()).is_some_and(|y| y <= 2021)).count();
    assert_eq!(json["programme"]["programme"]["total"]["projects"], batched);
}

#[test]
fn cli_names_bad_targets() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let targets = dir.path().join("targets.toml");
    std::fs::write(&targets, "[[target]]\nyear = 2021\nkind = \"daycare\"\nnew_facilities = 3\n").expect("written");
    let assert = gapmap_cmd()
        .args(["report", "--config", "data/demo/gapmap.toml", "--year", "2021", "--format", "md", "--targets"])
        .arg(&targets)
        .arg("--out")
        .arg(dir.path())
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("targets.toml, line 3: `kind`: unknown facility kind `daycare`"), "{stderr}");

    let assert = gapmap_cmd()
        .args(["report", "--config", "data/demo/gapmap.toml", "--year", "2021", "--from", "2022", "--out"])
        .arg(dir.path())
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("--from 2022 --year 2021"), "{stderr}");
}
