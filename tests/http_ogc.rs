//! In-process tests of `gapmap serve`: every endpoint and every error answer through
//! `router(state).oneshot(request)`, on a small generated city.
#![expect(clippy::unwrap_used, clippy::cast_possible_truncation, reason = "tests panic on unexpected errors; counts are small")]

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::http::{get_with, send, write_city, Answer, SharedCity};
use gapmap::http::{load_dataset, AppState, DATA_VERSION_HEADER};
use geo::{BoundingRect, Contains, Intersects};
use serde_json::Value;

const TOKEN: &str = "test-token-0123456789";

/// The shared city (generated once per test binary).
static CITY: SharedCity = SharedCity::new(150, 450, 11, Some(TOKEN));

async fn get(uri: &str) -> Answer {
    send(&CITY.state(), Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn get_json(uri: &str) -> Value {
    let a = get(uri).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    a.json()
}

fn features(page: &Value) -> &Vec<Value> {
    page["features"].as_array().unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    features(page).iter().map(|f| f["id"].to_string()).collect()
}

fn link<'a>(doc: &'a Value, rel: &str) -> Option<&'a str> {
    doc["links"].as_array().unwrap().iter().find(|l| l["rel"] == rel).map(|l| l["href"].as_str().unwrap())
}

/// Path and query of an absolute link.
fn local(href: &str) -> String {
    let rest = href.strip_prefix("http://").unwrap();
    rest[rest.find('/').unwrap()..].to_owned()
}

fn geometry(feature: &Value) -> geo::Geometry<f64> {
    let g: geojson::Geometry = serde_json::from_value(feature["geometry"].clone()).unwrap();
    g.try_into().unwrap()
}

/// Every feature of a collection (one big page).
async fn all(collection: &str, extra: &str) -> Value {
    get_json(&format!("/collections/{collection}/items?limit=10000{extra}")).await
}

#[tokio::test]
async fn landing_page_links_and_html() {
    let doc = get_json("/").await;
    for rel in ["self", "service-desc", "service-doc", "conformance", "data"] {
        assert!(link(&doc, rel).is_some(), "missing {rel}: {doc}");
    }
    assert!(link(&doc, "service-desc").unwrap().ends_with("/api"));
    for html in [get("/?f=html").await, get_with(&CITY.state(), "/", &[("accept", "text/html,application/xhtml+xml")]).await] {
        assert_eq!(html.status, StatusCode::OK);
        assert!(html.header("content-type").unwrap().starts_with("text/html"));
        assert!(html.text().contains("<a href=\"/collections?f=html\">"));
    }
    get("/?f=xml").await.assert_error(StatusCode::BAD_REQUEST, "f");
    get("/?limit=3").await.assert_error(StatusCode::BAD_REQUEST, "limit");
}

#[tokio::test]
async fn conformance_classes() {
    let doc = get_json("/conformance").await;
    let classes: Vec<&str> = doc["conformsTo"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for c in ["conf/core", "conf/geojson", "conf/oas30", "conf/html", "features-2/1.0/conf/crs", "conf/queryables", "conf/features-filter", "cql2-text", "basic-spatial-functions"] {
        assert!(classes.iter().any(|x| x.contains(c)), "{c} missing");
    }
    assert!(get("/conformance?f=html").await.text().contains("ogcapi-features-1/1.0/conf/core"));
}

#[tokio::test]
async fn openapi_lists_every_parameter() {
    let a = get("/api").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.header("content-type").unwrap().starts_with("application/vnd.oai.openapi+json"));
    let doc = a.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let params: Vec<&str> = doc["paths"]["/collections/facilities/items"]["get"]["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for p in ["f", "bbox", "bbox-crs", "limit", "offset", "crs", "filter", "filter-lang", "sortby", "datetime", "kind", "district"] {
        assert!(params.contains(&p), "{p} missing from {params:?}");
    }
    let limit = doc["paths"]["/collections/estates/items"]["get"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["schema"]["maximum"], 10_000);
    assert_eq!(limit["schema"]["default"], 100);
    for path in ["/coverage", "/estates/{estateId}/coverage", "/collections/gaps/items/{featureId}", "/collections/estates/queryables", "/health"] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(get("/api?f=html").await.text().contains("/collections/estates/items"));
}

#[tokio::test]
async fn collections_in_both_languages() {
    let doc = get_json("/collections").await;
    let list = doc["collections"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(names, ["estates", "facilities", "gaps", "service-areas", "districts"]);
    for c in list {
        for key in ["title_zh", "title_en", "description_zh", "description_en"] {
            assert!(!c[key].as_str().unwrap().is_empty());
        }
        assert!(c["links"].as_array().unwrap().iter().any(|l| l["rel"] == "items"));
        assert_eq!(c["extent"]["spatial"]["bbox"][0].as_array().unwrap().len(), 4);
    }
    let zh = get_with(&CITY.state(), "/collections/estates", &[("accept-language", "zh-CN,zh;q=0.9")]).await.json();
    assert_eq!(zh["title"], "小区及其设施覆盖");
    let en = get_json("/collections/estates").await;
    assert_eq!(en["title"], "Estates and their facility coverage");
    assert!(en["crs"].as_array().unwrap().iter().any(|c| c == "http://www.opengis.net/def/crs/EPSG/0/3857"));
    assert!(get("/collections?f=html").await.text().contains("service-areas"));
    assert!(get("/collections/gaps?f=html").await.text().contains("覆盖缺口"));
    assert!(get_json("/collections/facilities").await["extent"]["temporal"]["interval"].is_array());
    get("/collections/schools").await.assert_error(StatusCode::NOT_FOUND, "schools");
    get("/collections/schools/items").await.assert_error(StatusCode::NOT_FOUND, "schools");
}

#[tokio::test]
async fn paging_through_next_returns_every_feature_once() {
    let first = get_json("/collections/facilities/items?limit=70&kind=parking").await;
    let matched = first["numberMatched"].as_u64().unwrap();
    assert!(matched > 70, "{matched}");
    // No timeStamp (optional in OGC API – Features): the same page is the same bytes on every
    // replica and on every request; dataVersion says which data it is.
    assert!(first.get("timeStamp").is_none(), "{first}");
    assert!(first["dataVersion"].as_u64().is_some_and(|v| v < 1 << 53), "{first}");
    assert!(link(&first, "prev").is_none());
    let mut seen = ids(&first);
    let mut page = first;
    let mut pages = 1;
    while let Some(next) = link(&page, "next") {
        assert!(next.contains("kind=parking") && next.contains("limit=70"), "{next}");
        page = get_json(&local(next)).await;
        assert!(link(&page, "prev").is_some());
        assert_eq!(page["numberReturned"].as_u64().unwrap() as usize, features(&page).len());
        seen.extend(ids(&page));
        pages += 1;
        assert!(pages < 100);
    }
    assert_eq!(seen.len() as u64, matched);
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
    // Default limit and order by id.
    let default = get_json("/collections/estates/items").await;
    assert_eq!(default["numberReturned"], 100);
    assert_eq!(default["numberMatched"], 150);
    let numbers: Vec<i64> = features(&default).iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    let prev = get_json("/collections/estates/items?offset=100&limit=30").await;
    assert_eq!(local(link(&prev, "prev").unwrap()), "/collections/estates/items?offset=70&limit=30&f=json");
}

#[tokio::test]
async fn limit_and_offset_values() {
    get("/collections/estates/items?limit=0").await.assert_error(StatusCode::BAD_REQUEST, "limit");
    get("/collections/estates/items?limit=abc").await.assert_error(StatusCode::BAD_REQUEST, "limit");
    get("/collections/estates/items?offset=-1").await.assert_error(StatusCode::BAD_REQUEST, "offset");
    get("/collections/estates/items?limit=1&limit=2").await.assert_error(StatusCode::BAD_REQUEST, "more than once");
    get("/collections/estates/items?colour=red").await.assert_error(StatusCode::BAD_REQUEST, "colour");
    let capped = CITY.state_with(|c| {
        c.serve.max_limit = 20;
        c.serve.default_limit = 10;
    });
    let page = get_with(&capped, "/collections/estates/items?limit=500", &[]).await.json();
    assert_eq!(page["numberReturned"], 20);
    let past = get_json("/collections/estates/items?offset=1000").await;
    assert_eq!(past["numberReturned"], 0);
    assert_eq!(past["numberMatched"], 150);
}

#[tokio::test]
async fn bbox_matches_a_brute_force_intersection() {
    let everything = all("estates", "").await;
    let extent = geo::Rect::new((114.49, 38.03), (114.52, 38.05));
    let expected: Vec<String> = features(&everything).iter().filter(|f| geometry(f).intersects(&extent)).map(|f| f["id"].to_string()).collect();
    assert!(!expected.is_empty() && expected.len() < 150, "{}", expected.len());
    let page = all("estates", "&bbox=114.49,38.03,114.52,38.05").await;
    assert_eq!(ids(&page), expected);
    assert_eq!(page["numberMatched"].as_u64().unwrap() as usize, expected.len());
    for bad in ["1,2,3", "a,b,c,d", "10,10,0,0", "0,0,1,NaN"] {
        get(&format!("/collections/estates/items?bbox={bad}")).await.assert_error(StatusCode::BAD_REQUEST, "bbox");
    }
    get("/collections/estates/items?bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857").await.assert_error(StatusCode::BAD_REQUEST, "bbox-crs");
}

#[tokio::test]
async fn bbox_crs_and_output_crs() {
    let crs84 = all("facilities", "&bbox=114.49,38.03,114.52,38.05").await;
    // The same box in Web Mercator (axes map one to one, so the same features).
    let (x0, y0) = (114.49_f64.to_radians() * 6_378_137.0, (std::f64::consts::FRAC_PI_4 + 38.03_f64.to_radians() / 2.0).tan().ln() * 6_378_137.0);
    let (x1, y1) = (114.52_f64.to_radians() * 6_378_137.0, (std::f64::consts::FRAC_PI_4 + 38.05_f64.to_radians() / 2.0).tan().ln() * 6_378_137.0);
    let mercator = all("facilities", &format!("&bbox={x0},{y0},{x1},{y1}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857")).await;
    assert_eq!(ids(&mercator), ids(&crs84));
    // EPSG:4326 is latitude first.
    let latlon = all("facilities", "&bbox=38.03,114.49,38.05,114.52&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326").await;
    assert_eq!(ids(&latlon), ids(&crs84));

    let plain = get("/collections/facilities/items?limit=3").await;
    assert_eq!(plain.header("content-crs"), Some("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"));
    let lonlat = plain.json()["features"][0]["geometry"]["coordinates"].clone();
    let a = get("/collections/facilities/items?limit=3&crs=http://www.opengis.net/def/crs/EPSG/0/4326").await;
    assert_eq!(a.header("content-crs"), Some("<http://www.opengis.net/def/crs/EPSG/0/4326>"));
    let swapped = a.json()["features"][0]["geometry"]["coordinates"].clone();
    assert_eq!((swapped[0].clone(), swapped[1].clone()), (lonlat[1].clone(), lonlat[0].clone()));
    let m = get("/collections/facilities/items?limit=3&crs=EPSG:3857").await;
    assert_eq!(m.header("content-crs"), Some("<http://www.opengis.net/def/crs/EPSG/0/3857>"));
    let xy = m.json()["features"][0]["geometry"]["coordinates"].clone();
    let expected_x = lonlat[0].as_f64().unwrap().to_radians() * 6_378_137.0;
    assert!((xy[0].as_f64().unwrap() - expected_x).abs() < 0.01, "{xy} vs {expected_x}");
    let gk = get_json("/collections/estates/items?limit=2&crs=http://www.opengis.net/def/crs/EPSG/0/4547").await;
    assert!(gk["features"][0]["geometry"]["coordinates"][0][0][0][0].as_f64().unwrap() > 100_000.0);
    let one = get("/collections/estates/items/1?crs=http://www.opengis.net/def/crs/EPSG/0/4490").await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.json()["geometry"]["coordinates"][0][0][0][0].as_f64().unwrap() < 60.0, "latitude first");
    get("/collections/estates/items?crs=EPSG:9999").await.assert_error(StatusCode::BAD_REQUEST, "crs");
    get("/collections/estates/items?bbox=0,0,1,1&bbox-crs=EPSG:1").await.assert_error(StatusCode::BAD_REQUEST, "bbox-crs");
}

#[tokio::test]
async fn property_filters_and_datetime() {
    let everything = all("facilities", "").await;
    let markets = all("facilities", "&kind=market").await;
    let expected = features(&everything).iter().filter(|f| f["properties"]["kind"] == "market").count();
    assert_eq!(features(&markets).len(), expected);
    assert!(expected > 0);
    let range = all("facilities", "&datetime=2010-01-01T00:00:00Z/2015-12-31T23:59:59Z").await;
    let expected: Vec<String> = features(&everything)
        .iter()
        .filter(|f| f["properties"]["opened_year"].as_i64().is_some_and(|y| (2010..=2015).contains(&y)))
        .map(|f| f["id"].to_string())
        .collect();
    assert_eq!(ids(&range), expected);
    let open = all("facilities", "&datetime=../2000-06-01").await;
    assert!(features(&open).iter().all(|f| f["properties"]["opened_year"].as_i64().unwrap() <= 2000));
    let instant = all("facilities", "&datetime=2012-05-01").await;
    assert!(features(&instant).iter().all(|f| f["properties"]["opened_year"] == 2012));
    get("/collections/facilities/items?datetime=last-year").await.assert_error(StatusCode::BAD_REQUEST, "datetime");
    get("/collections/estates/items?datetime=2012-05-01").await.assert_error(StatusCode::BAD_REQUEST, "datetime");
    let district = features(&all("estates", "").await)[0]["properties"]["district"].as_str().unwrap().to_owned();
    let in_district = all("estates", &format!("&district={}", gapmap::http::params::encode(&district))).await;
    assert!(features(&in_district).iter().all(|f| f["properties"]["district"] == district.as_str()));
}

#[tokio::test]
async fn cql2_filters() {
    let everything = all("facilities", "").await;
    let count = |pred: &dyn Fn(&Value) -> bool| features(&everything).iter().filter(|f| pred(&f["properties"])).count();
    let cases: Vec<(&str, usize)> = vec![
        ("kind = 'market' AND capacity > 50", count(&|p| p["kind"] == "market" && p["capacity"].as_f64().unwrap() > 50.0)),
        ("kind IN ('market','parking') OR opened_year < 1995", count(&|p| p["kind"] == "market" || p["kind"] == "parking" || p["opened_year"].as_i64().unwrap() < 1995)),
        ("NOT kind = 'parking' AND capacity BETWEEN 10 AND 100", count(&|p| p["kind"] != "parking" && (10.0..=100.0).contains(&p["capacity"].as_f64().unwrap()))),
        ("name LIKE '%幼儿园'", count(&|p| p["name"].as_str().unwrap().ends_with("幼儿园"))),
    ];
    for (filter, expected) in cases {
        let page = all("facilities", &format!("&filter={}", gapmap::http::params::encode(filter))).await;
        assert_eq!(page["numberMatched"].as_u64().unwrap() as usize, expected, "{filter}");
        assert!(expected > 0, "{filter} matches nothing");
    }
    let spatial = all("estates", &format!("&filter={}&filter-lang=cql2-text", gapmap::http::params::encode("S_INTERSECTS(geometry, BBOX(114.49,38.03,114.52,38.05))"))).await;
    assert_eq!(ids(&spatial), ids(&all("estates", "&bbox=114.49,38.03,114.52,38.05").await));
    let polygon = all("estates", &format!("&filter={}", gapmap::http::params::encode("S_INTERSECTS(geometry, POLYGON((114.49 38.03,114.52 38.03,114.52 38.05,114.49 38.05,114.49 38.03)))"))).await;
    assert_eq!(ids(&polygon), ids(&spatial));
    get("/collections/facilities/items?filter=kind%20%3D").await.assert_error(StatusCode::BAD_REQUEST, "filter");
    get("/collections/facilities/items?filter=colour%3D'red'").await.assert_error(StatusCode::BAD_REQUEST, "colour");
    get("/collections/facilities/items?filter=kind%3D'x'&filter-lang=cql2-json").await.assert_error(StatusCode::BAD_REQUEST, "filter-lang");
    get("/collections/facilities/items?filter-lang=cql2-text").await.assert_error(StatusCode::BAD_REQUEST, "filter");
}

#[tokio::test]
async fn sortby_orders_pages() {
    let page = get_json("/collections/facilities/items?limit=200&sortby=-capacity,id").await;
    let caps: Vec<f64> = features(&page).iter().map(|f| f["properties"]["capacity"].as_f64().unwrap()).collect();
    assert!(caps.windows(2).all(|w| w[0] >= w[1]));
    let next = get_json(&local(link(&page, "next").unwrap())).await;
    assert!(next["features"][0]["properties"]["capacity"].as_f64().unwrap() <= *caps.last().unwrap());
    let by_kind = get_json("/collections/facilities/items?limit=50&sortby=%2Bkind").await;
    let kinds: Vec<&str> = features(&by_kind).iter().map(|f| f["properties"]["kind"].as_str().unwrap()).collect();
    assert!(kinds.windows(2).all(|w| w[0] <= w[1]));
    get("/collections/facilities/items?sortby=colour").await.assert_error(StatusCode::BAD_REQUEST, "colour");
    get("/collections/facilities/items?sortby=-").await.assert_error(StatusCode::BAD_REQUEST, "sortby");
}

#[tokio::test]
async fn single_features_and_404s() {
    let f = get("/collections/estates/items/7").await;
    assert_eq!(f.status, StatusCode::OK);
    assert_eq!(f.header("content-type"), Some("application/geo+json"));
    let doc = f.json();
    assert_eq!(doc["id"], 7);
    assert_eq!(doc["type"], "Feature");
    assert!(doc["properties"]["market_covered"].is_boolean());
    assert!(link(&doc, "collection").is_some());
    let gaps = get_json("/collections/gaps/items?limit=1").await;
    let gap_id = gaps["features"][0]["id"].as_str().unwrap().to_owned();
    let gap = get_json(&format!("/collections/gaps/items/{}", gapmap::http::params::encode(&gap_id))).await;
    assert_eq!(gap["id"], gap_id.as_str());
    for key in ["kind", "radius_m", "nearest_id", "distance_m"] {
        assert!(gap["properties"].get(key).is_some(), "{key}");
    }
    assert!(get("/collections/estates/items/7?f=html").await.text().contains("<table>"));
    get("/collections/estates/items/999999").await.assert_error(StatusCode::NOT_FOUND, "999999");
    get("/collections/nope/items/1").await.assert_error(StatusCode::NOT_FOUND, "nope");
    get("/collections/estates/items/7?bbox=0,0,1,1").await.assert_error(StatusCode::BAD_REQUEST, "bbox");
    get("/no/such/path").await.assert_error(StatusCode::NOT_FOUND, "/no/such/path");
}

#[tokio::test]
async fn queryables_describe_columns() {
    let a = get("/collections/facilities/queryables").await;
    assert_eq!(a.header("content-type"), Some("application/schema+json"));
    let doc = a.json();
    assert_eq!(doc["type"], "object");
    assert_eq!(doc["properties"]["kind"]["type"], "string");
    assert_eq!(doc["properties"]["opened_year"]["type"], "integer");
    assert_eq!(doc["properties"]["capacity"]["type"], "number");
    assert!(doc["properties"]["geometry"]["format"].as_str().unwrap().contains("point"));
    let estates = get_json("/collections/estates/queryables").await;
    assert_eq!(estates["properties"]["market_covered"]["type"], "boolean");
    assert!(get("/collections/estates/queryables?f=html").await.text().contains("market_covered"));
    get("/collections/nope/queryables").await.assert_error(StatusCode::NOT_FOUND, "nope");
}

#[tokio::test]
async fn html_items_pages_escape_and_link() {
    let a = get_with(&CITY.state(), "/collections/facilities/items?limit=5", &[("accept", "text/html")]).await;
    assert_eq!(a.status, StatusCode::OK);
    let text = a.text();
    assert!(text.contains("<table>") && text.contains("rel=\"next\""), "{text}");
    assert!(!text.contains("<script"));
    assert_eq!(gapmap::http::html::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

#[tokio::test]
async fn service_areas_cover_their_facilities() {
    let areas = all("service-areas", "").await;
    let facilities = all("facilities", "").await;
    assert_eq!(features(&areas).len(), 11);
    for area in features(&areas) {
        let kind = area["properties"]["kind"].as_str().unwrap();
        let shape = geometry(area);
        assert!(matches!(shape, geo::Geometry::MultiPolygon(_)));
        let members: Vec<_> = features(&facilities).iter().filter(|f| f["properties"]["kind"] == kind).collect();
        assert_eq!(area["properties"]["facilities"].as_u64().unwrap() as usize, members.len());
        for f in members {
            assert!(shape.contains(&geometry(f)), "{kind}: facility {} outside its own service area", f["id"]);
        }
    }
}

#[tokio::test]
async fn districts_summarise_coverage() {
    let districts = all("districts", "").await;
    let estates = all("estates", "").await;
    let total: i64 = features(&districts).iter().map(|d| d["properties"]["estates"].as_i64().unwrap()).sum();
    assert_eq!(total, 150);
    let d = &features(&districts)[0];
    let name = d["properties"]["district"].as_str().unwrap();
    let members: Vec<_> = features(&estates).iter().filter(|e| e["properties"]["district"] == name).collect();
    let covered = members.iter().filter(|e| e["properties"]["market_covered"] == true).count();
    assert_eq!(d["properties"]["market_estates_covered"].as_u64().unwrap() as usize, covered);
    assert!(geometry(d).bounding_rect().is_some());
}

#[tokio::test]
async fn year_recomputes_coverage() {
    let now = all("gaps", "").await["numberMatched"].as_u64().unwrap();
    let then = all("gaps", "&year=1995").await;
    assert!(then["numberMatched"].as_u64().unwrap() > now, "fewer facilities in 1995 must leave more gaps");
    assert_eq!(then["features"][0]["properties"]["year"], 1995);
    let estate_then = get_json("/collections/estates/items/1?year=1995").await;
    assert_eq!(estate_then["properties"]["year"], 1995);
    let cached = get_json("/collections/estates/items?limit=1&year=1995").await;
    assert_eq!(cached["features"][0]["properties"]["year"], 1995);
    let districts = get_json("/collections/districts/items?year=1995").await;
    assert_eq!(districts["features"][0]["properties"]["year"], 1995);
    get("/collections/estates/items?year=nineteen").await.assert_error(StatusCode::BAD_REQUEST, "year");
    get("/collections/estates/items?year=99999").await.assert_error(StatusCode::BAD_REQUEST, "year");
    get("/collections/facilities/items?year=2000").await.assert_error(StatusCode::BAD_REQUEST, "year");
}

#[tokio::test]
async fn point_and_estate_coverage() {
    let estate = get_json("/collections/estates/items/3").await;
    let detail = get_json("/estates/3/coverage").await;
    assert_eq!(detail["estate"]["id"], 3);
    let kinds = detail["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 11);
    for k in kinds {
        let key = k["kind"].as_str().unwrap();
        assert_eq!(k["covered"], estate["properties"][format!("{key}_covered")], "{key}");
        assert_eq!(k["facilities"].as_array().unwrap().len() as u64, estate["properties"][format!("{key}_count_within")].as_u64().unwrap(), "{key}");
    }
    let older = get_json("/estates/3/coverage?year=1990").await;
    assert_eq!(older["year"], 1990);
    assert!(get("/estates/3/coverage?f=html").await.text().contains("<table>"));
    get("/estates/999999/coverage").await.assert_error(StatusCode::NOT_FOUND, "999999");
    get("/estates/3/coverage?lon=1").await.assert_error(StatusCode::BAD_REQUEST, "lon");

    // A point at a facility is served by it at distance 0.
    let facility = &get_json("/collections/facilities/items?limit=1&kind=market").await["features"][0];
    let (lon, lat) = (facility["geometry"]["coordinates"][0].as_f64().unwrap(), facility["geometry"]["coordinates"][1].as_f64().unwrap());
    let point = get_json(&format!("/coverage?lon={lon}&lat={lat}")).await;
    let market = point["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "market").unwrap();
    assert_eq!(market["covered"], true);
    assert!(market["facilities"].as_array().unwrap().iter().any(|f| f["id"] == facility["id"] && f["distance_m"].as_f64().unwrap() < 0.05));
    assert!(get(&format!("/coverage?lon={lon}&lat={lat}&f=html")).await.text().contains("<table>"));
    get("/coverage?lon=114.5").await.assert_error(StatusCode::BAD_REQUEST, "lat");
    get("/coverage?lon=114.5&lat=95").await.assert_error(StatusCode::BAD_REQUEST, "lat");
    get("/coverage?lon=east&lat=38").await.assert_error(StatusCode::BAD_REQUEST, "lon");
    get("/coverage?lon=114.5&lat=38&radius=3").await.assert_error(StatusCode::BAD_REQUEST, "radius");
}

#[tokio::test]
async fn etag_and_conditional_requests() {
    let a = get("/collections/estates/items?limit=5").await;
    let tag = a.header("etag").unwrap().to_owned();
    // Weak: the tag promises the same data, not the same compressed bytes.
    assert!(tag.starts_with("W/\""), "{tag}");
    assert_eq!(a.header(DATA_VERSION_HEADER), Some(CITY.state().dataset().version.to_string().as_str()));
    // The same data and settings in another process (a replica) answer with the same tag and
    // bytes, and take the first one's tag as current.
    let replica = CITY.state_with(|_| ());
    let b = get_with(&replica, "/collections/estates/items?limit=5", &[]).await;
    assert_eq!((b.header("etag"), &b.body), (Some(tag.as_str()), &a.body));
    assert_eq!(get_with(&replica, "/collections/estates/items?limit=5", &[("if-none-match", &tag)]).await.status, StatusCode::NOT_MODIFIED);
    // Settings that shape answers are part of the tag.
    let elsewhere = CITY.state_with(|c| c.serve.base_url = Some("https://maps.example.org/gapmap".into()));
    assert_ne!(get_with(&elsewhere, "/collections/estates/items?limit=5", &[]).await.header("etag"), Some(tag.as_str()));
    let again = get_with(&CITY.state(), "/collections/estates/items?limit=5", &[("if-none-match", &tag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    let other = get("/collections/estates/items?limit=6").await;
    assert_ne!(other.header("etag").unwrap(), tag);
    let stale = get_with(&CITY.state(), "/collections/estates/items?limit=5", &[("if-none-match", "\"something-else\"")]).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert!(get("/health").await.header("etag").is_none());
}

#[tokio::test]
async fn gzip_only_when_asked() {
    let plain = get("/collections/estates/items?limit=50").await;
    assert!(plain.header("content-encoding").is_none());
    let gz = get_with(&CITY.state(), "/collections/estates/items?limit=50", &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(vary(&gz).contains(&"accept-encoding".to_owned()), "{:?}", vary(&gz));
    assert!(gz.body.len() * 3 < plain.body.len(), "{} vs {}", gz.body.len(), plain.body.len());
    // Other answers go through the compression layer.
    let collections = get_with(&CITY.state(), "/collections", &[("accept-encoding", "gzip")]).await;
    assert_eq!(collections.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn cors_only_for_configured_origins() {
    let closed = get_with(&CITY.state(), "/collections", &[("origin", "https://maps.example.org")]).await;
    assert!(closed.header("access-control-allow-origin").is_none());
    let open = CITY.state_with(|c| c.serve.cors_origins = vec!["https://maps.example.org".into()]);
    let allowed = get_with(&open, "/collections", &[("origin", "https://maps.example.org")]).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://maps.example.org"));
    let other = get_with(&open, "/collections", &[("origin", "https://evil.example")]).await;
    assert!(other.header("access-control-allow-origin").is_none());
    let preflight = send(
        &open,
        Request::options("/collections/estates/items")
            .header("origin", "https://maps.example.org")
            .header("access-control-request-method", "GET")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(preflight.header("access-control-allow-origin"), Some("https://maps.example.org"));
}

#[tokio::test]
async fn health_and_metrics() {
    let health = get_json("/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["estates"], 150);
    let version = health["data_version"].as_u64().expect("a whole number");
    assert!(version < 1 << 53, "{version}");
    let _ = get("/collections").await;
    let m = get("/metrics").await;
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    let gauge = format!("gapmap_data_version {version}\n");
    for needle in ["gapmap_http_requests_total{route=\"/collections\",status=\"200\"}", "gapmap_http_request_duration_seconds_bucket{le=\"+Inf\"}", gauge.as_str(), "gapmap_estates 150"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    get("/health?verbose=1").await.assert_error(StatusCode::BAD_REQUEST, "verbose");
}

async fn reload(state: &AppState, token: Option<&str>) -> Answer {
    let mut r = Request::post("/admin/reload");
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(state, r.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn admin_reload_swaps_or_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 40, 120, 11);
    let config = CITY.config_for(dir.path());
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());

    let denied = reload(&state, None).await;
    denied.assert_error(StatusCode::UNAUTHORIZED, "Bearer");
    assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
    reload(&state, Some("wrong-token-0123456789")).await.assert_error(StatusCode::UNAUTHORIZED, "Bearer");
    let first = get_with(&state, "/health", &[]).await.json()["data_version"].as_u64().expect("a version");
    let first_tag = get_with(&state, "/collections/estates/items?limit=1", &[]).await.header("etag").map(str::to_owned);

    // The same files again: the content digest, hence the version and the ETags, stay.
    let same = reload(&state, Some(TOKEN)).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text());
    assert_eq!((same.json()["data_version"].as_u64(), same.json()["changed"].as_bool()), (Some(first), Some(false)));
    assert_eq!(get_with(&state, "/collections/estates/items?limit=1", &[]).await.header("etag").map(str::to_owned), first_tag);

    write_city(dir.path(), 60, 180, 11);
    let ok = reload(&state, Some(TOKEN)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let second = ok.json()["data_version"].as_u64().expect("a version");
    assert_ne!(second, first, "new data, a new version");
    assert_eq!(ok.json()["changed"], true);
    let after = get_with(&state, "/collections/estates/items?limit=1", &[]).await;
    assert_eq!(after.header(DATA_VERSION_HEADER), Some(second.to_string().as_str()));
    assert_ne!(after.header("etag").map(str::to_owned), first_tag);
    assert_eq!(after.json()["numberMatched"], 60);

    std::fs::write(dir.path().join("estates.geojson"), "{\"type\": \"FeatureCollection\", \"features\": [").unwrap();
    let failed = reload(&state, Some(TOKEN)).await;
    failed.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "estates.geojson");
    let still = get_with(&state, "/collections/estates/items?limit=1", &[]).await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.header(DATA_VERSION_HEADER), Some(second.to_string().as_str()));
    assert_eq!(still.json()["numberMatched"], 60);
    let metrics = get_with(&state, "/metrics", &[]).await.text();
    assert!(metrics.contains("gapmap_reload_failures_total 1") && metrics.contains("gapmap_reloads_total 2"), "{metrics}");

    let disabled = CITY.state_with(|c| c.serve.admin_token = None);
    reload(&disabled, Some(TOKEN)).await.assert_error(StatusCode::UNAUTHORIZED, "disabled");
    get_with(&state, "/admin/reload", &[]).await.assert_error(StatusCode::METHOD_NOT_ALLOWED, "POST");
}

#[tokio::test]
async fn body_limit_applies() {
    let small = CITY.state_with(|c| c.serve.body_limit_bytes = 16);
    let r = send(
        &small,
        Request::post("/admin/reload").header(header::AUTHORIZATION, format!("Bearer {TOKEN}")).header(header::CONTENT_LENGTH, "64").body(Body::from(vec![b'x'; 64])).unwrap(),
    )
    .await;
    r.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "too large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_reloads_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    write_city(dir.path(), 30, 90, 11);
    let config = CITY.config_for(dir.path());
    let state = AppState::new(config.clone(), load_dataset(&config).unwrap());
    let first = state.dataset().version;
    let _watcher = gapmap::http::ops::spawn_watcher(state.clone(), None).unwrap();
    write_city(dir.path(), 45, 135, 11);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let health = get_with(&state, "/health", &[]).await.json();
        if health["data_version"].as_u64() != Some(first) {
            assert_eq!(health["estates"], 45);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no reload after the files changed: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

// Issue #15: what real clients and planners found.

/// The tokens of every `Vary` header of an answer, lower case.
fn vary(a: &Answer) -> Vec<String> {
    a.headers.get_all(header::VARY).iter().flat_map(|v| v.to_str().unwrap().split(',').map(|t| t.trim().to_ascii_lowercase()).collect::<Vec<_>>()).collect()
}

/// Follows a `$ref` inside the OpenAPI document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => resolve(doc, doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling {r}"))),
        None => v,
    }
}

#[tokio::test]
async fn empty_service_areas_stay_out_of_bboxes_and_extents() {
    // A kind no facility has: its service area is an empty MultiPolygon.
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("catalogue.toml");
    std::fs::write(&catalogue, "[[kind]]\nkey = \"reading_room\"\nlabel_zh = \"阅览室\"\nlabel_en = \"Reading room\"\nradius_m = 500\ncircle = \"10min\"\nclause = \"test: a kind no facility has\"\n").unwrap();
    let state = CITY.state_with(|c| c.analysis.catalogue = Some(catalogue.clone()));
    let empty = get_with(&state, "/collections/service-areas/items/reading_room", &[]).await.json();
    assert_eq!(empty["properties"]["facilities"], 0);
    assert_eq!(empty["geometry"]["coordinates"], serde_json::json!([]));

    let near_null_island = get_with(&state, "/collections/service-areas/items?bbox=-1,-1,1,1", &[]).await.json();
    assert_eq!(near_null_island["numberMatched"], 0, "{near_null_island}");
    let filtered = get_with(&state, &format!("/collections/service-areas/items?filter={}", gapmap::http::params::encode("S_INTERSECTS(geometry, BBOX(-1,-1,1,1))")), &[]).await.json();
    assert_eq!(filtered["numberMatched"], 0);

    // The extent is the union of the non-empty areas' boxes, nothing at 0,0.
    let everything = get_with(&state, "/collections/service-areas/items?limit=100", &[]).await.json();
    let rects: Vec<geo::Rect<f64>> = features(&everything).iter().filter_map(|f| geometry(f).bounding_rect()).collect();
    assert!(!rects.is_empty() && rects.len() < features(&everything).len());
    let union = rects.iter().fold(rects[0], |a, r| geo::Rect::new((a.min().x.min(r.min().x), a.min().y.min(r.min().y)), (a.max().x.max(r.max().x), a.max().y.max(r.max().y))));
    let collection = get_with(&state, "/collections/service-areas", &[]).await.json();
    let extent: Vec<f64> = collection["extent"]["spatial"]["bbox"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let expected = [union.min().x, union.min().y, union.max().x, union.max().y];
    for (got, want) in extent.iter().zip(expected) {
        // Served coordinates are rounded to 1e-7°.
        assert!((got - want).abs() < 1e-6, "extent {extent:?}, areas span {expected:?}");
    }
    let tilejson = get_with(&state, "/tiles/service-areas.json", &[]).await.json();
    let bounds: Vec<f64> = tilejson["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!((bounds[0] - union.min().x).abs() < 1e-6 && (bounds[1] - union.min().y).abs() < 1e-6, "tile bounds {bounds:?}");
    // A bbox round the city finds every area with a position, and only those.
    let city = get_with(&state, &format!("/collections/service-areas/items?bbox={},{},{},{}", extent[0], extent[1], extent[2], extent[3]), &[]).await.json();
    assert_eq!(features(&city).len(), rects.len());
}

#[tokio::test]
async fn every_queryable_is_a_query_parameter() {
    for collection in ["estates", "facilities", "gaps", "service-areas", "districts"] {
        let queryables = get_json(&format!("/collections/{collection}/queryables")).await;
        let page = all(collection, "").await;
        let first = &features(&page)[0];
        let api = get_json("/api").await;
        let declared: Vec<&str> = api["paths"][format!("/collections/{collection}/items")]["get"]["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for (name, schema) in queryables["properties"].as_object().unwrap() {
            if name == "geometry" || ["f", "bbox", "limit", "offset", "crs", "filter", "sortby", "year", "datetime"].contains(&name.as_str()) {
                continue;
            }
            assert!(schema["type"].is_string(), "{collection}.{name}: {schema}");
            assert!(declared.contains(&name.as_str()), "{collection}: {name} is not declared in /api");
            let value = &first["properties"][name];
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let answer = get_json(&format!("/collections/{collection}/items?limit=10000&{name}={}", gapmap::http::params::encode(&text))).await;
            assert!(!features(&answer).is_empty(), "{collection}?{name}={text} found nothing");
            let expected = features(&page).iter().filter(|f| f["properties"][name] == *value).count();
            assert_eq!(features(&answer).len(), expected, "{collection}?{name}={text}");
        }
    }
    // The case from the issue.
    let households = features(&all("estates", "").await)[0]["properties"]["households"].as_i64().unwrap();
    let page = get_json(&format!("/collections/estates/items?households={households}")).await;
    assert!(features(&page).iter().all(|f| f["properties"]["households"] == households));
}

#[tokio::test]
async fn negotiated_answers_vary_on_accept() {
    let html = [("accept", "text/html")];
    for (uri, headers) in [
        ("/?f=json", &[][..]),
        ("/collections", &[][..]),
        ("/collections", &html[..]),
        ("/collections/estates/items?limit=2", &[][..]),
        ("/collections/estates/items?limit=2", &[("accept-encoding", "gzip")][..]),
        ("/collections/estates/items/7", &[][..]),
        ("/collections/estates/queryables", &[][..]),
        ("/conformance", &html[..]),
        ("/api", &[][..]),
        ("/coverage?lon=114.5&lat=38.04", &[][..]),
        // A browser's `/` is the web map, chosen by Accept as well.
        ("/", &html[..]),
        ("/map", &[][..]),
    ] {
        let a = get_with(&CITY.state(), uri, headers).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        let tokens = vary(&a);
        assert!(tokens.iter().any(|t| t == "accept") && tokens.iter().any(|t| t == "accept-language"), "{uri} {headers:?}: Vary {tokens:?}");
        if headers.iter().any(|(k, _)| *k == "accept-encoding") {
            assert!(tokens.iter().any(|t| t == "accept-encoding"), "{uri}: {tokens:?}");
        }
    }
}

#[tokio::test]
async fn bbox_across_the_antimeridian() {
    let far = get("/collections/estates/items?bbox=170,-10,-170,10").await;
    assert_eq!(far.status, StatusCode::OK, "{}", far.text());
    assert_eq!(far.json()["numberMatched"], 0);
    // West edge east of the east edge: 114.505..180 and -180..114.5, every estate but those
    // wholly inside the 114.5..114.505 strip.
    let everything = all("estates", "").await;
    let (east, west) = (geo::Rect::new((114.505, 30.0), (180.0, 45.0)), geo::Rect::new((-180.0, 30.0), (114.5, 45.0)));
    let expected: Vec<String> = features(&everything).iter().filter(|f| geometry(f).intersects(&east) || geometry(f).intersects(&west)).map(|f| f["id"].to_string()).collect();
    let page = all("estates", "&bbox=114.505,30,114.5,45").await;
    assert_eq!(ids(&page), expected);
    let latlon = all("estates", "&bbox=30,114.505,45,114.5&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4326").await;
    assert_eq!(ids(&latlon), expected);
    let filtered = all("estates", &format!("&bbox=114.505,30,114.5,45&filter={}", gapmap::http::params::encode("S_INTERSECTS(geometry, BBOX(114.49,38.03,114.52,38.05))"))).await;
    let expected_filtered: Vec<String> =
        features(&everything).iter().filter(|f| (geometry(f).intersects(&east) || geometry(f).intersects(&west)) && geometry(f).intersects(&geo::Rect::new((114.49, 38.03), (114.52, 38.05)))).map(|f| f["id"].to_string()).collect();
    assert_eq!(ids(&filtered), expected_filtered);
    // Projected CRSs have no antimeridian to cross.
    get("/collections/estates/items?bbox=12800000,4580000,12700000,4680000&bbox-crs=EPSG:3857").await.assert_error(StatusCode::BAD_REQUEST, "antimeridian");
}

#[tokio::test]
async fn single_feature_links_keep_crs_and_year() {
    let crs = "http://www.opengis.net/def/crs/EPSG/0/3857";
    let doc = get_json(&format!("/collections/estates/items/7?crs={}&year=2015", gapmap::http::params::encode(crs))).await;
    let own = local(link(&doc, "self").unwrap());
    assert!(own.contains("crs=") && own.contains("year=2015"), "{own}");
    let again = get(&own).await;
    assert_eq!(again.header("content-crs"), Some(format!("<{crs}>").as_str()));
    assert_eq!(again.json()["geometry"], doc["geometry"]);
    assert!(local(link(&doc, "alternate").unwrap()).contains("crs="));
}

#[tokio::test]
async fn html_pages_link_the_map_the_api_and_conformance() {
    let landing = get("/?f=html").await.text();
    for href in ["href=\"/map\"", "href=\"/api?f=html\"", "href=\"/conformance?f=html\""] {
        assert!(landing.contains(href), "{href} missing from the landing page");
    }
    // A browser's `/` is the map, so the pages' home link is the HTML landing page.
    let collections = get("/collections?f=html").await.text();
    assert!(collections.contains("<nav><a href=\"/?f=html\">gapmap</a>") && collections.contains("href=\"/map\""), "{collections}");
    let doc = get_json("/").await;
    assert!(doc["links"].as_array().unwrap().iter().any(|l| l["href"].as_str().unwrap().ends_with("/map") && l["type"] == "text/html"));
}

#[tokio::test]
async fn openapi_declares_every_answer_and_real_schemas() {
    let doc = get_json("/api").await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = &op["responses"];
            for status in ["405", "414", "500", "503"] {
                assert!(responses[status].is_object(), "{method} {path}: {status} not declared");
            }
            let busy = resolve(&doc, &responses["503"]);
            assert!(busy["headers"]["Retry-After"].is_object(), "{method} {path}: 503 without Retry-After");
            for (media, content) in resolve(&doc, &responses["200"])["content"].as_object().into_iter().flatten() {
                let schema = resolve(&doc, &content["schema"]);
                if media.contains("json") {
                    assert!(schema.as_object().unwrap().len() > 1, "{method} {path} {media}: bare schema {schema}");
                }
            }
        }
    }
    // Items pages: a GeoJSON FeatureCollection whose features carry the queryables.
    for collection in ["estates", "facilities", "gaps", "service-areas", "districts"] {
        let page = resolve(&doc, &doc["paths"][format!("/collections/{collection}/items")]["get"]["responses"]["200"]["content"]["application/geo+json"]["schema"]);
        assert_eq!(page["properties"]["type"]["enum"], serde_json::json!(["FeatureCollection"]));
        let feature = resolve(&doc, &page["properties"]["features"]["items"]);
        let properties = resolve(&doc, &feature["properties"]["properties"]);
        let queryables = get_json(&format!("/collections/{collection}/queryables")).await;
        let served = all(collection, "").await;
        for (name, q) in queryables["properties"].as_object().unwrap() {
            // A column null in every served feature has no known type (`year` without year=).
            if name != "geometry" && features(&served).iter().any(|f| !f["properties"][name].is_null()) {
                assert_eq!(properties["properties"][name]["type"], q["type"], "{collection}.{name}");
            }
        }
        let one = resolve(&doc, &doc["paths"][format!("/collections/{collection}/items/{{featureId}}")]["get"]["responses"]["200"]["content"]["application/geo+json"]["schema"]);
        assert_eq!(one, feature);
    }
    for path in ["/collections/{collection}", "/coverage", "/estates/{estateId}/coverage"] {
        let path = path.replace("{collection}", "estates");
        let schema = resolve(&doc, &doc["paths"][&path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]);
        assert!(schema["required"].is_array(), "{path}: {schema}");
    }
}

#[tokio::test]
async fn requests_the_document_allows_are_answered() {
    let plain = all("estates", "").await;
    for q in ["&filter=", "&sortby=", "&filter=&sortby=", "&filter=%20&filter-lang=cql2-text"] {
        let page = all("estates", q).await;
        assert_eq!(ids(&page), ids(&plain), "{q}");
    }
    // A reversed interval matches nothing rather than failing.
    let none = get_json("/collections/facilities/items?datetime=2019-01-01/2018-01-01").await;
    assert_eq!(none["numberMatched"], 0);
    // /reports/{year}: every year the document allows is answered; `from`, whose valid values
    // depend on the year, is described, not declared.
    let state = CITY.state_with(|c| c.report.from = Some(2015));
    let doc = get_with(&state, "/api", &[]).await.json();
    let op = &doc["paths"]["/reports/{year}"]["get"];
    let params = op["parameters"].as_array().unwrap();
    assert!(params.iter().all(|p| p["name"] != "from"), "{params:?}");
    let year = params.iter().find(|p| p["name"] == "year").unwrap();
    let (min, max) = (year["schema"]["minimum"].as_i64().unwrap(), year["schema"]["maximum"].as_i64().unwrap());
    assert_eq!(max, 2015 + 99);
    for y in [min, 2014, 2015, max] {
        let a = get_with(&state, &format!("/reports/{y}?f=json"), &[]).await;
        assert_eq!(a.status, StatusCode::OK, "/reports/{y}: {}", a.text());
    }
    get_with(&state, &format!("/reports/{}?f=json", max + 1), &[]).await.assert_error(StatusCode::BAD_REQUEST, "from");
}
