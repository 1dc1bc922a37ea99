//! Markdown, and the headlines and notes every format shares.

use std::fmt::Write as _;

use crate::programme::{RenovationGaps, WishScope};

use super::format::{self as fmt, Lang};
use super::table::{self, Table};
use super::ProgrammeReport;

/// The byline: generator, gate and batches covered.
#[must_use]
pub fn byline(r: &ProgrammeReport) -> String {
    let p = &r.programme;
    let years = match (p.by_year.first(), p.by_year.last()) {
        (Some(a), Some(b)) if a.year != b.year => format!("{}–{}", fmt::year(r.lang, a.year), fmt::year(r.lang, b.year)),
        (Some(a), _) => fmt::year(r.lang, a.year),
        _ => r.lang.pick("none", "无").to_owned(),
    };
    match r.lang {
        Lang::Zh => format!("{} · 批次：{years} · 满意度门槛：{}", r.generator, fmt::pct(r.lang, p.gate_pct)),
        Lang::En => format!("{} · batches: {years} · satisfaction gate: {}", r.generator, fmt::pct(r.lang, p.gate_pct)),
    }
}

/// The report year at a glance, one sentence each.
#[must_use]
#[expect(clippy::too_many_lines, reason = "one sentence per headline, in two languages")]
pub fn headlines(r: &ProgrammeReport) -> Vec<String> {
    let lang = r.lang;
    let p = &r.programme;
    let mut out = Vec::new();
    if let Some(b) = p.by_year.iter().find(|b| b.year == r.year) {
        let t = &b.totals;
        out.push(match lang {
            Lang::Zh => format!(
                "{}批次改造小区{}个，涉及{}栋楼、{}，建筑面积{}，总投资{}；工程完成率{}，已验收{}个。",
                fmt::year(lang, b.year),
                fmt::int(t.estates as u64),
                fmt::int(t.buildings),
                fmt::households(lang, t.households),
                fmt::area(lang, t.floor_area_m2),
                fmt::money(lang, t.investment_total_yuan),
                fmt::pct(lang, t.complete_pct),
                fmt::int(t.accepted() as u64)
            ),
            Lang::En => format!(
                "The {} batch renovates {} in {} buildings with {}, {} of floor area, for {}; work is {} complete and {} accepted.",
                b.year,
                fmt::count(lang, t.estates as u64, "estates", "个"),
                fmt::int(t.buildings),
                fmt::households(lang, t.households),
                fmt::area(lang, t.floor_area_m2),
                fmt::money(lang, t.investment_total_yuan),
                fmt::pct(lang, t.complete_pct),
                fmt::count(lang, t.accepted() as u64, "projects", "个")
            ),
        });
    } else {
        out.push(match lang {
            Lang::Zh => format!("{}无改造批次。", fmt::year(lang, r.year)),
            Lang::En => format!("No batch in {}.", r.year),
        });
    }
    if let Some(pr) = p.progress.iter().find(|x| x.year == r.year && x.district.is_none()) {
        let first = p.by_year.first().map_or(r.year, |b| b.year);
        out.push(match (lang, pr.stock_done_pct) {
            (Lang::Zh, Some(s)) => format!(
                "{}至{}累计改造小区{}个，其中{}前建成的老旧小区{}个，占存量（{}个）的{}。",
                fmt::year(lang, first),
                fmt::year(lang, r.year),
                fmt::int(pr.cumulative_estates),
                fmt::year(lang, p.stock.built_before),
                fmt::int(pr.cumulative_stock_estates),
                fmt::int(p.stock.estates),
                fmt::pct(lang, s)
            ),
            (Lang::En, Some(s)) => format!(
                "From {first} to {}, {} renovated, {} of them among the {} built before {}: {} of that old stock.",
                r.year,
                fmt::count(lang, pr.cumulative_estates, "estates", "个"),
                fmt::int(pr.cumulative_stock_estates),
                fmt::int(p.stock.estates),
                p.stock.built_before,
                fmt::pct(lang, s)
            ),
            (Lang::Zh, None) => format!("{}至{}累计改造小区{}个。", fmt::year(lang, first), fmt::year(lang, r.year), fmt::int(pr.cumulative_estates)),
            (Lang::En, None) => format!("From {first} to {}, {} renovated.", r.year, fmt::count(lang, pr.cumulative_estates, "estates", "个")),
        });
        if let (Some(t), Some(a)) = (pr.target_estates, pr.estates_achieved_pct) {
            out.push(match lang {
                Lang::Zh => format!("{}目标改造小区{}个，完成{}。", fmt::year(lang, r.year), fmt::int(t), fmt::pct(lang, a)),
                Lang::En => format!("The {} target of {} is {} achieved.", r.year, fmt::count(lang, t, "estates", "个"), fmt::pct(lang, a)),
            });
        }
    }
    let t = &p.total;
    out.push(match lang {
        Lang::Zh => format!(
            "满意度测评（门槛{}，低于门槛须整改返工后方可验收）：达标{}个，未达标返工{}个，尚未测评{}个；未达标即标记验收的{}个。",
            fmt::pct(lang, p.gate_pct),
            fmt::int(t.gate_passed as u64),
            fmt::int(t.gate_failed as u64),
            fmt::int(t.no_survey as u64),
            fmt::int(t.contradictions as u64)
        ),
        Lang::En => format!(
            "Satisfaction (gate {}; below it the work is redone before acceptance): {} passed, {} below the gate (rework), {} not yet surveyed; {} marked accepted without passing.",
            fmt::pct(lang, p.gate_pct),
            fmt::int(t.gate_passed as u64),
            fmt::int(t.gate_failed as u64),
            fmt::int(t.no_survey as u64),
            fmt::int(t.contradictions as u64)
        ),
    });
    let rule_total: f64 = t.funding_yuan.values().sum::<f64>() + t.unassigned_yuan;
    if rule_total > 0.0 {
        let parts: Vec<String> = p
            .sources
            .iter()
            .filter_map(|s| t.funding_yuan.get(s).map(|y| (s, y)))
            .map(|(s, y)| match lang {
                Lang::Zh => format!("{}{}（{}）", r.source_label(s), fmt::money(lang, *y), fmt::pct(lang, y / rule_total * 100.0)),
                Lang::En => format!("{} {} ({})", r.source_label(s), fmt::money(lang, *y), fmt::pct(lang, y / rule_total * 100.0)),
            })
            .collect();
        out.push(match lang {
            Lang::Zh => format!("按资金分担规则，累计投资{}中：{}。", fmt::money(lang, rule_total), parts.join("，")),
            Lang::En => format!("By the funding rules, of {} invested: {}.", fmt::money(lang, rule_total), parts.join(", ")),
        });
    }
    if let Some(city) = p.wishes.iter().find(|w| w.scope == WishScope::City).filter(|w| !w.items.is_empty()) {
        let top: Vec<String> = city
            .items
            .iter()
            .take(3)
            .map(|w| match lang {
                Lang::Zh => format!("{}（{}人次）", r.item_label(&w.item), fmt::int(w.count)),
                Lang::En => format!("{} ({} residents)", r.item_label(&w.item), fmt::int(w.count)),
            })
            .collect();
        out.push(match lang {
            Lang::Zh => format!("居民意愿（问需于民）排名前三：{}。", top.join("、")),
            Lang::En => format!("Residents' top wishes: {}.", top.join(", ")),
        });
    }
    out
}

/// Notes on how the figures are counted.
#[must_use]
pub fn notes(lang: Lang) -> Vec<&'static str> {
    match lang {
        Lang::Zh => vec![
            "完成率按建筑面积加权；投资为项目台账实际到位资金。",
            "资金分担：先按定额补助（如每部电梯补助）计入补助来源，余额按适用的一条分担规则（先按改造内容，后按改造类别）拆分；无适用规则的金额单列。差额仅统计按来源登记了实际到位资金的项目。",
            "满意度以项目最近一次测评为准，达到门槛即为达标（恰好等于门槛视为达标）；按小区填报的测评计入该小区当年及以前最近一个批次的项目。",
            "老旧小区存量按小区建成年份统计；累计改造小区按批次去重计数。",
        ],
        Lang::En => vec![
            "% complete is weighted by floor area; investment is what the project ledger records.",
            "Funding: fixed subsidies (per elevator, per m²) go to their source first; the rest is split by one share rule (the first for one of the project's items, else its category's); money no rule covers is shown apart. Differences cover the projects that record their investment by source.",
            "Satisfaction is the project's latest survey; exactly the gate passes. Surveys naming an estate count for its latest project batched in or before the survey's year.",
            "The old stock counts estates by their build year; cumulative estates count each estate once.",
        ],
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A table as GitHub Markdown.
pub(super) fn table_md(out: &mut String, t: &Table, lang: Lang) {
    let _ = writeln!(out, "| {} |", t.columns.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | "));
    let align: Vec<&str> = (0..t.columns.len()).map(|c| if t.rows.iter().any(|r| r[c].numeric()) { "---:" } else { "---" }).collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
    for row in &t.rows {
        let _ = writeln!(out, "| {} |", row.iter().map(|c| escape(&c.display(lang))).collect::<Vec<_>>().join(" | "));
    }
    if t.rows.is_empty() {
        let _ = writeln!(out, "\n{}", lang.pick("(none)", "（无）"));
    }
}

/// The sections in order: (heading, tables). Shared with HTML.
pub(super) fn sections(r: &ProgrammeReport) -> Vec<(String, Vec<Table>)> {
    let lang = r.lang;
    let district_top = 3;
    vec![
        (lang.pick("1. Batches", "一、改造批次").to_owned(), vec![table::batches(r), table::districts(r), table::streets(r, Some(r.year))]),
        (lang.pick("2. Progress against targets", "二、目标完成情况").to_owned(), vec![table::progress(r)]),
        (lang.pick("3. Funding", "三、资金筹措").to_owned(), vec![table::funding(r)]),
        (lang.pick("4. Residents' satisfaction", "四、居民满意度").to_owned(), vec![table::gate(r), table::rework(r)]),
        (
            lang.pick("5. Residents' wishes", "五、居民意愿（问需于民）").to_owned(),
            vec![
                table::wishes(r, "wishes_city", |s| matches!(s, WishScope::City), 10),
                table::wishes(r, "wishes_districts", |s| matches!(s, WishScope::District(_)), district_top),
            ],
        ),
    ]
}

/// The sections in order with the link to coverage last, when there is one.
pub(crate) fn sections_with_gaps(r: &ProgrammeReport, gaps: Option<&RenovationGaps>) -> Vec<(String, Vec<Table>)> {
    let mut out = sections(r);
    if let Some(g) = gaps {
        out.push((r.lang.pick("6. Renovation and facility coverage", "六、改造与设施覆盖").to_owned(), vec![table::gaps_by_kind(r, g), table::gap_links(r, g, true)]));
    }
    out
}

/// Headlines, sections and their tables, headings starting at `level` (`##`: 2).
fn push_body(out: &mut String, r: &ProgrammeReport, gaps: Option<&RenovationGaps>, level: usize) {
    let lang = r.lang;
    let h = "#".repeat(level);
    let _ = writeln!(out, "{h} {}\n", lang.pick("At a glance", "总体情况"));
    for line in headlines(r) {
        let _ = writeln!(out, "- {line}");
    }
    if let Some(g) = gaps {
        let _ = writeln!(out, "- {}", gaps_headline(r, g));
    }
    for (heading, tables) in sections_with_gaps(r, gaps) {
        let _ = writeln!(out, "\n{h} {heading}");
        for t in tables {
            let _ = writeln!(out, "\n{h}# {}\n", t.title);
            table_md(out, &t, lang);
        }
    }
}

/// The link to coverage in one sentence.
#[must_use]
pub fn gaps_headline(r: &ProgrammeReport, g: &RenovationGaps) -> String {
    let sum = |f: fn(&crate::programme::KindGaps) -> u64| g.by_kind.iter().map(f).sum::<u64>();
    let (items, closed, already, open) = (sum(|k| k.items), sum(|k| k.closed), sum(|k| k.already_covered), sum(|k| k.still_open));
    let n = [g.estates, items, closed, already, sum(|k| k.not_added), open].map(fmt::int);
    let text = match r.lang {
        Lang::Zh => "改造与设施覆盖：截至{year}年末，{0}个已改造小区的改造内容中含配套设施{1}项，其中{2}项新增设施补齐了服务半径内的缺口，{3}项所在小区此前已有覆盖，其余{4}项尚未新增设施；已改造小区仍有{5}处设施缺口。",
        Lang::En => "Renovation and coverage: by the end of {year}, the {0} renovated estates' projects list {1} facility items; {2} closed a gap with a facility opened within the radius since the batch, {3} added one where the kind was already within reach, {4} added none yet; renovated estates still have {5} facility gaps.",
    };
    // One sentence per language, the same figures in the same places.
    n.iter().enumerate().fold(text.replace("{year}", &g.year.to_string()), |t, (i, v)| t.replace(&format!("{{{i}}}"), v))
}

/// The programme sections inside the facility report: a heading, then the programme's
/// headlines, sections (headings one level down) and the link to coverage.
pub(crate) fn push_programme(out: &mut String, p: &super::ProgrammeSections) {
    let r = &p.report;
    let _ = writeln!(out, "## {}\n\n{}\n", r.lang.pick("Renovation programme", "老旧小区改造"), byline(r));
    push_body(out, r, Some(&p.gaps), 3);
    out.push('\n');
}

/// Renders the report as Markdown (the street table for the report year's batch only, wishes
/// top 10 city-wide and top 3 per district; XLSX and CSV hold every row).
#[must_use]
pub fn render_markdown(r: &ProgrammeReport) -> String {
    let lang = r.lang;
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n\n{}\n", r.title, byline(r));
    push_body(&mut out, r, None, 2);
    let _ = writeln!(out, "\n## {}\n", lang.pick("Notes", "说明"));
    for n in notes(lang) {
        let _ = writeln!(out, "- {n}");
    }
    let _ = writeln!(out, "- {}", lang.pick("Every project and every estate's wishes: the XLSX and CSV files.", "项目清单及各小区居民意愿详见XLSX、CSV文件。"));
    out
}
