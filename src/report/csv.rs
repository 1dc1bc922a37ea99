//! CSV: one file per table, snake_case headers, figures rounded to 3 decimals, for pipelines;
//! the programme's tables as the programme report writes them.

use super::table::{all_tables, Table};
use super::Report;

fn render_table(table: &Table) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let header: Vec<&str> = table.columns.iter().map(|c| c.key).collect();
    // Writing into a Vec cannot fail; a failure here would be a csv crate bug.
    writer.write_record(&header).expect("writing CSV into memory");
    for row in &table.rows {
        writer.write_record(row.iter().map(super::table::Cell::plain)).expect("writing CSV into memory");
    }
    let bytes = writer.into_inner().expect("flushing CSV into memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}

/// Renders every table as CSV: `(file name, text)` pairs such as
/// `("report-2021-kinds.csv", "year,kind,opened,…")`.
#[must_use]
pub fn render_csv(report: &Report) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = all_tables(report).iter().map(|t| (format!("report-{}-{}.csv", report.year, t.name), render_table(t))).collect();
    // The programme's tables as `gapmap programme` writes them (headers in the report's
    // language, a BOM for Excel): `report-2021-programme-batches.csv`.
    if let Some(p) = &report.programme {
        files.extend(super::programme::report_tables(p).iter().map(|t| (format!("report-{}-programme-{}.csv", report.year, t.key), super::programme::csv_text(t))));
    }
    files
}
