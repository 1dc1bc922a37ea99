//! Markdown: headline sentences, then the tables (compact columns; the gap list cut to the
//! first rows of each kind — CSV, XLSX and JSON carry all of it).

use std::fmt::Write as _;

use super::programme::format as zh;
use super::table::{self, fmt_grouped, group_int, Table};
use super::{Lang, Report};
use crate::analysis::MetricKind;

/// Gap rows per kind shown in Markdown and HTML.
pub(crate) const GAPS_SHOWN: usize = 10;

/// One headline: a label (kind or "Renovation"), the kind key, and the sentence stating its
/// figures.
pub(crate) struct Headline {
    pub label: String,
    pub key: Option<String>,
    pub text: String,
}

fn signed_pp(x: f64) -> String {
    format!("{} pp", table::signed(x))
}

/// Capacity units as people write them.
fn unit_text(unit: Option<&str>) -> &str {
    match unit {
        Some("m2") => "m²",
        Some(u) => u,
        None => "units",
    }
}

fn count(n: u64) -> String {
    group_int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `1 estate`, `2 estates`.
fn estates(n: u64) -> String {
    format!("{} estate{}", count(n), if n == 1 { "" } else { "s" })
}

/// Capacity units as Chinese tables write them.
fn unit_zh(unit: Option<&str>) -> &str {
    match unit {
        Some("m2") => "m²",
        Some("beds") => "张",
        Some("rooms") => "间",
        Some("places" | "spaces" | "stalls" | "chargers") | None => "个",
        Some(u) => u,
    }
}

/// `已达成` / `未达成`.
fn met_zh(met: bool) -> &'static str {
    if met {
        "已达成"
    } else {
        "未达成"
    }
}

/// The kinds a headline speaks of: those that opened facilities in the report year or had a
/// target, with their report-year rows.
fn headline_kinds(report: &Report) -> impl Iterator<Item = (&crate::analysis::TrendKind, &crate::analysis::KindYear)> {
    report.trend.kinds.iter().zip(report.trend.overall.iter().filter(|r| r.year == report.year)).filter(|(_, r)| {
        let has_target = r.target_new_facilities.is_some() || r.target_capacity_added.is_some() || r.target_coverage_estates_pct.is_some() || r.target_coverage_households_pct.is_some();
        r.opened > 0 || has_target
    })
}

/// The report year's figures in sentences, as a Chinese city report writes them: per kind
/// (its Chinese name from the catalogue), then renovation.
fn headlines_zh(report: &Report) -> Vec<Headline> {
    let mut out = Vec::new();
    let lang = Lang::Zh;
    for (spec, r) in headline_kinds(report) {
        let unit = unit_zh(spec.capacity_unit.as_deref());
        let mut text = format!("新增{}个", count(r.opened));
        if let Some(p) = report.planned.iter().find(|p| p.year == r.year && p.kind == r.kind) {
            let _ = write!(text, "（已建{}个，规划{}个）", count(p.opened_built), count(p.opened_planned));
        }
        if let Some(t) = r.target_new_facilities {
            let _ = write!(text, "（目标{}个", count(t));
            if let Some(a) = r.new_facilities_achieved_pct {
                let _ = write!(text, "，完成{}", zh::pct(lang, a));
            }
            text.push('）');
        }
        let _ = write!(text, "，新增容量{}{unit}", fmt_grouped(r.capacity_added, 2));
        if let Some(t) = r.target_capacity_added {
            let _ = write!(text, "（目标{}{unit}", fmt_grouped(t, 2));
            if let Some(a) = r.capacity_added_achieved_pct {
                let _ = write!(text, "，完成{}", zh::pct(lang, a));
            }
            text.push('）');
        }
        let _ = write!(
            text,
            "；年末共{}个。小区覆盖率{}（较上年{}个百分点",
            count(r.facilities_total),
            zh::pct(lang, r.estates_covered_pct),
            table::signed(r.estates_covered_pct_change)
        );
        if let (Some(t), Some(met)) = (r.target_coverage_estates_pct, r.coverage_estates_met) {
            let _ = write!(text, "；目标{}，{}", zh::pct(lang, t), met_zh(met));
        }
        let _ = write!(text, "），户数覆盖率{}", zh::pct(lang, r.households_covered_pct));
        if let (Some(t), Some(met)) = (r.target_coverage_households_pct, r.coverage_households_met) {
            let _ = write!(text, "（目标{}，{}）", zh::pct(lang, t), met_zh(met));
        }
        let _ = write!(text, "；{}个小区{}米范围内尚无此类设施。", count(r.estates_uncovered), fmt_grouped(spec.radius_m, 0));
        out.push(Headline { label: spec.label_zh.clone(), key: Some(spec.key.clone()), text });
    }
    if let Some(r) = report.trend.renovation_row(report.year) {
        let mut text = format!("{}改造老旧小区{}个、{}", zh::year(lang, report.year), count(r.estates_renovated), zh::households(lang, r.households_renovated));
        let mut targets = Vec::new();
        if let Some(t) = r.target_estates {
            let achieved = r.estates_achieved_pct.map_or(String::new(), |a| format!("，完成{}", zh::pct(lang, a)));
            targets.push(format!("{}个小区{achieved}", count(t)));
        }
        if let Some(t) = r.target_households {
            let achieved = r.households_achieved_pct.map_or(String::new(), |a| format!("，完成{}", zh::pct(lang, a)));
            targets.push(format!("{}{achieved}", zh::households(lang, t)));
        }
        if !targets.is_empty() {
            let _ = write!(text, "（目标{}）", targets.join("；"));
        }
        if report.from < report.year {
            let _ = write!(
                text,
                "；{}至{}累计改造{}个小区、{}",
                zh::year(lang, report.from),
                zh::year(lang, report.year),
                count(r.estates_cumulative),
                zh::households(lang, r.households_cumulative)
            );
        }
        let _ = write!(
            text,
            "；{}以前建成的{}个小区中，年末已改造{}个，占{}。",
            zh::year(lang, report.trend.params.renovation_built_before),
            count(r.stock_estates),
            count(r.stock_done_estates),
            zh::pct(lang, r.stock_done_estates_pct)
        );
        out.push(Headline { label: "老旧小区改造".to_owned(), key: None, text });
    }
    out
}

/// The report year's figures in sentences: each kind that opened facilities or had a target,
/// then renovation.
pub(crate) fn headlines(report: &Report) -> Vec<Headline> {
    if report.lang == Lang::Zh {
        return headlines_zh(report);
    }
    let mut out = Vec::new();
    for (spec, r) in headline_kinds(report) {
        let unit = unit_text(spec.capacity_unit.as_deref());
        let mut text = format!("{} opened", count(r.opened));
        if let Some(p) = report.planned.iter().find(|p| p.year == r.year && p.kind == r.kind) {
            let _ = write!(text, " ({} built, {} planned)", count(p.opened_built), count(p.opened_planned));
        }
        if let Some(t) = r.target_new_facilities {
            let _ = write!(text, " (target {}", count(t));
            if let Some(a) = r.new_facilities_achieved_pct {
                let _ = write!(text, ": {} %", fmt_grouped(a, 1));
            }
            text.push(')');
        }
        let _ = write!(text, ", {} {unit} added", fmt_grouped(r.capacity_added, 2));
        if let Some(t) = r.target_capacity_added {
            let _ = write!(text, " (target {}", fmt_grouped(t, 2));
            if let Some(a) = r.capacity_added_achieved_pct {
                let _ = write!(text, ": {} %", fmt_grouped(a, 1));
            }
            text.push(')');
        }
        let _ = write!(
            text,
            "; {} open at year end. Estates covered: {} % ({}",
            count(r.facilities_total),
            fmt_grouped(r.estates_covered_pct, 1),
            signed_pp(r.estates_covered_pct_change)
        );
        if let (Some(t), Some(met)) = (r.target_coverage_estates_pct, r.coverage_estates_met) {
            let _ = write!(text, "; target {} %: {}", fmt_grouped(t, 1), if met { "met" } else { "not met" });
        }
        let _ = write!(text, "), households covered: {} %", fmt_grouped(r.households_covered_pct, 1));
        if let (Some(t), Some(met)) = (r.target_coverage_households_pct, r.coverage_households_met) {
            let _ = write!(text, " (target {} %: {})", fmt_grouped(t, 1), if met { "met" } else { "not met" });
        }
        let _ = write!(text, "; {} not covered within {} m.", estates(r.estates_uncovered), fmt_grouped(spec.radius_m, 0));
        out.push(Headline { label: spec.label_en.clone(), key: Some(spec.key.clone()), text });
    }
    if let Some(r) = report.trend.renovation_row(report.year) {
        let mut text = format!("{} ({} households) renovated", estates(r.estates_renovated), count(r.households_renovated));
        let mut targets = Vec::new();
        if let Some(t) = r.target_estates {
            let achieved = r.estates_achieved_pct.map_or(String::new(), |a| format!(": {} %", fmt_grouped(a, 1)));
            targets.push(format!("{}{achieved}", estates(t)));
        }
        if let Some(t) = r.target_households {
            let achieved = r.households_achieved_pct.map_or(String::new(), |a| format!(": {} %", fmt_grouped(a, 1)));
            targets.push(format!("{} households{achieved}", count(t)));
        }
        if !targets.is_empty() {
            let _ = write!(text, " (target {})", targets.join("; "));
        }
        if report.from < report.year {
            let _ = write!(
                text,
                "; {}–{}: {}, {} households",
                report.from,
                report.year,
                estates(r.estates_cumulative),
                count(r.households_cumulative)
            );
        }
        let _ = write!(
            text,
            "; {} of the {} estates built before {} ({} %) renovated by year end.",
            count(r.stock_done_estates),
            count(r.stock_estates),
            report.trend.params.renovation_built_before,
            fmt_grouped(r.stock_done_estates_pct, 1)
        );
        out.push(Headline { label: "Renovation".to_owned(), key: None, text });
    }
    out
}

/// How the report's distances were measured, in words: "walking distance along the street
/// network" (GB 50180-2018's 步行距离) or "straight-line distance".
pub(crate) fn distances(metric: MetricKind) -> &'static str {
    match metric {
        MetricKind::Network => "walking distance along the street network",
        MetricKind::Straight => "straight-line distance",
    }
}

/// The line under the title: period, data, method.
pub(crate) fn byline(report: &Report) -> String {
    if report.lang == Lang::Zh {
        let period = if report.from == report.year { zh::year(Lang::Zh, report.year) } else { format!("{}—{}", zh::year(Lang::Zh, report.from), zh::year(Lang::Zh, report.year)) };
        let metric = match report.trend.params.metric {
            MetricKind::Network => "沿道路网的步行距离",
            MetricKind::Straight => "直线距离",
        };
        let from = match report.trend.params.distance_from.as_str() {
            "boundary" => "小区边界",
            _ => "小区中心",
        };
        return format!(
            "{period} · 小区{}个，设施{}个 · 自{from}起算{metric}（{}） · 服务半径：{} · 目标：{}",
            group_int(i64::try_from(report.estates).unwrap_or(i64::MAX)),
            group_int(i64::try_from(report.facilities).unwrap_or(i64::MAX)),
            report.working_crs,
            report.catalogue,
            report.targets_source.as_deref().unwrap_or("无"),
        );
    }
    let period = if report.from == report.year { report.year.to_string() } else { format!("{}–{}", report.from, report.year) };
    format!(
        "{period} · {} estates, {} facilities · {} from the estate {} in {}, radii of {} · targets: {}",
        group_int(i64::try_from(report.estates).unwrap_or(i64::MAX)),
        group_int(i64::try_from(report.facilities).unwrap_or(i64::MAX)),
        distances(report.trend.params.metric),
        report.trend.params.distance_from.as_str(),
        report.working_crs,
        report.catalogue,
        report.targets_source.as_deref().unwrap_or("none"),
    )
}

/// What the columns mean.
pub(crate) const NOTES: [&str; 5] = [
    "Opened: facilities whose `opened_year` is the year; open at year end: `opened_year` ≤ year (facilities without an opening year always count).",
    "Covered: an estate with a facility of the kind within the kind's service radius at year end; change is against the previous year's end, in percentage points (pp).",
    "Districts: openings count by the facility's district, coverage and renovation by the estate's.",
    "Achieved %: actual ÷ target × 100; a coverage target is met when the share covered reaches it.",
    "Renovation stock: estates built before the stock year; done: renovated by year end, in any year.",
];

/// The notes in Chinese.
pub(crate) const NOTES_ZH: [&str; 5] = [
    "新增：开业年份为当年的设施；年末总数：开业年份不晚于当年的设施（无开业年份的设施始终计入）。",
    "覆盖：小区在该类设施服务半径范围内有至少一处该类设施；增减为与上年末相比的百分点变化。",
    "分区县：新增设施按设施所在区县统计，覆盖与改造按小区所在区县统计。",
    "完成率：实际值 ÷ 目标值 × 100%；覆盖率达到目标即为达标。",
    "改造存量：指定年份以前建成的小区；已改造：截至年末已改造（不限年份）。",
];

/// The notes in the report's language.
pub(crate) fn notes(report: &Report) -> [&'static str; 5] {
    match report.lang {
        Lang::En => NOTES,
        Lang::Zh => NOTES_ZH,
    }
}

/// `2021 at a glance` / `2021年总体情况`.
pub(crate) fn glance(report: &Report) -> String {
    match report.lang {
        Lang::En => format!("{} at a glance", report.year),
        Lang::Zh => format!("{}年总体情况", report.year),
    }
}

/// The note under a cut gap table.
pub(crate) fn gaps_note(report: &Report, total: usize) -> String {
    let total = group_int(i64::try_from(total).unwrap_or(i64::MAX));
    match report.lang {
        Lang::En => format!("The {GAPS_SHOWN} estates with most households per kind; all {total} are in the CSV, XLSX and JSON outputs."),
        Lang::Zh => format!("每类设施列出户数最多的{GAPS_SHOWN}个小区；全部{total}条见CSV、XLSX和JSON文件。"),
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn push_table(out: &mut String, report: &Report, table: &Table) {
    let table = table.clone().for_people(report);
    let lang = report.lang;
    let _ = writeln!(out, "## {}\n", table.title);
    if table.rows.is_empty() {
        out.push_str(lang.pick("None.\n\n", "无。\n\n"));
        return;
    }
    let numeric: Vec<bool> = (0..table.columns.len())
        .map(|c| table.rows.iter().all(|r| !matches!(r[c], table::Cell::Text(_))))
        .collect();
    out.push('|');
    for c in &table.columns {
        let _ = write!(out, " {} |", escape(c.header_in(lang)));
    }
    out.push_str("\n|");
    for &n in &numeric {
        out.push_str(if n { "---:|" } else { "---|" });
    }
    out.push('\n');
    for row in &table.rows {
        out.push('|');
        for cell in row {
            let _ = write!(out, " {} |", escape(&cell.display_in(lang)));
        }
        out.push('\n');
    }
    out.push('\n');
}

/// Renders the report as Markdown.
#[must_use]
pub fn render_markdown(report: &Report) -> String {
    let lang = report.lang;
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n\n{}\n", report.title, byline(report));
    let _ = writeln!(out, "## {}\n", glance(report));
    for h in headlines(report) {
        let key = h.key.map_or(String::new(), |k| format!(" (`{k}`)"));
        let _ = writeln!(out, "- **{}**{key}: {}", h.label, h.text);
    }
    out.push('\n');
    if !report.trend.unmatched_targets.is_empty() {
        out.push_str(lang.pick("Targets that match nothing:\n\n", "以下目标无对应数据：\n\n"));
        for t in &report.trend.unmatched_targets {
            let _ = writeln!(out, "- {t}");
        }
        out.push('\n');
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
    let total = report.trend.gaps.len();
    push_table(&mut out, report, &gaps);
    if total > gaps.rows.len() {
        let _ = writeln!(out, "{}\n", gaps_note(report, total));
    }
    if let Some(p) = &report.programme {
        super::programme::push_programme_md(&mut out, p);
    }
    push_table(&mut out, report, &table::kinds_legend_table(report));
    let _ = writeln!(out, "## {}\n", lang.pick("Notes", "说明"));
    for n in notes(report) {
        let _ = writeln!(out, "- {n}");
    }
    let _ = writeln!(out, "\n{}", report.generator);
    out
}
