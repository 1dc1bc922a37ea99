//! Programme tables in: renovation projects, satisfaction surveys and residents' wishes from CSV,
//! XLSX, GeoJSON (its features' properties) or any other table GDAL opens (GeoPackage, DBF…),
//! columns mapped through `[programme]`'s `fields`.
//!
//! Every row becomes a record or a [`RowRejection`] naming the file, the row (the spreadsheet's
//! row number, header = row 1; a GeoJSON feature's index) and what to fix: an unknown estate,
//! project shares not summing to 100 %, a percentage outside 0–100, a date or batch year in the
//! future, a duplicate project or wish, a value that is not a number, a project completed or
//! accepted at under 100 % complete, a survey naming no project. Nothing is dropped
//! silently. The records are checked one by one with the core's checks
//! ([`Project::check`], [`Survey::check`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::gdal::GdalSource;
use super::geojson::GeoJsonSource;
use super::{FeatureSource, LoadReport};
use crate::config::{ProgrammeConfig, TableSource};
use crate::model::{AttrValue, Estate, FeatureId};
use crate::programme::{survey_project, Category, Date, FundingRule, Item, Project, Satisfied, Status, Survey, SurveyTarget, Wish};

/// A programme table that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ProgrammeLoadError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A required column is missing.
    #[error("{path}: no column `{column}` (gapmap's `{field}`; map it with fields = {{ {field} = \"…\" }})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// gapmap's name for it.
        field: String,
    },
    /// The config's `[programme]` is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A rejected row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowRejection {
    /// The file.
    pub file: PathBuf,
    /// `row` (CSV, XLSX: the spreadsheet's row number, header = 1) or `feature` (GeoJSON, 0-based).
    pub unit: &'static str,
    /// Row number or feature index.
    pub row: usize,
    /// The record's id (project id, estate id) when it has one.
    pub id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for RowRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.file.display(), self.unit, self.row)?;
        if let Some(id) = &self.id {
            write!(f, " (id {id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What a programme load rejected, per row, and what it accepted, per file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProgrammeLoadReport {
    /// Rows left out, each with its reason.
    pub rejected: Vec<RowRejection>,
    /// Rows accepted, per file.
    pub accepted: Vec<(PathBuf, usize)>,
}

/// The programme's records, checked.
#[derive(Debug, Clone, Default)]
pub struct LoadedProgramme {
    /// Projects in file order.
    pub projects: Vec<Project>,
    /// Surveys in file order.
    pub surveys: Vec<Survey>,
    /// Wishes in file order.
    pub wishes: Vec<Wish>,
    /// Funding rules.
    pub rules: Vec<FundingRule>,
    /// Rejections.
    pub report: ProgrammeLoadReport,
}

/// What the loader needs to know of an estate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EstateRef {
    /// Name.
    pub name: Option<String>,
    /// District.
    pub district: Option<String>,
    /// Households.
    pub households: Option<u32>,
}

/// The estates by id, as the loader needs them.
#[must_use]
pub fn estate_refs(estates: &[Estate]) -> HashMap<FeatureId, EstateRef> {
    estates.iter().map(|e| (e.id.clone(), EstateRef { name: e.name.clone(), district: e.district.clone(), households: e.households })).collect()
}

/// Today's date from the system clock (UTC), for the "not in the future" checks.
#[must_use]
pub fn today() -> Date {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Date::from_unix_days(i64::try_from(secs / 86_400).unwrap_or(0))
}

/// A row as read: its number and its cells by column name (trimmed text; empty cells absent).
#[derive(Debug, Clone)]
struct Row {
    number: usize,
    cells: HashMap<String, String>,
}

struct Table {
    path: PathBuf,
    unit: &'static str,
    columns: Vec<String>,
    rows: Vec<Row>,
    /// Rows the reader could not split into cells.
    broken: Vec<(usize, String)>,
}

fn read_table(source: &TableSource) -> Result<Table, ProgrammeLoadError> {
    let path = &source.path;
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "csv" | "txt" => read_csv(path),
        "xlsx" | "xlsm" | "xls" | "ods" => read_xlsx(path, source.sheet.as_deref()),
        "geojson" | "json" => read_geojson(path),
        _ => read_gdal(path, source.sheet.as_deref()),
    }
}

fn read_csv(path: &Path) -> Result<Table, ProgrammeLoadError> {
    let read_err = |e: &dyn fmt::Display| ProgrammeLoadError::Read { path: path.to_owned(), message: e.to_string() };
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(|e| read_err(&e))?;
    let columns: Vec<String> = reader.headers().map_err(|e| read_err(&e))?.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_owned()).collect();
    let mut rows = Vec::new();
    let mut broken = Vec::new();
    for (i, record) in reader.records().enumerate() {
        match record {
            Ok(r) => {
                let number = r.position().map_or(i + 2, |p| usize::try_from(p.line()).unwrap_or(i + 2));
                if r.len() != columns.len() {
                    broken.push((number, format!("{} cells, the header has {}", r.len(), columns.len())));
                    continue;
                }
                let cells = columns.iter().zip(r.iter()).filter(|(_, v)| !v.trim().is_empty()).map(|(c, v)| (c.clone(), v.trim().to_owned())).collect();
                rows.push(Row { number, cells });
            }
            Err(e) => broken.push((e.position().map_or(i + 2, |p| usize::try_from(p.line()).unwrap_or(i + 2)), e.to_string())),
        }
    }
    Ok(Table { path: path.to_owned(), unit: "row", columns, rows, broken })
}

fn cell_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Empty => String::new(),
        Data::Int(n) => n.to_string(),
        // Whole numbers as integers: Excel stores every number as a float.
        #[expect(clippy::cast_possible_truncation, reason = "checked to be a whole number in range")]
        Data::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => (*x as i64).to_string(),
        Data::Float(x) => x.to_string(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.trim().to_owned(),
        Data::Bool(b) => b.to_string(),
        // Excel's day serial: 25,569 is 1970-01-01 (1900 system).
        #[expect(clippy::cast_possible_truncation, reason = "day serials are small")]
        Data::DateTime(d) => Date::from_unix_days(d.as_f64().floor() as i64 - 25_569).to_string(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn read_xlsx(path: &Path, sheet: Option<&str>) -> Result<Table, ProgrammeLoadError> {
    use calamine::Reader as _;
    let read_err = |e: &dyn fmt::Display| ProgrammeLoadError::Read { path: path.to_owned(), message: e.to_string() };
    let mut workbook = calamine::open_workbook_auto(path).map_err(|e| read_err(&e))?;
    let name = match sheet {
        Some(s) => s.to_owned(),
        None => workbook.sheet_names().first().cloned().ok_or_else(|| read_err(&"the workbook has no sheets"))?,
    };
    let range = workbook.worksheet_range(&name).map_err(|e| read_err(&format!("sheet `{name}`: {e}")))?;
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let mut rows_iter = range.rows();
    let columns: Vec<String> = rows_iter.next().map(|r| r.iter().map(|c| cell_text(c).trim_start_matches('\u{feff}').to_owned()).collect()).unwrap_or_default();
    let rows = rows_iter
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| !matches!(c, calamine::Data::Empty)))
        .map(|(i, r)| Row {
            number: first_row + i + 2,
            cells: columns.iter().zip(r).map(|(c, v)| (c.clone(), cell_text(v))).filter(|(_, v)| !v.is_empty()).collect(),
        })
        .collect();
    Ok(Table { path: path.to_owned(), unit: "row", columns, rows, broken: Vec::new() })
}

fn read_geojson(path: &Path) -> Result<Table, ProgrammeLoadError> {
    read_features(path, &mut GeoJsonSource::new(path))
}

/// Any table GDAL opens (GeoPackage, Shapefile/DBF, FlatGeobuf, ODS…): its features' attributes;
/// `sheet` names the layer.
fn read_gdal(path: &Path, layer: Option<&str>) -> Result<Table, ProgrammeLoadError> {
    let mut source = GdalSource::new(path);
    source.layer = layer.map(str::to_owned);
    read_features(path, &mut source)
}

fn read_features(path: &Path, source: &mut dyn FeatureSource) -> Result<Table, ProgrammeLoadError> {
    let mut report = LoadReport::default();
    let mut rows = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    source
        .read(&mut report, &mut |f| {
            for (k, _) in &f.properties {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
            let cells = f
                .properties
                .iter()
                .filter(|(_, v)| !matches!(v, AttrValue::Null))
                .map(|(k, v)| (k.clone(), v.to_string().trim().to_owned()))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            rows.push(Row { number: f.index, cells });
        })
        .map_err(|e| ProgrammeLoadError::Read { path: path.to_owned(), message: e.to_string() })?;
    let broken = report.rejected.into_iter().map(|r| (r.index, r.reason)).collect();
    Ok(Table { path: path.to_owned(), unit: "feature", columns, rows, broken })
}

/// Cell access through the field mapping.
struct Fields<'a> {
    source: &'a TableSource,
    row: &'a Row,
}

impl Fields<'_> {
    fn text(&self, field: &str) -> Option<&str> {
        self.row.cells.get(self.source.field(field)).map(String::as_str)
    }

    fn number(&self, field: &str) -> Result<Option<f64>, String> {
        self.text(field)
            .map(|t| {
                let cleaned: String = t.chars().filter(|c| !matches!(c, ',' | '，' | ' ')).collect();
                let cleaned = cleaned.trim_end_matches('%');
                cleaned.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("{field} `{t}` is not a number"))
            })
            .transpose()
    }

    fn count(&self, field: &str) -> Result<Option<u32>, String> {
        match self.number(field)? {
            None => Ok(None),
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked to be a whole number in range")]
            Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) => Ok(Some(x as u32)),
            Some(x) => Err(format!("{field} {x} is not a whole number (0 or more)")),
        }
    }

    fn year(&self, field: &str) -> Result<Option<i32>, String> {
        match self.number(field)? {
            None => Ok(None),
            #[expect(clippy::cast_possible_truncation, reason = "checked to be a plausible year")]
            Some(x) if x.fract() == 0.0 && (1900.0..=2200.0).contains(&x) => Ok(Some(x as i32)),
            Some(x) => Err(format!("{field} {x} is not a year")),
        }
    }

    fn required<T>(&self, field: &str, value: Option<T>) -> Result<T, String> {
        value.ok_or_else(|| format!("no {field} (column `{}` is empty)", self.source.field(field)))
    }
}

fn require_column(table: &Table, source: &TableSource, field: &str) -> Result<(), ProgrammeLoadError> {
    let column = source.field(field);
    if table.columns.iter().any(|c| c == column) {
        Ok(())
    } else {
        Err(ProgrammeLoadError::MissingColumn { path: table.path.clone(), column: column.to_owned(), field: field.to_owned() })
    }
}

fn reject(report: &mut ProgrammeLoadReport, table: &Table, row: usize, id: Option<String>, reason: impl Into<String>) {
    report.rejected.push(RowRejection { file: table.path.clone(), unit: table.unit, row, id, reason: reason.into() });
}

fn reject_broken(report: &mut ProgrammeLoadReport, table: &Table) {
    for (row, reason) in &table.broken {
        reject(report, table, *row, None, reason.clone());
    }
}

/// Investment columns: `investment_<source>` headers, and mapped `investment_<source>` fields.
fn investment_columns(table: &Table, source: &TableSource) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for c in &table.columns {
        if let Some(s) = c.strip_prefix("investment_").filter(|s| !s.is_empty() && *s != "yuan") {
            out.insert(s.to_owned(), c.clone());
        }
    }
    for (field, column) in &source.fields {
        if let Some(s) = field.strip_prefix("investment_").filter(|s| !s.is_empty() && *s != "yuan") {
            out.insert(s.to_owned(), column.clone());
        }
    }
    out.into_iter().collect()
}

/// Share columns: `share_<source>_pct`, the project's split as shares of its total.
fn share_columns(table: &Table) -> Vec<(String, String)> {
    table.columns.iter().filter_map(|c| c.strip_prefix("share_").and_then(|s| s.strip_suffix("_pct")).filter(|s| !s.is_empty()).map(|s| (s.to_owned(), c.clone()))).collect()
}

const PROJECT_FIELDS: [&str; 12] = ["id", "estate_id", "batch_year", "street", "buildings", "households", "floor_area_m2", "category", "items", "investment_yuan", "status", "complete_pct"];
const SURVEY_FIELDS: [&str; 6] = ["project_id", "estate_id", "date", "respondents", "satisfied", "satisfied_pct"];
const WISH_FIELDS: [&str; 3] = ["estate_id", "item", "count"];

fn check_fields(source: &TableSource, key: &str, known: &[&str]) -> Result<(), ProgrammeLoadError> {
    for field in source.fields.keys() {
        if !(known.contains(&field.as_str()) || (key == "projects" && field.starts_with("investment_"))) {
            return Err(crate::config::ConfigError::Invalid { key: format!("programme.{key}.fields.{field}"), message: format!("unknown field; gapmap's fields are {}", known.join(", ")) }.into());
        }
    }
    Ok(())
}

fn project_from_row<S: std::hash::BuildHasher>(f: &Fields<'_>, invest: &[(String, String)], shares: &[(String, String)], estates: &HashMap<FeatureId, EstateRef, S>, today: Date) -> Result<Project, String> {
    let estate_text = f.required("estate_id", f.text("estate_id"))?;
    let estate_id = FeatureId::parse(estate_text);
    let Some(estate) = estates.get(&estate_id) else {
        return Err(format!("estate {estate_id} is not in the estates file"));
    };
    let batch_year = f.required("batch_year", f.year("batch_year")?)?;
    let category = Category::parse(f.required("category", f.text("category"))?)?;
    let status = Status::parse(f.required("status", f.text("status"))?)?;
    let complete_pct = match f.number("complete_pct")? {
        Some(p) => p,
        // A finished project is all done; an open one without a figure has not been measured.
        None if matches!(status, Status::Completed | Status::Accepted) => 100.0,
        None => 0.0,
    };
    let mut investment_yuan = BTreeMap::new();
    for (s, column) in invest {
        if let Some(t) = f.row.cells.get(column) {
            let cleaned: String = t.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
            let y: f64 = cleaned.parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| format!("investment from `{s}` `{t}` is not a number"))?;
            investment_yuan.insert(s.clone(), y);
        }
    }
    let investment_total_yuan = f.number("investment_yuan")?;
    let mut share_pct = BTreeMap::new();
    for (s, column) in shares {
        if let Some(t) = f.row.cells.get(column) {
            let p: f64 = t.trim_end_matches('%').trim().parse().ok().filter(|x: &f64| x.is_finite()).ok_or_else(|| format!("share of `{s}` `{t}` is not a number"))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("share of `{s}` {p} % is outside 0–100"));
            }
            share_pct.insert(s.clone(), p);
        }
    }
    if !share_pct.is_empty() {
        let sum: f64 = share_pct.values().sum();
        if (sum - 100.0).abs() > 0.01 {
            return Err(format!("shares by source sum to {sum} %, not 100 %"));
        }
        if !investment_yuan.is_empty() {
            return Err("give the split as investment_<source> amounts or as share_<source>_pct shares, not both".into());
        }
        let total = investment_total_yuan.ok_or("shares by source need the total investment (investment_yuan)")?;
        investment_yuan = share_pct.iter().map(|(s, p)| (s.clone(), total * p / 100.0)).collect();
    }
    let project = Project {
        id: f.text("id").map_or_else(|| format!("{estate_id}-{batch_year}"), str::to_owned),
        estate_id,
        estate_name: estate.name.clone(),
        district: estate.district.clone(),
        batch_year,
        street: f.text("street").map(str::to_owned),
        buildings: f.count("buildings")?.unwrap_or(0),
        households: match f.count("households")? {
            Some(h) => h,
            None => estate.households.unwrap_or(0),
        },
        floor_area_m2: f.number("floor_area_m2")?.unwrap_or(0.0),
        category,
        items: Item::parse_list(f.text("items").unwrap_or(""))?,
        investment_yuan,
        investment_total_yuan,
        status,
        complete_pct,
    };
    project.check(today)?;
    Ok(project)
}

fn survey_from_row<S: std::hash::BuildHasher>(f: &Fields<'_>, projects: &[Project], estates: &HashMap<FeatureId, EstateRef, S>, today: Date) -> Result<Survey, String> {
    let target = match (f.text("project_id"), f.text("estate_id")) {
        (Some(p), _) => SurveyTarget::Project(p.to_owned()),
        (None, Some(e)) => {
            let id = FeatureId::parse(e);
            if !estates.contains_key(&id) {
                return Err(format!("estate {id} is not in the estates file"));
            }
            SurveyTarget::Estate(id)
        }
        (None, None) => return Err("names neither a project (project_id) nor an estate (estate_id)".into()),
    };
    let date = Date::parse(f.required("date", f.text("date"))?)?;
    let respondents = f.required("respondents", f.count("respondents")?)?;
    let satisfied = match (f.count("satisfied"), f.number("satisfied_pct")?) {
        (_, Some(p)) => Satisfied::Pct(p),
        (Ok(Some(n)), None) => Satisfied::Count(n),
        (Err(e), None) => return Err(e),
        (Ok(None), None) => return Err("no satisfied count (satisfied) or share (satisfied_pct)".into()),
    };
    let survey = Survey { target, date, respondents, satisfied };
    survey.check(today)?;
    if survey_project(&survey, projects).is_none() {
        return Err(match &survey.target {
            SurveyTarget::Project(p) => format!("project {p} is not in the projects table"),
            SurveyTarget::Estate(e) => format!("estate {e} has no project batched in or before {}", survey.date.year),
        });
    }
    Ok(survey)
}

/// Loads the programme's tables: projects first (surveys and wishes refer to them and to the
/// estates), every row checked.
///
/// # Errors
/// A table that cannot be read, a missing required column, an unknown mapped field or a bad
/// funding rule; per-row problems are in [`LoadedProgramme::report`].
pub fn load_programme<S: std::hash::BuildHasher>(config: &ProgrammeConfig, estates: &HashMap<FeatureId, EstateRef, S>, today: Date) -> Result<LoadedProgramme, ProgrammeLoadError> {
    let rules = config.funding_rules()?;
    let mut report = ProgrammeLoadReport::default();
    let projects_source = config.projects.as_ref().ok_or_else(|| crate::config::ConfigError::Invalid { key: "programme.projects".into(), message: "no projects table".into() })?;
    check_fields(projects_source, "projects", &PROJECT_FIELDS)?;
    let table = read_table(projects_source)?;
    for field in ["estate_id", "batch_year", "category", "status"] {
        require_column(&table, projects_source, field)?;
    }
    reject_broken(&mut report, &table);
    let invest = investment_columns(&table, projects_source);
    let shares = share_columns(&table);
    let mut projects: Vec<Project> = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let mut seen_batches: HashMap<(FeatureId, i32), usize> = HashMap::new();
    for row in &table.rows {
        let f = Fields { source: projects_source, row };
        let id = f.text("id").map(str::to_owned).or_else(|| f.text("estate_id").map(str::to_owned));
        match project_from_row(&f, &invest, &shares, estates, today) {
            Err(reason) => reject(&mut report, &table, row.number, id, reason),
            Ok(p) => {
                if let Some(first) = seen_ids.get(&p.id) {
                    reject(&mut report, &table, row.number, Some(p.id.clone()), format!("duplicate project {} (first at {} {first})", p.id, table.unit));
                } else if let Some(first) = seen_batches.get(&(p.estate_id.clone(), p.batch_year)) {
                    reject(&mut report, &table, row.number, Some(p.id.clone()), format!("duplicate project: estate {} already has a project in the {} batch ({} {first})", p.estate_id, p.batch_year, table.unit));
                } else {
                    seen_ids.insert(p.id.clone(), row.number);
                    seen_batches.insert((p.estate_id.clone(), p.batch_year), row.number);
                    projects.push(p);
                }
            }
        }
    }
    report.accepted.push((table.path.clone(), projects.len()));

    let mut surveys = Vec::new();
    if let Some(source) = &config.surveys {
        check_fields(source, "surveys", &SURVEY_FIELDS)?;
        let table = read_table(source)?;
        for field in ["date", "respondents"] {
            require_column(&table, source, field)?;
        }
        reject_broken(&mut report, &table);
        for row in &table.rows {
            let f = Fields { source, row };
            let id = f.text("project_id").or_else(|| f.text("estate_id")).map(str::to_owned);
            match survey_from_row(&f, &projects, estates, today) {
                Ok(s) => surveys.push(s),
                Err(reason) => reject(&mut report, &table, row.number, id, reason),
            }
        }
        report.accepted.push((table.path.clone(), surveys.len()));
    }

    let mut wishes = Vec::new();
    if let Some(source) = &config.wishes {
        check_fields(source, "wishes", &WISH_FIELDS)?;
        let table = read_table(source)?;
        for field in WISH_FIELDS {
            require_column(&table, source, field)?;
        }
        reject_broken(&mut report, &table);
        let mut seen: HashMap<(FeatureId, String), usize> = HashMap::new();
        for row in &table.rows {
            let f = Fields { source, row };
            let wish = (|| {
                let estate_id = FeatureId::parse(f.required("estate_id", f.text("estate_id"))?);
                let estate = estates.get(&estate_id).ok_or_else(|| format!("estate {estate_id} is not in the estates file"))?;
                let item = f.required("item", f.text("item"))?.to_owned();
                let count = f.required("count", f.count("count")?)?;
                if let Some(first) = seen.get(&(estate_id.clone(), item.clone())) {
                    return Err(format!("duplicate wish: estate {estate_id} already asks for {item} ({} {first})", table.unit));
                }
                Ok(Wish { estate_id, district: estate.district.clone(), item, count })
            })();
            match wish {
                Ok(w) => {
                    seen.insert((w.estate_id.clone(), w.item.clone()), row.number);
                    wishes.push(w);
                }
                Err(reason) => reject(&mut report, &table, row.number, f.text("estate_id").map(str::to_owned), reason),
            }
        }
        report.accepted.push((table.path.clone(), wishes.len()));
    }
    Ok(LoadedProgramme { projects, surveys, wishes, rules, report })
}
