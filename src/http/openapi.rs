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
use super::snapshot::{ColumnType, Dataset};
use super::state::AppState;
use super::{base_url, Snapshot};
use crate::config::ServeConfig;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api", get(get_api))
}

fn query_param(name: &str, description: &str, schema: &Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema, "style": "form", "explode": false })
}

fn error_responses() -> Value {
    let body = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } });
    json!({
        "400": { "description": "An unknown parameter or a bad value", "content": body },
        "404": { "description": "No such collection or feature", "content": body },
        "500": { "description": "Internal error", "content": body },
    })
}

fn ok(description: &str, media: &str) -> Value {
    json!({ "description": description, "content": { media: { "schema": { "type": "object" } }, "text/html": { "schema": { "type": "string" } } } })
}

fn get_op(summary: &str, params: &[Value], response: Value) -> Value {
    let mut responses = error_responses();
    responses["200"] = response;
    responses["304"] = json!({ "description": "Not modified (If-None-Match matched the ETag)" });
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
pub fn document(dataset: &Dataset, state: &AppState, base: &str) -> Value {
    let serve = state.serve();
    let crs_uris: Vec<&str> = dataset.crs.iter().map(|o| o.uri.as_str()).collect();
    let kinds: Vec<&str> = dataset.catalogue.keys().collect();
    let mut paths = Map::new();
    paths.insert("/".into(), get_op("Landing page", &[f_param()], ok("Links to the API", "application/json")));
    paths.insert("/conformance".into(), get_op("Conformance classes", &[f_param()], ok("Conformance classes", "application/json")));
    paths.insert("/api".into(), get_op("This API definition", &[f_param()], ok("OpenAPI 3.0", "application/vnd.oai.openapi+json;version=3.0")));
    paths.insert("/collections".into(), get_op("Collections", &[f_param()], ok("Collections", "application/json")));
    for c in Collection::ALL {
        let Some(layer) = c.layer(dataset, &dataset.current) else { continue };
        let id = c.id();
        let mut params = vec![
            f_param(),
            query_param("bbox", "Only features intersecting minx,miny,maxx,maxy (in bbox-crs, default CRS84).", &json!({ "type": "array", "minItems": 4, "maxItems": 6, "items": { "type": "number" } })),
            query_param("bbox-crs", "CRS of bbox.", &json!({ "type": "string", "format": "uri", "enum": crs_uris })),
            query_param("limit", "Features per page.", &json!({ "type": "integer", "minimum": 1, "maximum": serve.max_limit, "default": serve.default_limit })),
            query_param("offset", "Features to skip (next/prev links carry it).", &json!({ "type": "integer", "minimum": 0, "default": 0 })),
            query_param("crs", "CRS of the response geometries.", &json!({ "type": "string", "format": "uri", "enum": crs_uris })),
            query_param("filter", "CQL2-text filter over the queryables.", &json!({ "type": "string" })),
            query_param("filter-lang", "Filter language.", &json!({ "type": "string", "enum": ["cql2-text"], "default": "cql2-text" })),
            query_param("filter-crs", "CRS of geometry literals in filter.", &json!({ "type": "string", "format": "uri", "enum": [super::snapshot::CRS84_URI] })),
            query_param("sortby", "Comma-separated properties, `-` prefix for descending.", &json!({ "type": "string" })),
        ];
        if c.by_year() {
            params.push(year_param());
        }
        if c == Collection::Facilities {
            params.push(query_param("datetime", "Facilities whose opening year intersects this RFC 3339 instant or interval (`..` for open ends).", &json!({ "type": "string" })));
        }
        for p in c.property_params() {
            let t = layer.column(p).map_or(ColumnType::String, |i| layer.columns[i].kind);
            params.push(query_param(p, &format!("Only features whose `{p}` equals this value."), &json!({ "type": t.json_type() })));
        }
        paths.insert(format!("/collections/{id}"), get_op(&format!("{id}: metadata"), &[f_param()], ok("Collection", "application/json")));
        paths.insert(format!("/collections/{id}/items"), get_op(&format!("{id}: features"), &params, ok("A page of features", GEOJSON)));
        let mut item_params = vec![
            json!({ "name": "featureId", "in": "path", "required": true, "schema": { "type": "string" } }),
            f_param(),
            query_param("crs", "CRS of the response geometry.", &json!({ "type": "string", "format": "uri", "enum": crs_uris })),
        ];
        if c.by_year() {
            item_params.push(year_param());
        }
        paths.insert(format!("/collections/{id}/items/{{featureId}}"), get_op(&format!("{id}: one feature"), &item_params, ok("A feature", GEOJSON)));
        paths.insert(format!("/collections/{id}/queryables"), get_op(&format!("{id}: queryables"), &[f_param()], ok("JSON Schema of the queryable properties", "application/schema+json")));
    }
    let lonlat = |name: &str, max: f64| json!({ "name": name, "in": "query", "required": true, "schema": { "type": "number", "minimum": -max, "maximum": max } });
    paths.insert("/coverage".into(), get_op("Facilities of each kind serving a point (CRS84)", &[lonlat("lon", 180.0), lonlat("lat", 90.0), year_param(), f_param()], ok("Coverage per kind", "application/json")));
    paths.insert(
        "/estates/{estateId}/coverage".into(),
        get_op("Coverage of one estate per kind, with the facilities within the radius", &[json!({ "name": "estateId", "in": "path", "required": true, "schema": { "type": "string" } }), year_param(), f_param()], ok("Coverage per kind", "application/json")),
    );
    paths.insert("/plans".into(), plans_op(serve));
    paths.insert("/what-if".into(), what_if_op(serve));
    paths.insert("/reports".into(), get_op("Annual facility-target reports: the years with data, with links", &[f_param()], ok("Report years", "application/json")));
    let report_year = json!({ "name": "year", "in": "path", "required": true, "description": "Report year: the period's last year.", "schema": { "type": "integer", "minimum": 1000, "maximum": 3000 } });
    let report_from = query_param("from", "First year of the period (default: report.from in the config when not after the year, else the year).", &json!({ "type": "integer", "minimum": 1000, "maximum": 3000 }));
    let report_f = query_param("f", "Report format; html and json also from the Accept header.", &json!({ "type": "string", "enum": ["json", "html", "md", "xlsx"] }));
    let mut report_ok = ok("The report: openings, targets against actuals, coverage at year end, renovation progress", "application/json");
    report_ok["content"]["text/markdown"] = json!({ "schema": { "type": "string" } });
    report_ok["content"][super::report::XLSX] = json!({ "schema": { "type": "string", "format": "binary" } });
    paths.insert("/reports/{year}".into(), get_op("The annual facility-target report for a year", &[report_year, report_from, report_f], report_ok));
    paths.insert("/health".into(), get_op("Liveness and data version", &[], ok("Status", "application/json")));
    paths.insert("/metrics".into(), get_op("Prometheus metrics", &[], ok("Metrics", "text/plain")));
    paths.insert(
        "/admin/reload".into(),
        json!({ "post": {
            "summary": "Reload the data (atomically; on failure the old data keeps serving)",
            "security": [{ "bearer": [] }],
            "responses": {
                "200": { "description": "Reloaded" },
                "401": { "description": "Missing or wrong bearer token" },
                "422": { "description": "Reload failed; the previous data is still served" },
            },
        } }),
    );
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
            "schemas": {
                "exception": { "type": "object", "required": ["code"], "properties": { "code": { "type": "string" }, "description": { "type": "string" } } },
                "planRequest": plan_request_schema(serve, &kinds),
                "plan": plan_schema(),
                "whatIfRequest": what_if_request_schema(serve, &kinds),
                "whatIf": what_if_schema(),
            },
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

/// A POST taking `request` and answering `response` (both schema names), 400 for a bad body.
fn post_op(summary: &str, description: &str, request: &str, response: &str, media: &str, extra: &[(&str, &str)]) -> Value {
    let body = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/exception" } } });
    let mut responses = json!({
        "200": { "description": "The answer", "content": { media: { "schema": { "$ref": format!("#/components/schemas/{response}") } } } },
        "400": { "description": "A bad body: the description names the field (an unknown member, a bad value, a cap exceeded)", "content": body },
        "500": { "description": "Internal error", "content": body },
    });
    for (status, text) in extra {
        responses[*status] = json!({ "description": text, "content": body });
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
            "radius_m": { "type": "number", "exclusiveMinimum": 0, "description": "Service radius (default: the kind's); another radius measures the demand again with it." },
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
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.oai.openapi+json;version=3.0"))], doc.to_string()).into_response())
}
