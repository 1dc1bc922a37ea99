//! The targets file: what a city planned to build, reach and renovate each year.
//!
//! TOML (one table per target; every figure optional, at least one set):
//!
//! ```toml
//! [[target]]
//! year = 2021
//! kind = "day_care"               # a catalogue key
//! district = "长安区"              # optional: omitted = the whole city
//! new_facilities = 300            # facilities to open in the year
//! capacity_added = 90000          # capacity to add, in the kind's unit
//! coverage_estates_pct = 100      # share of estates covered at year end ("full coverage")
//! coverage_households_pct = 100   # share of households covered at year end
//!
//! [[renovation]]
//! year = 2021
//! district = "长安区"              # optional
//! estates = 50
//! households = 12000
//! ```
//!
//! CSV, with a header naming any of the columns `year,kind,district,new_facilities,
//! capacity_added,coverage_estates_pct,coverage_households_pct,estates,households`; a row whose
//! `kind` is `renovation` is a renovation target (its `estates`/`households`), every other row a
//! facility target. Empty cells are unset.
//!
//! Errors name the file, the line and the key: unknown keys or kinds, negative numbers,
//! percentages outside 0–100, rows with no figure, and two rows for the same year, kind and
//! district.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::analysis::{FacilityTarget, RenovationTarget, Targets};
use crate::model::Catalogue;

/// A targets file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// The file cannot be read.
    #[error("cannot read targets {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TOML or CSV syntax, or an extension that is neither.
    #[error("targets {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column where it gives them.
        message: String,
    },
    /// A value that cannot be a target.
    #[error("targets {path}, line {line}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key or column.
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Reads a targets file, TOML or CSV by extension.
///
/// # Errors
/// [`TargetsError`] naming the file, line and key.
pub fn load_targets(path: &Path, catalogue: &Catalogue) -> Result<Targets, TargetsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TargetsError::Read { path: path.to_owned(), source })?;
    match path.extension().map(|e| e.to_string_lossy().to_lowercase()).as_deref() {
        Some("toml") => parse_targets_toml(&text, path, catalogue),
        Some("csv") => parse_targets_csv(&text, path, catalogue),
        _ => Err(TargetsError::Syntax { path: path.to_owned(), message: "use a .toml or .csv targets file".into() }),
    }
}

const FACILITY_KEYS: [&str; 7] =
    ["year", "kind", "district", "new_facilities", "capacity_added", "coverage_estates_pct", "coverage_households_pct"];
const RENOVATION_KEYS: [&str; 4] = ["year", "district", "estates", "households"];

/// A value as either format gives it: its text (CSV) or TOML value, and its line.
#[derive(Debug, Clone)]
enum Raw {
    Toml(toml::Value),
    Text(String),
}

/// One row: key → (value, line), and the row's first line.
struct Row {
    line: usize,
    values: HashMap<String, (Raw, usize)>,
}

/// Builds typed targets from rows, checking values and duplicates.
struct Builder<'a> {
    path: &'a Path,
    catalogue: &'a Catalogue,
    targets: Targets,
    seen_facility: HashMap<(i32, String, Option<String>), usize>,
    seen_renovation: HashMap<(i32, Option<String>), usize>,
}

impl<'a> Builder<'a> {
    fn new(path: &'a Path, catalogue: &'a Catalogue) -> Self {
        Self { path, catalogue, targets: Targets::default(), seen_facility: HashMap::new(), seen_renovation: HashMap::new() }
    }

    fn invalid(&self, line: usize, key: &str, message: impl Into<String>) -> TargetsError {
        TargetsError::Invalid { path: self.path.to_owned(), line, key: key.to_owned(), message: message.into() }
    }

    fn text(&self, row: &Row, key: &str) -> Result<Option<String>, TargetsError> {
        match row.values.get(key) {
            None => Ok(None),
            Some((Raw::Text(t), _)) if t.trim().is_empty() => Ok(None),
            Some((Raw::Text(t), _)) => Ok(Some(t.trim().to_owned())),
            Some((Raw::Toml(toml::Value::String(s)), line)) => {
                if s.trim().is_empty() {
                    Err(self.invalid(*line, key, "empty text; remove the key instead"))
                } else {
                    Ok(Some(s.trim().to_owned()))
                }
            }
            Some((Raw::Toml(v), line)) => Err(self.invalid(*line, key, format!("expected text, found {}", v.type_str()))),
        }
    }

    /// A finite number, `None` when absent or empty.
    fn number(&self, row: &Row, key: &str) -> Result<Option<(f64, usize)>, TargetsError> {
        let Some((raw, line)) = row.values.get(key) else { return Ok(None) };
        let value = match raw {
            Raw::Text(t) if t.trim().is_empty() => return Ok(None),
            Raw::Text(t) => t.trim().parse::<f64>().map_err(|_| self.invalid(*line, key, format!("`{}` is not a number", t.trim())))?,
            #[expect(clippy::cast_precision_loss, reason = "targets are far below 2^52")]
            Raw::Toml(toml::Value::Integer(n)) => *n as f64,
            Raw::Toml(toml::Value::Float(x)) => *x,
            Raw::Toml(v) => return Err(self.invalid(*line, key, format!("expected a number, found {}", v.type_str()))),
        };
        if !value.is_finite() {
            return Err(self.invalid(*line, key, "must be a finite number"));
        }
        if value < 0.0 {
            return Err(self.invalid(*line, key, format!("{value} is negative; targets are counts, capacities or shares ≥ 0")));
        }
        Ok(Some((value, *line)))
    }

    fn count(&self, row: &Row, key: &str) -> Result<Option<u64>, TargetsError> {
        match self.number(row, key)? {
            None => Ok(None),
            Some((x, line)) if x.fract() != 0.0 || x > 1e15 => Err(self.invalid(line, key, format!("{x} is not a whole number"))),
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked: a whole number in 0..1e15")]
            Some((x, _)) => Ok(Some(x as u64)),
        }
    }

    fn percent(&self, row: &Row, key: &str) -> Result<Option<f64>, TargetsError> {
        match self.number(row, key)? {
            Some((x, line)) if x > 100.0 => Err(self.invalid(line, key, format!("{x} is above 100 %"))),
            other => Ok(other.map(|(x, _)| x)),
        }
    }

    fn year(&self, row: &Row) -> Result<i32, TargetsError> {
        let Some((x, line)) = self.number(row, "year")? else {
            return Err(self.invalid(row.line, "year", "missing; every target names its year"));
        };
        if x.fract() != 0.0 || !(1900.0..=2200.0).contains(&x) {
            return Err(self.invalid(line, "year", format!("{x} is not a year between 1900 and 2200")));
        }
        #[expect(clippy::cast_possible_truncation, reason = "checked: a whole number in 1900..=2200")]
        Ok(x as i32)
    }

    fn unknown_keys(&self, row: &Row, allowed: &[&str], what: &str) -> Result<(), TargetsError> {
        let mut keys: Vec<(&String, usize)> = row.values.iter().map(|(k, (_, line))| (k, *line)).collect();
        keys.sort_by_key(|&(k, line)| (line, k.clone()));
        for (key, line) in keys {
            if !allowed.contains(&key.as_str()) {
                return Err(self.invalid(line, key, format!("unknown key in a {what}; use: {}", allowed.join(", "))));
            }
        }
        Ok(())
    }

    fn facility(&mut self, row: &Row) -> Result<(), TargetsError> {
        self.unknown_keys(row, &FACILITY_KEYS, "facility target")?;
        let year = self.year(row)?;
        let Some(kind) = self.text(row, "kind")? else {
            return Err(self.invalid(row.line, "kind", "missing; name a catalogue kind"));
        };
        if self.catalogue.kind_id(&kind).is_none() {
            let line = row.values.get("kind").map_or(row.line, |(_, l)| *l);
            let known = self.catalogue.keys().collect::<Vec<_>>().join(", ");
            return Err(self.invalid(line, "kind", format!("unknown facility kind `{kind}`; the catalogue has: {known}")));
        }
        let target = FacilityTarget {
            year,
            district: self.text(row, "district")?,
            new_facilities: self.count(row, "new_facilities")?,
            capacity_added: self.number(row, "capacity_added")?.map(|(x, _)| x),
            coverage_estates_pct: self.percent(row, "coverage_estates_pct")?,
            coverage_households_pct: self.percent(row, "coverage_households_pct")?,
            kind,
        };
        if target.new_facilities.is_none()
            && target.capacity_added.is_none()
            && target.coverage_estates_pct.is_none()
            && target.coverage_households_pct.is_none()
        {
            return Err(self.invalid(row.line, "new_facilities", "the target sets no figure; set new_facilities, capacity_added, coverage_estates_pct or coverage_households_pct"));
        }
        let key = (target.year, target.kind.clone(), target.district.clone());
        let line = row.values.get("kind").map_or(row.line, |(_, l)| *l);
        if let Some(first) = self.seen_facility.insert(key, line) {
            let place = target.district.as_deref().unwrap_or("the whole city");
            return Err(self.invalid(line, "kind", format!("duplicate target for {} {} in {place} (first at line {first})", target.year, target.kind)));
        }
        self.targets.facilities.push(target);
        Ok(())
    }

    fn renovation(&mut self, row: &Row, keys: &[&str]) -> Result<(), TargetsError> {
        self.unknown_keys(row, keys, "renovation target")?;
        let target = RenovationTarget {
            year: self.year(row)?,
            district: self.text(row, "district")?,
            estates: self.count(row, "estates")?,
            households: self.count(row, "households")?,
        };
        if target.estates.is_none() && target.households.is_none() {
            return Err(self.invalid(row.line, "estates", "the renovation target sets no figure; set estates or households"));
        }
        let line = row.values.get("year").map_or(row.line, |(_, l)| *l);
        if let Some(first) = self.seen_renovation.insert((target.year, target.district.clone()), line) {
            let place = target.district.as_deref().unwrap_or("the whole city");
            return Err(self.invalid(line, "year", format!("duplicate renovation target for {} in {place} (first at line {first})", target.year)));
        }
        self.targets.renovation.push(target);
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    target: Vec<HashMap<String, Spanned<toml::Value>>>,
    #[serde(default)]
    renovation: Vec<HashMap<String, Spanned<toml::Value>>>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

fn toml_row(text: &str, table: HashMap<String, Spanned<toml::Value>>) -> Row {
    let span = |v: &Spanned<toml::Value>| -> Range<usize> { v.span() };
    let first = table.values().map(|v| span(v).start).min().unwrap_or(0);
    Row {
        line: line_of(text, first),
        values: table.into_iter().map(|(k, v)| {
            let line = line_of(text, span(&v).start);
            (k, (Raw::Toml(v.into_inner()), line))
        }).collect(),
    }
}

/// Parses TOML targets; `path` is used in messages.
///
/// # Errors
/// [`TargetsError::Syntax`] for TOML syntax or unknown top-level tables (with line and column);
/// [`TargetsError::Invalid`] for bad values.
pub fn parse_targets_toml(text: &str, path: &Path, catalogue: &Catalogue) -> Result<Targets, TargetsError> {
    let file: TomlFile = toml::from_str(text).map_err(|e| TargetsError::Syntax {
        path: path.to_owned(),
        message: format!("{}; the file holds [[target]] and [[renovation]] tables", e.to_string().trim_end()),
    })?;
    let mut rows: Vec<(bool, Row)> = file.target.into_iter().map(|t| (true, toml_row(text, t))).collect();
    rows.extend(file.renovation.into_iter().map(|t| (false, toml_row(text, t))));
    // Report problems in file order, whichever table they are in.
    rows.sort_by_key(|(_, r)| r.line);
    let mut builder = Builder::new(path, catalogue);
    for (is_facility, row) in &rows {
        if *is_facility {
            builder.facility(row)?;
        } else {
            builder.renovation(row, &RENOVATION_KEYS)?;
        }
    }
    Ok(builder.targets)
}

/// The CSV columns a targets file may have.
pub const CSV_COLUMNS: [&str; 9] = [
    "year",
    "kind",
    "district",
    "new_facilities",
    "capacity_added",
    "coverage_estates_pct",
    "coverage_households_pct",
    "estates",
    "households",
];

/// Parses CSV targets; `path` is used in messages.
///
/// # Errors
/// [`TargetsError::Syntax`] for malformed CSV; [`TargetsError::Invalid`] for unknown columns and
/// bad values.
pub fn parse_targets_csv(text: &str, path: &Path, catalogue: &Catalogue) -> Result<Targets, TargetsError> {
    let syntax = |e: csv::Error| TargetsError::Syntax { path: path.to_owned(), message: e.to_string() };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().map_err(syntax)?.iter().map(str::to_owned).collect();
    let mut builder = Builder::new(path, catalogue);
    let mut seen_columns = std::collections::HashSet::new();
    for column in &header {
        if !CSV_COLUMNS.contains(&column.as_str()) {
            return Err(builder.invalid(1, column, format!("unknown column; use: {}", CSV_COLUMNS.join(","))));
        }
        if !seen_columns.insert(column.as_str()) {
            return Err(builder.invalid(1, column, "the column appears twice"));
        }
    }
    for record in reader.records() {
        let record = record.map_err(syntax)?;
        let line = record.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        let values: HashMap<String, (Raw, usize)> = header
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), (Raw::Text(v.to_owned()), line)))
            .collect();
        if values.is_empty() {
            continue;
        }
        let row = Row { line, values };
        if builder.text(&row, "kind")?.as_deref() == Some("renovation") {
            let mut row = row;
            row.values.remove("kind");
            builder.renovation(&row, &RENOVATION_KEYS)?;
        } else {
            builder.facility(&row)?;
        }
    }
    Ok(builder.targets)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

    use super::*;

    fn catalogue() -> Catalogue {
        crate::io::catalogue::load_catalogue(None).expect("built-in catalogue")
    }

    fn toml(text: &str) -> Result<Targets, TargetsError> {
        parse_targets_toml(text, Path::new("t.toml"), &catalogue())
    }

    fn csv(text: &str) -> Result<Targets, TargetsError> {
        parse_targets_csv(text, Path::new("t.csv"), &catalogue())
    }

    #[test]
    fn reads_toml() {
        let t = toml("[[target]]\nyear = 2021\nkind = \"day_care\"\nnew_facilities = 304\ncoverage_estates_pct = 100\n\n[[target]]\nyear = 2021\nkind = \"nursery\"\ndistrict = \"长安区\"\ncapacity_added = 7262.5\n\n[[renovation]]\nyear = 2021\nestates = 50\n").unwrap();
        assert_eq!(t.facilities.len(), 2);
        assert_eq!(t.facilities[0].new_facilities, Some(304));
        assert_eq!(t.facilities[0].coverage_estates_pct, Some(100.0));
        assert_eq!(t.facilities[1].district.as_deref(), Some("长安区"));
        assert_eq!(t.facilities[1].capacity_added, Some(7262.5));
        assert_eq!(t.renovation[0].estates, Some(50));
        assert_eq!(t.renovation[0].households, None);
    }

    #[test]
    fn toml_and_csv_agree() {
        let a = toml("[[target]]\nyear = 2021\nkind = \"market\"\nnew_facilities = 15\n[[renovation]]\nyear = 2020\nhouseholds = 900\n").unwrap();
        let b = csv("year,kind,district,new_facilities,estates,households\n2021,market,,15,,\n2020,renovation,,,,900\n").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = toml("[[target]]\nyear = 2021\nkind = \"daycare\"\nnew_facilities = 3\n").unwrap_err().to_string();
        assert!(e.contains("t.toml, line 3: `kind`: unknown facility kind `daycare`"), "{e}");
        let e = toml("[[target]]\nyear = 2021\nkind = \"market\"\nnew_facilities = -3\n").unwrap_err().to_string();
        assert!(e.contains("line 4: `new_facilities`: -3 is negative"), "{e}");
        let e = toml("[[target]]\nyear = 2021\nkind = \"market\"\nnew_facilitis = 3\n").unwrap_err().to_string();
        assert!(e.contains("line 4: `new_facilitis`: unknown key"), "{e}");
        let e = toml("[[target]]\nyear = 2021\nkind = \"market\"\ncoverage_estates_pct = 120\n").unwrap_err().to_string();
        assert!(e.contains("above 100"), "{e}");
        let e = toml("[[target]]\nyear = 2021\nkind = \"market\"\nnew_facilities = 1\n\n[[target]]\nyear = 2021\nkind = \"market\"\nnew_facilities = 2\n").unwrap_err().to_string();
        assert!(e.contains("line 8: `kind`: duplicate target for 2021 market in the whole city (first at line 3)"), "{e}");
        let e = toml("[[target]]\nyear = 2021\nkind = \"market\"\n").unwrap_err().to_string();
        assert!(e.contains("sets no figure"), "{e}");
        let e = toml("[[targets]]\nyear = 2021\n").unwrap_err().to_string();
        assert!(e.contains("t.toml") && e.contains("targets"), "{e}");
        let e = toml("[[renovation]]\nyear = 2021\nestates = 1.5\n").unwrap_err().to_string();
        assert!(e.contains("line 3: `estates`: 1.5 is not a whole number"), "{e}");
        let e = csv("year,kind,new_facilities\n2021,market,3\n2021,parking,x\n").unwrap_err().to_string();
        assert!(e.contains("t.csv, line 3: `new_facilities`: `x` is not a number"), "{e}");
        let e = csv("year,kind,colour\n2021,market,3\n").unwrap_err().to_string();
        assert!(e.contains("line 1: `colour`: unknown column"), "{e}");
        let e = csv("year,kind,new_facilities\n2021,market,3\n2021,market,4\n").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("first at line 2"), "{e}");
    }
}
