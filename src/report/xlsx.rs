//! XLSX: a cover sheet with the headlines, then one sheet per table (every column, every gap),
//! with frozen header rows, filters and number formats — planning offices work in Excel.

use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};

use super::markdown::{byline, headlines, NOTES};
use super::table::{all_tables, Cell, Table};
use super::{Report, ReportError};

#[expect(clippy::needless_pass_by_value, reason = "the shape map_err takes")]
fn xlsx_err(e: XlsxError) -> ReportError {
    ReportError::Xlsx(e.to_string())
}

struct Formats {
    header: Format,
    int: Format,
    pct: Format,
    num: Format,
    title: Format,
}

#[expect(clippy::cast_precision_loss, reason = "counts and column widths are far below 2^52")]
fn write_table(sheet: &mut Worksheet, table: &Table, f: &Formats) -> Result<(), XlsxError> {
    // Excel limits sheet names to 31 characters.
    let name: String = table.sheet.chars().take(31).collect();
    sheet.set_name(name)?;
    for (c, column) in table.columns.iter().enumerate() {
        let width = table
            .rows
            .iter()
            .take(500)
            .map(|r| r[c].display().chars().count())
            .chain(std::iter::once(column.header.chars().count().min(18)))
            .max()
            .unwrap_or(8);
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, c, column.header, &f.header)?;
        sheet.set_column_width(c, (width as f64 + 2.0).min(40.0))?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            match cell {
                Cell::Empty => {}
                Cell::Int(n) => {
                    sheet.write_number_with_format(r, c, *n as f64, &f.int)?;
                }
                Cell::Num(x, _) => {
                    sheet.write_number_with_format(r, c, *x, &f.num)?;
                }
                Cell::Pct(x) | Cell::Change(x) => {
                    sheet.write_number_with_format(r, c, *x, &f.pct)?;
                }
                Cell::Year(y) => {
                    sheet.write_number(r, c, f64::from(*y))?;
                }
                Cell::Bool(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                Cell::Text(s) => {
                    sheet.write_string(r, c, s)?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    if !table.rows.is_empty() {
        let last_row = u32::try_from(table.rows.len()).unwrap_or(u32::MAX);
        let last_col = u16::try_from(table.columns.len().saturating_sub(1)).unwrap_or(u16::MAX);
        sheet.autofilter(0, 0, last_row, last_col)?;
    }
    Ok(())
}

fn write_cover(sheet: &mut Worksheet, report: &Report, f: &Formats) -> Result<(), XlsxError> {
    sheet.set_name("Report")?;
    sheet.set_column_width(0, 28)?;
    sheet.set_column_width(1, 120)?;
    sheet.write_string_with_format(0, 0, &report.title, &f.title)?;
    sheet.write_string(1, 0, byline(report))?;
    let mut row = 3;
    sheet.write_string_with_format(row, 0, format!("{} at a glance", report.year), &f.header)?;
    row += 1;
    for h in headlines(report) {
        sheet.write_string(row, 0, h.key.as_deref().map_or_else(|| h.label.clone(), |k| format!("{} ({k})", h.label)))?;
        sheet.write_string(row, 1, &h.text)?;
        row += 1;
    }
    for t in &report.trend.unmatched_targets {
        sheet.write_string(row, 0, "Target matches nothing")?;
        sheet.write_string(row, 1, t)?;
        row += 1;
    }
    row += 1;
    sheet.write_string_with_format(row, 0, "Notes", &f.header)?;
    for n in NOTES {
        row += 1;
        sheet.write_string(row, 1, n.replace('`', ""))?;
    }
    sheet.write_string(row + 2, 0, &report.generator)?;
    Ok(())
}

/// Renders the report as an XLSX workbook: sheet `Report` (headlines), then one sheet per table.
///
/// # Errors
/// [`ReportError::Xlsx`] when the workbook cannot be assembled.
pub fn render_xlsx(report: &Report) -> Result<Vec<u8>, ReportError> {
    let formats = Formats {
        header: Format::new().set_bold().set_background_color(Color::RGB(0x00F2_F2F2)).set_text_wrap(),
        int: Format::new().set_num_format("#,##0"),
        pct: Format::new().set_num_format("0.0"),
        num: Format::new().set_num_format("#,##0.##;-#,##0.##;0"),
        title: Format::new().set_bold().set_font_size(16),
    };
    let mut workbook = Workbook::new();
    write_cover(workbook.add_worksheet(), report, &formats).map_err(xlsx_err)?;
    for table in all_tables(report) {
        write_table(workbook.add_worksheet(), &table, &formats).map_err(xlsx_err)?;
    }
    workbook.save_to_buffer().map_err(xlsx_err)
}
