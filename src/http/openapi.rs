//! `/api`: the OpenAPI 3.0 definition, listing every path and every parameter it accepts
//! (one items path per collection, so clients see each collection's property filters).
#![expect(clippy::doc_markdown, reason = "GeoJSON, OpenAPI and CRS84 are names, not code")]

use std::fmt::Write as _;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::html;
use super::ogc::{Collection, GEOJSON};
use super::params::{negotiate, Format, Lang, QueryPairs};
use crate::serve::dataset::{ColumnType, Dataset, Layer};
use super::state::AppState;
use super::{base_url, Snapshot};
use crate::analysis::{TrendParams, MAX_YEARS};
use crate::config::ServeConfig;
use crate::model::AttrValue;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api", get(get_api))
}

fn query_param(name: &str, description: &str, schema: &Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema, "style": "form", "explode": false })
}

/// A reference to a shared response in `components.responses`.
fn response_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

/// The answers every operation can give besides its own: the routing and limit layers' (405,
/// 408, 414), the byte budget's and the workers' 503 with `Retry-After`, and 500.
fn common_responses() -> Value {
    json!({
        "405": response_ref("MethodNotAllowed"),
        "408": response_ref("Timeout"),
        "414": response_ref("UriTooLong"),
        "500": response_ref("InternalError"),
        "503": response_ref("Unavailable"),
    })
}

/// `components.responses`: the shared error answers, each an OGC exception.
fn shared_responses() -> Value {
    let answer = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } } });
    let mut unavailable = answer("Busy (every worker for this kind of request, or the server's byte budget, is in use); retry after the Retry-After seconds");
    unavailable["headers"] = json!({ "Retry-After": { "description": "Seconds to wait before retrying", "schema": { "type": "integer", "minimum": 0 } } });
    let mut not_allowed = answer("This method is not allowed on this path; the Allow header lists those that are");
    not_allowed["headers"] = json!({ "Allow": { "description": "The methods this path accepts", "schema": { "type": "string" } } });
    json!({
        "BadRequest": answer("An unknown parameter or a bad value: the description names the parameter and what is accepted"),
        "NotFound": answer("No such collection, feature or resource"),
        "MethodNotAllowed": not_allowed,
        "Timeout": answer("The request took longer than serve.request_timeout_s and was stopped"),
        "PayloadTooLarge": answer("The request body is larger than serve.body_limit_bytes"),
        "UriTooLong": answer("The query string is longer than serve.max_query_bytes"),
        "InternalError": answer("Internal error (the detail is logged, not answered)"),
        "Unavailable": unavailable,
    })
}

/// A 200 answer: JSON of `schema` as `media`, and HTML.
fn ok(description: &str, media: &str, schema: &Value) -> Value {
    json!({ "description": description, "content": { media: { "schema": schema }, "text/html": { "schema": { "type": "string" } } } })
}

/// A reference to a schema in `components.schemas`.
fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn get_op(summary: &str, params: &[Value], response: Value) -> Value {
    let mut responses = common_responses();
    responses["200"] = response;
    responses["304"] = json!({ "description": "Not modified (If-None-Match matched the ETag)" });
    responses["400"] = response_ref("BadRequest");
    responses["404"] = response_ref("NotFound");
    json!({ "get": { "summary": summary, "parameters": params, "responses": responses } })
}

fn f_param() -> Value {
    query_param("f", "Response format; default from the Accept header.", &json!({ "type": "string", "enum": ["json", "html"] }))
}

fn year_param() -> Value {
    query_param("year", "Recompute coverage counting only facilities opened in or before this year.", &json!({ "type": "integer", "minimum": 1000, "maximum": 3000 }))
}

/// The OpenAPI document for this dataset and settings.
#[must_use]
#[expect(clippy::too_many_lines, reason = "the path table: every path beside its parameters and answer, in one place")]
pub fn document(dataset: &Dataset, state: &AppState, base: &str) -> Value {
    let serve = state.serve();
    let crs_uris: Vec<&str> = dataset.crs.iter().map(|o| o.uri.as_str()).collect();
    let kinds: Vec<&str> = dataset.catalogue.keys().collect();
    let mut schemas = Map::new();
    let mut paths = Map::new();
    paths.insert("/".into(), get_op("Landing page", &[f_param()], ok("Links to the API", "application/json", &schema_ref("landingPage"))));
    paths.insert("/conformance".into(), get_op("Conformance classes", &[f_param()], ok("Conformance classes", "application/json", &schema_ref("confClasses"))));
    paths.insert("/api".into(), get_op("This API definition", &[f_param()], ok("OpenAPI 3.0", "application/vnd.oai.openapi+json;version=3.0", &json!({ "type": "object", "required": ["openapi", "paths"] }))));
    paths.insert("/collections".into(), get_op("Collections", &[f_param()], ok("Collections", "application/json", &schema_ref("collections"))));
    for c in Collection::ALL {
        let Some(layer) = c.layer(dataset, &dataset.current) else { continue };
        let id = c.id();
        let mut params = vec![
            f_param(),
            query_param(
                "bbox",
                "Only features intersecting minx,miny,maxx,maxy (or six values with heights, ignored) in bbox-crs, default CRS84, in its axis order. In a geographic CRS a west edge east of the east edge crosses the antimeridian.",
                &json!({ "oneOf": [
                    { "type": "array", "minItems": 4, "maxItems": 4, "items": { "type": "number" } },
                    { "type": "array", "minItems": 6, "maxItems": 6, "items": { "type": "number" } },
                ] }),
            ),
            query_param("bbox-crs", "CRS of bbox.", &json!({ "type": "string", "format": "uri", "enum": crs_uris })),
            query_param("limit", "Features per page.", &json!({ "type": "integer", "minimum": 1, "maximum": serve.max_limit, "default": serve.default_limit })),
            query_param("offset", "Features to skip (next/prev links carry it).", &json!({ "type": "integer", "minimum": 0, "default": 0 })),
            query_param("crs", "CRS of the response geometries.", &json!({ "type": "string", "format": "uri", "enum": crs_uris })),
            query_param("filter", "CQL2-text filter over the queryables (empty: no filter).", &json!({ "type": "string", "format": "cql2-text" })),
            query_param("filter-lang", "Filter language.", &json!({ "type": "string", "enum": ["cql2-text"], "default": "cql2-text" })),
            query_param("filter-crs", "CRS of geometry literals in filter.", &json!({ "type": "string", "format": "uri", "enum": [crate::serve::dataset::CRS84_URI] })),
            query_param("sortby", "Comma-separated queryables (and `id`), `-` prefix for descending, `+` or none for ascending (empty: by id).", &json!({ "type": "string", "pattern": sortby_pattern(layer) })),
        ];
        if c.by_year() {
            params.push(year_param());
        }
        if c == Collection::Facilities {
            params.push(query_param(
                "datetime",
                "Facilities whose opening year intersects this RFC 3339 instant or interval (`..` or nothing for an open end; an interval ending before it starts matches nothing).",
                &json!({ "type": "string", "pattern": DATETIME_PATTERN }),
            ));
        }
        for p in c.property_params(layer) {
            let t = layer.column(p).map_or(ColumnType::String, |i| layer.columns[i].kind);
            params.push(query_param(p, &format!("Only features whose `{p}` equals this value."), &json!({ "type": t.json_type() })));
        }
        let (feature, page) = feature_schemas(c, layer, &mut schemas);
        paths.insert(format!("/collections/{id}"), get_op(&format!("{id}: metadata"), &[f_param()], ok("Collection", "application/json", &schema_ref("collection"))));
        paths.insert(format!("/collections/{id}/items"), get_op(&format!("{id}: features"), &params, ok("A page of features", GEOJSON, &schema_ref(&page))));
        let mut item_params = vec![
            json!({ "name": "featureId", "in": "path", "required": true, "schema": { "type": "string" } }),
            f_param(),
            query_param("crs", "CRS of the response geometry.", &json!({ "type": "string", "format": "uri", "enum": crs_uris })),
        ];
        if c.by_year() {
            item_params.push(year_param());
        }
        paths.insert(format!("/collections/{id}/items/{{featureId}}"), get_op(&format!("{id}: one feature"), &item_params, ok("A feature", GEOJSON, &schema_ref(&feature))));
        paths.insert(format!("/collections/{id}/queryables"), get_op(&format!("{id}: queryables"), &[f_param()], ok("JSON Schema of the queryable properties", "application/schema+json", &schema_ref("queryables"))));
    }
    let lonlat = |name: &str, max: f64| json!({ "name": name, "in": "query", "required": true, "schema": { "type": "number", "minimum": -max, "maximum": max } });
    paths.insert("/coverage".into(), get_op("Facilities of each kind serving a point (CRS84)", &[lonlat("lon", 180.0), lonlat("lat", 90.0), year_param(), f_param()], ok("Coverage per kind", "application/json", &schema_ref("pointCoverage"))));
    paths.insert(
        "/estates/{estateId}/coverage".into(),
        get_op(
            "Coverage of one estate per kind, with the facilities within the radius",
            &[json!({ "name": "estateId", "in": "path", "required": true, "schema": { "type": "string" } }), year_param(), f_param()],
            ok("Coverage per kind", "application/json", &schema_ref("estateCoverage")),
        ),
    );
    paths.insert("/plans".into(), plans_op(serve));
    paths.insert("/what-if".into(), what_if_op(serve));
    paths.insert("/reports".into(), get_op("Annual facility-target reports: the years with data, with links", &[f_param()], ok("Report years", "application/json", &json!({ "type": "object", "required": ["reports", "links"] }))));
    paths.insert("/reports/{year}".into(), report_op(dataset));
    paths.insert("/health".into(), get_op("Liveness and data version", &[], ok("Status", "application/json", &json!({ "type": "object", "required": ["status", "data_version"], "properties": { "status": { "type": "string", "enum": ["ok", "warn"] }, "data_version": data_version_schema(), "warming_up": { "type": "array", "items": { "type": "string" }, "description": "What is still being prepared in the background (the coverage timeline)" } } }))));
    paths.insert("/metrics".into(), get_op("Prometheus metrics", &[], ok("Metrics", "text/plain", &json!({ "type": "string" }))));
    paths.insert(
        "/admin/reload".into(),
        json!({ "post": {
            "summary": "Reload the data (atomically; on failure the old data keeps serving)",
            "security": [{ "bearer": [] }],
            "responses": {
                "200": { "description": "Reloaded" },
                "401": { "description": "Missing or wrong bearer token" },
                "405": response_ref("MethodNotAllowed"),
                "408": response_ref("Timeout"),
                "413": response_ref("PayloadTooLarge"),
                "414": response_ref("UriTooLong"),
                "422": { "description": "Reload failed; the previous data is still served" },
                "429": {
                    "description": "Too many failed attempts from this client: locked out for the Retry-After seconds (doubling with each further failure)",
                    "headers": { "Retry-After": { "schema": { "type": "integer", "minimum": 1 } } }
                },
                "500": response_ref("InternalError"),
                "503": response_ref("Unavailable"),
            },
        } }),
    );
    schemas.insert("exception".into(), json!({ "type": "object", "required": ["code"], "properties": { "code": { "type": "string" }, "description": { "type": "string" } } }));
    schemas.insert("link".into(), link_schema());
    schemas.insert("landingPage".into(), json!({ "type": "object", "required": ["links"], "properties": { "title": { "type": "string" }, "description": { "type": "string" }, "links": links() } }));
    schemas.insert("confClasses".into(), json!({ "type": "object", "required": ["conformsTo"], "properties": { "conformsTo": { "type": "array", "items": { "type": "string" } } } }));
    schemas.insert("collection".into(), collection_schema());
    schemas.insert("collections".into(), json!({ "type": "object", "required": ["links", "collections"], "properties": { "links": links(), "collections": { "type": "array", "items": schema_ref("collection") }, "crs": { "type": "array", "items": { "type": "string" } } } }));
    schemas.insert("queryables".into(), json!({ "type": "object", "required": ["type", "properties"], "properties": { "$schema": { "type": "string" }, "$id": { "type": "string" }, "type": { "type": "string", "enum": ["object"] }, "title": { "type": "string" }, "properties": { "type": "object", "additionalProperties": { "type": "object" } } } }));
    schemas.insert("geometryGeoJSON".into(), geometry_schema());
    let (point, estate) = coverage_schemas();
    schemas.insert("pointCoverage".into(), point);
    schemas.insert("estateCoverage".into(), estate);
    schemas.insert("planRequest".into(), plan_request_schema(serve, &kinds));
    schemas.insert("plan".into(), plan_schema());
    schemas.insert("whatIfRequest".into(), what_if_request_schema(serve, &kinds));
    schemas.insert("whatIf".into(), what_if_schema());
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "gapmap",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Facility coverage of residential estates (GB 50180-2018) as OGC API – Features, Parts 1, 2 and 3.",
        },
        "servers": [{ "url": base }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": shared_responses(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

/// RFC 3339 dates and date-times and intervals of them with `..` or nothing for an open end,
/// as `params::parse_datetime` accepts them (months 01–12, days 01–31).
const DATETIME_PATTERN: &str = r"^((\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?)|((\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?|\.\.)?/(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?|\.\.))|((\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?)/))$";

/// `sortby` as the server accepts it: empty, or comma-separated queryables of `layer` (or `id`),
/// each with an optional `+` or `-`.
fn sortby_pattern(layer: &Layer) -> String {
    let names: Vec<String> = std::iter::once("id").chain(layer.columns.iter().map(|c| c.name.as_str())).map(regex_escape).collect();
    let key = format!("[+-]?({})", names.join("|"));
    format!("^({key}(,{key})*)?$")
}

/// Escapes the characters an ECMA-262 pattern gives a meaning to.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if "\\^$.|?*+()[]{}/-".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn link_schema() -> Value {
    json!({ "type": "object", "required": ["href"], "properties": { "href": { "type": "string" }, "rel": { "type": "string" }, "type": { "type": "string" }, "title": { "type": "string" } } })
}

fn links() -> Value {
    json!({ "type": "array", "items": schema_ref("link") })
}

/// A GeoJSON geometry (RFC 7946), any type; an empty one (a kind without facilities has an
/// empty service area) has no coordinates.
fn geometry_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": { "type": "string", "enum": ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"] },
            "coordinates": { "type": "array" },
            "geometries": { "type": "array", "items": { "type": "object" } },
        },
    })
}

/// The feature and page (FeatureCollection) schemas of a collection, added to `schemas`:
/// every property with its type (all may be null). Returns their names.
fn feature_schemas(c: Collection, layer: &Layer, schemas: &mut Map<String, Value>) -> (String, String) {
    let mut properties = Map::new();
    for (i, col) in layer.columns.iter().enumerate() {
        // A text column may carry nested JSON passed through from the source, and one null
        // throughout the served data (`year` before a year= view fills it) has no known type:
        // leave both untyped.
        let nested = col.kind == ColumnType::String && layer.iter().any(|f| matches!(*f.value(i), AttrValue::Json(_)));
        let unknown = layer.iter().all(|f| matches!(*f.value(i), AttrValue::Null));
        let schema = if unknown {
            json!({ "description": "null in the served data; typed by the views that fill it" })
        } else if nested {
            json!({})
        } else {
            json!({ "type": col.kind.json_type(), "nullable": true })
        };
        properties.insert(col.name.clone(), schema);
    }
    let id = c.id().replace('-', "_");
    let (props, feature, page) = (format!("{id}Properties"), format!("{id}Feature"), format!("{id}FeatureCollection"));
    schemas.insert(props.clone(), json!({ "type": "object", "properties": properties, "additionalProperties": false }));
    schemas.insert(
        feature.clone(),
        json!({
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": { "type": "string", "enum": ["Feature"] },
                "id": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
                "geometry": { "allOf": [schema_ref("geometryGeoJSON")], "nullable": true },
                "properties": schema_ref(&props),
                "links": links(),
            },
        }),
    );
    schemas.insert(
        page.clone(),
        json!({
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": { "type": "string", "enum": ["FeatureCollection"] },
                "features": { "type": "array", "items": schema_ref(&feature) },
                "numberMatched": { "type": "integer", "minimum": 0 },
                "numberReturned": { "type": "integer", "minimum": 0 },
                "dataVersion": data_version_schema(),
                "links": links(),
            },
        }),
    );
    (feature, page)
}

fn collection_schema() -> Value {
    let bbox = json!({ "type": "array", "items": { "type": "number" }, "minItems": 4, "maxItems": 6 });
    json!({
        "type": "object",
        "required": ["id", "links"],
        "properties": {
            "id": { "type": "string" },
            "title": { "type": "string" },
            "description": { "type": "string" },
            "title_zh": { "type": "string" },
            "title_en": { "type": "string" },
            "description_zh": { "type": "string" },
            "description_en": { "type": "string" },
            "itemType": { "type": "string" },
            "geometryType": { "type": "string" },
            "metric": { "type": "string", "enum": ["straight", "network"] },
            "extent": { "type": "object", "properties": {
                "spatial": { "type": "object", "properties": { "bbox": { "type": "array", "minItems": 1, "items": bbox }, "crs": { "type": "string" } } },
                "temporal": { "type": "object", "properties": { "interval": { "type": "array", "items": { "type": "array", "minItems": 2, "maxItems": 2, "items": { "type": "string", "nullable": true } } }, "trs": { "type": "string" } } },
            } },
            "crs": { "type": "array", "items": { "type": "string" } },
            "storageCrs": { "type": "string" },
            "links": links(),
        },
    })
}

/// `/coverage` and `/estates/{id}/coverage`.
fn coverage_schemas() -> (Value, Value) {
    let number = json!({ "type": "number", "nullable": true });
    let facility = json!({ "type": "object", "properties": {
        "id": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
        "name": { "type": "string", "nullable": true },
        "distance_m": { "type": "number" },
        "capacity": number,
        "opened_year": { "type": "integer", "nullable": true },
    } });
    let kind = json!({
        "type": "object",
        "required": ["kind", "radius_m", "covered"],
        "properties": {
            "kind": { "type": "string" },
            "label_zh": { "type": "string" },
            "label_en": { "type": "string" },
            "radius_m": { "type": "number" },
            "covered": { "type": "boolean" },
            "distance_m": number,
            "facilities": { "type": "array", "items": facility },
            "nearest": { "allOf": [facility], "nullable": true },
        },
    });
    let kinds = json!({ "type": "array", "items": kind });
    let year = json!({ "type": "integer", "nullable": true });
    let point = json!({
        "type": "object",
        "required": ["lon", "lat", "kinds"],
        "properties": { "lon": { "type": "number" }, "lat": { "type": "number" }, "year": year, "working_crs": { "type": "string" }, "metric": { "type": "string", "enum": ["straight", "network"] }, "distance": { "type": "string" }, "kinds": kinds },
    });
    let estate = json!({
        "type": "object",
        "required": ["estate", "kinds"],
        "properties": {
            "estate": { "type": "object", "required": ["id"], "properties": {
                "id": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
                "name": { "type": "string", "nullable": true },
                "district": { "type": "string", "nullable": true },
                "households": { "type": "integer", "nullable": true },
            } },
            "year": year,
            "distance_from": { "type": "string", "enum": ["boundary", "centroid"] },
            "metric": { "type": "string", "enum": ["straight", "network"] },
            "working_crs": { "type": "string" },
            "kinds": kinds,
        },
    });
    (point, estate)
}

/// `/reports/{year}`. Its years are narrowed to those the server answers: `from` is not a
/// declared parameter because a period must not end before it starts nor span more than
/// [`MAX_YEARS`] years, which OpenAPI 3.0 cannot say about two parameters; and the report
/// year stops where the configured `report.from` would make the period too long.
fn report_op(dataset: &Dataset) -> Value {
    let answered = |y: i32| TrendParams::new(dataset.reports.default_from(y), y).check_period().is_ok();
    let first = (1000..=3000).find(|&y| answered(y)).unwrap_or(1000);
    let last = (first..=3000).take_while(|&y| answered(y)).last().unwrap_or(first);
    let report_year = json!({ "name": "year", "in": "path", "required": true, "description": "Report year: the period's last year.", "schema": { "type": "integer", "minimum": first, "maximum": last } });
    let report_f = query_param("f", "Report format; html and json also from the Accept header.", &json!({ "type": "string", "enum": ["json", "html", "md", "xlsx"] }));
    let mut report_ok = ok("The report: openings, targets against actuals, coverage at year end, renovation progress", "application/json", &json!({ "type": "object", "required": ["title", "year", "from"], "properties": { "title": { "type": "string" }, "year": { "type": "integer" }, "from": { "type": "integer" } } }));
    report_ok["content"]["text/markdown"] = json!({ "schema": { "type": "string" } });
    report_ok["content"][super::report::XLSX] = json!({ "schema": { "type": "string", "format": "binary" } });
    let report_lang = query_param("lang", "Report language (default: report.lang in the config, else en); the renovation programme's sections follow it.", &json!({ "type": "string", "enum": ["zh", "en"] }));
    let mut op = get_op("The annual facility-target report for a year", &[report_year, report_f, report_lang], report_ok);
    op["get"]["description"] = json!(format!(
        "`from=YEAR` also sets the first year of the period (default: report.from in the config when not after the year, else the year); the period must not end before it starts and spans at most {MAX_YEARS} years (400 otherwise)."
    ));
    op
}

/// A POST taking `request` and answering `response` (both schema names), 400 for a bad body.
fn post_op(summary: &str, description: &str, request: &str, response: &str, media: &str, extra: &[(&str, &str)]) -> Value {
    let body = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } });
    let mut responses = common_responses();
    responses["200"] = json!({ "description": "The answer", "content": { media: { "schema": { "$ref": format!("#/components/schemas/{response}") } } } });
    responses["400"] = json!({ "description": "A bad body: the description names the field (an unknown member, a bad value, a cap exceeded)", "content": body });
    responses["413"] = response_ref("PayloadTooLarge");
    for (status, text) in extra {
        responses[*status] = json!({ "description": text, "content": body });
        if *status == "503" {
            responses[*status]["headers"] = json!({ "Retry-After": { "description": "Seconds to wait before retrying", "schema": { "type": "integer", "minimum": 0 } } });
        }
    }
    json!({ "post": {
        "summary": summary,
        "description": description,
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{request}") } } } },
        "responses": responses,
    } })
}

fn plans_op(serve: &ServeConfig) -> Value {
    post_op(
        "Where the next facilities of a kind should go (maximal covering location problem, as `gapmap plan`)",
        &format!(
            "Demand: the estates with no facility of the kind within the radius (the dataset's metric, facilities open by `year`). Candidates cover the demand estates within the radius of them; the plan chooses at most `count` (≤ {}) of them, and/or candidates whose costs sum to at most `budget`, covering the most weight, exactly through HiGHS within `time_limit_s` (≤ {} s; greedy beyond, said by `solver` with the bound and gap). At most {} candidates; {} plan(s) at once, 503 with Retry-After beyond.",
            serve.plan_max_count, serve.plan_time_limit_cap_s(), serve.plan_max_candidates, serve.plan_workers
        ),
        "planRequest",
        "plan",
        "application/geo+json",
        &[("503", "Every plan worker is busy; retry after the Retry-After seconds")],
    )
}

fn what_if_op(serve: &ServeConfig) -> Value {
    post_op(
        "What trial facilities would newly cover",
        &format!("Per point (at most {}), the estates with no facility of the kind within the radius now that lie within the radius of the point (the dataset's metric), with their households; and the union over the points.", serve.what_if_max_points),
        "whatIfRequest",
        "whatIf",
        "application/json",
        &[],
    )
}

fn lonlat_schema() -> Value {
    json!({ "type": "object", "required": ["lon", "lat"], "properties": { "lon": { "type": "number", "minimum": -180, "maximum": 180 }, "lat": { "type": "number", "minimum": -90, "maximum": 90 } } })
}

fn plan_request_schema(serve: &ServeConfig, kinds: &[&str]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind"],
        "description": "count is required unless budget is given; budget needs listed candidates with a cost each.",
        "properties": {
            "kind": { "type": "string", "enum": kinds },
            "count": { "type": "integer", "minimum": 1, "maximum": serve.plan_max_count },
            "radius_m": { "type": "number", "minimum": 0, "exclusiveMinimum": true, "description": "Service radius (default: the kind's); another radius measures the demand again with it." },
            "candidates": {
                "description": "`centroids` (default: each estate's area centroid, named by the estate id), `grid:METRES` (cell centres over the estates' extent, ≥ 10 m, named g{i}_{j}) or a list of points.",
                "oneOf": [
                    { "type": "string", "pattern": "^(centroids|grid:[0-9.]+)$" },
                    { "type": "array", "minItems": 1, "maxItems": serve.plan_max_candidates, "items": {
                        "type": "object", "additionalProperties": false, "required": ["id", "lon", "lat"],
                        "properties": { "id": { "oneOf": [{ "type": "string" }, { "type": "number" }] }, "lon": { "type": "number" }, "lat": { "type": "number" }, "cost": { "type": "number", "minimum": 0 } },
                    } },
                ],
            },
            "weight": { "type": "string", "enum": ["households", "estates"], "default": "households" },
            "budget": { "type": "number", "minimum": 0 },
            "year": { "type": "integer", "minimum": 1000, "maximum": 3000, "description": "Facilities opened by this year count as existing (default: the served year)." },
            "time_limit_s": { "type": "number", "minimum": 0, "maximum": serve.plan_time_limit_cap_s(), "default": serve.plan_time_limit_cap_s() },
        },
    })
}

fn plan_schema() -> Value {
    let number = json!({ "type": "number" });
    let features = json!({ "type": "array", "items": {
                "type": "object",
                "properties": {
                    "type": { "type": "string", "enum": ["Feature"] },
                    "id": { "type": "integer" },
                    "geometry": { "type": "object", "properties": { "type": { "type": "string", "enum": ["Point"] }, "coordinates": { "type": "array", "items": number, "minItems": 2, "maxItems": 2 } } },
                    "properties": { "type": "object", "properties": {
                        "rank": { "type": "integer", "minimum": 1 },
                        "id": { "type": "string", "description": "The candidate's id" },
                        "households_new": { "type": "number", "description": "Households this site newly covers, given the sites ranked before it" },
                        "estates_new": { "type": "integer" },
                        "covers": { "type": "array", "items": { "type": "string" }, "description": "Ids of every uncovered estate within the radius of the site" },
                        "cost": number,
                    } },
                },
            } });
    json!({
        "type": "object",
        "description": "A GeoJSON FeatureCollection of the sites (CRS84) in rank order, with the plan's summary as members named as in `gapmap plan`'s JSON.",
        "required": ["type", "features", "solver", "objective_households", "bound", "gap_pct", "demand_estates", "metric"],
        "properties": {
            "type": { "type": "string", "enum": ["FeatureCollection"] },
            "kind": { "type": "string" },
            "radius_m": number,
            "count": { "type": "integer", "nullable": true },
            "budget": number,
            "metric": { "type": "string", "enum": ["straight", "network"] },
            "distance_from": { "type": "string", "enum": ["boundary", "centroid"] },
            "weight": { "type": "string" },
            "candidates": { "type": "string" },
            "candidate_count": { "type": "integer" },
            "year": { "type": "integer", "nullable": true },
            "solver": { "type": "string", "enum": ["exact", "greedy"] },
            "objective_weight": number,
            "objective_households": number,
            "objective_estates": { "type": "integer" },
            "bound": number,
            "bound_weight": number,
            "bound_households": { "type": "number", "nullable": true },
            "gap_pct": number,
            "demand_estates": { "type": "integer" },
            "demand_households": number,
            "seconds": number,
            "features": features,
        },
    })
}

fn what_if_request_schema(serve: &ServeConfig, kinds: &[&str]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "points"],
        "properties": {
            "kind": { "type": "string", "enum": kinds },
            "points": { "type": "array", "minItems": 1, "maxItems": serve.what_if_max_points, "items": lonlat_schema() },
            "year": { "type": "integer", "minimum": 1000, "maximum": 3000 },
        },
    })
}

fn what_if_schema() -> Value {
    let estate = json!({ "type": "object", "properties": { "id": { "oneOf": [{ "type": "string" }, { "type": "integer" }] }, "distance_m": { "type": "number" }, "households": { "type": "integer", "nullable": true } } });
    json!({
        "type": "object",
        "properties": {
            "kind": { "type": "string" },
            "radius_m": { "type": "number" },
            "metric": { "type": "string", "enum": ["straight", "network"] },
            "distance_from": { "type": "string" },
            "year": { "type": "integer", "nullable": true },
            "uncovered_estates": { "type": "integer", "description": "Estates the kind does not cover now" },
            "estates_new": { "type": "integer", "description": "Estates newly covered by any of the points" },
            "households_new": { "type": "integer" },
            "elapsed_ms": { "type": "number" },
            "points": { "type": "array", "items": { "type": "object", "properties": {
                "lon": { "type": "number" }, "lat": { "type": "number" },
                "estates_new": { "type": "integer" }, "households_new": { "type": "integer" },
                "estates": { "type": "array", "items": estate },
            } } },
        },
    })
}

async fn get_api(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    // The document lists every collection's properties.
    super::ogc::ready(&dataset, Collection::ServiceAreas).await?;
    let doc = document(&dataset, &state, &base_url(&state, &headers));
    if negotiate(&pairs, &headers)? == Format::Html {
        let mut body = String::from("<p>OpenAPI 3.0 definition: <a href=\"/api?f=json\">JSON</a>.</p>");
        if let Some(paths) = doc["paths"].as_object() {
            for (path, ops) in paths {
                for (method, op) in ops.as_object().into_iter().flatten() {
                    let _ = write!(body, "<h2>{} {}</h2><p>{}</p>", html::escape(&method.to_ascii_uppercase()), html::escape(path), html::escape(op["summary"].as_str().unwrap_or("")));
                    let rows: Vec<Vec<String>> = op["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| vec![html::escape(p["name"].as_str().unwrap_or("")), html::escape(p["in"].as_str().unwrap_or("")), html::escape(&p["schema"].to_string()), html::escape(p["description"].as_str().unwrap_or(""))])
                        .collect();
                    if !rows.is_empty() {
                        body.push_str(&html::table(&["parameter".into(), "in".into(), "schema".into(), "description".into()], &rows));
                    }
                }
            }
        }
        return Ok(html::response(html::page("API", Lang::from_headers(&headers).tag(), &body)));
    }
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.oai.openapi+json;version=3.0")), (header::VARY, HeaderValue::from_static(super::params::VARY_NEGOTIATED))],
        doc.to_string(),
    )
        .into_response())
}

/// The data version as `/health`, items pages and `X-Gapmap-Data-Version` give it.
fn data_version_schema() -> Value {
    json!({
        "type": "integer",
        "format": "int64",
        "minimum": 0,
        "maximum": 9_007_199_254_740_991_u64,
        "description": "A digest of the served content (inputs as loaded, the settings that shape results, the catalogue): the same data gives the same number on every replica; it changes when the data change, and is not a counter. Below 2^53, so exact in JSON clients.",
    })
}
