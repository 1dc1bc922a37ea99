//! The annual facility-target report (`gapmap report`, `GET /reports/{year}`): per year of a
//! period and per facility kind, what opened, the cumulative stock, targets against actuals and
//! coverage at year end — city-wide and per district — with renovation progress, charts and a
//! map of the report year's gaps; with a programme ([`add_programme`]), its batches, funding,
//! satisfaction gate, wishes and the facility gaps renovation closed; in English or Chinese
//! ([`Lang`]).
//!
//! [`build_report`] computes a [`Report`] (figures from [`compute_trend`](crate::analysis::compute_trend), the map picture from
//! the estates' working-CRS footprints); the `render_*` functions turn it into Markdown, CSV,
//! JSON, self-contained HTML or XLSX without recomputing anything, so every format states the
//! same figures. All renderers work from one set of [`table`] definitions, except JSON, which
//! serialises the report itself.

mod chart;
mod csv;
mod html;
mod json;
mod map;
mod markdown;
pub mod programme;
pub mod table;
pub mod targets;
mod xlsx;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::csv::render_csv;
pub use self::html::render_html;
pub use self::json::{render_json, to_json_value};
pub use self::map::GapMap;
pub use self::markdown::render_markdown;
pub use self::programme::{add_programme, Lang, ProgrammeInputs, ProgrammeSections, SectionInput};
pub use self::xlsx::render_xlsx;
use crate::analysis::{compute_trend_with, CoverageMetric, CoverageTimeline, Targets, Trend, TrendError, TrendParams};
use crate::model::{Catalogue, Estate, Facility};

/// Everything [`build_report`] needs: loaded data (working CRS), the catalogue and the period.
#[derive(Clone, Copy)]
pub struct ReportInput<'a> {
    /// Estates, geometry in the working CRS.
    pub estates: &'a [Estate],
    /// Facilities, location in the working CRS.
    pub facilities: &'a [Facility],
    /// How coverage is measured (straight line or walking network), prepared for these estates
    /// and facilities.
    pub metric: &'a dyn CoverageMetric,
    /// Coverage through the years, when the caller keeps one (the service); else the report
    /// builds one for its period.
    pub timeline: Option<&'a CoverageTimeline>,
    /// The catalogue the facilities' kinds index.
    pub catalogue: &'a Catalogue,
    /// Name of the working CRS (`EPSG:4547`), stated in the report.
    pub working_crs: &'a str,
    /// Period and conventions.
    pub params: TrendParams,
    /// The city's targets (empty: actuals only).
    pub targets: &'a Targets,
    /// Where the targets came from (a file name), stated in the report.
    pub targets_source: Option<&'a str>,
    /// Title; default `Facility targets and coverage {year}`.
    pub title: Option<&'a str>,
}

/// A computed report, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Tool and version.
    pub generator: String,
    /// Report year (the period's last year).
    pub year: i32,
    /// First year of the period.
    pub from: i32,
    /// Catalogue title.
    pub catalogue: String,
    /// Working CRS distances were measured in.
    pub working_crs: String,
    /// Estates analysed.
    pub estates: usize,
    /// Facilities loaded (all years).
    pub facilities: usize,
    /// Where the targets came from.
    pub targets_source: Option<String>,
    /// The figures.
    pub trend: Trend,
    /// Planned facilities (a what-if scenario) opening in the period, per year and kind; the
    /// trend's `opened` and stock figures include them. Empty, and absent from the JSON, when
    /// nothing is planned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedOpening>,
    /// The map picture of the report year's gaps (not part of the JSON document).
    #[serde(skip)]
    pub map: GapMap,
    /// Language of the words (`en` is the default and is left out of the JSON; figures are the
    /// same in every language).
    #[serde(skip_serializing_if = "Lang::is_en")]
    pub lang: Lang,
    /// The renovation programme's sections ([`add_programme`]); absent when the config names
    /// no programme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programme: Option<ProgrammeSections>,
}

impl Report {
    /// Sets the report's language; the default title follows it unless `title` gives one.
    pub fn set_lang(&mut self, lang: Lang, title: Option<&str>) {
        self.lang = lang;
        self.title = title.map_or_else(|| default_title(self.year, lang), str::to_owned);
    }
}

/// The default title: `Facility targets and coverage 2021` / `2021年社区设施配建目标与覆盖情况报告`.
#[must_use]
pub fn default_title(year: i32, lang: Lang) -> String {
    match lang {
        Lang::En => format!("Facility targets and coverage {year}"),
        Lang::Zh => format!("{year}年社区设施配建目标与覆盖情况报告"),
    }
}

/// Openings of one kind in one year, built and planned apart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedOpening {
    /// The year.
    pub year: i32,
    /// Kind key.
    pub kind: String,
    /// Facilities built (not planned) with `opened_year` = `year`.
    pub opened_built: u64,
    /// Planned facilities with `opened_year` = `year`.
    pub opened_planned: u64,
    /// The planned ones' summed capacity (unknown counts 0), in the kind's unit.
    pub capacity_planned: f64,
}

/// Built and planned openings per year of `from..=to` and kind, for the years and kinds where
/// something planned opens; empty when nothing is planned.
#[must_use]
pub fn planned_openings(facilities: &[Facility], catalogue: &Catalogue, from: i32, to: i32) -> Vec<PlannedOpening> {
    let mut out = Vec::new();
    for year in from..=to {
        for (k, spec) in catalogue.kinds.iter().enumerate() {
            let opening = facilities.iter().filter(|f| f.kind.index() == k && f.opened_year == Some(year));
            let (mut built, mut planned, mut capacity) = (0u64, 0u64, 0.0);
            for f in opening {
                if f.planned {
                    planned += 1;
                    capacity += f.capacity.unwrap_or(0.0);
                } else {
                    built += 1;
                }
            }
            if planned > 0 {
                out.push(PlannedOpening { year, kind: spec.key.clone(), opened_built: built, opened_planned: planned, capacity_planned: capacity });
            }
        }
    }
    out
}

/// Why a report cannot be made or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The figures cannot be computed.
    #[error(transparent)]
    Trend(#[from] TrendError),
    /// The targets file is unusable.
    #[error(transparent)]
    Targets(#[from] targets::TargetsError),
    /// An output cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A programme table cannot be read.
    #[error(transparent)]
    Programme(#[from] crate::io::programme::ProgrammeLoadError),
    /// Programme rows were rejected and `analysis.on_invalid` is `abort`.
    #[error("{count} programme rows rejected, the first: {first}; fix them, or set analysis.on_invalid = \"warn\" to go on without them")]
    ProgrammeRows {
        /// Rows rejected.
        count: usize,
        /// The first rejection: file, row, id and reason.
        first: String,
    },
    /// Coverage for the programme's link to coverage cannot be computed.
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    /// The XLSX workbook cannot be assembled.
    #[error("cannot build the XLSX workbook: {0}")]
    Xlsx(String),
}

/// An output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Format {
    /// One self-contained HTML file with charts and map (prints on A4).
    Html,
    /// Markdown.
    Md,
    /// An Excel workbook, one sheet per table.
    Xlsx,
    /// One CSV file per table.
    Csv,
    /// The whole report as JSON.
    Json,
}

impl Format {
    /// All formats.
    pub const ALL: [Self; 5] = [Self::Html, Self::Md, Self::Xlsx, Self::Csv, Self::Json];
}

/// Computes a report.
///
/// # Errors
/// [`ReportError::Trend`] for an invalid period or catalogue.
///
/// # Complexity
/// That of [`compute_trend`](crate::analysis::compute_trend), plus O(vertices) for the map.
pub fn build_report(input: &ReportInput<'_>) -> Result<Report, ReportError> {
    let trend = compute_trend_with(input.estates, input.facilities, input.metric, input.timeline, input.catalogue, input.params, input.targets)?;
    let year = input.params.to;
    Ok(Report {
        title: input.title.map_or_else(|| default_title(year, Lang::En), str::to_owned),
        generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
        year,
        from: input.params.from,
        catalogue: input.catalogue.name.clone(),
        working_crs: input.working_crs.to_owned(),
        estates: input.estates.len(),
        facilities: input.facilities.len(),
        targets_source: input.targets_source.map(str::to_owned),
        map: GapMap::new(input.estates),
        planned: planned_openings(input.facilities, input.catalogue, input.params.from, year),
        trend,
        lang: Lang::En,
        programme: None,
    })
}

/// The file name of a single-file format in the output directory (`report-2021.html`); CSV
/// files are named per table by [`render_csv`].
#[must_use]
pub fn file_name(year: i32, format: Format) -> String {
    let ext = match format {
        Format::Html => "html",
        Format::Md => "md",
        Format::Xlsx => "xlsx",
        Format::Csv => "csv",
        Format::Json => "json",
    };
    format!("report-{year}.{ext}")
}

/// Renders the report in each format and writes the files into `dir` (created if missing),
/// each through a temporary file renamed into place.
///
/// # Errors
/// [`ReportError::Write`] or [`ReportError::Xlsx`].
pub fn write_report(report: &Report, formats: &[Format], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_owned(), source })?;
    let mut written = Vec::new();
    let mut formats = formats.to_vec();
    formats.sort();
    formats.dedup();
    for format in formats {
        let files: Vec<(String, Vec<u8>)> = match format {
            Format::Html => vec![(file_name(report.year, format), render_html(report).into_bytes())],
            Format::Md => vec![(file_name(report.year, format), render_markdown(report).into_bytes())],
            Format::Json => vec![(file_name(report.year, format), render_json(report).into_bytes())],
            Format::Xlsx => vec![(file_name(report.year, format), render_xlsx(report)?)],
            Format::Csv => render_csv(report).into_iter().map(|(name, text)| (name, text.into_bytes())).collect(),
        };
        for (name, bytes) in files {
            let path = dir.join(name);
            write_file(&path, &bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    // The writers' own path: a hidden temporary (stale ones of dead runs removed), synced, then
    // renamed into place and the directory synced.
    crate::io::write::write_atomically(path, |w| {
        std::io::Write::write_all(w, bytes).map_err(|source| crate::io::WriteError::Io { path: path.to_owned(), source })
    })
    .map_err(|e| match e {
        crate::io::WriteError::Io { path, source } => ReportError::Write { path, source },
        other => ReportError::Write { path: path.to_owned(), source: std::io::Error::other(other.to_string()) },
    })
}
