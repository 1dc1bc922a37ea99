//! The programme report (`gapmap programme`): the renovation batches by year, district and
//! street, progress against targets and the old stock, funding by source against the rules,
//! the satisfaction gate and the residents' wishes — in Chinese (the default, as the city
//! writes it) or English, as HTML (charts, prints on A4), Markdown, XLSX, CSV and JSON.
//!
//! [`build_programme_report`] wraps the core's [`Programme`] with the labels the report needs
//! (catalogue kinds, renovation items, funding sources, estate names); the renderers only lay
//! out [`table`]s and headlines, so every format states the same figures.

mod chart;
pub mod format;
mod html;
pub(crate) mod markdown;
pub mod table;
pub(crate) mod xlsx;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::format::Lang;
pub use self::html::render_html;
pub(crate) use self::html::{push_programme as push_programme_html, EMBEDDED_STYLE};
pub(crate) use self::markdown::push_programme as push_programme_md;
pub use self::markdown::render_markdown;
pub use self::xlsx::render_xlsx;
use super::{Format, Report, ReportError};
use crate::analysis::{compute_coverage, CoverageMetric, RecordedHouseholds, RenovationTarget};
use crate::io::programme::LoadedProgramme;
use crate::model::{Catalogue, Estate, Facility, FeatureId};
use crate::programme::{self as core, Category, GapInput, Programme, ProgrammeInput, RenovationGaps, Stock};

/// A computed programme report, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgrammeReport {
    /// Title.
    pub title: String,
    /// Tool and version.
    pub generator: String,
    /// Language.
    pub lang: Lang,
    /// Report year.
    pub year: i32,
    /// The figures.
    pub programme: Programme,
    /// Item and kind labels (key → English, Chinese).
    #[serde(skip)]
    pub item_labels: BTreeMap<String, (String, String)>,
    /// Estate names.
    #[serde(skip)]
    pub estate_names: BTreeMap<FeatureId, String>,
}

/// Funding sources' names (key, English, Chinese).
const SOURCES: [(&str, &str, &str); 8] = [
    ("central", "Central subsidy", "中央补助"),
    ("province", "Province", "省级补助"),
    ("city", "City", "市级财政"),
    ("district", "District", "区级财政"),
    ("utility", "Utility companies", "管线单位"),
    ("residents", "Residents", "居民出资"),
    ("social", "Social capital", "社会资本"),
    ("other", "Other", "其他"),
];

impl ProgrammeReport {
    /// A funding source's name.
    #[must_use]
    pub fn source_label(&self, key: &str) -> String {
        SOURCES.iter().find(|(k, ..)| *k == key).map_or_else(|| key.to_owned(), |(_, en, zh)| self.lang.pick(en, zh).to_owned())
    }

    /// An item's name: catalogue kinds, renovation items, else the key.
    #[must_use]
    pub fn item_label(&self, key: &str) -> String {
        self.item_labels.get(key).map_or_else(|| key.to_owned(), |(en, zh)| self.lang.pick(en, zh).to_owned())
    }

    /// A category's name.
    #[must_use]
    pub fn category_label(&self, c: Category) -> String {
        match c {
            Category::Basic => self.lang.pick("basic", "基础类"),
            Category::Improvement => self.lang.pick("improvement", "完善类"),
            Category::Upgrade => self.lang.pick("upgrade", "提升类"),
        }
        .to_owned()
    }

    /// An estate's name with its id.
    #[must_use]
    pub fn estate_label(&self, id: &FeatureId) -> String {
        self.estate_names.get(id).map_or_else(|| id.to_string(), |n| format!("{n} ({id})"))
    }

    /// Sources with recorded investment, in the report's source order.
    #[must_use]
    pub fn recorded_sources(&self) -> Vec<String> {
        self.programme.sources.iter().filter(|s| self.programme.total.investment_yuan.contains_key(*s)).cloned().collect()
    }
}

/// The old stock: estates built before `built_before`, their households, and their ids.
#[must_use]
pub fn old_stock(estates: &[Estate], built_before: i32) -> (Stock, std::collections::BTreeSet<FeatureId>) {
    let old: Vec<&Estate> = estates.iter().filter(|e| e.built_year.is_some_and(|b| b < built_before)).collect();
    let stock = Stock { estates: old.len() as u64, households: old.iter().map(|e| u64::from(e.households.unwrap_or(0))).sum(), built_before };
    (stock, old.iter().map(|e| e.id.clone()).collect())
}

/// The programme's figures for the batches up to `year`, progress from `from`: what both
/// `gapmap programme` and the programme sections of `gapmap report` state.
#[must_use]
pub fn programme_figures(data: &LoadedProgramme, estates: &[Estate], gate_pct: f64, stock_built_before: i32, targets: &[RenovationTarget], from: i32, year: i32) -> Programme {
    let projects: Vec<_> = data.projects.iter().filter(|p| p.batch_year <= year).cloned().collect();
    let (stock, in_stock) = old_stock(estates, stock_built_before);
    core::analyze(&ProgrammeInput {
        projects: &projects,
        surveys: &data.surveys,
        wishes: &data.wishes,
        rules: &data.rules,
        gate_pct,
        targets,
        from,
        to: year,
        stock,
        in_stock: &in_stock,
    })
}

/// The programme sections of the facility report: the programme report (batches, progress,
/// funding, the gate, wishes) and the link to coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgrammeSections {
    /// The programme's figures with their labels.
    #[serde(flatten)]
    pub report: ProgrammeReport,
    /// The facility gaps of renovated estates closed by the renovation and still open.
    pub gaps: RenovationGaps,
}

/// What [`add_programme`] needs beside the report.
#[derive(Clone, Copy)]
pub struct SectionInput<'a> {
    /// Projects, surveys, wishes and funding rules as loaded ([`crate::io::programme::load_programme`]).
    pub data: &'a LoadedProgramme,
    /// The satisfaction gate (`programme.gate_pct`).
    ///
    /// # Units
    /// Percent.
    pub gate_pct: f64,
    /// Estates built before this year form the old stock.
    pub stock_built_before: i32,
    /// Estates, as the report's.
    pub estates: &'a [Estate],
    /// Facilities, as the report's.
    pub facilities: &'a [Facility],
    /// The report's metric (straight line or walking), prepared for these estates and facilities.
    pub metric: &'a dyn CoverageMetric,
    /// The catalogue.
    pub catalogue: &'a Catalogue,
    /// The targets file's `[[renovation]]` rows.
    pub targets: &'a [RenovationTarget],
}

/// The facility gaps of renovated estates closed by the renovation and still open at the end of
/// `year`, measured by `metric` ([`core::link_gaps`] over the coverage table and the facilities
/// within each item kind's radius).
///
/// # Errors
/// [`ReportError::Analysis`] when the metric was prepared for other estates or facilities.
pub fn renovation_gaps(projects: &[core::Project], estates: &[Estate], facilities: &[Facility], metric: &dyn CoverageMetric, catalogue: &Catalogue, year: i32) -> Result<RenovationGaps, ReportError> {
    let coverage = compute_coverage(estates, metric, catalogue, Some(year), &RecordedHouseholds, &())?;
    let batched: Vec<core::Project> = projects.iter().filter(|p| p.batch_year <= year).cloned().collect();
    let pairs = core::item_kinds(&batched, catalogue)
        .into_iter()
        .map(|k| metric.facility_pairs(estates, catalogue, k, Some(year)).map(|list| (k, list)))
        .collect::<Result<Vec<_>, _>>()?;
    let positions: std::collections::HashMap<FeatureId, usize> = estates.iter().enumerate().map(|(i, e)| (e.id.clone(), i)).collect();
    Ok(core::link_gaps(&GapInput { projects: &batched, estate_positions: &positions, facilities, catalogue, coverage: &coverage, pairs: &pairs, year }))
}

/// The programme as a service keeps it between reports: its rows, checked, and its settings.
#[derive(Debug)]
pub struct ProgrammeInputs {
    /// Projects, surveys, wishes and funding rules.
    pub data: LoadedProgramme,
    /// The satisfaction gate.
    ///
    /// # Units
    /// Percent.
    pub gate_pct: f64,
    /// Estates built before this year form the old stock.
    pub stock_built_before: i32,
}

impl ProgrammeInputs {
    /// Reads the `[programme]` tables of `config` for `estates`; `None` without a `[programme]`.
    /// Rejected rows fail the load under `analysis.on_invalid = "abort"` (naming the first) and
    /// are left out under `"warn"`, as `gapmap report` does.
    ///
    /// # Errors
    /// [`ReportError::Programme`] for an unreadable table or a bad `[programme]`,
    /// [`ReportError::ProgrammeRows`] for rejected rows under `abort`.
    pub fn load(config: &crate::config::Config, estates: &[Estate]) -> Result<Option<Self>, ReportError> {
        let Some(section) = &config.programme else { return Ok(None) };
        section.validate().map_err(crate::io::programme::ProgrammeLoadError::from)?;
        let data = crate::io::programme::load_programme(section, &crate::io::programme::estate_refs(estates), crate::io::programme::today())?;
        if let Some(first) = data.report.rejected.first() {
            if config.analysis.on_invalid == crate::config::OnInvalid::Abort {
                return Err(ReportError::ProgrammeRows { count: data.report.rejected.len(), first: first.to_string() });
            }
        }
        Ok(Some(Self { data, gate_pct: section.gate_pct, stock_built_before: section.stock_built_before.unwrap_or(config.report.renovation_built_before) }))
    }

    /// What [`add_programme`] needs, with the report's data.
    #[must_use]
    pub fn section_input<'a>(&'a self, estates: &'a [Estate], facilities: &'a [Facility], metric: &'a dyn CoverageMetric, catalogue: &'a Catalogue, targets: &'a [RenovationTarget]) -> SectionInput<'a> {
        SectionInput { data: &self.data, gate_pct: self.gate_pct, stock_built_before: self.stock_built_before, estates, facilities, metric, catalogue, targets }
    }
}

/// Adds the programme sections to `report`, for its period and in its language (set the
/// language first: [`Report::set_lang`]).
///
/// # Errors
/// [`ReportError::Analysis`] from [`renovation_gaps`].
pub fn add_programme(report: &mut Report, input: &SectionInput<'_>) -> Result<(), ReportError> {
    let figures = programme_figures(input.data, input.estates, input.gate_pct, input.stock_built_before, input.targets, report.from, report.year);
    let gaps = renovation_gaps(&input.data.projects, input.estates, input.facilities, input.metric, input.catalogue, report.year)?;
    let mut programme = build_programme_report(figures, input.catalogue, input.estates, report.lang, None);
    programme.generator.clone_from(&report.generator);
    report.programme = Some(ProgrammeSections { report: programme, gaps });
    Ok(())
}

/// Wraps the figures with the labels the report needs.
#[must_use]
pub fn build_programme_report(programme: Programme, catalogue: &Catalogue, estates: &[Estate], lang: Lang, title: Option<&str>) -> ProgrammeReport {
    let mut item_labels: BTreeMap<String, (String, String)> = format::ITEMS.iter().map(|(k, en, zh)| ((*k).to_owned(), ((*en).to_owned(), (*zh).to_owned()))).collect();
    for k in &catalogue.kinds {
        item_labels.insert(k.key.clone(), (k.label_en.clone(), k.label_zh.clone()));
    }
    let year = programme.to;
    let title = title.map_or_else(
        || match lang {
            Lang::Zh => format!("{year}年老旧小区改造工作报告"),
            Lang::En => format!("Old-estate renovation programme {year}"),
        },
        str::to_owned,
    );
    ProgrammeReport {
        title,
        generator: format!("gapmap {}", env!("CARGO_PKG_VERSION")),
        lang,
        year,
        programme,
        item_labels,
        estate_names: estates.iter().filter_map(|e| e.name.clone().map(|n| (e.id.clone(), n))).collect(),
    }
}

/// A table as CSV, UTF-8 with a BOM so that Excel reads the Chinese.
#[must_use]
pub fn csv_text(t: &table::Table) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(&t.columns);
    for row in &t.rows {
        let _ = w.write_record(row.iter().map(table::Cell::plain));
    }
    let bytes = w.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}

/// One CSV file per table (`programme-2021-zh-batches.csv`).
#[must_use]
pub fn render_csv(report: &ProgrammeReport) -> Vec<(String, String)> {
    table::all_tables(report).iter().map(|t| (format!("{}-{}.csv", stem(report), t.key), csv_text(t))).collect()
}

/// Every programme table of the facility report, in full: the programme's, then the link to
/// coverage (per kind, and per project and kind with every gap still open).
#[must_use]
pub fn report_tables(p: &ProgrammeSections) -> Vec<table::Table> {
    let mut tables = table::all_tables(&p.report);
    tables.push(table::gaps_by_kind(&p.report, &p.gaps));
    tables.push(table::gap_links(&p.report, &p.gaps, false));
    tables
}

/// The whole report as JSON: the figures in yuan, m² and percent, with the language and title.
#[must_use]
pub fn render_json(report: &ProgrammeReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The output files' stem: `programme-2021-zh`.
#[must_use]
pub fn stem(report: &ProgrammeReport) -> String {
    format!("programme-{}-{}", report.year, report.lang.key())
}

/// Renders each format and writes the files into `dir` (created if missing).
///
/// # Errors
/// [`ReportError::Write`] or [`ReportError::Xlsx`].
pub fn write_programme_report(report: &ProgrammeReport, formats: &[Format], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_owned(), source })?;
    let mut formats = formats.to_vec();
    formats.sort();
    formats.dedup();
    let stem = stem(report);
    let mut written = Vec::new();
    for format in formats {
        let files: Vec<(String, Vec<u8>)> = match format {
            Format::Html => vec![(format!("{stem}.html"), render_html(report).into_bytes())],
            Format::Md => vec![(format!("{stem}.md"), render_markdown(report).into_bytes())],
            Format::Json => vec![(format!("{stem}.json"), render_json(report).into_bytes())],
            Format::Xlsx => vec![(format!("{stem}.xlsx"), render_xlsx(report)?)],
            Format::Csv => render_csv(report).into_iter().map(|(n, t)| (n, t.into_bytes())).collect(),
        };
        for (name, bytes) in files {
            let path = dir.join(name);
            super::write_file(&path, &bytes)?;
            written.push(path);
        }
    }
    Ok(written)
}
