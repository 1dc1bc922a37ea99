//! Response helpers every handler module shares: JSON and GeoJSON answers, links, and the
//! sentences that describe the served data.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::params::{self, Lang};
use crate::serve::Dataset;

/// The GeoJSON media type.
pub const GEOJSON: &str = "application/geo+json";

/// A link object.
pub(crate) fn link(href: &str, rel: &str, media: &str, title: &str) -> Value {
    json!({ "href": href, "rel": rel, "type": media, "title": title })
}

/// A JSON answer; every JSON resource also has an HTML form (or, at `/`, the web map), so it
/// varies on `Accept`.
pub(crate) fn json_response(value: &Value, media: &'static str) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(media)), (header::VARY, HeaderValue::from_static(params::VARY_NEGOTIATED))], value.to_string()).into_response()
}

/// An `application/json` answer.
pub(crate) fn json_ok(value: &Value) -> Response {
    json_response(value, "application/json")
}

/// A GeoJSON answer in the CRS `crs_uri`; `gzipped`: `body` is already gzip-encoded (the
/// compression layer leaves such answers alone, so they carry their own `Vary`).
pub(crate) fn geojson_response(body: Vec<u8>, crs_uri: &str, gzipped: bool) -> Response {
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON)), (header::VARY, HeaderValue::from_static(params::VARY_NEGOTIATED))], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("<{crs_uri}>")) {
        response.headers_mut().insert("content-crs", v);
    }
    if gzipped {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A one-line description of the metric for the landing page and collections.
#[must_use]
pub fn metric_sentence(dataset: &Dataset, lang: Lang) -> String {
    match (&dataset.network, lang) {
        (None, Lang::En) => format!("Distances: straight line from the estate {}.", dataset.params.distance_from.as_str()),
        (None, Lang::Zh) => format!("距离：直线距离（自小区{}起算）。", if dataset.params.distance_from == crate::analysis::DistanceFrom::Boundary { "边界" } else { "中心" }),
        (Some(n), Lang::En) => format!(
            "Distances: walking distance along the street network ({} nodes, {} edges, {:.1} km of streets, {} components; from {}), walking minutes at {} m/min; straight-line distances are given beside them.",
            n.summary.graph.nodes,
            n.summary.graph.edges,
            n.summary.graph.length_m / 1000.0,
            n.summary.graph.components,
            n.source_name(),
            n.summary.speed_m_per_min
        ),
        (Some(n), Lang::Zh) => format!(
            "距离：沿街道网络的步行距离（{} 个节点、{} 条边、街道 {:.1} 公里、{} 个连通分量；数据 {}），步行时间按每分钟 {} 米；同时给出直线距离。",
            n.summary.graph.nodes,
            n.summary.graph.edges,
            n.summary.graph.length_m / 1000.0,
            n.summary.graph.components,
            n.source_name(),
            n.summary.speed_m_per_min
        ),
    }
}
