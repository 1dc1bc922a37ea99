//! `/reports` and `/reports/{year}`: the annual facility-target report ([`crate::report`]) over
//! the served data, as self-contained HTML, JSON, Markdown or XLSX.
//!
//! The targets file and the report settings are read with the data (`[report]` in the config),
//! so a reload picks up a changed targets file and a bad one fails the reload while the old data
//! keeps serving. Reports are computed off the executor on first request and cached per
//! `(year, from)` with the dataset; a reload starts a new cache.


use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;

use super::error::ApiError;
use super::html;
use super::respond::{json_ok, link};
use super::params::{self, negotiate, Format, Lang, QueryPairs};
use crate::serve::dataset::Dataset;
use super::state::AppState;
use super::{base_url, Snapshot};
use crate::analysis::{TrendParams, MAX_YEARS};
use crate::report;

/// The XLSX media type.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/reports", get(get_reports)).route("/reports/{year}", get(get_report))
}


/// The years the data has openings or renovations in, newest last, at most [`MAX_YEARS`].
fn data_years(dataset: &Dataset) -> Option<(i32, i32)> {
    let years = dataset.facilities.iter().filter_map(|f| f.opened_year).chain(dataset.estates.iter().filter_map(|e| e.renovation_year));
    let (lo, hi) = years.fold(None, |acc: Option<(i32, i32)>, y| Some(acc.map_or((y, y), |(lo, hi)| (lo.min(y), hi.max(y)))))?;
    Some((lo.max(hi - MAX_YEARS + 1), hi))
}

async fn get_reports(State(state): State<AppState>, Extension(Snapshot(dataset)): Extension<Snapshot>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f"])?;
    let format = negotiate(&pairs, &headers)?;
    let base = base_url(&state, &headers);
    let years: Vec<i32> = data_years(&dataset).map_or_else(Vec::new, |(lo, hi)| (lo..=hi).rev().collect());
    if format == Format::Html {
        let links: Vec<(String, String)> = years
            .iter()
            .map(|&y| (format!("/reports/{y}?f=html"), format!("{y} (from {})", dataset.reports.default_from(y))))
            .collect();
        let body = format!(
            "<p>Annual facility-target reports 年度设施目标报告: facilities opened against targets, coverage at year end, renovation progress. Also as <a href=\"?f=json\">JSON</a>; each report as HTML, JSON, Markdown (f=md) or Excel (f=xlsx).</p>{}",
            html::link_list(&links)
        );
        return Ok(html::response(html::page("Reports 报告", Lang::from_headers(&headers).tag(), &body)));
    }
    let reports: Vec<_> = years
        .iter()
        .map(|&y| {
            json!({
                "year": y,
                "from": dataset.reports.default_from(y),
                "links": [
                    link(&format!("{base}/reports/{y}?f=json"), "item", "application/json", &format!("report {y} as JSON")),
                    link(&format!("{base}/reports/{y}?f=html"), "alternate", "text/html", &format!("report {y} as HTML")),
                    link(&format!("{base}/reports/{y}?f=md"), "alternate", "text/markdown", &format!("report {y} as Markdown")),
                    link(&format!("{base}/reports/{y}?f=xlsx"), "alternate", XLSX, &format!("report {y} as Excel")),
                ],
            })
        })
        .collect();
    Ok(json_ok(&json!({
        "links": [
            link(&format!("{base}/reports?f=json"), "self", "application/json", "this document"),
            link(&format!("{base}/reports?f=html"), "alternate", "text/html", "this document as HTML"),
        ],
        "targets": dataset.reports.targets_source.as_deref().map(|p| std::path::Path::new(p).file_name().map_or_else(|| p.to_owned(), |n| n.to_string_lossy().into_owned())),
        "reports": reports,
    })))
}

/// A report's representation: the HTML and JSON of every resource, plus Markdown and XLSX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportFormat {
    Html,
    Json,
    Markdown,
    Xlsx,
}

fn report_format(pairs: &QueryPairs, headers: &HeaderMap) -> Result<ReportFormat, ApiError> {
    match pairs.get("f").map(str::to_ascii_lowercase).as_deref() {
        Some("md" | "markdown" | "text/markdown") => return Ok(ReportFormat::Markdown),
        Some("xlsx" | "excel" | XLSX) => return Ok(ReportFormat::Xlsx),
        Some(f) if !matches!(f, "json" | "html" | "application/json" | "text/html") => {
            return Err(ApiError::bad("f", format!("`{f}` is not a report format; use html, json, md or xlsx")));
        }
        _ => {}
    }
    Ok(match negotiate(pairs, headers)? {
        Format::Html => ReportFormat::Html,
        Format::Json => ReportFormat::Json,
    })
}

async fn get_report(Extension(Snapshot(dataset)): Extension<Snapshot>, Path(year): Path<String>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let pairs = QueryPairs::parse(q.as_deref())?;
    pairs.only(&["f", "from", "lang"])?;
    let format = report_format(&pairs, &headers)?;
    // The report's language: `lang=zh|en`, else `report.lang` (the web map's report link
    // follows its 中文/English switch).
    let lang = match pairs.get("lang").map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("zh" | "zh-cn" | "zh-hans") => Some(report::Lang::Zh),
        Some("en") => Some(report::Lang::En),
        Some(other) => return Err(ApiError::bad("lang", format!("`{other}` is not a report language; use zh or en"))),
    };
    let year = params::parse_year("year", &year)?;
    let from = match pairs.get("from") {
        Some(s) => params::parse_year("from", s)?,
        None => dataset.reports.default_from(year),
    };
    TrendParams::new(from, year).check_period().map_err(|e| ApiError::bad("from", e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let built = dataset.reports.get(&dataset, year, from, lang)?;
        // `f` or the Accept header chose the format (and Accept-Language the HTML's language).
        let vary = (header::VARY, HeaderValue::from_static(params::VARY_NEGOTIATED));
        let text = |media: &'static str, body: String| ([(header::CONTENT_TYPE, HeaderValue::from_static(media)), vary.clone()], body).into_response();
        Ok(match format {
            ReportFormat::Html => text("text/html; charset=utf-8", report::render_html(&built)),
            ReportFormat::Json => text("application/json", report::render_json(&built)),
            ReportFormat::Markdown => text("text/markdown; charset=utf-8", report::render_markdown(&built)),
            ReportFormat::Xlsx => {
                let bytes = report::render_xlsx(&built).map_err(|e| ApiError::Internal(e.to_string()))?;
                let disposition = format!("attachment; filename=\"{}\"", report::file_name(year, report::Format::Xlsx));
                let mut r = ([(header::CONTENT_TYPE, HeaderValue::from_static(XLSX)), vary.clone()], bytes).into_response();
                if let Ok(v) = HeaderValue::from_str(&disposition) {
                    r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                }
                r
            }
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the report task stopped: {e}")))?
}
