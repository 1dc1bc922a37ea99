//! `/reports` and `/reports/{year}`: the annual facility-target report ([`crate::report`]) over
//! the served data, as self-contained HTML, JSON, Markdown or XLSX.
//!
//! The targets file and the report settings are read with the data (`[report]` in the config),
//! so a reload picks up a changed targets file and a bad one fails the reload while the old data
//! keeps serving. Reports are computed off the executor on first request and cached per
//! `(year, from)` with the dataset; a reload starts a new cache.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::json;

use super::error::ApiError;
use super::html;
use super::ogc::{json_ok, link};
use super::params::{self, negotiate, Format, Lang, QueryPairs};
use super::snapshot::Dataset;
use super::state::AppState;
use super::{base_url, Snapshot};
use crate::analysis::{Targets, TrendParams, MAX_YEARS};
use crate::config::ReportConfig;
use crate::model::Catalogue;
use crate::report::{self, Report, ReportError, ReportInput};

/// Reports cached per dataset; the oldest is dropped beyond this.
const CACHED_REPORTS: usize = 8;

/// The XLSX media type.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/reports", get(get_reports)).route("/reports/{year}", get(get_report))
}

/// The report settings and targets a dataset was loaded with, and its computed reports.
#[derive(Debug, Default)]
pub struct Reports {
    settings: ReportConfig,
    targets: Targets,
    targets_source: Option<String>,
    cache: Mutex<ReportCache>,
    /// Held while a report is computed: reports queue one behind another instead of each
    /// taking every core (four concurrent 100-year reports all timed out: issue 14).
    building: Mutex<()>,
}

#[derive(Debug, Default)]
struct ReportCache {
    reports: BTreeMap<(i32, i32), Arc<Report>>,
    order: Vec<(i32, i32)>,
}

impl Reports {
    /// Reads the targets file `settings` names (checked against `catalogue`).
    ///
    /// # Errors
    /// The targets file's problem, naming the file, line and key.
    pub fn load(settings: &ReportConfig, catalogue: &Catalogue) -> Result<Self, ReportError> {
        let targets = match &settings.targets {
            Some(path) => report::targets::load_targets(path, catalogue)?,
            None => Targets::default(),
        };
        Ok(Self {
            settings: settings.clone(),
            targets,
            targets_source: settings.targets.as_ref().map(|p| p.display().to_string()),
            cache: Mutex::new(ReportCache::default()),
            building: Mutex::new(()),
        })
    }

    /// The first year of the period reported for `year` when the request names none.
    #[must_use]
    pub fn default_from(&self, year: i32) -> i32 {
        self.settings.from_for(year)
    }

    /// The report for `year` from `from`, computed on first use. Blocking: call it from
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] for an invalid period, [`ApiError::Internal`] otherwise.
    pub fn get(&self, dataset: &Dataset, year: i32, from: i32) -> Result<Arc<Report>, ApiError> {
        let poisoned = || ApiError::Internal("report cache poisoned".into());
        if let Some(r) = self.cache.lock().map_err(|_| poisoned())?.reports.get(&(year, from)) {
            return Ok(Arc::clone(r));
        }
        let _building = self.building.lock().map_err(|_| poisoned())?;
        // Computed by the request this one queued behind?
        if let Some(r) = self.cache.lock().map_err(|_| poisoned())?.reports.get(&(year, from)) {
            return Ok(Arc::clone(r));
        }
        let straight = crate::analysis::StraightLine::new(&dataset.facilities, dataset.params.distance_from);
        // The dataset's metric: with a walking network, every year of the period by walking.
        let metric: &dyn crate::analysis::CoverageMetric = match &dataset.network {
            Some(network) => &network.metric,
            None => &straight,
        };
        // The dataset's timeline answers every year; a report reads it instead of building one.
        let timeline = dataset.timeline().ok();
        let input = ReportInput {
            estates: &dataset.estates,
            facilities: &dataset.facilities,
            timeline: timeline.as_deref(),
            catalogue: &dataset.catalogue,
            working_crs: &dataset.working_crs,
            metric,
            params: TrendParams { renovation_built_before: self.settings.renovation_built_before, ..TrendParams::new(from, year) },
            targets: &self.targets,
            targets_source: self.targets_source.as_deref(),
            title: self.settings.title.as_deref(),
        };
        let built = Arc::new(report::build_report(&input).map_err(|e| match e {
            ReportError::Trend(e) => ApiError::bad("from", e.to_string()),
            e => ApiError::Internal(e.to_string()),
        })?);
        let mut cache = self.cache.lock().map_err(|_| poisoned())?;
        if !cache.reports.contains_key(&(year, from)) {
            if cache.order.len() >= CACHED_REPORTS {
                let oldest = cache.order.remove(0);
                cache.reports.remove(&oldest);
            }
            cache.order.push((year, from));
        }
        Ok(Arc::clone(cache.reports.entry((year, from)).or_insert(built)))
    }

    /// Number of reports cached.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.reports.len())
    }
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
    pairs.only(&["f", "from"])?;
    let format = report_format(&pairs, &headers)?;
    let year = params::parse_year("year", &year)?;
    let from = match pairs.get("from") {
        Some(s) => params::parse_year("from", s)?,
        None => dataset.reports.default_from(year),
    };
    TrendParams::new(from, year).check_period().map_err(|e| ApiError::bad("from", e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let built = dataset.reports.get(&dataset, year, from)?;
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
