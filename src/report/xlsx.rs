//! XLSX: a cover sheet with the headlines, then one sheet per table (every column, every gap),
//! with frozen header rows, filters and number formats — planning offices work in Excel. The
//! grid and cover writers here serve the programme's tables too.

use rust_xlsxwriter::{Color, Format, Workbook, Worksheet, XlsxError};

use super::markdown::{byline, glance, headlines, notes};
use super::table::{all_tables, Cell, Table};
use super::{Report, ReportError};

#[expect(clippy::needless_pass_by_value, reason = "the shape map_err takes")]
pub(crate) fn xlsx_err(e: XlsxError) -> ReportError {
    ReportError::Xlsx(e.to_string())
}

/// The workbook's cell formats.
pub(crate) struct Formats {
    header: Format,
    int: Format,
    pct: Format,
    num: Format,
    fixed: Format,
    title: Format,
}

impl Formats {
    pub(crate) fn new() -> Self {
        Self {
            header: Format::new().set_bold().set_background_color(Color::RGB(0x00F2_F2F2)).set_text_wrap(),
            int: Format::new().set_num_format("#,##0"),
            pct: Format::new().set_num_format("0.0"),
            num: Format::new().set_num_format("#,##0.##;-#,##0.##;0"),
            fixed: Format::new().set_num_format("#,##0.00"),
            title: Format::new().set_bold().set_font_size(16),
        }
    }
}

/// A cell as the workbook stores it.
pub(crate) enum XCell {
    Empty,
    /// A count (`#,##0`).
    Int(f64),
    /// A quantity, decimals as needed.
    Num(f64),
    /// Money and the like, two decimals.
    Fixed(f64),
    /// A percentage, one decimal.
    Pct(f64),
    Year(i32),
    Bool(bool),
    Text(String),
}

impl XCell {
    /// Characters the cell takes on screen, for the column width.
    fn width(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::Int(x) | Self::Num(x) | Self::Fixed(x) | Self::Pct(x) => format!("{x:.2}").len() + 2,
            Self::Year(_) | Self::Bool(_) => 5,
            // CJK characters are twice as wide as Latin ones.
            Self::Text(s) => s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum(),
        }
    }
}

/// Writes one sheet: bold header row (frozen, filtered), the rows, widths from the content.
#[expect(clippy::cast_precision_loss, reason = "column widths are far below 2^52")]
pub(crate) fn write_grid(sheet: &mut Worksheet, name: &str, headers: &[&str], rows: &[Vec<XCell>], f: &Formats) -> Result<(), XlsxError> {
    // Excel limits sheet names to 31 characters.
    sheet.set_name(name.chars().take(31).collect::<String>())?;
    for (c, header) in headers.iter().enumerate() {
        let width = rows.iter().take(500).map(|r| r[c].width()).chain(std::iter::once(header.chars().count().min(18))).max().unwrap_or(8);
        let c = u16::try_from(c).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, c, *header, &f.header)?;
        sheet.set_column_width(c, (width as f64 + 2.0).min(40.0))?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            match cell {
                XCell::Empty => {}
                XCell::Int(x) => {
                    sheet.write_number_with_format(r, c, *x, &f.int)?;
                }
                XCell::Num(x) => {
                    sheet.write_number_with_format(r, c, *x, &f.num)?;
                }
                XCell::Fixed(x) => {
                    sheet.write_number_with_format(r, c, *x, &f.fixed)?;
                }
                XCell::Pct(x) => {
                    sheet.write_number_with_format(r, c, *x, &f.pct)?;
                }
                XCell::Year(y) => {
                    sheet.write_number(r, c, f64::from(*y))?;
                }
                XCell::Bool(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                XCell::Text(s) => {
                    sheet.write_string(r, c, s)?;
                }
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    if !rows.is_empty() {
        let last_row = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let last_col = u16::try_from(headers.len().saturating_sub(1)).unwrap_or(u16::MAX);
        sheet.autofilter(0, 0, last_row, last_col)?;
    }
    Ok(())
}

/// A cover sheet's content: title, byline, then headed blocks of (label, text) lines.
pub(crate) struct Cover<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub byline: String,
    pub blocks: Vec<(String, Vec<(String, String)>)>,
    pub footer: &'a str,
}

/// Writes a cover sheet: labels in the first column, sentences in the second.
pub(crate) fn write_cover(sheet: &mut Worksheet, cover: &Cover<'_>, f: &Formats) -> Result<(), XlsxError> {
    sheet.set_name(cover.name)?;
    sheet.set_column_width(0, 28)?;
    sheet.set_column_width(1, 120)?;
    sheet.write_string_with_format(0, 0, cover.title, &f.title)?;
    sheet.write_string(1, 0, &cover.byline)?;
    let mut row = 2;
    for (heading, lines) in &cover.blocks {
        row += 1;
        sheet.write_string_with_format(row, 0, heading, &f.header)?;
        row += 1;
        for (label, text) in lines {
            sheet.write_string(row, 0, label)?;
            sheet.write_string(row, 1, text)?;
            row += 1;
        }
    }
    sheet.write_string(row + 1, 0, cover.footer)?;
    Ok(())
}

fn cells(table: &Table) -> Vec<Vec<XCell>> {
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    let cell = |c: &Cell| match c {
        Cell::Empty => XCell::Empty,
        Cell::Int(n) => XCell::Int(*n as f64),
        Cell::Num(x, _) => XCell::Num(*x),
        Cell::Pct(x) | Cell::Change(x) => XCell::Pct(*x),
        Cell::Year(y) => XCell::Year(*y),
        Cell::Bool(b) => XCell::Bool(*b),
        Cell::Text(s) => XCell::Text(s.clone()),
    };
    table.rows.iter().map(|r| r.iter().map(cell).collect()).collect()
}

/// Renders the report as an XLSX workbook: sheet `Report` (`报告`: headlines), then one sheet
/// per table, then the programme's sheets when the report has a programme.
///
/// # Errors
/// [`ReportError::Xlsx`] when the workbook cannot be assembled.
pub fn render_xlsx(report: &Report) -> Result<Vec<u8>, ReportError> {
    let lang = report.lang;
    let formats = Formats::new();
    let mut blocks = vec![(glance(report), headlines(report).into_iter().map(|h| (h.key.as_deref().map_or_else(|| h.label.clone(), |k| format!("{} ({k})", h.label)), h.text)).collect::<Vec<_>>())];
    if !report.trend.unmatched_targets.is_empty() {
        blocks[0].1.extend(report.trend.unmatched_targets.iter().map(|t| (lang.pick("Target matches nothing", "目标无对应数据").to_owned(), t.clone())));
    }
    if let Some(p) = &report.programme {
        let mut lines: Vec<(String, String)> = super::programme::markdown::headlines(&p.report).into_iter().map(|h| (String::new(), h)).collect();
        lines.push((String::new(), super::programme::markdown::gaps_headline(&p.report, &p.gaps)));
        blocks.push((lang.pick("Renovation programme", "老旧小区改造").to_owned(), lines));
    }
    blocks.push((lang.pick("Notes", "说明").to_owned(), notes(report).iter().map(|n| (String::new(), n.replace('`', ""))).collect()));
    let cover = Cover { name: lang.pick("Report", "报告"), title: &report.title, byline: byline(report), blocks, footer: &report.generator };
    let mut workbook = Workbook::new();
    write_cover(workbook.add_worksheet(), &cover, &formats).map_err(xlsx_err)?;
    for table in all_tables(report) {
        let table = table.for_people(report);
        let headers: Vec<&str> = table.columns.iter().map(|c| c.header_in(lang)).collect();
        write_grid(workbook.add_worksheet(), &table.sheet, &headers, &cells(&table), &formats).map_err(xlsx_err)?;
    }
    if let Some(p) = &report.programme {
        super::programme::xlsx::write_sheets(&mut workbook, &super::programme::report_tables(p), &formats).map_err(xlsx_err)?;
    }
    workbook.save_to_buffer().map_err(xlsx_err)
}
