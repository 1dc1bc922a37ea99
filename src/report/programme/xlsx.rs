//! XLSX: a cover sheet with the headlines, then one sheet per table, every row (the grid and
//! cover writers are the facility report's).

use rust_xlsxwriter::{Workbook, XlsxError};

use super::markdown::{byline, headlines, notes};
use super::table::{all_tables, Cell, Table};
use super::ProgrammeReport;
use crate::report::xlsx::{write_cover, write_grid, xlsx_err, Cover, Formats, XCell};
use crate::report::ReportError;

fn cells(table: &Table) -> Vec<Vec<XCell>> {
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let cell = |c: &Cell| match c {
        Cell::Empty => XCell::Empty,
        Cell::Int(n) => XCell::Int(*n as f64),
        Cell::Num(x, 0) => XCell::Int(*x),
        Cell::Num(x, _) => XCell::Fixed(*x),
        Cell::Pct(x) => XCell::Pct(*x),
        Cell::Text(s) => XCell::Text(s.clone()),
    };
    table.rows.iter().map(|r| r.iter().map(cell).collect()).collect()
}

/// One sheet per table, named by the table's key.
pub(crate) fn write_sheets(workbook: &mut Workbook, tables: &[Table], f: &Formats) -> Result<(), XlsxError> {
    for t in tables {
        let headers: Vec<&str> = t.columns.iter().map(String::as_str).collect();
        write_grid(workbook.add_worksheet(), t.key, &headers, &cells(t), f)?;
    }
    Ok(())
}

/// Renders the report as an XLSX workbook.
///
/// # Errors
/// [`ReportError::Xlsx`].
pub fn render_xlsx(r: &ProgrammeReport) -> Result<Vec<u8>, ReportError> {
    let f = Formats::new();
    let blocks = vec![
        (r.lang.pick("At a glance", "总体情况").to_owned(), headlines(r).into_iter().map(|h| (String::new(), h)).collect()),
        (r.lang.pick("Notes", "说明").to_owned(), notes(r.lang).into_iter().map(|n| (String::new(), n.to_owned())).collect()),
    ];
    let cover = Cover { name: r.lang.pick("Report", "报告"), title: &r.title, byline: byline(r), blocks, footer: &r.generator };
    let mut workbook = Workbook::new();
    write_cover(workbook.add_worksheet(), &cover, &f).map_err(xlsx_err)?;
    write_sheets(&mut workbook, &all_tables(r), &f).map_err(xlsx_err)?;
    workbook.save_to_buffer().map_err(xlsx_err)
}
