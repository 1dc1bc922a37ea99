//! In-process tests of the map endpoints: vector tiles and TileJSON, styles, glyphs and the web
//! map's routing, through `router(state).oneshot(request)` on a small generated city. Tiles are
//! decoded with a small protobuf reader written here and compared with the feature API.
#![expect(clippy::unwrap_used, clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_sign_loss, clippy::cast_precision_loss, reason = "tests panic on unexpected errors; tile numbers are small")]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use common::http::{get_with, Answer, SharedCity};
use serde_json::Value;

static CITY: SharedCity = SharedCity::new(150, 450, 11, None);

async fn get(uri: &str) -> Answer {
    get_with(&CITY.state(), uri, &[]).await
}

async fn get_json(uri: &str) -> Value {
    let a = get(uri).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    a.json()
}

// --- a minimal MVT reader ----------------------------------------------------------------------

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// (field, wire type, varint value or payload).
fn fields(b: &[u8]) -> Vec<(u64, u64, u64, Vec<u8>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = varint(b, &mut at);
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = varint(b, &mut at);
                out.push((field, wire, v, Vec::new()));
            }
            1 => {
                out.push((field, wire, 0, b[at..at + 8].to_vec()));
                at += 8;
            }
            2 => {
                let len = varint(b, &mut at) as usize;
                out.push((field, wire, 0, b[at..at + len].to_vec()));
                at += len;
            }
            5 => {
                out.push((field, wire, 0, b[at..at + 4].to_vec()));
                at += 4;
            }
            _ => panic!("wire type {wire}"),
        }
    }
    out
}

fn packed(b: &[u8]) -> Vec<u32> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        out.push(varint(b, &mut at) as u32);
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum TileValue {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug)]
struct TileFeature {
    id: Option<u64>,
    kind: u64,
    properties: BTreeMap<String, TileValue>,
    /// Rings (polygons) or single points, in tile units.
    parts: Vec<Vec<(i32, i32)>>,
}

#[derive(Debug)]
struct TileLayer {
    name: String,
    extent: u64,
    version: u64,
    features: Vec<TileFeature>,
}

fn decode_geometry(commands: &[u32]) -> Vec<Vec<(i32, i32)>> {
    let zigzag = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
    let mut parts = Vec::new();
    let mut current: Vec<(i32, i32)> = Vec::new();
    let (mut x, mut y) = (0, 0);
    let mut i = 0;
    while i < commands.len() {
        let (id, count) = (commands[i] & 7, commands[i] >> 3);
        i += 1;
        match id {
            1 | 2 => {
                for _ in 0..count {
                    x += zigzag(commands[i]);
                    y += zigzag(commands[i + 1]);
                    i += 2;
                    if id == 1 && !current.is_empty() {
                        parts.push(std::mem::take(&mut current));
                    }
                    current.push((x, y));
                }
            }
            7 => parts.push(std::mem::take(&mut current)),
            _ => panic!("command {id}"),
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

fn decode_tile(b: &[u8]) -> Vec<TileLayer> {
    fields(b)
        .into_iter()
        .filter(|f| f.0 == 3)
        .map(|(_, _, _, layer)| {
            let lf = fields(&layer);
            let keys: Vec<String> = lf.iter().filter(|f| f.0 == 3).map(|f| String::from_utf8(f.3.clone()).unwrap()).collect();
            let values: Vec<TileValue> = lf
                .iter()
                .filter(|f| f.0 == 4)
                .map(|f| {
                    let v = &fields(&f.3)[0];
                    match v.0 {
                        1 => TileValue::Str(String::from_utf8(v.3.clone()).unwrap()),
                        3 => TileValue::Num(f64::from_le_bytes(v.3.clone().try_into().unwrap())),
                        5 => TileValue::Num(v.2 as f64),
                        6 => TileValue::Num((((v.2 >> 1) as i64) ^ -((v.2 & 1) as i64)) as f64),
                        7 => TileValue::Bool(v.2 != 0),
                        other => panic!("value field {other}"),
                    }
                })
                .collect();
            let features = lf
                .iter()
                .filter(|f| f.0 == 2)
                .map(|f| {
                    let ff = fields(&f.3);
                    let tags = ff.iter().find(|x| x.0 == 2).map(|x| packed(&x.3)).unwrap_or_default();
                    let properties = tags.chunks(2).map(|kv| (keys[kv[0] as usize].clone(), values[kv[1] as usize].clone())).collect();
                    TileFeature {
                        id: ff.iter().find(|x| x.0 == 1).map(|x| x.2),
                        kind: ff.iter().find(|x| x.0 == 3).map_or(0, |x| x.2),
                        properties,
                        parts: decode_geometry(&ff.iter().find(|x| x.0 == 4).map(|x| packed(&x.3)).unwrap()),
                    }
                })
                .collect();
            TileLayer {
                name: String::from_utf8(lf.iter().find(|f| f.0 == 1).unwrap().3.clone()).unwrap(),
                extent: lf.iter().find(|f| f.0 == 5).map_or(4096, |f| f.2),
                version: lf.iter().find(|f| f.0 == 15).map_or(1, |f| f.2),
                features,
            }
        })
        .collect()
}

fn signed_area(ring: &[(i32, i32)]) -> i64 {
    (0..ring.len())
        .map(|i| {
            let (x1, y1) = ring[i];
            let (x2, y2) = ring[(i + 1) % ring.len()];
            i64::from(x1) * i64::from(y2) - i64::from(x2) * i64::from(y1)
        })
        .sum()
}

/// The XYZ tiles at zoom `z` covering a CRS84 box.
fn tiles_covering(bbox: [f64; 4], z: u32) -> Vec<(u32, u32)> {
    let n = f64::from(1_u32 << z);
    let tx = |lon: f64| ((lon + 180.0) / 360.0 * n).floor() as u32;
    let ty = |lat: f64| {
        let r = lat.to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32
    };
    let mut out = Vec::new();
    for x in tx(bbox[0])..=tx(bbox[2]) {
        for y in ty(bbox[3])..=ty(bbox[1]) {
            out.push((x, y));
        }
    }
    out
}

async fn tile(uri: &str) -> Vec<TileLayer> {
    let a = get(uri).await;
    assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.text());
    assert_eq!(a.header("content-type"), Some("application/vnd.mapbox-vector-tile"));
    decode_tile(&a.body)
}

/// Every feature of a collection's tiles at zoom `z` over the city, by id property.
async fn features_at(collection: &str, z: u32, query: &str) -> Vec<TileFeature> {
    layer_at(collection, collection, z, query).await
}

/// Every feature of the tile layer `name` in a collection's tiles at zoom `z` over the city.
async fn layer_at(collection: &str, name: &str, z: u32, query: &str) -> Vec<TileFeature> {
    let tilejson = get_json(&format!("/tiles/{collection}.json")).await;
    let b: Vec<f64> = tilejson["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let mut out = Vec::new();
    for (x, y) in tiles_covering([b[0], b[1], b[2], b[3]], z) {
        for layer in tile(&format!("/tiles/{collection}/{z}/{x}/{y}.mvt{query}")).await {
            assert!(layer.name == collection || layer.name.ends_with("-labels"), "{}", layer.name);
            assert_eq!((layer.extent, layer.version), (4096, 2));
            if layer.name == name {
                out.extend(layer.features);
            }
        }
    }
    out
}

fn num(f: &TileFeature, key: &str) -> Option<f64> {
    match f.properties.get(key) {
        Some(TileValue::Num(n)) => Some(*n),
        _ => None,
    }
}

fn text(f: &TileFeature, key: &str) -> Option<String> {
    match f.properties.get(key) {
        Some(TileValue::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn tilejson_describes_every_tiled_collection() {
    let version = get("/tiles").await.header("x-gapmap-data-version").unwrap().to_owned();
    let index = get_json("/tiles").await;
    let ids: Vec<&str> = index["tilesets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    for c in ["estates", "facilities", "gaps", "service-areas"] {
        assert!(ids.contains(&c), "{c} in {ids:?}");
        let tj = get_json(&format!("/tiles/{c}.json")).await;
        assert_eq!(tj["tilejson"], "3.0.0");
        assert_eq!(tj["tiles"][0], format!("http://localhost/tiles/{c}/{{z}}/{{x}}/{{y}}.mvt?v={version}"));
        assert_eq!(tj["vector_layers"][0]["id"], c);
        assert_eq!(tj["bounds"].as_array().unwrap().len(), 4);
    }
    let tj = get_json("/tiles/estates.json?year=2010&kind=market").await;
    assert_eq!(tj["tiles"][0], format!("http://localhost/tiles/estates/{{z}}/{{x}}/{{y}}.mvt?year=2010&kind=market&v={version}"));
    let fields = tj["vector_layers"][0]["fields"].as_object().unwrap();
    assert!(fields.contains_key("market_covered") && fields.contains_key("market_distance_m") && !fields.contains_key("day_care_covered"), "{fields:?}");
    get("/tiles/nowhere.json").await.assert_error(StatusCode::NOT_FOUND, "nowhere");
    get("/tiles/estates.json?colour=red").await.assert_error(StatusCode::BAD_REQUEST, "colour");
}

#[tokio::test]
async fn estate_tiles_carry_every_estate_and_its_coverage() {
    let items = get_json("/collections/estates/items?limit=10000").await;
    let by_id: BTreeMap<String, &Value> = items["features"].as_array().unwrap().iter().map(|f| (f["id"].to_string(), &f["properties"])).collect();
    let features = features_at("estates", 15, "").await;
    let mut seen = BTreeSet::new();
    for f in &features {
        assert_eq!(f.kind, 3, "polygons");
        let id = num(f, "id").unwrap();
        assert_eq!(f.id, Some(id as u64));
        let p = by_id[&format!("{id}")];
        for kind in ["day_care", "market", "parking"] {
            assert_eq!(f.properties.get(&format!("{kind}_covered")), Some(&TileValue::Bool(p[format!("{kind}_covered")].as_bool().unwrap())), "estate {id} {kind}");
            let d = p[format!("{kind}_distance_m")].as_f64().unwrap();
            assert_eq!(num(f, &format!("{kind}_distance_m")), Some(d.round()), "estate {id} {kind}");
            let s = p[format!("{kind}_shortfall")].as_f64().filter(|s| *s > 0.0);
            assert_eq!(num(f, &format!("{kind}_shortfall")), s.map(|s| (s * 10.0).round() / 10.0), "estate {id} {kind}");
        }
        assert_eq!(text(f, "district").as_deref(), p["district"].as_str(), "estate {id}");
        assert_eq!(text(f, "name"), None, "names are in the label layer");
        for ring in &f.parts {
            assert!(ring.len() >= 3);
            assert!(ring.iter().all(|&(x, y)| (-64..=4160).contains(&x) && (-64..=4160).contains(&y)), "clipped to the buffer: {ring:?}");
        }
        assert!(signed_area(&f.parts[0]) > 0, "exterior rings run clockwise on screen");
        seen.insert(id as i64);
    }
    assert_eq!(seen.len(), by_id.len(), "every estate is in some tile");

    // Estates are drawn from AGGREGATE_ZOOM: below it their tiles are empty (the map shows
    // districts there); at it, tiny estates share pixels, all still coloured.
    assert!(features_at("estates", 11, "").await.is_empty());
    let low = features_at("estates", 12, "").await;
    let low_ids: BTreeSet<i64> = low.iter().map(|f| num(f, "id").unwrap() as i64).collect();
    assert!(!low.is_empty() && low_ids.len() <= by_id.len());
    assert!(low.iter().all(|f| f.properties.contains_key("day_care_covered")));
    assert_eq!(get_json("/tiles/estates.json").await["minzoom"], 12);
}

/// Estate labels: one point per estate over all the tiles of a zoom (an estate cut by tile
/// edges is labelled once), inside its tile, with the estate's name.
#[tokio::test]
async fn estate_labels_are_one_point_per_estate() {
    let items = get_json("/collections/estates/items?limit=10000").await;
    let names: BTreeMap<String, Option<String>> = items["features"].as_array().unwrap().iter().map(|f| (f["id"].to_string(), f["properties"]["name"].as_str().map(str::to_owned))).collect();
    for z in [14, 16] {
        let labels = layer_at("estates", "estate-labels", z, "").await;
        let mut seen = BTreeMap::new();
        for f in &labels {
            assert_eq!(f.kind, 1, "points");
            assert!(f.parts.iter().flatten().all(|&(x, y)| (0..4096).contains(&x) && (0..4096).contains(&y)), "inside the tile, not its buffer");
            let id = format!("{}", num(f, "id").unwrap());
            assert_eq!(text(f, "name"), names[&id], "estate {id}");
            *seen.entry(id).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), names.len(), "every estate labelled at zoom {z}");
        assert!(seen.values().all(|n| *n == 1), "labelled more than once at zoom {z}: {:?}", seen.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>());
    }
    assert!(layer_at("estates", "estate-labels", 13, "").await.is_empty(), "no labels below zoom 14");
}

/// Below the zoom estates are drawn from, districts carry the map: their coverage and households
/// per kind, whether the kind has facilities there, and one label point each.
#[tokio::test]
async fn districts_carry_the_city_view() {
    let items = get_json("/collections/districts/items?limit=1000").await;
    let by_name: BTreeMap<String, &Value> = items["features"].as_array().unwrap().iter().map(|f| (f["properties"]["district"].as_str().unwrap().to_owned(), &f["properties"])).collect();
    assert!(by_name.len() > 1);
    for z in [9, 11] {
        let features = features_at("districts", z, "").await;
        let mut names = BTreeSet::new();
        for f in &features {
            let name = text(f, "district").unwrap();
            let p = by_name[&name];
            assert_eq!(num(f, "households"), p["households"].as_f64(), "{name}");
            assert_eq!(num(f, "market_households_covered_pct"), p["market_households_covered_pct"].as_f64(), "{name}");
            assert_eq!(num(f, "market_facilities"), p["market_facilities"].as_f64(), "{name}");
            names.insert(name);
        }
        assert_eq!(names.len(), by_name.len(), "every district at zoom {z}");
        let labels = layer_at("districts", "district-labels", z, "").await;
        let label_names: Vec<String> = labels.iter().map(|f| text(f, "district").unwrap()).collect();
        assert_eq!(label_names.iter().collect::<BTreeSet<_>>().len(), label_names.len(), "one label per district: {label_names:?}");
        assert_eq!(label_names.len(), by_name.len());
    }
}

#[tokio::test]
async fn kind_and_year_filter_tiles() {
    let estates = features_at("estates", 14, "?kind=market").await;
    assert!(!estates.is_empty());
    for f in &estates {
        assert!(f.properties.keys().all(|k| !k.contains('_') || k.starts_with("market_")), "{:?}", f.properties.keys());
    }
    let facilities = features_at("facilities", 14, "?kind=kindergarten").await;
    assert!(!facilities.is_empty());
    assert!(facilities.iter().all(|f| f.kind == 1 && text(f, "kind").as_deref() == Some("kindergarten")));

    let all = features_at("facilities", 14, "").await;
    let years: Vec<f64> = all.iter().filter_map(|f| num(f, "opened_year")).collect();
    let mid = years.iter().copied().fold(0.0, f64::max).min(years.iter().copied().fold(f64::INFINITY, f64::min) + 10.0) as i32;
    let early = features_at("facilities", 14, &format!("?year={mid}")).await;
    assert!(early.len() < all.len());
    assert!(early.iter().all(|f| num(f, "opened_year").is_none_or(|y| y <= f64::from(mid))));

    // Coverage as of that year equals the feature API's.
    let items = get_json(&format!("/collections/estates/items?limit=10000&year={mid}")).await;
    let covered: usize = items["features"].as_array().unwrap().iter().filter(|f| f["properties"]["market_covered"] == true).count();
    let estates_then = features_at("estates", 15, &format!("?year={mid}&kind=market")).await;
    let mut tile_covered = BTreeSet::new();
    for f in &estates_then {
        if f.properties.get("market_covered") == Some(&TileValue::Bool(true)) {
            tile_covered.insert(num(f, "id").unwrap() as i64);
        }
    }
    assert_eq!(tile_covered.len(), covered);

    let gaps = features_at("gaps", 14, "?kind=day_care").await;
    assert!(!gaps.is_empty() && gaps.iter().all(|f| text(f, "kind").as_deref() == Some("day_care") && num(f, "radius_m") == Some(300.0)));
    let areas = features_at("service-areas", 12, "?kind=day_care").await;
    assert!(!areas.is_empty() && areas.iter().all(|f| text(f, "kind").as_deref() == Some("day_care")));
    // Service areas as of a year count only the facilities open then.
    let now = num(&areas[0], "facilities").unwrap();
    let then = features_at("service-areas", 12, &format!("?kind=day_care&year={mid}")).await;
    let then_count = then.first().map_or(0.0, |f| num(f, "facilities").unwrap());
    let open_then = early.iter().filter(|f| text(f, "kind").as_deref() == Some("day_care")).count();
    assert!(then_count < now, "{then_count} < {now}");
    assert!(then_count >= open_then as f64, "every day-care facility open in {mid} has a service area");
}

#[tokio::test]
async fn tile_requests_are_checked() {
    get("/tiles/estates/3/8/1.mvt").await.assert_error(StatusCode::BAD_REQUEST, "x");
    get("/tiles/estates/30/0/0.mvt").await.assert_error(StatusCode::BAD_REQUEST, "zoom");
    get("/tiles/estates/a/0/0.mvt").await.assert_error(StatusCode::BAD_REQUEST, "zoom");
    get("/tiles/nothing/1/0/0.mvt").await.assert_error(StatusCode::NOT_FOUND, "nothing");
    get("/tiles/estates/1/0/0.mvt?kind=spa").await.assert_error(StatusCode::BAD_REQUEST, "kindergarten");
    get("/tiles/estates/1/0/0.mvt?year=20x").await.assert_error(StatusCode::BAD_REQUEST, "year");
    // Far from the city: an empty tile.
    let empty = get("/tiles/estates/10/0/0.mvt").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.is_empty());
}

#[tokio::test]
async fn tiles_have_etags_and_compress() {
    let tj = get_json("/tiles/estates.json").await;
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (x, y) = tiles_covering([b[0], b[1], b[2], b[3]], 13)[0];
    let uri = format!("/tiles/estates/13/{x}/{y}.mvt");
    let first = get(&uri).await;
    let etag = first.header("etag").unwrap().to_owned();
    // Without `v=` the client must revalidate.
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    let again = get_with(&CITY.state(), &uri, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let gz = get_with(&CITY.state(), &uri, &[("accept-encoding", "gzip")]).await;
    if first.body.len() > 64 {
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
    }
}

#[tokio::test]
async fn styles_are_served_with_absolute_urls_kind_and_year() {
    let list = get_json("/styles").await;
    let names: Vec<&str> = list["styles"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(names, ["coverage", "facilities", "gaps", "service-areas"]);

    let style = get_json("/styles/coverage.json").await;
    assert_eq!(style["version"], 8);
    assert_eq!(style["sources"]["estates"]["url"], "http://localhost/tiles/estates.json");
    assert_eq!(style["glyphs"], "http://localhost/fonts/{fontstack}/{range}.pbf");
    assert_eq!(style["state"]["kind"]["default"], "day_care");
    assert_eq!(style["state"]["radius_m"]["default"], 300.0);
    assert_eq!(style["metadata"]["gapmap:kinds"].as_array().unwrap().len(), 11);
    assert!(style["sources"].get("basemap").is_none(), "no basemap unless configured");

    let market = get_json("/styles/coverage.json?kind=market&year=2012").await;
    assert_eq!(market["state"]["kind"]["default"], "market");
    assert_eq!(market["state"]["radius_m"]["default"], 500.0);
    assert_eq!(market["sources"]["estates"]["url"], "http://localhost/tiles/estates.json?year=2012");
    let areas = get_json("/styles/service-areas.json?kind=market&year=2012").await;
    assert_eq!(areas["state"]["kind"]["default"], "market");
    // One kind's service areas and facilities: those tiles carry one feature per kind.
    assert_eq!(areas["sources"]["service-areas"]["url"], "http://localhost/tiles/service-areas.json?year=2012&kind=market");
    assert_eq!(market["sources"]["districts"]["url"], "http://localhost/tiles/districts.json?year=2012");
    let facilities = get_json("/styles/facilities.json?kind=market").await;
    assert_eq!(facilities["sources"]["facilities"]["url"], "http://localhost/tiles/facilities.json?kind=market");

    get("/styles/nothing.json").await.assert_error(StatusCode::NOT_FOUND, "nothing");
    get("/styles/coverage.json?kind=spa").await.assert_error(StatusCode::BAD_REQUEST, "kind");
    get("/styles/coverage.json?zoom=3").await.assert_error(StatusCode::BAD_REQUEST, "zoom");
    let qml = get("/styles/estates-coverage.qml").await;
    assert_eq!(qml.status, StatusCode::OK);
    assert!(qml.text().contains("RuleRenderer"));
}

#[tokio::test]
async fn a_configured_basemap_goes_under_the_data() {
    let state = CITY.state_with(|c| {
        c.serve.basemap_url = Some("https://tiles.example.org/{z}/{x}/{y}.png".into());
        c.serve.basemap_attribution = Some("© example".into());
    });
    let style = get_with(&state, "/styles/coverage.json", &[]).await.json();
    assert_eq!(style["sources"]["basemap"]["tiles"][0], "https://tiles.example.org/{z}/{x}/{y}.png");
    assert_eq!(style["sources"]["basemap"]["attribution"], "© example");
    let ids: Vec<&str> = style["layers"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(&ids[..4], ["background", "basemap", "districts-fill", "estates-coverage"]);

    let mut bad = CITY.config_for(CITY.dir());
    bad.serve.basemap_url = Some("https://tiles.example.org/tile.png".into());
    assert!(bad.serve.validate().unwrap_err().to_string().contains("basemap_url"));
}

#[tokio::test]
async fn glyphs_are_served_for_any_range() {
    let latin = get("/fonts/Noto%20Sans%20Regular/0-255.pbf").await;
    assert_eq!(latin.status, StatusCode::OK);
    assert_eq!(latin.header("content-type"), Some("application/x-protobuf"));
    assert!(latin.body.len() > 10_000);
    // A stack of several fonts, and a CJK range drawn by the browser: an empty glyph set.
    let cjk = get("/fonts/Noto%20Sans%20Regular,Arial%20Unicode%20MS%20Regular/19968-20223.pbf").await;
    assert_eq!(cjk.status, StatusCode::OK);
    assert!(cjk.body.len() < 100);
    get("/fonts/Noto%20Sans%20Regular/1-256.pbf").await.assert_error(StatusCode::BAD_REQUEST, "range");
}

#[tokio::test]
async fn browsers_get_the_web_map_and_clients_the_landing_page() {
    let html = get_with(&CITY.state(), "/", &[("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")]).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.header("content-type").unwrap().starts_with("text/html"));
    let page = html.text();
    assert!(page.contains("/map/app.js") && page.contains("<a href=\"/collections?f=html\">"), "{page}");
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing remote in the page");

    let json = get("/").await;
    assert!(json.json()["links"].is_array(), "JSON clients keep the OGC landing page");
    let ogc_html = get_with(&CITY.state(), "/?f=html", &[("accept", "text/html")]).await;
    assert!(ogc_html.text().contains("Conformance") && !ogc_html.text().contains("/map/app.js"));
    let map = get("/map").await;
    assert_eq!(map.text(), page);

    for (asset, media) in [("app.js", "text/javascript"), ("maplibre-gl.mjs", "text/javascript"), ("maplibre-gl-worker.mjs?v=6", "text/javascript"), ("maplibre-gl.css", "text/css")] {
        let a = get(&format!("/map/{asset}")).await;
        assert_eq!(a.status, StatusCode::OK, "{asset}");
        assert!(a.header("content-type").unwrap().starts_with(media), "{asset}");
        assert!(a.header("etag").is_some());
    }
    get("/map/nothing.js").await.assert_error(StatusCode::NOT_FOUND, "nothing");
    let config = get_json("/map/config.json").await;
    assert_eq!(config["kinds"].as_array().unwrap().len(), 11);
    assert!(config["years"]["min"].as_i64().unwrap() <= config["years"]["max"].as_i64().unwrap());
    assert_eq!(config["bounds"].as_array().unwrap().len(), 4);
}

/// Built tiles are kept: the second request for a tile (a service-area tile, the costliest) is
/// answered from the cache, with the same bytes; the TileJSONs name the data version in their
/// tile URLs, and a tile's `ETag` follows the data version, so a client's copy is used until the
/// data changes.
#[tokio::test]
async fn tiles_are_cached_against_the_data_version() {
    let tj = get_json("/tiles/service-areas.json?kind=day_care").await;
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (x, y) = tiles_covering([b[0], b[1], b[2], b[3]], 13)[0];
    // A year of its own, so that no other test has built this tile.
    let uri = format!("/tiles/service-areas/13/{x}/{y}.mvt?kind=day_care&year=2003");
    let first = get(&uri).await;
    let again = get(&uri).await;
    assert!(first.header("server-timing").unwrap().contains("cache;desc=miss"), "{:?}", first.header("server-timing"));
    assert!(again.header("server-timing").unwrap().contains("cache;desc=hit"), "{:?}", again.header("server-timing"));
    assert_eq!(first.body, again.body);

    // Another replica over the same data (a second process, or a reload of unchanged data):
    // the same version in the tile URLs and the same ETag, so a client's copy from the first
    // is current here (304), though this replica builds the tile itself.
    let version = CITY.state().dataset().version;
    let replica = {
        let config = CITY.config_for(CITY.dir());
        gapmap::http::AppState::new(config.clone(), gapmap::http::load_dataset(&config).unwrap())
    };
    assert_eq!(replica.dataset().version, version, "the same data, the same version");
    let tj_replica = get_with(&replica, "/tiles/service-areas.json?kind=day_care", &[]).await.json();
    assert!(tj["tiles"][0].as_str().unwrap().ends_with(&format!("&v={version}")), "{}", tj["tiles"][0]);
    assert_eq!(tj_replica["tiles"], tj["tiles"]);
    let same = get_with(&replica, &uri, &[]).await;
    assert!(same.header("server-timing").unwrap().contains("cache;desc=miss"), "each process builds its own tiles");
    assert_eq!((same.header("etag"), &same.body), (first.header("etag"), &first.body));
    let kept = get_with(&replica, &uri, &[("if-none-match", first.header("etag").unwrap())]).await;
    assert_eq!(kept.status, StatusCode::NOT_MODIFIED, "a copy from the other replica is current");

    // Another data version (as a reload of changed data gives): another ETag, and TileJSON tile
    // URLs that name it.
    let changed = {
        let config = CITY.config_for(CITY.dir());
        let mut dataset = gapmap::http::load_dataset(&config).unwrap();
        dataset.version ^= 1;
        gapmap::http::AppState::new(config, dataset)
    };
    let tj2 = get_with(&changed, "/tiles/service-areas.json?kind=day_care", &[]).await.json();
    assert!(tj2["tiles"][0].as_str().unwrap().ends_with(&format!("&v={}", version ^ 1)), "{}", tj2["tiles"][0]);
    let other = get_with(&changed, &uri, &[]).await;
    assert_eq!(other.header("x-gapmap-data-version"), Some((version ^ 1).to_string().as_str()));
    assert_ne!(other.header("etag"), first.header("etag"));
    assert!(other.header("server-timing").unwrap().contains("cache;desc=miss"), "a new dataset's tiles are built anew");
    assert_eq!(other.body, first.body, "the same data");
    let stale = get_with(&changed, &uri, &[("if-none-match", first.header("etag").unwrap())]).await;
    assert_eq!(stale.status, StatusCode::OK, "a copy from another data version is not current");
    let current = get_with(&changed, &uri, &[("if-none-match", other.header("etag").unwrap())]).await;
    assert_eq!(current.status, StatusCode::NOT_MODIFIED);
}

/// A tile URL naming the served data version (`v=`, as the TileJSONs write it) is immutable:
/// clients keep it without asking again; a URL naming another version is revalidated.
#[tokio::test]
async fn versioned_tile_urls_are_immutable() {
    let tj = get_json("/tiles/estates.json").await;
    let template = tj["tiles"][0].as_str().unwrap().replace("http://localhost", "");
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (x, y) = tiles_covering([b[0], b[1], b[2], b[3]], 13)[0];
    let uri = template.replace("{z}", "13").replace("{x}", &x.to_string()).replace("{y}", &y.to_string());
    let version = CITY.state().dataset().version;
    assert!(uri.ends_with(&format!("?v={version}")), "{uri}");
    assert_eq!(get(&uri).await.header("cache-control"), Some(gapmap::http::tiles::IMMUTABLE));
    let elsewhere = uri.replace(&format!("v={version}"), &format!("v={}", version ^ 1));
    assert_eq!(get(&elsewhere).await.header("cache-control"), Some("no-cache"));
}

/// Tile sizes on a generated city of the density of the 60,000-estate one: no tile above 500 kB
/// uncompressed at any zoom, for every tile set as the map asks for it (facilities and service
/// areas of one kind) and as a client without `kind=` does. From zoom 14 a tile holds a few
/// dozen estates; those zooms are checked over the city's middle (an eighth of its width). Before
/// estates and gaps started at zoom 12, a 6,000-estate city of this density had gap tiles of
/// 544 kB at zoom 9.
#[tokio::test]
async fn no_tile_is_above_500_kb() {
    const LIMIT: usize = 500_000;
    let dir = tempfile::tempdir().unwrap();
    common::http::write_city(dir.path(), 8_000, 24_000, 5);
    let city = SharedCity::new(0, 0, 0, None);
    let config = city.config_for(dir.path());
    let state = gapmap::http::AppState::new(config.clone(), gapmap::http::load_dataset(&config).unwrap());
    let tj = get_with(&state, "/tiles/estates.json", &[]).await.json();
    let b: Vec<f64> = tj["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let mut report = Vec::new();
    let sets = ["estates", "districts", "facilities", "facilities?kind=parking", "gaps", "gaps?kind=parking", "service-areas", "service-areas?kind=parking"];
    for set in sets {
        let (name, query) = set.split_once('?').map_or((set, String::new()), |(n, q)| (n, format!("?{q}")));
        for z in 6..=16_u32 {
            let bbox = if z >= 14 {
                let (cx, cy, w, h) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, (b[2] - b[0]) / 16.0, (b[3] - b[1]) / 16.0);
                [cx - w, cy - h, cx + w, cy + h]
            } else {
                [b[0], b[1], b[2], b[3]]
            };
            let mut largest = (0, (0, 0));
            for (x, y) in tiles_covering(bbox, z) {
                let a = get_with(&state, &format!("/tiles/{name}/{z}/{x}/{y}.mvt{query}"), &[]).await;
                assert_eq!(a.status, StatusCode::OK);
                if a.body.len() > largest.0 {
                    largest = (a.body.len(), (x, y));
                }
            }
            report.push(format!("{set} z{z}: {:.1} kB", largest.0 as f64 / 1000.0));
            assert!(largest.0 <= LIMIT, "{set}: tile {z}/{}/{} is {} bytes (limit {LIMIT})\n{}", largest.1 .0, largest.1 .1, largest.0, report.join("\n"));
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// Every `source-layer` a served style draws is a layer its source's TileJSON lists (the
/// `districts` and label layers included), at a zoom the tiles carry it.
#[tokio::test]
async fn styles_draw_only_tile_layers_that_exist() {
    for name in ["coverage", "facilities", "gaps", "service-areas"] {
        let style = get_json(&format!("/styles/{name}.json?kind=market")).await;
        for layer in style["layers"].as_array().unwrap() {
            let Some(source_layer) = layer["source-layer"].as_str() else { continue };
            let url = style["sources"][layer["source"].as_str().unwrap()]["url"].as_str().unwrap().replace("http://localhost", "");
            let tj = get_json(&url).await;
            let listed = tj["vector_layers"].as_array().unwrap().iter().find(|l| l["id"] == source_layer);
            let listed = listed.unwrap_or_else(|| panic!("{name}: layer {} draws `{source_layer}`, which {url} does not list", layer["id"]));
            let min = listed["minzoom"].as_f64().unwrap();
            let drawn_to = layer["maxzoom"].as_f64().unwrap_or(24.0);
            assert!(drawn_to > min, "{name}: layer {} is drawn up to zoom {drawn_to}, its tiles start at {min}", layer["id"]);
        }
    }
}
