//! XLSX: a cover sheet with the headlines, then one sheet per table, every row.

use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};

use super::markdown::{byline, headlines, notes};
use super::table::{all_tables, Cell, Table};
use super::ProgrammeReport;
use crate::report::ReportError;

#[expect(clippy::needless_pass_by_value, reason = "the shape map_err takes")]
fn xlsx_err(e: XlsxError) -> ReportError {
    ReportError::Xlsx(e.to_string())
}

struct Formats {
    header: Format,
    int: Format,
    num: Format,
    pct: Format,
    title: Format,
}

#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
#[expect(clippy::many_single_char_names, reason = "r and c as in a spreadsheet, t and f for the table and its formats")]
fn write_table(sheet: &mut Worksheet, table: &Table, formats: &Formats) -> Result<(), XlsxError> {
    let t = table;
    let f = formats;
    sheet.set_name(t.key)?;
    for (c, column) in t.columns.iter().enumerate() {
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, c, column, &f.header)?;
        sheet.set_column_width(c, 14)?;
    }
    for (index, row) in t.rows.iter().enumerate() {
        let r = u32::try_from(index + 1).unwrap_or(u32::MAX);
        for (col, cell) in row.iter().enumerate() {
            let c = u16::try_from(col).unwrap_or(u16::MAX);
            match cell {
                Cell::Empty => {}
                Cell::Int(n) => {
                    sheet.write_number_with_format(r, c, *n as f64, &f.int)?;
                }
                Cell::Num(x, _) => {
                    sheet.write_number_with_format(r, c, *x, &f.num)?;
                }
                Cell::Pct(x) => {
                    sheet.write_number_with_format(r, c, *x, &f.pct)?;
                }
                Cell::Text(s) => {
                    sheet.write_string(r, c, s)?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    if !t.rows.is_empty() {
        sheet.autofilter(0, 0, u32::try_from(t.rows.len()).unwrap_or(u32::MAX), u16::try_from(t.columns.len().saturating_sub(1)).unwrap_or(u16::MAX))?;
    }
    Ok(())
}

fn write_cover(sheet: &mut Worksheet, r: &ProgrammeReport, f: &Formats) -> Result<(), XlsxError> {
    sheet.set_name(r.lang.pick("Report", "报告"))?;
    sheet.set_column_width(0, 120)?;
    sheet.write_string_with_format(0, 0, &r.title, &f.title)?;
    sheet.write_string(1, 0, byline(r))?;
    let mut row = 3;
    for h in headlines(r) {
        sheet.write_string(row, 0, h)?;
        row += 1;
    }
    row += 1;
    sheet.write_string_with_format(row, 0, r.lang.pick("Notes", "说明"), &f.header)?;
    for n in notes(r.lang) {
        row += 1;
        sheet.write_string(row, 0, n)?;
    }
    Ok(())
}

/// Renders the report as an XLSX workbook.
///
/// # Errors
/// [`ReportError::Xlsx`].
pub fn render_xlsx(r: &ProgrammeReport) -> Result<Vec<u8>, ReportError> {
    let f = Formats {
        header: Format::new().set_bold().set_background_color(Color::RGB(0x00F2_F2F2)).set_text_wrap(),
        int: Format::new().set_num_format("#,##0"),
        num: Format::new().set_num_format("#,##0.00"),
        pct: Format::new().set_num_format("0.0"),
        title: Format::new().set_bold().set_font_size(16),
    };
    let mut workbook = Workbook::new();
    write_cover(workbook.add_worksheet(), r, &f).map_err(xlsx_err)?;
    for t in all_tables(r) {
        write_table(workbook.add_worksheet(), &t, &f).map_err(xlsx_err)?;
    }
    workbook.save_to_buffer().map_err(xlsx_err)
}
