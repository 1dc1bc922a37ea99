//! Self-contained HTML: headlines, the tables and three SVG charts; prints on A4.

use std::fmt::Write as _;

use super::markdown::{byline, gaps_headline, headlines, notes, sections_with_gaps};
use super::table::Table;
use super::{chart, ProgrammeReport};
use super::format::Lang;
use crate::programme::RenovationGaps;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Tables wider than this many columns print on a landscape A4 page of their own.
const WIDE_COLUMNS: usize = 11;

fn table_html(out: &mut String, t: &Table, lang: Lang, level: usize) {
    let wide = t.columns.len() > WIDE_COLUMNS;
    if wide {
        out.push_str("<section class=\"wide\">");
    }
    table_body(out, t, lang, level);
    if wide {
        out.push_str("</section>\n");
    }
}

fn table_body(out: &mut String, t: &Table, lang: Lang, level: usize) {
    let _ = writeln!(out, "<h{level}>{}</h{level}>", esc(&t.title));
    if t.rows.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", lang.pick("(none)", "（无）"));
        return;
    }
    out.push_str("<table><thead><tr>");
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for c in row {
            let text = c.display(lang);
            // Short words (2016年, 长安区) never break; long findings wrap.
            let class = if c.numeric() {
                " class=\"n\""
            } else if text.chars().count() <= 12 {
                " class=\"s\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(&text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn chart_html(out: &mut String, svg: Result<String, String>) {
    match svg {
        Ok(svg) => {
            // No namespace URL: the page refers to nothing outside itself.
            let _ = writeln!(out, "<figure>{}</figure>", crate::report::html::inline_svg(&svg));
        }
        Err(e) => {
            let _ = writeln!(out, "<p class=\"err\">chart: {}</p>", esc(&e));
        }
    }
}

const STYLE: &str = "@page { size: A4; margin: 14mm 12mm; }
body { font-family: 'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif; font-size: 10.5pt; max-width: 186mm; margin: 0 auto; color: #222; }
h1 { font-size: 18pt; margin-bottom: 2mm; } h2 { font-size: 14pt; border-bottom: 1px solid #999; margin-top: 8mm; break-after: avoid; }
h3 { font-size: 11pt; break-after: avoid; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; margin-bottom: 4mm; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; } th { background: #f2f2f2; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } td.s { white-space: nowrap; }
@page wide { size: A4 landscape; margin: 12mm; }
.wide { page: wide; overflow-x: auto; } .wide table { font-size: 7pt; } .wide th, .wide td { padding: 0.6mm 1mm; }
tr { break-inside: avoid; } thead { display: table-header-group; }
figure { margin: 2mm 0; break-inside: avoid; } figure svg { width: 100%; height: auto; }
.byline { color: #666; } .err { color: #a00; }";

/// Headlines, sections with their charts and tables, headings starting at `level` (`<h2>`: 2).
fn push_body(out: &mut String, r: &ProgrammeReport, gaps: Option<&RenovationGaps>, level: usize) {
    let lang = r.lang;
    let _ = writeln!(out, "<h{level}>{}</h{level}><ul>", lang.pick("At a glance", "总体情况"));
    for h in headlines(r) {
        let _ = writeln!(out, "<li>{}</li>", esc(&h));
    }
    if let Some(g) = gaps {
        let _ = writeln!(out, "<li>{}</li>", esc(&gaps_headline(r, g)));
    }
    out.push_str("</ul>\n");
    for (i, (heading, tables)) in sections_with_gaps(r, gaps).into_iter().enumerate() {
        let _ = writeln!(out, "<h{level}>{}</h{level}>", esc(&heading));
        match i {
            0 => chart_html(out, chart::batches(r)),
            2 => chart_html(out, chart::funding(r)),
            3 => chart_html(out, chart::gate(r)),
            _ => {}
        }
        for t in &tables {
            table_html(out, t, lang, level + 1);
        }
    }
}

/// The rules the programme's tables need in a page that has its own style: wide tables on
/// landscape A4 pages, short words unbroken.
pub(crate) const EMBEDDED_STYLE: &str = "@page wide { size: A4 landscape; margin: 12mm; }
.wide { page: wide; overflow-x: auto; } .wide table { font-size: 7pt; } .wide th, .wide td { padding: 0.6mm 1mm; }
td.s { white-space: nowrap; } .err { color: #a00; }";

/// The programme sections inside the facility report's HTML.
pub(crate) fn push_programme(out: &mut String, p: &super::ProgrammeSections) {
    let r = &p.report;
    let _ = writeln!(out, "<h2 id=\"programme\">{}</h2><p class=\"byline\">{}</p>", esc(r.lang.pick("Renovation programme", "老旧小区改造")), esc(&byline(r)));
    push_body(out, r, Some(&p.gaps), 3);
}

/// Renders the report as one self-contained HTML page.
#[must_use]
pub fn render_html(r: &ProgrammeReport) -> String {
    let lang = r.lang;
    let mut out = String::new();
    let _ = writeln!(out, "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>", lang.pick("en", "zh-CN"), esc(&r.title));
    let _ = writeln!(out, "<h1>{}</h1><p class=\"byline\">{}</p>", esc(&r.title), esc(&byline(r)));
    push_body(&mut out, r, None, 2);
    let _ = writeln!(out, "<h2>{}</h2><ul>", lang.pick("Notes", "说明"));
    for n in notes(lang) {
        let _ = writeln!(out, "<li>{}</li>", esc(n));
    }
    out.push_str("</ul></body></html>\n");
    out
}
