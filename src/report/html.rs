//! HTML: one self-contained file (inline CSS, inline SVG charts and maps, no scripts, no
//! external references) that reads on screen and prints on A4.

use std::fmt::Write as _;

use super::markdown::{byline, gaps_note, glance, headlines, notes};
use super::markdown::GAPS_SHOWN;
use super::table::{self, Cell, Table};
use super::{chart, map, Lang, Report};

const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.byline { color: #555; margin-top: 0; }
.glance li { margin: 0.35em 0; }
figure { margin: 1em 0; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.9em; }
.maps { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.5em 0 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 6px; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.met-no { color: #b2182b; font-weight: 600; }
.note { color: #555; font-size: 0.9em; }
.warn { color: #b2182b; }
footer { margin-top: 2em; color: #777; font-size: 0.85em; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 9pt; }
  h2 { break-after: avoid; }
  figure, tr, .glance li { break-inside: avoid; }
  thead { display: table-header-group; }
  .scroll { overflow: visible; }
  table { font-size: 7.5pt; }
  .maps { grid-template-columns: 1fr 1fr; }
}
"#;

/// Captions and headings in the report's language.
fn words(lang: Lang) -> [&'static str; 7] {
    match lang {
        Lang::En => [
            "Charts",
            "Share of estates with a facility of the kind within its service radius at each year's end; the first point is the year before the period.",
            "Each target of the report year: actual ÷ target; the line marks 100 %.",
            "Bars: estates renovated in the year (black marks: targets). Line: share of the renovation stock renovated by year end.",
            "Each estate coloured by the number of facility kinds with no facility within the kind's radius.",
            "Targets that match nothing:",
            "Notes",
        ],
        Lang::Zh => [
            "图表",
            "各年末在服务半径内有该类设施的小区比例；第一个点为统计期前一年。",
            "报告年度各项目标的完成情况：实际值 ÷ 目标值；竖线为100%。",
            "柱：当年改造小区数（黑线为目标）；折线：截至年末改造存量的比例。",
            "按服务半径内缺少的设施类型数为每个小区着色。",
            "以下目标无对应数据：",
            "说明",
        ],
    }
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline SVG needs no namespace declaration in HTML; dropping it keeps the file free of any
/// URL.
pub(crate) fn inline_svg(svg: &str) -> String {
    let svg = svg.trim_start();
    let svg = svg.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").unwrap_or(svg);
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "").replace(" xmlns:xlink=\"http://www.w3.org/1999/xlink\"", "")
}

fn push_figure(out: &mut String, svg: Result<String, String>, caption: &str) {
    out.push_str("<figure>");
    match svg {
        Ok(svg) => out.push_str(&inline_svg(&svg)),
        Err(e) => {
            let _ = write!(out, "<p class=\"warn\">chart not drawn: {}</p>", escape(&e));
        }
    }
    let _ = writeln!(out, "<figcaption>{}</figcaption></figure>", escape(caption));
}

fn push_table(out: &mut String, report: &Report, table: &Table) {
    let table = table.clone().for_people(report);
    let lang = report.lang;
    let _ = writeln!(out, "<h2 id=\"{}\">{}</h2>", table.name, escape(&table.title));
    if table.rows.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", lang.pick("None.", "无。"));
        return;
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr>");
    for c in &table.columns {
        let _ = write!(out, "<th>{}</th>", escape(c.header_in(lang)));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let class = match cell {
                Cell::Bool(false) => " class=\"n met-no\"",
                Cell::Text(_) | Cell::Empty => "",
                _ => " class=\"n\"",
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(&cell.display_in(lang)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// Renders the report as one self-contained HTML document.
#[must_use]
pub fn render_html(report: &Report) -> String {
    let lang = report.lang;
    let w = words(lang);
    let mut out = String::with_capacity(1 << 20);
    let embedded = if report.programme.is_some() { super::programme::EMBEDDED_STYLE } else { "" };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"{}\">\n<title>{}</title>\n<style>{CSS}{embedded}</style>\n</head>\n<body>\n",
        lang.pick("en", "zh-CN"),
        escape(&report.generator),
        escape(&report.title)
    );
    let _ = writeln!(out, "<header><h1>{}</h1><p class=\"byline\">{}</p></header>", escape(&report.title), escape(&byline(report)));

    let _ = writeln!(out, "<h2 id=\"glance\">{}</h2>\n<ul class=\"glance\">", escape(&glance(report)));
    for h in headlines(report) {
        let key = h.key.map_or(String::new(), |k| format!(" (<code>{}</code>)", escape(&k)));
        let _ = writeln!(out, "<li><strong>{}</strong>{key}: {}</li>", escape(&h.label), escape(&h.text));
    }
    out.push_str("</ul>\n");
    if !report.trend.unmatched_targets.is_empty() {
        let _ = write!(out, "<p class=\"warn\">{}</p><ul class=\"warn\">", w[5]);
        for t in &report.trend.unmatched_targets {
            let _ = write!(out, "<li>{}</li>", escape(t));
        }
        out.push_str("</ul>\n");
    }

    let _ = writeln!(out, "<h2 id=\"charts\">{}</h2>", w[0]);
    push_figure(&mut out, chart::coverage_trend(report), w[1]);
    if let Some(svg) = chart::target_vs_actual(report) {
        push_figure(&mut out, svg, w[2]);
    }
    push_figure(&mut out, chart::renovation_progress(report), w[3]);

    let map_heading = match lang {
        Lang::En => format!("Gaps at the end of {}", report.year),
        Lang::Zh => format!("{}年末设施缺口分布", report.year),
    };
    let _ = writeln!(out, "<h2 id=\"map\">{}</h2>", escape(&map_heading));
    push_figure(&mut out, Ok(map::gap_count_map(report)), w[4]);
    let mapped: Vec<_> = report
        .trend
        .overall
        .iter()
        .filter(|r| r.year == report.year)
        .filter(|r| r.target_new_facilities.is_some() || r.target_capacity_added.is_some() || r.target_coverage_estates_pct.is_some() || r.target_coverage_households_pct.is_some())
        .filter_map(|r| report.trend.kinds.iter().find(|k| k.key == r.kind))
        .collect();
    if !mapped.is_empty() {
        out.push_str("<div class=\"maps\">\n");
        for k in mapped {
            let caption = match lang {
                Lang::En => format!("{} ({}), radius {} m", k.label_en, k.label_zh, table::fmt_grouped(k.radius_m, 0)),
                Lang::Zh => format!("{}，服务半径{}米", k.label_zh, table::fmt_grouped(k.radius_m, 0)),
            };
            push_figure(&mut out, Ok(map::kind_map(report, &k.key, lang.pick(&k.label_en, &k.label_zh))), &caption);
        }
        out.push_str("</div>\n");
    }

    push_table(&mut out, report, &table::summary_table(report).compact());
    push_table(&mut out, report, &table::kinds_table(report).compact());
    if let Some(planned) = table::planned_table(report) {
        push_table(&mut out, report, &planned);
    }
    push_table(&mut out, report, &table::renovation_table(report).compact());
    push_table(&mut out, report, &table::districts_table(report).compact());
    push_table(&mut out, report, &table::renovation_districts_table(report).compact());
    let gaps = table::gaps_table(report, Some(GAPS_SHOWN));
    push_table(&mut out, report, &gaps);
    if report.trend.gaps.len() > gaps.rows.len() {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&gaps_note(report, report.trend.gaps.len())));
    }
    if let Some(p) = &report.programme {
        super::programme::push_programme_html(&mut out, p);
    }
    push_table(&mut out, report, &table::kinds_legend_table(report));
    let _ = writeln!(out, "<h2 id=\"notes\">{}</h2>\n<ul class=\"note\">", w[6]);
    for n in notes(report) {
        let _ = write!(out, "<li>{}</li>", escape(&n.replace('`', "")));
    }
    let _ = write!(out, "</ul>\n<footer>{}</footer>\n</body>\n</html>\n", escape(&report.generator));
    out
}
