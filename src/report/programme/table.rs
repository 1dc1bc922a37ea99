//! The programme report's tables, in the report's language; every format renders these.

use crate::programme::{BatchRow, Gate, ItemOutcome, RenovationGaps, Status, WishScope};

use super::format::{self as fmt, Lang};
use super::ProgrammeReport;

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing.
    Empty,
    /// A count.
    Int(u64),
    /// A signed amount with this many decimals at most.
    Num(f64, usize),
    /// A share, 0–100, one decimal.
    Pct(f64),
    /// Text.
    Text(String),
}

impl Cell {
    /// As shown in Markdown and HTML.
    #[must_use]
    pub fn display(&self, lang: Lang) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Int(n) => fmt::int(*n),
            Self::Num(x, d) => fmt::fixed(*x, *d),
            Self::Pct(x) => fmt::pct(lang, *x),
            Self::Text(t) => t.clone(),
        }
    }

    /// As written to CSV: no grouping, full precision rounded to the decimals shown.
    #[must_use]
    pub fn plain(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Int(n) => n.to_string(),
            Self::Num(x, d) => crate::report::table::fmt_plain(crate::report::table::round_to(*x, *d)),
            Self::Pct(x) => crate::report::table::fmt_plain(crate::report::table::round_to(*x, 1)),
            Self::Text(t) => t.clone(),
        }
    }

    /// Whether the cell is a number (right-aligned).
    #[must_use]
    pub fn numeric(&self) -> bool {
        matches!(self, Self::Int(_) | Self::Num(..) | Self::Pct(_))
    }
}

/// A table: key (CSV file and sheet), title and columns in the report's language.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Machine key: `batches`, `districts`…
    pub key: &'static str,
    /// Title.
    pub title: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt_text(s: Option<&String>) -> Cell {
    s.map_or(Cell::Empty, |s| text(s.clone()))
}

fn money(lang: Lang, yuan: f64) -> Cell {
    Cell::Num(fmt::money_in_unit(lang, yuan), 2)
}

/// The status's name.
#[must_use]
pub fn status_label(lang: Lang, s: Status) -> &'static str {
    match s {
        Status::Planned => lang.pick("planned", "计划"),
        Status::Started => lang.pick("started", "在建"),
        Status::Completed => lang.pick("completed", "已完工"),
        Status::Accepted => lang.pick("accepted", "已验收"),
    }
}

/// The gate's name.
#[must_use]
pub fn gate_label(lang: Lang, g: Gate) -> &'static str {
    match g {
        Gate::Passed => lang.pick("passed", "达标"),
        Gate::Failed => lang.pick("below the gate: rework", "未达标，整改返工"),
        Gate::NoSurvey => lang.pick("no survey yet", "尚未测评"),
    }
}

fn batch_columns(lang: Lang, sources: &[String], r: &ProgrammeReport) -> Vec<String> {
    let unit = fmt::money_unit(lang);
    let mut c: Vec<String> = vec![
        lang.pick("Projects", "项目数（个）").into(),
        lang.pick("Estates", "小区数（个）").into(),
        lang.pick("Buildings", "楼栋数（栋）").into(),
        lang.pick("Households", "户数（户）").into(),
        lang.pick("Floor area (m²)", "建筑面积（m²）").into(),
        match lang {
            Lang::Zh => "总投资（万元）".to_owned(),
            Lang::En => format!("Investment ({unit})"),
        },
    ];
    for s in sources {
        c.push(match lang {
            Lang::Zh => format!("{}（万元）", r.source_label(s)),
            Lang::En => format!("{} ({unit})", r.source_label(s)),
        });
    }
    c.extend([
        lang.pick("Complete (%)", "完成率（%）").into(),
        lang.pick("Accepted", "已验收（个）").into(),
        lang.pick("Below the gate (rework)", "满意度未达标（个）").into(),
        lang.pick("No survey yet", "尚未测评（个）").into(),
        lang.pick("Accepted without passing", "未达标即验收（个）").into(),
    ]);
    c
}

fn batch_cells(lang: Lang, sources: &[String], row: &BatchRow) -> Vec<Cell> {
    let t = &row.totals;
    let mut c = vec![
        Cell::Int(t.projects as u64),
        Cell::Int(t.estates as u64),
        Cell::Int(t.buildings),
        Cell::Int(t.households),
        Cell::Num(t.floor_area_m2, 0),
        money(lang, t.investment_total_yuan),
    ];
    for s in sources {
        c.push(t.investment_yuan.get(s).map_or(Cell::Empty, |y| money(lang, *y)));
    }
    c.extend([Cell::Pct(t.complete_pct), Cell::Int(t.accepted() as u64), Cell::Int(t.gate_failed as u64), Cell::Int(t.no_survey as u64), Cell::Int(t.contradictions as u64)]);
    c
}

/// Batches per year.
#[must_use]
pub fn batches(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let sources = r.recorded_sources();
    let mut columns = vec![lang.pick("Batch", "批次年度").to_owned()];
    columns.extend(batch_columns(lang, &sources, r));
    let mut rows: Vec<Vec<Cell>> = r.programme.by_year.iter().map(|b| std::iter::once(text(fmt::year(lang, b.year))).chain(batch_cells(lang, &sources, b)).collect()).collect();
    let total = BatchRow { year: 0, district: None, street: None, totals: r.programme.total.clone() };
    rows.push(std::iter::once(text(lang.pick("Total", "合计"))).chain(batch_cells(lang, &sources, &total)).collect());
    Table { key: "batches", title: lang.pick("Batches by year", "分年度改造批次").into(), columns, rows }
}

/// Batches per year and district.
#[must_use]
pub fn districts(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let sources = r.recorded_sources();
    let mut columns = vec![lang.pick("Batch", "批次年度").to_owned(), lang.pick("District", "区").to_owned()];
    columns.extend(batch_columns(lang, &sources, r));
    let rows = r
        .programme
        .by_district
        .iter()
        .map(|b| [text(fmt::year(lang, b.year)), opt_text(b.district.as_ref())].into_iter().chain(batch_cells(lang, &sources, b)).collect())
        .collect();
    Table { key: "districts", title: lang.pick("Batches by district", "分区改造批次").into(), columns, rows }
}

/// Batches per year, district and street (`year`: only that batch).
#[must_use]
pub fn streets(r: &ProgrammeReport, year: Option<i32>) -> Table {
    let lang = r.lang;
    let columns = vec![
        lang.pick("Batch", "批次年度").to_owned(),
        lang.pick("District", "区").to_owned(),
        lang.pick("Street", "街道").to_owned(),
        lang.pick("Estates", "小区数（个）").to_owned(),
        lang.pick("Buildings", "楼栋数（栋）").to_owned(),
        lang.pick("Households", "户数（户）").to_owned(),
        lang.pick("Floor area (m²)", "建筑面积（m²）").to_owned(),
        match lang {
            Lang::Zh => "总投资（万元）".to_owned(),
            Lang::En => format!("Investment ({})", fmt::money_unit(lang)),
        },
        lang.pick("Complete (%)", "完成率（%）").to_owned(),
        lang.pick("Accepted", "已验收（个）").to_owned(),
        lang.pick("Below the gate", "未达标（个）").to_owned(),
    ];
    let rows = r
        .programme
        .by_street
        .iter()
        .filter(|b| year.is_none_or(|y| b.year == y))
        .map(|b| {
            let t = &b.totals;
            vec![
                text(fmt::year(lang, b.year)),
                opt_text(b.district.as_ref()),
                opt_text(b.street.as_ref()),
                Cell::Int(t.estates as u64),
                Cell::Int(t.buildings),
                Cell::Int(t.households),
                Cell::Num(t.floor_area_m2, 0),
                money(lang, t.investment_total_yuan),
                Cell::Pct(t.complete_pct),
                Cell::Int(t.accepted() as u64),
                Cell::Int(t.gate_failed as u64),
            ]
        })
        .collect();
    let title = match (lang, year) {
        (Lang::Zh, Some(y)) => format!("{}批次分街道情况", fmt::year(lang, y)),
        (Lang::En, Some(y)) => format!("The {y} batch by street"),
        _ => lang.pick("Batches by street", "分街道改造批次").to_owned(),
    };
    Table { key: "streets", title, columns, rows }
}

/// Progress against targets and the old stock.
#[must_use]
pub fn progress(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let columns = [
        ("Year", "年度"),
        ("District", "区"),
        ("Estates renovated", "改造小区（个）"),
        ("Target estates", "目标小区（个）"),
        ("Estates, % of target", "小区完成目标（%）"),
        ("Households", "改造户数（户）"),
        ("Target households", "目标户数（户）"),
        ("Households, % of target", "户数完成目标（%）"),
        ("Cumulative estates", "累计改造小区（个）"),
        ("of them old stock", "其中老旧小区（个）"),
        ("Old stock done (%)", "占老旧小区存量（%）"),
    ]
    .iter()
    .map(|(en, zh)| lang.pick(en, zh).to_owned())
    .collect();
    let city = lang.pick("city", "全市");
    let rows = r
        .programme
        .progress
        .iter()
        .map(|p| {
            vec![
                text(fmt::year(lang, p.year)),
                text(p.district.clone().unwrap_or_else(|| city.to_owned())),
                Cell::Int(p.estates),
                p.target_estates.map_or(Cell::Empty, Cell::Int),
                p.estates_achieved_pct.map_or(Cell::Empty, Cell::Pct),
                Cell::Int(p.households),
                p.target_households.map_or(Cell::Empty, Cell::Int),
                p.households_achieved_pct.map_or(Cell::Empty, Cell::Pct),
                Cell::Int(p.cumulative_estates),
                Cell::Int(p.cumulative_stock_estates),
                p.stock_done_pct.map_or(Cell::Empty, Cell::Pct),
            ]
        })
        .collect();
    Table { key: "progress", title: lang.pick("Progress against targets", "年度目标完成情况").into(), columns, rows }
}

/// Funding per batch year and source: recorded, by rule, difference.
#[must_use]
pub fn funding(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let unit = fmt::money_unit(lang);
    let columns = match lang {
        Lang::Zh => ["批次年度", "资金来源", "实际到位（万元）", "按规则应承担（万元）", "差额（规则−实际，万元）", "按规则占比（%）"].map(str::to_owned).to_vec(),
        Lang::En => vec!["Batch".into(), "Source".into(), format!("Recorded ({unit})"), format!("By the rules ({unit})"), format!("Difference, rules − recorded ({unit})"), "Share by the rules (%)".into()],
    };
    let mut rows = Vec::new();
    let groups = r.programme.by_year.iter().map(|b| (fmt::year(lang, b.year), &b.totals)).chain(std::iter::once((lang.pick("Total", "合计").to_owned(), &r.programme.total)));
    for (label, t) in groups {
        let rule_total: f64 = t.funding_yuan.values().sum::<f64>() + t.unassigned_yuan;
        for s in &r.programme.sources {
            let recorded = t.investment_yuan.get(s).copied();
            let rule = t.funding_yuan.get(s).copied().unwrap_or(0.0);
            rows.push(vec![
                text(label.clone()),
                text(r.source_label(s)),
                recorded.map_or(Cell::Empty, |y| money(lang, y)),
                money(lang, rule),
                t.difference_yuan.get(s).map_or(Cell::Empty, |d| money(lang, *d)),
                if rule_total > 0.0 { Cell::Pct(rule / rule_total * 100.0) } else { Cell::Empty },
            ]);
        }
        if t.unassigned_yuan > 0.0 {
            rows.push(vec![
                text(label.clone()),
                text(lang.pick("no rule", "无适用规则")),
                Cell::Empty,
                money(lang, t.unassigned_yuan),
                Cell::Empty,
                Cell::Pct(t.unassigned_yuan / rule_total * 100.0),
            ]);
        }
    }
    Table { key: "funding", title: lang.pick("Funding by source", "资金来源及分担").into(), columns, rows }
}

/// The gate per batch year.
#[must_use]
pub fn gate(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let columns = [
        ("Batch", "批次年度"),
        ("Projects", "项目数（个）"),
        ("Passed", "达标（个）"),
        ("Below the gate (rework)", "未达标返工（个）"),
        ("No survey yet", "尚未测评（个）"),
        ("Passed (% of surveyed)", "达标率（%）"),
        ("Accepted without passing", "未达标即验收（个）"),
    ]
    .iter()
    .map(|(en, zh)| lang.pick(en, zh).to_owned())
    .collect();
    let rows = r
        .programme
        .by_year
        .iter()
        .map(|b| (fmt::year(lang, b.year), &b.totals))
        .chain(std::iter::once((lang.pick("Total", "合计").to_owned(), &r.programme.total)))
        .map(|(label, t)| {
            let surveyed = t.gate_passed + t.gate_failed;
            #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
            let rate = if surveyed > 0 { Cell::Pct(t.gate_passed as f64 * 100.0 / surveyed as f64) } else { Cell::Empty };
            vec![text(label), Cell::Int(t.projects as u64), Cell::Int(t.gate_passed as u64), Cell::Int(t.gate_failed as u64), Cell::Int(t.no_survey as u64), rate, Cell::Int(t.contradictions as u64)]
        })
        .collect();
    Table { key: "gate", title: lang.pick("Residents' satisfaction", "居民满意度测评").into(), columns, rows }
}

/// Projects below the gate or accepted without passing.
#[must_use]
pub fn rework(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let columns = [("Project", "项目编号"), ("Estate", "小区"), ("District", "区"), ("Street", "街道"), ("Batch", "批次年度"), ("Status", "状态"), ("Satisfied (%)", "满意度（%）"), ("Survey", "测评日期"), ("Finding", "结论")]
        .iter()
        .map(|(en, zh)| lang.pick(en, zh).to_owned())
        .collect();
    let rows = r
        .programme
        .projects
        .iter()
        .filter(|p| p.gate.gate == Gate::Failed || p.gate.contradiction)
        .map(|p| {
            let finding = if p.gate.contradiction {
                format!("{}{}{}", gate_label(lang, p.gate.gate), lang.pick("; ", "；"), lang.pick("marked accepted: contradiction", "却已标记验收，前后矛盾"))
            } else {
                gate_label(lang, p.gate.gate).to_owned()
            };
            vec![
                text(p.project.id.clone()),
                text(p.project.estate_name.clone().unwrap_or_else(|| p.project.estate_id.to_string())),
                opt_text(p.project.district.as_ref()),
                opt_text(p.project.street.as_ref()),
                text(fmt::year(lang, p.project.batch_year)),
                text(status_label(lang, p.project.status)),
                p.gate.satisfied_pct.map_or(Cell::Empty, |x| Cell::Num(x, 2)),
                p.gate.survey_date.map_or(Cell::Empty, |d| text(fmt::date(lang, d))),
                text(finding),
            ]
        })
        .collect();
    Table { key: "rework", title: lang.pick("Projects below the gate or accepted without passing", "未达标及未达标即验收的项目").into(), columns, rows }
}

/// Every project with its funding and gate.
#[must_use]
pub fn projects(r: &ProgrammeReport) -> Table {
    let lang = r.lang;
    let unit = fmt::money_unit(lang);
    let mut columns: Vec<String> = [
        ("Project", "项目编号"),
        ("Estate id", "小区编号"),
        ("Estate", "小区名称"),
        ("District", "区"),
        ("Street", "街道"),
        ("Batch", "批次年度"),
        ("Category", "改造类别"),
        ("Items", "改造内容"),
        ("Buildings", "楼栋数（栋）"),
        ("Households", "户数（户）"),
        ("Floor area (m²)", "建筑面积（m²）"),
        ("Status", "状态"),
        ("Complete (%)", "完成率（%）"),
    ]
    .iter()
    .map(|(en, zh)| lang.pick(en, zh).to_owned())
    .collect();
    columns.push(match lang {
        Lang::Zh => "总投资（万元）".into(),
        Lang::En => format!("Investment ({unit})"),
    });
    for s in &r.programme.sources {
        columns.push(match lang {
            Lang::Zh => format!("{}按规则（万元）", r.source_label(s)),
            Lang::En => format!("{} by the rules ({unit})", r.source_label(s)),
        });
    }
    columns.extend([("Satisfied (%)", "满意度（%）"), ("Gate", "满意度结论")].iter().map(|(en, zh)| lang.pick(en, zh).to_owned()));
    let rows = r
        .programme
        .projects
        .iter()
        .map(|p| {
            let pr = &p.project;
            let items: Vec<String> = pr.items.iter().map(|i| match i.units {
                Some(u) => format!("{}×{u}", r.item_label(&i.key)),
                None => r.item_label(&i.key),
            }).collect();
            let mut row = vec![
                text(pr.id.clone()),
                text(pr.estate_id.to_string()),
                opt_text(pr.estate_name.as_ref()),
                opt_text(pr.district.as_ref()),
                opt_text(pr.street.as_ref()),
                text(fmt::year(lang, pr.batch_year)),
                text(r.category_label(pr.category)),
                text(items.join(lang.pick("; ", "、"))),
                Cell::Int(u64::from(pr.buildings)),
                Cell::Int(u64::from(pr.households)),
                Cell::Num(pr.floor_area_m2, 0),
                text(status_label(lang, pr.status)),
                Cell::Pct(pr.complete_pct),
                money(lang, pr.total_investment_yuan()),
            ];
            for s in &r.programme.sources {
                row.push(p.funding.by_source_yuan.get(s).map_or(Cell::Empty, |y| money(lang, *y)));
            }
            row.push(p.gate.satisfied_pct.map_or(Cell::Empty, |x| Cell::Num(x, 2)));
            row.push(text(gate_label(lang, p.gate.gate)));
            row
        })
        .collect();
    Table { key: "projects", title: lang.pick("Projects", "项目清单").into(), columns, rows }
}

/// Wishes ranked in the scopes `keep` accepts, at most `top` items each.
#[must_use]
pub fn wishes(r: &ProgrammeReport, key: &'static str, keep: impl Fn(&WishScope) -> bool, top: usize) -> Table {
    let lang = r.lang;
    let columns = [("Where", "范围"), ("Rank", "排序"), ("Item", "诉求事项"), ("Residents asking", "提出居民（人）"), ("Share (%)", "占比（%）"), ("Estates", "涉及小区（个）")]
        .iter()
        .map(|(en, zh)| lang.pick(en, zh).to_owned())
        .collect();
    let mut rows = Vec::new();
    for ranking in r.programme.wishes.iter().filter(|w| keep(&w.scope)) {
        let scope = match &ranking.scope {
            WishScope::City => lang.pick("city", "全市").to_owned(),
            WishScope::District(d) => d.clone(),
            WishScope::Estate(e) => r.estate_label(e),
        };
        for w in ranking.items.iter().take(top) {
            rows.push(vec![text(scope.clone()), Cell::Int(w.rank as u64), text(r.item_label(&w.item)), Cell::Int(w.count), Cell::Pct(w.share_pct), Cell::Int(w.estates as u64)]);
        }
    }
    let title = match key {
        "wishes_city" => lang.pick("Residents' wishes: city", "居民意愿（问需于民）：全市"),
        "wishes_districts" => lang.pick("Residents' wishes: by district", "居民意愿：分区"),
        _ => lang.pick("Residents' wishes: by estate", "居民意愿：分小区"),
    };
    Table { key, title: title.into(), columns, rows }
}

/// The outcome's name.
#[must_use]
pub fn outcome_label(lang: Lang, o: ItemOutcome) -> &'static str {
    match o {
        ItemOutcome::Closed => lang.pick("gap closed", "缺口已补齐"),
        ItemOutcome::AlreadyCovered => lang.pick("added where already covered", "新增（此前已覆盖）"),
        ItemOutcome::NotAdded => lang.pick("no facility added yet", "尚未新增设施"),
    }
}

/// The link to coverage per kind: items, what became of them, gaps still open.
#[must_use]
pub fn gaps_by_kind(r: &ProgrammeReport, g: &RenovationGaps) -> Table {
    let lang = r.lang;
    let columns = [
        ("Facility kind", "设施类型"),
        ("Projects listing it", "列入改造内容的项目（个）"),
        ("Gaps closed", "补齐缺口（个）"),
        ("Added where already covered", "新增但此前已覆盖（个）"),
        ("No facility added yet", "尚未新增设施（个）"),
        ("Renovated estates still without it", "已改造小区仍未覆盖（个）"),
        ("of which listed it", "其中列入改造内容（个）"),
    ]
    .iter()
    .map(|(en, zh)| lang.pick(en, zh).to_owned())
    .collect();
    let rows = g
        .by_kind
        .iter()
        .map(|k| vec![text(r.item_label(&k.kind)), Cell::Int(k.items), Cell::Int(k.closed), Cell::Int(k.already_covered), Cell::Int(k.not_added), Cell::Int(k.still_open), Cell::Int(k.still_open_listed)])
        .collect();
    let title = match lang {
        Lang::Zh => format!("改造与设施覆盖（截至{}年末，{}个已改造小区）", g.year, fmt::int(g.estates)),
        Lang::En => format!("Renovation and facility coverage by the end of {} ({})", g.year, fmt::count(lang, g.estates, "renovated estates", "个")),
    };
    Table { key: "coverage_gaps", title, columns, rows }
}

/// The link to coverage per project and kind: items (`items_only`) or also every gap still open.
#[must_use]
pub fn gap_links(r: &ProgrammeReport, g: &RenovationGaps, items_only: bool) -> Table {
    let lang = r.lang;
    let columns = [
        ("Project", "项目编号"),
        ("Estate", "小区名称"),
        ("District", "区"),
        ("Batch", "批次年度"),
        ("Facility kind", "设施类型"),
        ("Item", "改造内容"),
        ("Covered at year end", "年末是否覆盖"),
        ("Facility added", "新增设施"),
        ("Opened", "开业年份"),
        ("Distance (m)", "距离（m）"),
    ]
    .iter()
    .map(|(en, zh)| lang.pick(en, zh).to_owned())
    .collect();
    let rows = g
        .links
        .iter()
        .filter(|l| !items_only || l.item.is_some())
        .map(|l| {
            vec![
                text(l.project.clone()),
                text(r.estate_label(&l.estate_id)),
                opt_text(l.district.as_ref()),
                text(fmt::year(lang, l.batch_year)),
                text(r.item_label(&l.kind)),
                text(l.item.map_or_else(|| lang.pick("not listed: gap open", "未列入：缺口仍在").to_owned(), |o| outcome_label(lang, o).to_owned())),
                text(if l.covered { lang.pick("yes", "是") } else { lang.pick("no", "否") }),
                l.facility.as_ref().map_or(Cell::Empty, |f| text(f.to_string())),
                l.opened_year.map_or(Cell::Empty, |y| text(fmt::year(lang, y))),
                l.distance_m.map_or(Cell::Empty, |d| Cell::Num(d, 0)),
            ]
        })
        .collect();
    let title = if items_only {
        lang.pick("Facility items of the projects", "改造内容中的配套设施")
    } else {
        lang.pick("Facility items and gaps still open, per renovated estate", "已改造小区的配套设施及仍存在的缺口")
    };
    Table { key: if items_only { "coverage_items" } else { "coverage_links" }, title: title.into(), columns, rows }
}

/// Every table, in full (XLSX and CSV).
#[must_use]
pub fn all_tables(r: &ProgrammeReport) -> Vec<Table> {
    vec![
        batches(r),
        districts(r),
        streets(r, None),
        progress(r),
        funding(r),
        gate(r),
        rework(r),
        projects(r),
        wishes(r, "wishes_city", |s| matches!(s, WishScope::City), usize::MAX),
        wishes(r, "wishes_districts", |s| matches!(s, WishScope::District(_)), usize::MAX),
        wishes(r, "wishes_estates", |s| matches!(s, WishScope::Estate(_)), usize::MAX),
    ]
}
