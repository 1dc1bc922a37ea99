//! Items pages rendered from the layers' columns: a gzip answer decodes to exactly the identity
//! answer, and both hold the features as freshly serialised by the crate's GeoJSON file writer
//! from the layer's geometry and values, for random boxes, limits, offsets, collections and CRSs.
#![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

mod common;

use std::io::Read as _;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::http::{send, Answer, SharedCity};
use gapmap::serve::Layer;
use gapmap::http::AppState;
use gapmap::io::write::OutFeature;
use gapmap::model::FeatureId;
use geo::Intersects as _;
use proptest::prelude::*;
use serde_json::Value;

static CITY: SharedCity = SharedCity::new(400, 900, 23, None);

fn state() -> AppState {
    CITY.state()
}

/// Proptest cases are synchronous: one runtime for every request.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(Body::empty()).unwrap();
    runtime().block_on(send(&state(), request))
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

fn id_value(id: &FeatureId) -> Value {
    match id {
        FeatureId::Int(n) => Value::from(*n),
        FeatureId::Text(s) => Value::from(s.as_str()),
    }
}

/// The features of `layer` intersecting `bbox`, in id order, `offset` and `limit` applied,
/// serialised afresh by the crate's GeoJSON writer from their geometry and property values.
fn fresh_page(layer: &Layer, bbox: geo::Rect<f64>, offset: usize, limit: usize) -> Vec<Value> {
    let chosen: Vec<_> = layer.iter().filter(|f| f.geometry.intersects(&bbox)).skip(offset).take(limit).collect();
    let out = chosen.iter().map(|f| OutFeature {
        geometry: (**f.geometry).clone(),
        properties: f.properties().map(|(name, v)| (name.to_owned(), v.into_owned())).collect(),
    });
    let mut buffer = Vec::new();
    gapmap::io::geojson::write_feature_collection_to(&mut buffer, out, None).unwrap();
    let collection: Value = serde_json::from_slice(&buffer).unwrap();
    let mut features = collection["features"].as_array().unwrap().clone();
    for (feature, f) in features.iter_mut().zip(&chosen) {
        feature["id"] = id_value(&f.id);
    }
    features
}

#[test]
fn other_crs_pages_gzip_to_the_same_body() {
    let uri = "/collections/facilities/items?limit=40&crs=http://www.opengis.net/def/crs/EPSG/0/3857";
    let plain = get(uri, &[]);
    let gz = get(uri, &[("accept-encoding", "gzip")]);
    assert_eq!((plain.status, gz.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("content-crs"), plain.header("content-crs"));
    assert!(gz.header("vary").unwrap().to_ascii_lowercase().contains("accept-encoding"));
    assert_eq!(gunzip(&gz.body), plain.body, "pages carry no timeStamp: the same page is the same bytes");
    // q=0 refuses gzip.
    let refused = get(uri, &[("accept-encoding", "gzip;q=0, br")]);
    assert!(refused.header("content-encoding").is_none());
    assert_eq!(refused.body, plain.body);
}

#[test]
fn etags_are_weak_and_differ_by_encoding() {
    let uri = "/collections/estates/items?limit=7";
    let plain = get(uri, &[]);
    let gz = get(uri, &[("accept-encoding", "gzip")]);
    let (tp, tg) = (plain.header("etag").unwrap().to_owned(), gz.header("etag").unwrap().to_owned());
    assert!(tp.starts_with("W/\"") && tg.starts_with("W/\""), "{tp} {tg}");
    assert_ne!(tp, tg);
    assert_eq!(get(uri, &[("accept-encoding", "gzip"), ("if-none-match", &tg)]).status, StatusCode::NOT_MODIFIED);
    assert_eq!(get(uri, &[("if-none-match", &tp)]).status, StatusCode::NOT_MODIFIED);
    // The strong form of the same tag matches too (If-None-Match compares weakly).
    assert_eq!(get(uri, &[("if-none-match", tp.trim_start_matches("W/"))]).status, StatusCode::NOT_MODIFIED);
    assert_eq!(get(uri, &[("accept-encoding", "gzip"), ("if-none-match", &tp)]).status, StatusCode::OK);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn pages_are_the_fresh_serialisation_in_both_encodings(
        collection in prop::sample::select(vec!["estates", "facilities", "gaps"]),
        fx in 0.0..1.0_f64, fy in 0.0..1.0_f64, fw in 0.0..0.7_f64, fh in 0.0..0.7_f64,
        whole in prop::bool::weighted(0.1),
        limit in 1usize..400, offset in prop_oneof![3 => Just(0usize), 2 => 0usize..300],
        encoding in prop::sample::select(vec!["gzip", "x-gzip;q=0.8, identity;q=0.5", "gzip, deflate, br"]),
    ) {
        let dataset = state().dataset();
        let layer = match collection {
            "estates" => &dataset.current.estates,
            "facilities" => &dataset.facilities_layer,
            _ => &dataset.current.gaps,
        };
        let extent = layer.extent.unwrap();
        let (w, h) = (extent.width(), extent.height());
        let bbox = if whole {
            extent
        } else {
            let min = geo::coord! { x: extent.min().x + fx * w, y: extent.min().y + fy * h };
            geo::Rect::new(min, geo::coord! { x: min.x + fw * w, y: min.y + fh * h })
        };
        // Seven decimals in the URL, as clients send them; the oracle uses the same numbers.
        let text = format!("{:.7},{:.7},{:.7},{:.7}", bbox.min().x, bbox.min().y, bbox.max().x, bbox.max().y);
        let parsed: Vec<f64> = text.split(',').map(|s| s.parse().unwrap()).collect();
        let bbox = geo::Rect::new(geo::coord! { x: parsed[0], y: parsed[1] }, geo::coord! { x: parsed[2], y: parsed[3] });
        let uri = format!("/collections/{collection}/items?bbox={text}&limit={limit}&offset={offset}");

        let plain = get(&uri, &[]);
        let gz = get(&uri, &[("accept-encoding", encoding)]);
        prop_assert_eq!(plain.status, StatusCode::OK);
        prop_assert_eq!(gz.status, StatusCode::OK);
        prop_assert!(plain.header("content-encoding").is_none());
        prop_assert_eq!(gz.header("content-encoding"), Some("gzip"));
        prop_assert!(gz.header("vary").unwrap().to_ascii_lowercase().contains("accept-encoding"));
        prop_assert!(plain.header("vary").unwrap().to_ascii_lowercase().contains("accept-encoding"));
        let decoded = gunzip(&gz.body);
        prop_assert_eq!(&decoded, &plain.body);

        let page: Value = serde_json::from_slice(&plain.body).unwrap();
        let expected = fresh_page(layer, bbox, offset, limit);
        let served = page["features"].as_array().unwrap();
        let matched = layer.iter().filter(|f| f.geometry.intersects(&bbox)).count();
        prop_assert_eq!(page["numberMatched"].as_u64(), Some(matched as u64));
        prop_assert_eq!(served.len(), expected.len());
        prop_assert_eq!(page["numberReturned"].as_u64(), Some(expected.len() as u64));
        for (s, e) in served.iter().zip(&expected) {
            prop_assert_eq!(s, e);
        }
    }
}
