//! Map styles and glyphs: `/styles/{name}.json` (MapLibre GL style specification version 8),
//! `/styles/estates-coverage.qml` (QGIS) and `/fonts/{fontstack}/{range}.pbf` (SDF glyphs).
//!
//! The styles are the files under `styles/`, compiled into the binary and served with their
//! root-relative URLs (`/tiles/…`, `/fonts/…`) made absolute — MapLibre fetches tiles from a web
//! worker, where relative URLs do not resolve. `?kind=` sets the `kind` global state (and
//! `radius_m` from the catalogue, so a city's own radii apply) and passes through to the
//! facilities, gaps and service-areas tile sources (one kind's tiles); `?year=` passes through to
//! the tile sources. Layers drawn from the `districts` tiles are left out when estates carry no
//! district. The catalogue's kinds, labels and radii are added as `metadata["gapmap:kinds"]`.
//! A raster basemap is added only when `serve.basemap_url` is configured: by default nothing in a
//! style points outside gapmap, as offline planning offices need.
//!
//! Glyphs are Noto Sans (SIL OFL 1.1) rendered to SDF PBFs by `web/glyphs.mjs` and committed
//! under `web/glyphs/`. CJK ideographs are not among them: MapLibre draws those with the
//! browser's own fonts (`localIdeographFontFamily`), so Chinese names label without gigabytes of
//! glyph ranges. A range gapmap has no glyphs for is answered with an empty glyph set, which
//! MapLibre takes as "no glyphs here" without an error.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::params::{self, QueryPairs};
use crate::serve::dataset::Dataset;
use super::state::AppState;
use super::{base_url, Snapshot};
use crate::config::ServeConfig;

/// The styles, by name: `(name, title, JSON text)`.
pub const STYLES: &[(&str, &str, &str)] = &[
    ("coverage", "Estates coloured by coverage for one facility kind", include_str!("../../styles/coverage.json")),
    ("facilities", "Facilities by kind", include_str!("../../styles/facilities.json")),
    ("gaps", "Coverage gaps: estate × kind with no facility within the radius", include_str!("../../styles/gaps.json")),
    ("service-areas", "Service areas per facility kind", include_str!("../../styles/service-areas.json")),
    ("streets", "The walking network (served with analysis.metric = \"network\")", include_str!("../../styles/streets.json")),
];

/// Styles whose source exists only with a walking network.
const NETWORK_STYLES: &[&str] = &["streets"];

/// The QGIS style of the estates coverage layer.
pub const ESTATES_QML: &str = include_str!("../../styles/estates-coverage.qml");

/// The font stack the glyphs are rendered from.
pub const FONTSTACK: &str = "Noto Sans Regular";

/// Glyph PBFs by first code point of their 256-code-point range (written by `web/glyphs.mjs`).
const GLYPHS: &[(u32, &[u8])] = &[
    (0, include_bytes!("../../web/glyphs/Noto Sans Regular/0-255.pbf")),
    (256, include_bytes!("../../web/glyphs/Noto Sans Regular/256-511.pbf")),
    (768, include_bytes!("../../web/glyphs/Noto Sans Regular/768-1023.pbf")),
    (7680, include_bytes!("../../web/glyphs/Noto Sans Regular/7680-7935.pbf")),
    (8192, include_bytes!("../../web/glyphs/Noto Sans Regular/8192-8447.pbf")),
    (8448, include_bytes!("../../web/glyphs/Noto Sans Regular/8448-8703.pbf")),
    (8704, include_bytes!("../../web/glyphs/Noto Sans Regular/8704-8959.pbf")),
];

/// Tile sources that follow `?year=`.
const YEAR_SOURCES: &[&str] = &["estates", "facilities", "gaps", "districts", "service-areas"];

/// Tile sources that follow `?kind=`: they carry one feature per kind, so a style for one kind
/// asks for that kind's tiles only (a city's facilities of every kind fill megabytes of tile at
/// city zoom). Estates and districts carry every kind's figures, so switching the `kind` state
/// needs no new tiles.
const KIND_SOURCES: &[&str] = &["facilities", "gaps", "service-areas"];

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/styles", get(get_styles))
        .route("/styles/{file}", get(get_style))
        .route("/fonts/{fontstack}/{range}", get(get_glyphs))
}

/// A style by name, as committed.
///
/// # Errors
/// [`ApiError::Internal`] when the embedded file is not JSON (a test keeps it so).
#[must_use]
pub fn style_template(name: &str) -> Option<Result<Value, ApiError>> {
    STYLES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, text)| serde_json::from_str(text).map_err(|e| ApiError::Internal(format!("styles/{name}.json: {e}"))))
}

/// What a style request may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StyleQuery {
    /// The facility kind shown (a catalogue key).
    pub kind: Option<String>,
    /// Coverage as of this year.
    pub year: Option<i32>,
}

impl StyleQuery {
    /// Parses `kind` and `year`.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] for another parameter, an unknown kind or a bad year.
    pub fn parse(pairs: &QueryPairs, dataset: &Dataset) -> Result<Self, ApiError> {
        pairs.only(&["kind", "year"])?;
        let kind = match pairs.get("kind") {
            Some(k) if dataset.catalogue.kind_id(k).is_some() => Some(k.to_owned()),
            Some(k) => return Err(ApiError::bad("kind", format!("`{k}` is not a facility kind; use one of {}", dataset.catalogue.keys().collect::<Vec<_>>().join(", ")))),
            None => None,
        };
        let year = pairs.get("year").map(|s| params::parse_year("year", s)).transpose()?;
        Ok(Self { kind, year })
    }
}

/// A style ready to serve: absolute URLs under `base`, the requested kind and year, the
/// catalogue's kinds in its metadata, and the basemap when one is configured.
///
/// # Errors
/// [`ApiError::NoRoute`] for an unknown style name.
pub fn render_style(name: &str, dataset: &Dataset, query: &StyleQuery, base: &str, serve: &ServeConfig) -> Result<Value, ApiError> {
    let mut style = style_template(name).ok_or_else(|| ApiError::NoRoute(format!("/styles/{name}.json")))??;
    let catalogue = &dataset.catalogue;

    if let Some(state) = style.get_mut("state").and_then(Value::as_object_mut) {
        let has_radius = state.contains_key("radius_m");
        if let Some(kind_state) = state.get_mut("kind") {
            let default = kind_state.get("default").and_then(Value::as_str).unwrap_or("").to_owned();
            // A style that needs a kind (coverage) falls back to the catalogue's first one.
            let kind = query.kind.clone().or_else(|| (has_radius && catalogue.kind_id(&default).is_none()).then(|| catalogue.keys().next().unwrap_or("").to_owned()));
            let kind = kind.unwrap_or(default);
            kind_state["default"] = json!(kind);
            if has_radius {
                if let Some(id) = catalogue.kind_id(&kind) {
                    state.insert("radius_m".into(), json!({ "default": catalogue.spec(id).radius_m }));
                }
            }
        }
    }

    if let Some(metadata) = style.get_mut("metadata").and_then(Value::as_object_mut) {
        let kinds: Vec<Value> = catalogue.kinds.iter().map(|k| json!({ "key": k.key, "label_zh": k.label_zh, "label_en": k.label_en, "radius_m": k.radius_m })).collect();
        metadata.insert("gapmap:kinds".into(), Value::Array(kinds));
    }

    // Without districts in the data, the layers drawn from them go (the tiles do not exist).
    if dataset.current.districts.is_none() {
        if let Some(sources) = style.get_mut("sources").and_then(Value::as_object_mut) {
            sources.remove("districts");
        }
        if let Some(layers) = style.get_mut("layers").and_then(Value::as_array_mut) {
            layers.retain(|l| l["source"] != "districts");
        }
    }

    let absolute = |url: &str| if url.starts_with('/') { format!("{base}{url}") } else { url.to_owned() };
    if let Some(glyphs) = style.get("glyphs").and_then(Value::as_str).map(absolute) {
        style["glyphs"] = json!(glyphs);
    }
    if let Some(sprite) = style.get("sprite").and_then(Value::as_str).map(absolute) {
        style["sprite"] = json!(sprite);
    }
    if let Some(sources) = style.get_mut("sources").and_then(Value::as_object_mut) {
        for (id, source) in sources.iter_mut() {
            let year = query.year.filter(|_| YEAR_SOURCES.contains(&id.as_str()));
            let kind = query.kind.as_deref().filter(|_| KIND_SOURCES.contains(&id.as_str()));
            if let Some(url) = source.get("url").and_then(Value::as_str) {
                let mut url = absolute(url);
                if let Some(y) = year {
                    let separator = if url.contains('?') { '&' } else { '?' };
                    url = format!("{url}{separator}year={y}");
                }
                if let Some(k) = kind {
                    let separator = if url.contains('?') { '&' } else { '?' };
                    url = format!("{url}{separator}kind={}", params::encode(k));
                }
                source["url"] = json!(url);
            }
            if let Some(tiles) = source.get_mut("tiles").and_then(Value::as_array_mut) {
                for t in tiles.iter_mut() {
                    if let Some(s) = t.as_str() {
                        *t = json!(absolute(s));
                    }
                }
            }
        }
    }

    if let Some(url) = &serve.basemap_url {
        let mut source = json!({ "type": "raster", "tiles": [url], "tileSize": 256, "maxzoom": 19 });
        if let Some(a) = &serve.basemap_attribution {
            source["attribution"] = json!(a);
        }
        if let Some(sources) = style.get_mut("sources").and_then(Value::as_object_mut) {
            sources.insert("basemap".into(), source);
        }
        if let Some(layers) = style.get_mut("layers").and_then(Value::as_array_mut) {
            let at = layers.iter().position(|l| l["type"] != "background").unwrap_or(layers.len());
            layers.insert(at, json!({ "id": "basemap", "type": "raster", "source": "basemap", "paint": { "raster-opacity": 0.6 } }));
        }
    }
    Ok(style)
}

fn typed(media: &'static str, body: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static(media))], body).into_response()
}

async fn get_styles(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    let base = base_url(&state, &headers);
    // Only the styles this dataset serves: the streets style needs a walking network.
    let served = |name: &&str| dataset.network.is_some() || !NETWORK_STYLES.contains(name);
    let styles: Vec<Value> = STYLES.iter().filter(|(name, _, _)| served(name)).map(|(name, title, _)| json!({ "id": name, "title": title, "url": format!("{base}/styles/{name}.json") })).collect();
    let body = json!({
        "styles": styles,
        "qgis": [{ "id": "estates-coverage", "title": "QGIS style of the estates coverage layer", "url": format!("{base}/styles/estates-coverage.qml") }],
        "parameters": { "kind": "a facility kind key (sets the `kind` global state)", "year": "coverage as of this year" },
    });
    Ok(typed("application/json", body.to_string()))
}

async fn get_style(
    State(state): State<AppState>,
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path(file): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    if file == "estates-coverage.qml" {
        pairs.only(&[])?;
        return Ok(typed("application/xml; charset=utf-8", ESTATES_QML));
    }
    let Some(name) = file.strip_suffix(".json") else {
        return Err(ApiError::NoRoute(format!("/styles/{file}")));
    };
    if NETWORK_STYLES.contains(&name) && dataset.network.is_none() {
        return Err(ApiError::NoRoute(format!("/styles/{file} (the data is measured by straight line: no walking network)")));
    }
    let query = StyleQuery::parse(&pairs, &dataset)?;
    let style = render_style(name, &dataset, &query, &base_url(&state, &headers), state.serve())?;
    Ok(typed("application/json", style.to_string()))
}

/// The glyph PBF of one range; an empty glyph set where gapmap has none.
///
/// # Errors
/// [`ApiError::BadParameter`] unless `range` is `N-M.pbf` with `N` a multiple of 256 and
/// `M = N + 255`.
pub fn glyph_range(fontstack: &str, range: &str) -> Result<Vec<u8>, ApiError> {
    let bad = || ApiError::bad("range", format!("`{range}` is not a glyph range such as 0-255.pbf"));
    let (start, end) = range.strip_suffix(".pbf").and_then(|r| r.split_once('-')).ok_or_else(bad)?;
    let start: u32 = start.parse().map_err(|_| bad())?;
    let end: u32 = end.parse().map_err(|_| bad())?;
    if start % 256 != 0 || end != start + 255 || end > 0xFFFF {
        return Err(bad());
    }
    if let Some((_, data)) = GLYPHS.iter().find(|(s, _)| *s == start) {
        return Ok(data.to_vec());
    }
    // glyphs { stacks: fontstack { name, range } } with no glyphs.
    let name = fontstack.split(',').next().unwrap_or(FONTSTACK).trim();
    let range_text = format!("{start}-{end}");
    let mut stack = Vec::new();
    for (field, text) in [(1_u8, name), (2, range_text.as_str())] {
        stack.push((field << 3) | 2);
        push_varint(&mut stack, text.len());
        stack.extend_from_slice(text.as_bytes());
    }
    let mut out = vec![(1 << 3) | 2];
    push_varint(&mut out, stack.len());
    out.extend_from_slice(&stack);
    Ok(out)
}

fn push_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        #[expect(clippy::cast_possible_truncation, reason = "the low seven bits")]
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    #[expect(clippy::cast_possible_truncation, reason = "v < 0x80 here")]
    out.push(v as u8);
}

async fn get_glyphs(Path((fontstack, range)): Path<(String, String)>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(q.as_deref())?.only(&[])?;
    Ok(typed("application/x-protobuf", glyph_range(&fontstack, &range)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_style_parses_and_names_its_sources() {
        for (name, _, _) in STYLES {
            let style = style_template(name).expect("listed").expect("JSON");
            assert_eq!(style["version"], 8, "{name}");
            assert!(style["sources"].as_object().is_some_and(|s| !s.is_empty()), "{name}");
        }
    }

    #[test]
    fn glyph_ranges() {
        assert!(glyph_range(FONTSTACK, "0-255.pbf").expect("a range").len() > 10_000);
        let empty = glyph_range("Noto Sans Regular,Arial", "19968-20223.pbf").expect("an empty range");
        assert_eq!(empty[0], 0x0a);
        assert!(empty.windows(FONTSTACK.len()).any(|w| w == FONTSTACK.as_bytes()));
        assert!(glyph_range(FONTSTACK, "1-256.pbf").is_err());
        assert!(glyph_range(FONTSTACK, "0-255").is_err());
    }
}
