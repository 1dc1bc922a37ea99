//! OGC API – Features: landing page, conformance, collections, items, single features and
//! queryables (Parts 1, 2 and 3).
#![expect(clippy::doc_markdown, reason = "GeoJSON, OpenAPI and CRS84 are names, not code")]

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use geo::{Coord, Geometry, Rect};
use serde_json::{json, Value};

use super::error::ApiError;
use super::gzip;
use super::html;
use super::params::{self, negotiate, Format, Lang, QueryPairs, YearRange};
use crate::serve::dataset::{transform_geometry, Dataset, FeatureRef, Layer, YearView, CRS84_URI};
use super::state::AppState;
use super::respond::{geojson_response, json_response, link, metric_sentence};
use super::{base_url, Snapshot};
use crate::filter::{self, Expr, FeatureView, SortKey, Value as FilterValue};
use crate::model::AttrValue;

/// Conformance classes declared at `/conformance`.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/property-property",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
];

/// GeoJSON media type.
pub use super::respond::GEOJSON;

/// The served collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// Estates with every per-kind coverage property.
    Estates,
    /// Facilities.
    Facilities,
    /// One feature per uncovered estate × kind.
    Gaps,
    /// Per kind, the area within the radius of a facility.
    ServiceAreas,
    /// Coverage summary per district (with the programme's figures when there is one).
    Districts,
    /// Renovation projects (`[programme]`), with their estate's geometry.
    Projects,
    /// Residents' wishes per estate (`[programme]`).
    Wishes,
}

impl Collection {
    /// Every collection, in listing order.
    pub const ALL: [Self; 7] = [Self::Estates, Self::Facilities, Self::Gaps, Self::ServiceAreas, Self::Districts, Self::Projects, Self::Wishes];

    /// The collection id in URLs.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::Estates => "estates",
            Self::Facilities => "facilities",
            Self::Gaps => "gaps",
            Self::ServiceAreas => "service-areas",
            Self::Districts => "districts",
            Self::Projects => "projects",
            Self::Wishes => "wishes",
        }
    }

    /// Whether `dataset` serves this collection: districts only when estates carry districts,
    /// projects and wishes only with a `[programme]`.
    #[must_use]
    pub fn served(self, dataset: &Dataset) -> bool {
        match self {
            Self::Districts => dataset.current.districts.is_some(),
            Self::Projects | Self::Wishes => dataset.programme.is_some(),
            _ => true,
        }
    }

    /// The collection with this id.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.id() == id)
    }

    /// Title in a language.
    #[must_use]
    pub fn title(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::Estates, Lang::En) => "Estates and their facility coverage",
            (Self::Estates, Lang::Zh) => "小区及其设施覆盖",
            (Self::Facilities, Lang::En) => "Facilities",
            (Self::Facilities, Lang::Zh) => "配套设施",
            (Self::Gaps, Lang::En) => "Coverage gaps",
            (Self::Gaps, Lang::Zh) => "覆盖缺口",
            (Self::ServiceAreas, Lang::En) => "Service areas",
            (Self::ServiceAreas, Lang::Zh) => "服务范围",
            (Self::Districts, Lang::En) => "Coverage by district",
            (Self::Districts, Lang::Zh) => "各区覆盖情况",
            (Self::Projects, Lang::En) => "Renovation projects",
            (Self::Projects, Lang::Zh) => "老旧小区改造项目",
            (Self::Wishes, Lang::En) => "Residents' wishes",
            (Self::Wishes, Lang::Zh) => "居民改造意愿",
        }
    }

    /// Description in a language.
    #[must_use]
    pub fn description(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::Estates, Lang::En) => "Residential estates with, per facility kind, the distance to the nearest facility, whether one lies within the service radius (GB 50180-2018), the count and capacity within it and the capacity shortfall. `year=` recomputes as of a year.",
            (Self::Estates, Lang::Zh) => "居住小区；按设施类别给出到最近设施的距离、服务半径内是否有设施（GB 50180-2018）、半径内设施数量与容量及容量缺口。可用 year= 按年份重新计算。",
            (Self::Facilities, Lang::En) => "Facilities with kind, capacity and opening year; `datetime` filters on the opening year.",
            (Self::Facilities, Lang::Zh) => "配套设施，含类别、容量与开设年份；datetime 参数按开设年份筛选。",
            (Self::Gaps, Lang::En) => "One feature per estate and facility kind with no facility within the service radius: the kind, the radius, the nearest facility and its distance.",
            (Self::Gaps, Lang::Zh) => "每个服务半径内没有该类设施的“小区 × 设施类别”一条记录：类别、服务半径、最近设施及距离。",
            (Self::ServiceAreas, Lang::En) => "Per facility kind, the area within the service radius of any facility: circles of the radius, or with a walking network the streets within the radius on foot with a walking margin either side, dissolved.",
            (Self::ServiceAreas, Lang::Zh) => "按设施类别，任一设施服务半径内的区域：直线距离为半径圆；有步行网络时为步行半径内可达的街道两侧加步行余量，融合而成。",
            (Self::Districts, Lang::En) => "Coverage summary per district: estates and households covered per facility kind, shortfall. Geometry: convex hull of the district's estates.",
            (Self::Districts, Lang::Zh) => "按行政区汇总的覆盖情况：各类设施覆盖的小区与户数、容量缺口；有改造计划时另含改造项目数、改造户数、投资、已验收与满意度未达标项目数（programme_*）。几何为该区小区的凸包。",
            (Self::Projects, Lang::En) => "One feature per old-estate renovation project, with its estate's geometry: batch year, street, district, buildings, households, floor area (m²), category, items, status, % complete, recorded investment by source (yuan), the funding split by the configured rules (funding_*_yuan), the satisfaction gate (passed, failed, no_survey) with the latest survey's satisfied %, and the estate's top wishes.",
            (Self::Projects, Lang::Zh) => "每个老旧小区改造项目一条记录，几何为所在小区：批次年份、街道、区、楼栋数、户数、建筑面积（m²）、改造类别与内容、状态、完成进度、按来源的实际投资（元）、按资金规则测算的分摊（funding_*_yuan）、满意度验收结果（passed 通过、failed 未通过需整改、no_survey 未调查）及最近一次满意度，以及该小区居民意愿前几项。",
            (Self::Wishes, Lang::En) => "One feature per estate whose residents stated wishes (问需于民), with its geometry: the number of residents asking in all, the items asked for and the top items with their counts.",
            (Self::Wishes, Lang::Zh) => "每个有居民改造意愿的小区一条记录，几何为小区：提出意愿的总人次、意愿项目数及排名前几位的项目与人数（问需于民）。",
        }
    }

    /// Whether `year=` recomputes this collection.
    #[must_use]
    pub fn by_year(self) -> bool {
        matches!(self, Self::Estates | Self::Gaps | Self::Districts)
    }

    /// Whether the collection's figures depend on the metric (all but facilities).
    #[must_use]
    pub fn by_metric(self) -> bool {
        !matches!(self, Self::Facilities | Self::Projects | Self::Wishes)
    }

    /// The parameters `/items` accepts for this collection besides its queryables.
    #[must_use]
    pub fn standard_params(self) -> Vec<&'static str> {
        let mut p = vec!["f", "bbox", "bbox-crs", "limit", "offset", "crs", "filter", "filter-lang", "filter-crs", "sortby"];
        if self.by_year() {
            p.push("year");
        }
        if self == Self::Facilities {
            p.push("datetime");
        }
        p
    }

    /// The queryables usable as `name=value` parameters (OGC 19-079r2, "Queryables as query
    /// parameters"): every property of `layer`, all simple values (string, number, integer,
    /// boolean), except those whose name is a standard parameter, which keeps its meaning
    /// (`year` on service-areas, say, stays reachable through `filter`).
    #[must_use]
    pub fn property_params(self, layer: &Layer) -> Vec<&str> {
        let standard: Vec<&str> = self.standard_params();
        layer.columns.iter().map(|c| c.name.as_str()).filter(|n| !standard.contains(n)).collect()
    }

    /// Every parameter `/items` accepts for this collection, served from `layer`.
    #[must_use]
    pub fn item_params(self, layer: &Layer) -> Vec<&str> {
        let mut p: Vec<&str> = self.standard_params();
        p.extend(self.property_params(layer));
        p
    }

    /// The layer serving this collection, `None` for districts without districts, projects and
    /// wishes without a programme, and for the
    /// service areas until they are dissolved ([`ready`] waits for them).
    #[must_use]
    pub fn layer<'a>(self, dataset: &'a Dataset, view: &'a YearView) -> Option<&'a Layer> {
        match self {
            Self::Estates => Some(&view.estates),
            Self::Facilities => Some(&dataset.facilities_layer),
            Self::Gaps => Some(&view.gaps),
            Self::ServiceAreas => dataset.service_areas_built(),
            Self::Districts => view.districts.as_ref(),
            Self::Projects => dataset.programme.as_ref().map(|p| &p.projects),
            Self::Wishes => dataset.programme.as_ref().map(|p| &p.wishes),
        }
    }
}

/// Waits, off the executor, until `c`'s layer exists: the service areas are dissolved in the
/// background after a load, and a request for them before that dissolves them (once).
///
/// # Errors
/// [`ApiError::Internal`] when the dissolve fails.
pub async fn ready(dataset: &Arc<Dataset>, c: Collection) -> Result<(), ApiError> {
    if c == Collection::ServiceAreas && dataset.service_areas_built().is_none() {
        let d = Arc::clone(dataset);
        tokio::task::spawn_blocking(move || d.service_areas().map(|_| ())).await??;
    }
    Ok(())
}

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(get_landing))
        .route("/conformance", get(get_conformance))
        .route("/collections", get(get_collections))
        .route("/collections/{collection}", get(get_collection))
        .route("/collections/{collection}/items", get(get_items))
        .route("/collections/{collection}/items/{feature}", get(get_feature))
        .route("/collections/{collection}/queryables", get(get_queryables))
}

/// A link object.
/// The collection named in a path, if it exists in this dataset.
fn find_collection(dataset: &Dataset, id: &str) -> Result<Collection, ApiError> {
    match Collection::parse(id) {
        Some(c) if c.served(dataset) => Ok(c),
        _ => Err(ApiError::NoCollection(id.to_owned())),
    }
}

/// Collections this dataset serves.
fn collections(dataset: &Dataset) -> Vec<Collection> {
    Collection::ALL.into_iter().filter(|c| c.served(dataset)).collect()
}

async fn get_landing(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    let format = negotiate(&pairs, &headers)?;
    let base = base_url(&state, &headers);
    let lang = Lang::from_headers(&headers);
    let (title, description) = match lang {
        Lang::Zh => ("gapmap：老旧小区配套设施覆盖", "按 GB 50180-2018 生活圈服务半径，计算各小区在养老、托育、幼儿园、卫生站、菜市场、停车、充电等设施上的覆盖与缺口，以 OGC API – Features 发布。"),
        Lang::En => ("gapmap: facility coverage of residential estates", "Which estates lack the facilities their residents need within walking distance (GB 50180-2018 living circles), served as OGC API – Features."),
    };
    let links = vec![
        link(&format!("{base}/?f=json"), "self", "application/json", "this document"),
        link(&format!("{base}/?f=html"), "alternate", "text/html", "this document as HTML"),
        link(&format!("{base}/api"), "service-desc", "application/vnd.oai.openapi+json;version=3.0", "the API definition"),
        link(&format!("{base}/api?f=html"), "service-doc", "text/html", "the API documentation"),
        link(&format!("{base}/conformance"), "conformance", "application/json", "conformance classes"),
        link(&format!("{base}/conformance"), "http://www.opengis.net/def/rel/ogc/1.0/conformance", "application/json", "conformance classes"),
        link(&format!("{base}/collections"), "data", "application/json", "collections"),
        link(&format!("{base}/collections"), "http://www.opengis.net/def/rel/ogc/1.0/data", "application/json", "collections"),
        link(&format!("{base}/map"), "related", "text/html", "the web map (also what a browser gets at /)"),
        link(&format!("{base}/reports"), "related", "application/json", "annual facility-target reports"),
        link(&format!("{base}/plans"), "related", "application/geo+json", "POST: where the next facilities of a kind should go (see /api)"),
        link(&format!("{base}/what-if"), "related", "application/json", "POST: what trial facilities would newly cover (see /api)"),
    ];
    let description = format!("{description} {}", metric_sentence(&dataset, lang));
    if format == Format::Html {
        let body = format!(
            "<p>{}</p>{}",
            html::escape(&description),
            html::link_list(&[
                ("/map".into(), "Web map 地图".into()),
                ("/collections?f=html".into(), "Collections 数据集".into()),
                ("/conformance?f=html".into(), "Conformance 符合性".into()),
                ("/api?f=html".into(), "API definition 接口定义".into()),
                ("/coverage?f=html&lon=114.51&lat=38.04".into(), "Point coverage 点位覆盖查询".into()),
                ("/reports?f=html".into(), "Annual reports 年度目标报告".into()),
                ("/api?f=html".into(), "POST /plans, POST /what-if: site planning and trial facilities 选址规划与试点设施 (see the API)".into()),
                ("/health".into(), "Health 健康检查".into()),
            ])
        );
        return Ok(html::response(html::page(title, lang.tag(), &body)));
    }
    let network = dataset.network.as_ref().map(crate::serve::dataset::ServedNetwork::summary_json);
    Ok(json_response(&json!({ "title": title, "description": description, "metric": dataset.metric_kind().as_str(), "network": network, "links": links }), "application/json"))
}

async fn get_conformance(headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    if negotiate(&pairs, &headers)? == Format::Html {
        let items: Vec<(String, String)> = CONFORMANCE.iter().map(|c| ((*c).to_owned(), (*c).to_owned())).collect();
        return Ok(html::response(html::page("Conformance", "en", &html::link_list(&items))));
    }
    Ok(json_response(&json!({ "conformsTo": CONFORMANCE }), "application/json"))
}

fn collection_json(dataset: &Dataset, c: Collection, base: &str, lang: Lang) -> Value {
    let layer = c.layer(dataset, &dataset.current);
    let url = format!("{base}/collections/{}", c.id());
    let bbox = layer.and_then(|l| l.extent).map_or_else(|| json!([[-180.0, -90.0, 180.0, 90.0]]), |e| json!([[e.min().x, e.min().y, e.max().x, e.max().y]]));
    let mut extent = json!({ "spatial": { "bbox": bbox, "crs": CRS84_URI } });
    if c == Collection::Facilities {
        let years: Vec<i32> = dataset.facilities.iter().filter_map(|f| f.opened_year).collect();
        if let (Some(min), Some(max)) = (years.iter().min(), years.iter().max()) {
            extent["temporal"] = json!({
                "interval": [[format!("{min:04}-01-01T00:00:00Z"), format!("{max:04}-12-31T23:59:59Z")]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
            });
        }
    }
    let described = |l: Lang| if c.by_metric() { format!("{} {}", c.description(l), metric_sentence(dataset, l)) } else { c.description(l).to_owned() };
    let mut doc = json!({
        "id": c.id(),
        "title": c.title(lang),
        "description": described(lang),
        "title_zh": c.title(Lang::Zh),
        "title_en": c.title(Lang::En),
        "description_zh": described(Lang::Zh),
        "description_en": described(Lang::En),
        "itemType": "feature",
        "geometryType": layer.map_or("Unknown", |l| l.geometry_type),
        "extent": extent,
        "crs": dataset.crs.iter().map(|o| o.uri.clone()).collect::<Vec<_>>(),
        "storageCrs": CRS84_URI,
        "links": [
            link(&url, "self", "application/json", c.title(lang)),
            link(&format!("{url}?f=html"), "alternate", "text/html", "as HTML"),
            link(&format!("{url}/items"), "items", GEOJSON, "items as GeoJSON"),
            link(&format!("{url}/items?f=html"), "items", "text/html", "items as HTML"),
            link(&format!("{url}/queryables"), "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "queryables"),
        ],
    });
    if c.by_metric() {
        doc["metric"] = json!(dataset.metric_kind().as_str());
    }
    doc
}

fn collection_html(dataset: &Dataset, c: Collection, lang: Lang) -> String {
    let layer = c.layer(dataset, &dataset.current);
    let extent = layer.and_then(|l| l.extent).map_or_else(String::new, |e| format!("{:.6}, {:.6}, {:.6}, {:.6}", e.min().x, e.min().y, e.max().x, e.max().y));
    let mut s = format!("<h2><a href=\"/collections/{id}?f=html\">{id}</a></h2>", id = html::escape(c.id()));
    s.push_str(&html::definitions(&[
        ("title", html::escape(c.title(lang))),
        ("标题", html::escape(c.title(Lang::Zh))),
        ("description", html::escape(&if c.by_metric() { format!("{} {}", c.description(Lang::En), metric_sentence(dataset, Lang::En)) } else { c.description(Lang::En).to_owned() })),
        ("说明", html::escape(&if c.by_metric() { format!("{} {}", c.description(Lang::Zh), metric_sentence(dataset, Lang::Zh)) } else { c.description(Lang::Zh).to_owned() })),
        ("geometry", html::escape(layer.map_or("Unknown", |l| l.geometry_type))),
        ("features", layer.map_or(0, Layer::len).to_string()),
        ("extent (CRS84)", extent),
        ("items", format!("<a href=\"/collections/{id}/items?f=html\">HTML</a> · <a href=\"/collections/{id}/items?f=json\">GeoJSON</a> · <a href=\"/collections/{id}/queryables?f=html\">queryables</a>", id = html::escape(c.id()))),
    ]));
    s
}

async fn get_collections(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    let lang = Lang::from_headers(&headers);
    if negotiate(&pairs, &headers)? == Format::Html {
        let body: String = collections(&dataset).into_iter().map(|c| collection_html(&dataset, c, lang)).collect();
        return Ok(html::response(html::page("Collections 数据集", lang.tag(), &body)));
    }
    let base = base_url(&state, &headers);
    let list: Vec<Value> = collections(&dataset).into_iter().map(|c| collection_json(&dataset, c, &base, lang)).collect();
    Ok(json_response(
        &json!({
            "links": [
                link(&format!("{base}/collections"), "self", "application/json", "collections"),
                link(&format!("{base}/collections?f=html"), "alternate", "text/html", "as HTML"),
            ],
            "collections": list,
            "crs": dataset.crs.iter().map(|o| o.uri.clone()).collect::<Vec<_>>(),
        }),
        "application/json",
    ))
}

async fn get_collection(
    State(state): State<AppState>,
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let c = find_collection(&dataset, &id)?;
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    ready(&dataset, c).await?;
    let lang = Lang::from_headers(&headers);
    if negotiate(&pairs, &headers)? == Format::Html {
        return Ok(html::response(html::page(c.title(lang), lang.tag(), &collection_html(&dataset, c, lang))));
    }
    Ok(json_response(&collection_json(&dataset, c, &base_url(&state, &headers), lang), "application/json"))
}

async fn get_queryables(
    State(state): State<AppState>,
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let c = find_collection(&dataset, &id)?;
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    ready(&dataset, c).await?;
    let layer = c.layer(&dataset, &dataset.current).ok_or_else(|| ApiError::NoCollection(id.clone()))?;
    let base = base_url(&state, &headers);
    let mut properties = serde_json::Map::new();
    properties.insert(
        "geometry".into(),
        json!({ "title": "geometry", "format": format!("geometry-{}", layer.geometry_type.to_ascii_lowercase()), "x-ogc-role": "primary-geometry" }),
    );
    for col in &layer.columns {
        properties.insert(col.name.clone(), json!({ "title": col.name, "type": col.kind.json_type() }));
    }
    if negotiate(&pairs, &headers)? == Format::Html {
        let rows: Vec<Vec<String>> = properties
            .iter()
            .map(|(name, schema)| vec![html::escape(name), html::escape(schema.get("type").or_else(|| schema.get("format")).and_then(Value::as_str).unwrap_or(""))])
            .collect();
        let body = format!(
            "<p>Properties usable in <code>filter</code> (CQL2-text) and <code>sortby</code>; {} also as <code>name=value</code> parameters.</p>{}",
            html::escape(&c.property_params(layer).join(", ")),
            html::table(&["property".into(), "type".into()], &rows)
        );
        return Ok(html::response(html::page(&format!("{} – queryables", c.id()), "en", &body)));
    }
    let doc = json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": format!("{base}/collections/{}/queryables", c.id()),
        "type": "object",
        "title": c.title(Lang::from_headers(&headers)),
        "properties": properties,
        "additionalProperties": false,
    });
    Ok(json_response(&doc, "application/schema+json"))
}

/// A parsed `/items` request.
#[derive(Debug)]
struct ItemsQuery {
    /// Features must intersect one of these (CRS84): two for a bbox across the antimeridian.
    bbox: Option<Vec<Rect<f64>>>,
    limit: usize,
    offset: usize,
    /// Index into [`Dataset::crs`].
    crs: usize,
    datetime: Option<YearRange>,
    filter: Option<Expr>,
    sortby: Vec<SortKey>,
    year: Option<i32>,
    properties: Vec<(String, String)>,
    format: Format,
}

impl ItemsQuery {
    fn parse(pairs: &QueryPairs, c: Collection, dataset: &Dataset, state: &AppState, headers: &HeaderMap) -> Result<Self, ApiError> {
        let view = dataset.cached_year(dataset.params.year).unwrap_or_else(|| Arc::clone(&dataset.current));
        let layer = c.layer(dataset, &view).ok_or_else(|| ApiError::NoCollection(c.id().to_owned()))?;
        pairs.only(&c.item_params(layer))?;
        let format = negotiate(pairs, headers)?;
        let serve = state.serve();
        let limit = match pairs.get("limit") {
            // Larger limits are served as the maximum, as OGC API – Features Part 1 recommends.
            Some(s) => params::parse_count("limit", s, 1)?.min(serve.max_limit),
            None => serve.default_limit,
        };
        let offset = pairs.get("offset").map(|s| params::parse_count("offset", s, 0)).transpose()?.unwrap_or(0);
        let crs = match pairs.get("crs") {
            Some(name) => crs_index(dataset, "crs", name)?,
            None => 0,
        };
        let bbox = match pairs.get("bbox") {
            Some(s) => {
                let b = params::parse_bbox("bbox", s)?;
                let bbox_crs = match pairs.get("bbox-crs") {
                    Some(name) => crs_index(dataset, "bbox-crs", name)?,
                    None => 0,
                };
                let rects = bbox_to_crs84(dataset, bbox_crs, b)?;
                if let Some(max) = serve.max_bbox_area_km2 {
                    let area: f64 = rects.iter().map(|r| area_km2(*r)).sum();
                    #[expect(clippy::cast_precision_loss, reason = "a configured limit far below 2^52")]
                    if area > max as f64 {
                        return Err(ApiError::bad("bbox", format!("covers about {area:.0} km²; at most {max} km² are accepted (serve.max_bbox_area_km2): ask for smaller boxes")));
                    }
                }
                Some(rects)
            }
            None if pairs.get("bbox-crs").is_some() => return Err(ApiError::bad("bbox-crs", "is only meaningful with bbox")),
            None => None,
        };
        let datetime = pairs.get("datetime").map(params::parse_datetime).transpose()?;
        let year = match pairs.get("year") {
            Some(s) => Some(params::parse_year("year", s)?),
            None => dataset.params.year,
        };
        if let Some(lang) = pairs.get("filter-lang") {
            if lang != "cql2-text" {
                return Err(ApiError::bad("filter-lang", format!("`{lang}` is not supported; use cql2-text")));
            }
        }
        if let Some(fc) = pairs.get("filter-crs") {
            if dataset.find_crs(fc).is_none_or(|o| o.name != "CRS84") {
                return Err(ApiError::bad("filter-crs", format!("`{fc}` is not supported; geometry literals are in {CRS84_URI}")));
            }
        }
        let known = |name: &str| name == "geometry" || name == "id" || layer.column(name).is_some();
        // An empty `filter` or `sortby` is no filter and the default order: the OpenAPI
        // document types both as strings, and a form leaves them empty.
        let filter = match pairs.get("filter").filter(|t| !t.trim().is_empty()) {
            Some(text) => {
                let expr = filter::parse_cql2_text(text).map_err(|e| ApiError::bad("filter", e.to_string()))?;
                if let Some(unknown) = expr.property_names().into_iter().find(|n| !known(n)) {
                    return Err(ApiError::bad("filter", format!("`{unknown}` is not a queryable of {}; see /collections/{}/queryables", c.id(), c.id())));
                }
                Some(expr)
            }
            None if pairs.get("filter").is_none() && (pairs.get("filter-lang").is_some() || pairs.get("filter-crs").is_some()) => {
                return Err(ApiError::bad("filter-lang", "filter-lang and filter-crs are only meaningful with filter"));
            }
            None => None,
        };
        let sortby = match pairs.get("sortby").filter(|t| !t.trim().is_empty()) {
            Some(text) => {
                let keys = filter::parse_sortby(text).map_err(|e| ApiError::bad("sortby", e.to_string()))?;
                if let Some(k) = keys.iter().find(|k| !known(&k.property) || k.property == "geometry") {
                    return Err(ApiError::bad("sortby", format!("`{}` is not a sortable property of {}; see /collections/{}/queryables", k.property, c.id(), c.id())));
                }
                keys
            }
            None => Vec::new(),
        };
        let properties = c
            .property_params(layer)
            .into_iter()
            .filter_map(|p| pairs.get(p).map(|v| (p.to_owned(), v.to_owned())))
            .collect();
        Ok(Self { bbox, limit, offset, crs, datetime, filter, sortby, year, properties, format })
    }
}

fn crs_index(dataset: &Dataset, param: &str, name: &str) -> Result<usize, ApiError> {
    let wanted = dataset.find_crs(name).map(|o| o.uri.clone());
    dataset.crs.iter().position(|o| Some(&o.uri) == wanted.as_ref()).ok_or_else(|| {
        ApiError::bad(param, format!("`{name}` is not offered; use one of {}", dataset.crs.iter().map(|o| o.uri.as_str()).collect::<Vec<_>>().join(", ")))
    })
}

/// Area of a CRS84 rectangle on a sphere of the WGS84 authalic radius, km².
fn area_km2(rect: Rect<f64>) -> f64 {
    const R_KM: f64 = 6_371.007;
    let (south, north) = (rect.min().y.clamp(-90.0, 90.0).to_radians(), rect.max().y.clamp(-90.0, 90.0).to_radians());
    let width = (rect.max().x - rect.min().x).clamp(0.0, 360.0).to_radians();
    R_KM * R_KM * width * (north.sin() - south.sin())
}

/// Converts a bbox given in an offered CRS (its own axis order) to CRS84 rectangles: the
/// envelope of the densified edges, so curved edges in CRS84 are covered. In a geographic CRS a
/// west edge east of the east edge crosses the antimeridian (OGC API – Features Part 1, 7.15.3)
/// and becomes two rectangles, one either side of it.
fn bbox_to_crs84(dataset: &Dataset, crs: usize, b: [f64; 4]) -> Result<Vec<Rect<f64>>, ApiError> {
    const STEPS: u32 = 8;
    let option = &dataset.crs[crs];
    let param = if crs == 0 { "bbox" } else { "bbox-crs" };
    let (min, max) = if option.lat_first {
        (Coord { x: b[1], y: b[0] }, Coord { x: b[3], y: b[2] })
    } else {
        (Coord { x: b[0], y: b[1] }, Coord { x: b[2], y: b[3] })
    };
    if min.y > max.y {
        let axis = if option.to_crs84.is_none() { "latitude" } else { "y" };
        return Err(ApiError::bad("bbox", format!("the lower corner must come first: the minimum {axis} is above the maximum")));
    }
    let Some(transformer) = &option.to_crs84 else {
        if min.y < -90.0 || max.y > 90.0 {
            return Err(ApiError::bad(param, "latitudes must lie within -90..90; is the axis order right?"));
        }
        if min.x > max.x {
            return Ok(vec![Rect::new(min, Coord { x: 180.0, y: max.y }), Rect::new(Coord { x: -180.0, y: min.y }, max)]);
        }
        return Ok(vec![Rect::new(min, max)]);
    };
    if min.x > max.x {
        return Err(ApiError::bad("bbox", format!("the minimum x is east of the maximum x; a box across the antimeridian is accepted in CRS84 or EPSG:4326, not in {}", option.uri)));
    }
    let mut ring = Vec::new();
    for step in 0..=STEPS {
        let fraction = f64::from(step) / f64::from(STEPS);
        let x = min.x + (max.x - min.x) * fraction;
        let y = min.y + (max.y - min.y) * fraction;
        ring.extend([Coord { x, y: min.y }, Coord { x, y: max.y }, Coord { x: min.x, y }, Coord { x: max.x, y }]);
    }
    transformer.apply(&mut ring).map_err(|e| ApiError::bad("bbox", format!("cannot convert it from {}: {e}", option.uri)))?;
    let rect = ring.iter().fold(Rect::new(ring[0], ring[0]), |acc, c| {
        Rect::new(Coord { x: acc.min().x.min(c.x), y: acc.min().y.min(c.y) }, Coord { x: acc.max().x.max(c.x), y: acc.max().y.max(c.y) })
    });
    Ok(vec![rect])
}

/// A feature of a layer as the filter module sees it.
struct View<'a> {
    layer: &'a Layer,
    feature: FeatureRef<'a>,
}

impl FeatureView for View<'_> {
    fn property(&self, name: &str) -> Option<FilterValue> {
        match self.layer.column(name) {
            Some(i) => Some(filter_value(&self.feature.value(i))),
            None if name == "id" => Some(match &*self.feature.id {
                crate::model::FeatureId::Int(n) => FilterValue::Int(*n),
                crate::model::FeatureId::Text(s) => FilterValue::Text(s.clone()),
            }),
            None => None,
        }
    }

    fn geometry(&self) -> Option<&Geometry<f64>> {
        Some(self.feature.geometry)
    }
}

fn filter_value(v: &AttrValue) -> FilterValue {
    match v {
        AttrValue::Null => FilterValue::Null,
        AttrValue::Bool(b) => FilterValue::Bool(*b),
        AttrValue::Int(n) => FilterValue::Int(*n),
        AttrValue::Float(x) => FilterValue::Float(*x),
        AttrValue::Text(s) | AttrValue::Json(s) => FilterValue::Text(s.clone()),
    }
}

/// Whether a property value equals a `name=value` query parameter.
#[expect(clippy::float_cmp, reason = "a property filter asks for this exact value")]
fn value_matches(v: &AttrValue, wanted: &str) -> bool {
    match v {
        AttrValue::Null => false,
        AttrValue::Bool(b) => wanted.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        #[expect(clippy::cast_precision_loss, reason = "equality against a parsed float is approximate anyway")]
        AttrValue::Int(n) => wanted.parse::<i64>().map_or_else(|_| wanted.parse::<f64>().is_ok_and(|x| x == *n as f64), |w| w == *n),
        AttrValue::Float(x) => wanted.parse::<f64>().is_ok_and(|w| w == *x),
        AttrValue::Text(s) | AttrValue::Json(s) => s == wanted,
    }
}

/// Positions of the matching features, in response order.
fn select(layer: &Layer, q: &ItemsQuery, datetime_column: Option<usize>) -> Vec<u32> {
    let mut boxes = q.bbox.clone();
    if let Some(bounds) = q.filter.as_ref().and_then(Expr::spatial_bounds) {
        boxes = Some(match boxes {
            None => vec![bounds],
            Some(parts) => parts
                .iter()
                .filter_map(|b| {
                    let min = Coord { x: b.min().x.max(bounds.min().x), y: b.min().y.max(bounds.min().y) };
                    let max = Coord { x: b.max().x.min(bounds.max().x), y: b.max().y.min(bounds.max().y) };
                    (min.x <= max.x && min.y <= max.y).then(|| Rect::new(min, max))
                })
                .collect(),
        });
    }
    let columns: Vec<(usize, &str)> = q.properties.iter().filter_map(|(n, v)| layer.column(n).map(|i| (i, v.as_str()))).collect();
    if columns.len() < q.properties.len() {
        return Vec::new();
    }
    let mut hits = match boxes {
        None => layer.intersecting(None),
        Some(parts) => {
            let mut hits: Vec<u32> = parts.into_iter().flat_map(|b| layer.intersecting(Some(b))).collect();
            // A feature crossing the antimeridian itself is in both halves.
            hits.sort_unstable();
            hits.dedup();
            hits
        }
    };
    if !columns.is_empty() || q.datetime.is_some() || q.filter.is_some() {
        hits.retain(|&i| {
            let f = layer.feature(i as usize);
            columns.iter().all(|(c, v)| value_matches(&f.value(*c), v))
                && q.datetime.is_none_or(|range| {
                    datetime_column.is_some_and(|c| match *f.value(c) {
                        AttrValue::Int(y) => range.contains(i32::try_from(y).ok()),
                        _ => false,
                    })
                })
                && q.filter.as_ref().is_none_or(|e| e.evaluate(&View { layer, feature: f }))
        });
    }
    if !q.sortby.is_empty() {
        hits.sort_by(|&a, &b| {
            let view = |i: u32| View { layer, feature: layer.feature(i as usize) };
            filter::compare_features(&q.sortby, &view(a), &view(b)).then(a.cmp(&b))
        });
    }
    hits
}

async fn get_items(
    State(state): State<AppState>,
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let c = find_collection(&dataset, &id)?;
    let pairs = QueryPairs::parse(q.as_deref())?;
    ready(&dataset, c).await?;
    let query = ItemsQuery::parse(&pairs, c, &dataset, &state, &headers)?;
    let base = base_url(&state, &headers);
    let lang = Lang::from_headers(&headers);
    let gzip = gzip::prefers_gzip(&headers);
    // A year not analysed yet is computed before taking a page-build turn, so that seconds of
    // analysis do not hold up other pages.
    if c.by_year() && dataset.cached_year(query.year).is_none() {
        let (d, year) = (Arc::clone(&dataset), query.year);
        tokio::task::spawn_blocking(move || d.year_view(year)).await??;
    }
    // A small page of a bbox (the map's common request) costs microseconds: answered here,
    // without a page-build turn and two thread hand-offs; anything else on the blocking pool.
    // The matches found here are not looked for again there.
    let mut found = None;
    if query.bbox.is_some() && query.sortby.is_empty() && query.filter.is_none() && !gzip && dataset.crs[query.crs].from_crs84.is_none() && !dataset.crs[query.crs].lat_first {
        if let Some(view) = if c.by_year() { dataset.cached_year(query.year) } else { Some(Arc::clone(&dataset.current)) } {
            let layer = c.layer(&dataset, &view).ok_or_else(|| ApiError::NoCollection(c.id().to_owned()))?;
            let hits = select(layer, &query, layer.column("opened_year").filter(|_| c == Collection::Facilities));
            if hits.len().saturating_sub(query.offset).min(query.limit) <= INLINE_PAGE_FEATURES {
                return items_page_of(&dataset, c, &query, &pairs, &base, lang, gzip, layer, &hits);
            }
            found = Some((view, hits));
        }
    }
    let permit = state.page_permit().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match found {
            Some((view, hits)) => {
                let layer = c.layer(&dataset, &view).ok_or_else(|| ApiError::NoCollection(c.id().to_owned()))?;
                items_page_of(&dataset, c, &query, &pairs, &base, lang, gzip, layer, &hits)
            }
            None => items_page(&dataset, c, &query, &pairs, &base, lang, gzip),
        }
    })
    .await?
}

/// Features in a page answered on the executor (see [`get_items`]): rendered from the render
/// cache or the columns, a few microseconds each.
const INLINE_PAGE_FEATURES: usize = 64;

/// Builds an items page; `gzip`: the client prefers gzip (the page is compressed here, off the
/// executor).
fn items_page(dataset: &Dataset, c: Collection, q: &ItemsQuery, pairs: &QueryPairs, base: &str, lang: Lang, gzip: bool) -> Result<Response, ApiError> {
    let view = if c.by_year() { dataset.year_view(q.year)? } else { Arc::clone(&dataset.current) };
    let layer = c.layer(dataset, &view).ok_or_else(|| ApiError::NoCollection(c.id().to_owned()))?;
    let hits = select(layer, q, layer.column("opened_year").filter(|_| c == Collection::Facilities));
    items_page_of(dataset, c, q, pairs, base, lang, gzip, layer, &hits)
}

/// The items page of the matching features `hits` of `layer`.
#[expect(clippy::too_many_arguments, reason = "one page's worth of context")]
fn items_page_of(dataset: &Dataset, c: Collection, q: &ItemsQuery, pairs: &QueryPairs, base: &str, lang: Lang, gzip: bool, layer: &Layer, hits: &[u32]) -> Result<Response, ApiError> {
    let matched = hits.len();
    let start = q.offset.min(matched);
    let end = start.saturating_add(q.limit).min(matched);
    let page = &hits[start..end];

    let url = format!("{base}/collections/{}/items", c.id());
    let limit_text = q.limit.to_string();
    let mut links = vec![
        link(&format!("{url}{}", pairs.with(&[("f", Some("json"))])), "self", GEOJSON, "this page"),
        link(&format!("{url}{}", pairs.with(&[("f", Some("html"))])), "alternate", "text/html", "this page as HTML"),
        link(&format!("{base}/collections/{}", c.id()), "collection", "application/json", c.title(lang)),
    ];
    let f = q.format.as_str();
    let next = (end < matched).then(|| format!("{url}{}", pairs.with(&[("offset", Some(&end.to_string())), ("limit", Some(&limit_text)), ("f", Some(f))])));
    let prev = (start > 0).then(|| {
        let p = start.saturating_sub(q.limit);
        let off = p.to_string();
        format!("{url}{}", pairs.with(&[("offset", if p == 0 { None } else { Some(off.as_str()) }), ("limit", Some(&limit_text)), ("f", Some(f))]))
    });
    if let Some(n) = &next {
        links.push(link(n, "next", if q.format == Format::Html { "text/html" } else { GEOJSON }, "next page"));
    }
    if let Some(p) = &prev {
        links.push(link(p, "prev", if q.format == Format::Html { "text/html" } else { GEOJSON }, "previous page"));
    }
    let crs = &dataset.crs[q.crs];
    if q.format == Format::Html {
        return Ok(html::response(items_html(layer, c, page, matched, start, next.as_deref(), prev.as_deref(), lang)));
    }
    let mut head = Vec::with_capacity(2048);
    let _ = write!(
        VecWriter(&mut head),
        "{{\"type\":\"FeatureCollection\",\"numberMatched\":{matched},\"numberReturned\":{},\"dataVersion\":{},\"links\":{},\"features\":[",
        page.len(),
        // The same snapshot's version as the `X-Gapmap-Data-Version` header: a client (and the
        // load-and-fault test) can check that a page comes from one data version. No
        // `timeStamp` (optional in OGC API – Features): the time of answering would make the
        // same page differ between replicas and between two requests; `dataVersion` says which
        // data it is.
        dataset.version,
        Value::Array(links)
    );
    let rendered = render_page(layer, page, dataset, q.crs)?;
    let mut body = head;
    body.reserve(rendered.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    for (i, feature) in rendered.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(feature);
    }
    body.extend_from_slice(b"]}");
    if gzip {
        return Ok(geojson_response(gzip::gzip_fast(&body), &crs.uri, true));
    }
    Ok(geojson_response(body, &crs.uri, false))
}

/// `fmt::Write` into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Features `rows` of `layer` as GeoJSON in the requested CRS: geometries converted once for
/// the whole page when it is not CRS84.
fn render_page(layer: &Layer, rows: &[u32], dataset: &Dataset, crs: usize) -> Result<Vec<Arc<[u8]>>, ApiError> {
    let option = &dataset.crs[crs];
    if option.from_crs84.is_none() && !option.lat_first {
        return Ok(layer.render(rows, None)?);
    }
    let all = Geometry::GeometryCollection(geo::GeometryCollection(rows.iter().map(|&r| (**layer.feature(r as usize).geometry).clone()).collect()));
    let Geometry::GeometryCollection(converted) = transform_geometry(&all, option.from_crs84.as_ref(), option.lat_first)? else {
        return Err(ApiError::Internal("a collection stayed a collection".into()));
    };
    Ok(layer.render(rows, Some(&converted.0))?)
}

#[expect(clippy::too_many_arguments, reason = "one page's worth of context")]
fn items_html(layer: &Layer, c: Collection, page: &[u32], matched: usize, start: usize, next: Option<&str>, prev: Option<&str>, lang: Lang) -> String {
    let mut body = format!(
        "<p>{}</p><p>{matched} features match; showing {}–{}.</p><p>",
        html::escape(c.description(lang)),
        if page.is_empty() { 0 } else { start + 1 },
        start + page.len()
    );
    if let Some(p) = prev {
        let _ = write!(body, "<a rel=\"prev\" href=\"{}\">← previous</a> ", html::escape(p));
    }
    if let Some(n) = next {
        let _ = write!(body, "<a rel=\"next\" href=\"{}\">next →</a>", html::escape(n));
    }
    body.push_str("</p>");
    let mut headers = vec!["id".to_owned()];
    headers.extend(layer.columns.iter().map(|col| col.name.clone()));
    let rows: Vec<Vec<String>> = page
        .iter()
        .map(|&r| {
            let f = layer.feature(r as usize);
            let id = f.id.to_string();
            let mut row = vec![format!("<a href=\"/collections/{}/items/{}?f=html\">{}</a>", c.id(), html::escape(&params::encode(&id)), html::escape(&id))];
            row.extend(f.properties().map(|(_, v)| html::escape(&v.to_string())));
            row
        })
        .collect();
    body.push_str(&html::table(&headers, &rows));
    html::page(&format!("{} – {}", c.id(), c.title(lang)), lang.tag(), &body)
}

async fn get_feature(
    State(state): State<AppState>,
    Extension(Snapshot(dataset)): Extension<Snapshot>,
    Path((id, feature_id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let c = find_collection(&dataset, &id)?;
    let pairs = QueryPairs::parse(q.as_deref())?;
    let mut accepted = vec!["f", "crs"];
    if c.by_year() {
        accepted.push("year");
    }
    pairs.only(&accepted)?;
    let format = negotiate(&pairs, &headers)?;
    ready(&dataset, c).await?;
    let crs = pairs.get("crs").map(|name| crs_index(&dataset, "crs", name)).transpose()?.unwrap_or(0);
    let year = match pairs.get("year") {
        Some(s) => Some(params::parse_year("year", s)?),
        None => dataset.params.year,
    };
    let base = base_url(&state, &headers);
    let lang = Lang::from_headers(&headers);
    // One feature of a year at hand, in CRS84, costs microseconds: answered here; a year to
    // build or a geometry to convert go to the blocking pool.
    let at_hand = (!c.by_year() || dataset.cached_year(year).is_some()) && dataset.crs[crs].from_crs84.is_none() && !dataset.crs[crs].lat_first;
    let answer = move || {
        let view = if c.by_year() { dataset.year_view(year)? } else { Arc::clone(&dataset.current) };
        let layer = c.layer(&dataset, &view).ok_or_else(|| ApiError::NoCollection(c.id().to_owned()))?;
        let position = layer.position(&feature_id).ok_or_else(|| ApiError::NoFeature { collection: c.id().to_owned(), id: feature_id.clone() })?;
        let feature = layer.feature(position);
        if format == Format::Html {
            let rows: Vec<(&str, String)> = feature.properties().map(|(name, v)| (name, html::escape(&v.to_string()))).collect();
            let mut body = format!("<p><a href=\"/collections/{0}/items?f=html\">{0}</a></p>", c.id());
            body.push_str(&html::definitions(&rows));
            if c == Collection::Estates {
                let _ = write!(body, "<p><a href=\"/estates/{}/coverage?f=html\">coverage detail 覆盖详情</a></p>", html::escape(&params::encode(&feature_id)));
            }
            return Ok(html::response(html::page(&format!("{} {}", c.id(), feature_id), lang.tag(), &body)));
        }
        let rendered = render_page(layer, &[u32::try_from(position).unwrap_or(u32::MAX)], &dataset, crs)?;
        let json = rendered.into_iter().next().ok_or_else(|| ApiError::Internal("rendering returned nothing".into()))?;
        let url = format!("{base}/collections/{}/items/{}", c.id(), params::encode(&feature_id));
        // `crs` and `year` shape the representation, so `self` and `alternate` keep them.
        let links = json!([
            link(&format!("{url}{}", pairs.with(&[("f", Some("json"))])), "self", GEOJSON, "this feature"),
            link(&format!("{url}{}", pairs.with(&[("f", Some("html"))])), "alternate", "text/html", "as HTML"),
            link(&format!("{base}/collections/{}", c.id()), "collection", "application/json", c.title(lang)),
        ]);
        let mut body = json[..json.len() - 1].to_vec();
        let _ = write!(VecWriter(&mut body), ",\"links\":{links}}}");
        Ok(geojson_response(body, &dataset.crs[crs].uri, false))
    };
    if at_hand {
        return answer();
    }
    tokio::task::spawn_blocking(answer).await?
}

