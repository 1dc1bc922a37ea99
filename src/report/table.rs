//! The report's tables, defined once and rendered by every tabular format (Markdown, CSV,
//! XLSX, HTML), so the formats cannot disagree on a column or a figure.

use crate::analysis::{KindYear, RenovationYear};

use super::{Lang, Report};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing (no target, no facility).
    Empty,
    /// A count.
    Int(i64),
    /// A quantity, shown with at most `decimals` decimals.
    Num(f64, usize),
    /// A percentage (0–100), shown with one decimal.
    Pct(f64),
    /// A change in percentage points, shown with one decimal and a sign.
    Change(f64),
    /// A year (never grouped: `2021`).
    Year(i32),
    /// Yes or no.
    Bool(bool),
    /// Text.
    Text(String),
}

impl Cell {
    fn count(n: u64) -> Self {
        Self::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn opt_count(n: Option<u64>) -> Self {
        n.map_or(Self::Empty, Self::count)
    }

    fn opt_pct(x: Option<f64>) -> Self {
        x.map_or(Self::Empty, Self::Pct)
    }

    fn opt_num(x: Option<f64>, decimals: usize) -> Self {
        x.map_or(Self::Empty, |x| Self::Num(x, decimals))
    }

    fn opt_text(s: Option<&str>) -> Self {
        s.map_or(Self::Empty, |s| Self::Text(s.to_owned()))
    }

    /// Plain text for machines: full figures rounded to 3 decimals, no grouping.
    #[must_use]
    pub fn plain(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Int(n) => n.to_string(),
            Self::Year(y) => y.to_string(),
            Self::Num(x, _) | Self::Pct(x) | Self::Change(x) => fmt_plain(*x),
            Self::Bool(b) => b.to_string(),
            Self::Text(s) => s.clone(),
        }
    }

    /// Text for people: thousands grouped, percentages with one decimal, `yes`/`no`.
    #[must_use]
    pub fn display(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Int(n) => group_int(*n),
            Self::Year(y) => y.to_string(),
            Self::Num(x, d) => fmt_grouped(*x, *d),
            Self::Pct(x) => fmt_grouped(*x, 1),
            Self::Change(x) => signed(*x),
            Self::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            Self::Text(s) => s.clone(),
        }
    }
}

impl Cell {
    /// [`Cell::display`] in `lang`: yes/no as 是/否 in Chinese; numbers as in English (the
    /// column headers carry the units).
    #[must_use]
    pub fn display_in(&self, lang: Lang) -> String {
        match (self, lang) {
            (Self::Bool(b), Lang::Zh) => if *b { "是" } else { "否" }.to_owned(),
            _ => self.display(),
        }
    }
}

/// A number rounded to 3 decimals without trailing zeros (`12`, `0.5`, `66.667`).
#[must_use]
pub fn fmt_plain(x: f64) -> String {
    let mut s = format!("{:.3}", round_to(x, 3));
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        "0".clone_into(&mut s);
    }
    s
}

/// `x` rounded to `decimals` decimals.
#[must_use]
pub fn round_to(x: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(i32::try_from(decimals).unwrap_or(6));
    let r = (x * scale).round() / scale;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// An integer with thousands separators (`7,262`).
#[must_use]
pub fn group_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with thousands separators and at most `decimals` decimals, trailing zeros kept to
/// `decimals` for percentages (`decimals` = 1) and trimmed otherwise.
#[must_use]
pub fn fmt_grouped(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, round_to(x, decimals));
    let (int_part, frac) = text.split_once('.').map_or((text.as_str(), ""), |(a, b)| (a, b));
    let negative = int_part.starts_with('-');
    let int: i64 = int_part.trim_start_matches('-').parse().unwrap_or(0);
    let mut out = group_int(int);
    if negative && !(int == 0 && frac.bytes().all(|b| b == b'0')) {
        out.insert(0, '-');
    }
    let frac = if decimals == 1 { frac } else { frac.trim_end_matches('0') };
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A change with its sign and one decimal (`+2.3`, `-0.4`, `0.0`).
#[must_use]
pub fn signed(x: f64) -> String {
    let text = fmt_grouped(x, 1);
    if text.starts_with('-') || text == "0.0" {
        text
    } else {
        format!("+{text}")
    }
}

/// A column: machine key (CSV header) and human header (Markdown, HTML, XLSX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// snake_case key.
    pub key: &'static str,
    /// Header for people.
    pub header: &'static str,
    /// Shown in the narrow tables of Markdown and HTML too (CSV and XLSX show every column).
    pub compact: bool,
}

/// Chinese column headers by column key, with the unit in brackets as Chinese tables write it.
const ZH_HEADERS: [(&str, &str); 51] = [
    ("capacity_added", "新增容量"),
    ("capacity_added_achieved_pct", "容量完成率（%）"),
    ("capacity_planned", "规划容量"),
    ("capacity_total", "年末容量"),
    ("capacity_unit", "容量单位"),
    ("coverage_estates_met", "是否达标"),
    ("coverage_households_met", "户数目标是否达标"),
    ("district", "区县"),
    ("estate_id", "小区编号"),
    ("estates", "小区（个）"),
    ("estates_achieved_pct", "完成率（%）"),
    ("estates_covered", "覆盖小区（个）"),
    ("estates_covered_change", "覆盖小区增减（个）"),
    ("estates_covered_pct", "小区覆盖率（%）"),
    ("estates_covered_pct_change", "增减（百分点）"),
    ("estates_cumulative", "累计改造小区（个）"),
    ("estates_renovated", "改造小区（个）"),
    ("estates_uncovered", "未覆盖小区（个）"),
    ("facilities_total", "年末总数（个）"),
    ("households", "户数（户）"),
    ("households_achieved_pct", "户数完成率（%）"),
    ("households_covered", "覆盖户数（户）"),
    ("households_covered_change", "覆盖户数增减（户）"),
    ("households_covered_pct", "户数覆盖率（%）"),
    ("households_covered_pct_change", "户数覆盖率增减（百分点）"),
    ("households_cumulative", "累计改造户数（户）"),
    ("households_renovated", "改造户数（户）"),
    ("kind", "设施类型"),
    ("label_en", "英文名称"),
    ("label_zh", "中文名称"),
    ("name", "小区名称"),
    ("nearest_facility", "最近设施"),
    ("nearest_m", "最近距离（m）"),
    ("new_facilities_achieved_pct", "完成率（%）"),
    ("opened", "新增（个）"),
    ("opened_built", "已建（个）"),
    ("opened_planned", "规划（个）"),
    ("radius_m", "服务半径（m）"),
    ("stock_done_estates", "存量已改造（个）"),
    ("stock_done_estates_pct", "存量改造比例（%）"),
    ("stock_done_households", "存量已改造户数（户）"),
    ("stock_done_households_pct", "存量户数改造比例（%）"),
    ("stock_estates", "存量小区（个）"),
    ("stock_households", "存量户数（户）"),
    ("target_capacity_added", "容量目标"),
    ("target_coverage_estates_pct", "覆盖率目标（%）"),
    ("target_coverage_households_pct", "户数覆盖率目标（%）"),
    ("target_estates", "目标小区（个）"),
    ("target_households", "目标户数（户）"),
    ("target_new_facilities", "新增目标（个）"),
    ("year", "年份"),
];

impl Column {
    /// The header in `lang` (Chinese from [`ZH_HEADERS`], English as defined).
    #[must_use]
    pub fn header_in(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.header,
            Lang::Zh => ZH_HEADERS.iter().find(|(k, _)| *k == self.key).map_or(self.header, |(_, zh)| zh),
        }
    }
}

/// A table of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Identifier: CSV file suffix (`report-2021-kinds.csv`).
    pub name: &'static str,
    /// Sheet name (≤ 31 characters).
    pub sheet: String,
    /// Heading.
    pub title: String,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows of cells, one per column.
    pub rows: Vec<Vec<Cell>>,
}

const fn col(key: &'static str, header: &'static str) -> Column {
    Column { key, header, compact: true }
}

const fn wide(key: &'static str, header: &'static str) -> Column {
    Column { key, header, compact: false }
}

const KIND_COLUMNS: [Column; 25] = [
    col("year", "Year"),
    col("kind", "Kind"),
    col("opened", "Opened"),
    col("target_new_facilities", "Target new"),
    col("new_facilities_achieved_pct", "Achieved %"),
    col("capacity_added", "Capacity added"),
    col("target_capacity_added", "Target capacity"),
    col("capacity_added_achieved_pct", "Capacity achieved %"),
    col("facilities_total", "Open at year end"),
    wide("capacity_total", "Capacity at year end"),
    wide("estates", "Estates"),
    wide("estates_covered", "Estates covered"),
    wide("estates_covered_change", "Estates covered change"),
    col("estates_covered_pct", "Estates covered %"),
    col("estates_covered_pct_change", "Change (pp)"),
    col("target_coverage_estates_pct", "Target covered %"),
    col("coverage_estates_met", "Met"),
    col("estates_uncovered", "Estates uncovered"),
    wide("households", "Households"),
    wide("households_covered", "Households covered"),
    wide("households_covered_change", "Households covered change"),
    col("households_covered_pct", "Households covered %"),
    wide("households_covered_pct_change", "Households change (pp)"),
    wide("target_coverage_households_pct", "Target households %"),
    wide("coverage_households_met", "Households target met"),
];

fn kind_cells(r: &KindYear) -> Vec<Cell> {
    vec![
        Cell::Year(r.year),
        Cell::Text(r.kind.clone()),
        Cell::count(r.opened),
        Cell::opt_count(r.target_new_facilities),
        Cell::opt_pct(r.new_facilities_achieved_pct),
        Cell::Num(r.capacity_added, 2),
        Cell::opt_num(r.target_capacity_added, 2),
        Cell::opt_pct(r.capacity_added_achieved_pct),
        Cell::count(r.facilities_total),
        Cell::Num(r.capacity_total, 2),
        Cell::count(r.estates),
        Cell::count(r.estates_covered),
        Cell::Int(r.estates_covered_change),
        Cell::Pct(r.estates_covered_pct),
        Cell::Change(r.estates_covered_pct_change),
        Cell::opt_pct(r.target_coverage_estates_pct),
        r.coverage_estates_met.map_or(Cell::Empty, Cell::Bool),
        Cell::count(r.estates_uncovered),
        Cell::count(r.households),
        Cell::count(r.households_covered),
        Cell::Int(r.households_covered_change),
        Cell::Pct(r.households_covered_pct),
        Cell::Change(r.households_covered_pct_change),
        Cell::opt_pct(r.target_coverage_households_pct),
        r.coverage_households_met.map_or(Cell::Empty, Cell::Bool),
    ]
}

const RENOVATION_COLUMNS: [Column; 15] = [
    col("year", "Year"),
    col("estates_renovated", "Estates renovated"),
    col("target_estates", "Target estates"),
    col("estates_achieved_pct", "Achieved %"),
    col("households_renovated", "Households renovated"),
    col("target_households", "Target households"),
    col("households_achieved_pct", "Households achieved %"),
    col("estates_cumulative", "Estates since first year"),
    col("households_cumulative", "Households since first year"),
    col("stock_estates", "Stock estates"),
    col("stock_done_estates", "Stock done"),
    col("stock_done_estates_pct", "Stock done %"),
    col("stock_households", "Stock households"),
    wide("stock_done_households", "Stock households done"),
    col("stock_done_households_pct", "Stock households done %"),
];

fn renovation_cells(r: &RenovationYear) -> Vec<Cell> {
    vec![
        Cell::Year(r.year),
        Cell::count(r.estates_renovated),
        Cell::opt_count(r.target_estates),
        Cell::opt_pct(r.estates_achieved_pct),
        Cell::count(r.households_renovated),
        Cell::opt_count(r.target_households),
        Cell::opt_pct(r.households_achieved_pct),
        Cell::count(r.estates_cumulative),
        Cell::count(r.households_cumulative),
        Cell::count(r.stock_estates),
        Cell::count(r.stock_done_estates),
        Cell::Pct(r.stock_done_estates_pct),
        Cell::count(r.stock_households),
        Cell::count(r.stock_done_households),
        Cell::Pct(r.stock_done_households_pct),
    ]
}

/// The English or the Chinese text, by the report's language.
fn pick(report: &Report, en: String, zh: String) -> String {
    match report.lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

fn with_district(columns: &[Column]) -> Vec<Column> {
    std::iter::once(col("district", "District")).chain(columns.iter().copied()).collect()
}

/// The headline table: the report year, one row per kind.
#[must_use]
pub fn summary_table(report: &Report) -> Table {
    Table {
        name: "summary",
        sheet: format!("Summary {}", report.year),
        title: pick(report, format!("{} by kind", report.year), format!("{}年各类设施情况", report.year)),
        columns: KIND_COLUMNS.to_vec(),
        rows: report.trend.overall.iter().filter(|r| r.year == report.year).map(kind_cells).collect(),
    }
}

/// Every year × kind, city-wide.
#[must_use]
pub fn kinds_table(report: &Report) -> Table {
    Table {
        name: "kinds",
        sheet: "Kinds by year".to_owned(),
        title: pick(report, format!("Facilities and coverage by year, {}–{}", report.from, report.year), format!("{}—{}年各类设施逐年新增与覆盖情况", report.from, report.year)),
        columns: KIND_COLUMNS.to_vec(),
        rows: report.trend.overall.iter().map(kind_cells).collect(),
    }
}

/// Every district × year × kind.
#[must_use]
pub fn districts_table(report: &Report) -> Table {
    let rows = report
        .trend
        .by_district
        .iter()
        .flat_map(|d| d.kinds.iter().map(move |r| std::iter::once(Cell::Text(d.district.clone())).chain(kind_cells(r)).collect()))
        .collect();
    Table {
        name: "districts",
        sheet: "Districts by year".to_owned(),
        title: pick(report, format!("Facilities and coverage by district and year, {}–{}", report.from, report.year), format!("{}—{}年分区县设施新增与覆盖情况", report.from, report.year)),
        columns: with_district(&KIND_COLUMNS),
        rows,
    }
}

/// Renovation per year, city-wide.
#[must_use]
pub fn renovation_table(report: &Report) -> Table {
    Table {
        name: "renovation",
        sheet: "Renovation".to_owned(),
        title: pick(
            report,
            format!("Renovation by year (stock: estates built before {})", report.trend.params.renovation_built_before),
            format!("逐年改造情况（存量：{}年以前建成的小区）", report.trend.params.renovation_built_before),
        ),
        columns: RENOVATION_COLUMNS.to_vec(),
        rows: report.trend.renovation.iter().map(renovation_cells).collect(),
    }
}

/// Renovation per district and year.
#[must_use]
pub fn renovation_districts_table(report: &Report) -> Table {
    let rows = report
        .trend
        .by_district
        .iter()
        .flat_map(|d| d.renovation.iter().map(move |r| std::iter::once(Cell::Text(d.district.clone())).chain(renovation_cells(r)).collect()))
        .collect();
    Table {
        name: "renovation-districts",
        sheet: "Renovation by district".to_owned(),
        title: pick(report, "Renovation by district and year".to_owned(), "分区县逐年改造情况".to_owned()),
        columns: with_district(&RENOVATION_COLUMNS),
        rows,
    }
}

/// Estates uncovered at the end of the report year; `per_kind` keeps the first rows of each
/// kind (most households first), `None` keeps all.
#[must_use]
pub fn gaps_table(report: &Report, per_kind: Option<usize>) -> Table {
    let mut rows = Vec::new();
    let mut current: Option<&str> = None;
    let mut shown = 0;
    for g in &report.trend.gaps {
        if current != Some(g.kind.as_str()) {
            current = Some(g.kind.as_str());
            shown = 0;
        }
        if per_kind.is_some_and(|n| shown >= n) {
            continue;
        }
        shown += 1;
        rows.push(vec![
            Cell::Text(g.kind.clone()),
            Cell::Text(g.estate_id.to_string()),
            Cell::opt_text(g.name.as_deref()),
            Cell::opt_text(g.district.as_deref()),
            g.households.map_or(Cell::Empty, |h| Cell::Int(i64::from(h))),
            Cell::opt_num(g.nearest_m, 0),
            Cell::opt_text(g.nearest_facility.as_ref().map(ToString::to_string).as_deref()),
        ]);
    }
    Table {
        name: "gaps",
        sheet: format!("Gaps {}", report.year),
        title: pick(report, format!("Estates not covered at the end of {}", report.year), format!("{}年末未覆盖小区", report.year)),
        columns: vec![
            col("kind", "Kind"),
            col("estate_id", "Estate"),
            col("name", "Name"),
            col("district", "District"),
            col("households", "Households"),
            col("nearest_m", "Nearest (m)"),
            col("nearest_facility", "Nearest facility"),
        ],
        rows,
    }
}

impl Table {
    /// The table as people read it in the report's language: in Chinese, the `kind` column's keys
    /// become the catalogue's Chinese names (CSV keeps the keys).
    #[must_use]
    pub fn for_people(mut self, report: &Report) -> Self {
        // The kinds legend states key and both names side by side already.
        if report.lang == Lang::Zh && self.name != "kinds-legend" {
            if let Some(k) = self.columns.iter().position(|c| c.key == "kind") {
                for row in &mut self.rows {
                    if let Cell::Text(key) = &row[k] {
                        if let Some(spec) = report.trend.kinds.iter().find(|s| &s.key == key) {
                            row[k] = Cell::Text(spec.label_zh.clone());
                        }
                    }
                }
            }
        }
        self
    }

    /// The table with only its compact columns (for Markdown and HTML).
    #[must_use]
    pub fn compact(&self) -> Self {
        let keep: Vec<bool> = self.columns.iter().map(|c| c.compact).collect();
        Self {
            name: self.name,
            sheet: self.sheet.clone(),
            title: self.title.clone(),
            columns: self.columns.iter().filter(|c| c.compact).copied().collect(),
            rows: self
                .rows
                .iter()
                .map(|r| r.iter().zip(&keep).filter(|(_, k)| **k).map(|(c, _)| c.clone()).collect())
                .collect(),
        }
    }
}

/// The kinds: key, labels, radius, unit.
#[must_use]
pub fn kinds_legend_table(report: &Report) -> Table {
    Table {
        name: "kinds-legend",
        sheet: "Kinds".to_owned(),
        title: pick(report, "Facility kinds".to_owned(), "设施类型及服务半径".to_owned()),
        columns: vec![
            col("kind", "Kind"),
            col("label_en", "Label"),
            col("label_zh", "标签"),
            col("radius_m", "Radius (m)"),
            col("capacity_unit", "Capacity unit"),
        ],
        rows: report
            .trend
            .kinds
            .iter()
            .map(|k| {
                vec![
                    Cell::Text(k.key.clone()),
                    Cell::Text(k.label_en.clone()),
                    Cell::Text(k.label_zh.clone()),
                    Cell::Num(k.radius_m, 1),
                    Cell::opt_text(k.capacity_unit.as_deref()),
                ]
            })
            .collect(),
    }
}

/// Built and planned openings apart, per year and kind where something planned opens; `None`
/// when nothing is planned.
#[must_use]
pub fn planned_table(report: &Report) -> Option<Table> {
    (!report.planned.is_empty()).then(|| Table {
        name: "planned",
        sheet: "Planned openings".to_owned(),
        title: pick(
            report,
            format!("Built and planned openings, {}–{} (planned facilities count as if built in their year)", report.from, report.year),
            format!("{}—{}年已建与规划设施（规划设施按其建成年份计入）", report.from, report.year),
        ),
        columns: vec![col("year", "Year"), col("kind", "Kind"), col("opened_built", "Built"), col("opened_planned", "Planned"), col("capacity_planned", "Planned capacity")],
        rows: report
            .planned
            .iter()
            .map(|p| vec![Cell::Year(p.year), Cell::Text(p.kind.clone()), Cell::count(p.opened_built), Cell::count(p.opened_planned), Cell::Num(p.capacity_planned, 2)])
            .collect(),
    })
}

/// Every full table, in report order (the planned openings only when something is planned).
#[must_use]
pub fn all_tables(report: &Report) -> Vec<Table> {
    let planned = planned_table(report);
    let mut tables = vec![
        summary_table(report),
        kinds_table(report),
        districts_table(report),
        renovation_table(report),
        renovation_districts_table(report),
        gaps_table(report, None),
        kinds_legend_table(report),
    ];
    tables.splice(2..2, planned);
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(group_int(7262), "7,262");
        assert_eq!(group_int(-1_234_567), "-1,234,567");
        assert_eq!(group_int(12), "12");
        assert_eq!(fmt_grouped(1234.5, 1), "1,234.5");
        assert_eq!(fmt_grouped(100.0, 1), "100.0");
        assert_eq!(fmt_grouped(-0.04, 1), "0.0");
        assert_eq!(fmt_grouped(-3.26, 1), "-3.3");
        assert_eq!(fmt_grouped(7262.0, 2), "7,262");
        assert_eq!(fmt_grouped(152.25, 2), "152.25");
        assert_eq!(fmt_plain(66.666_666), "66.667");
        assert_eq!(fmt_plain(-0.0001), "0");
        assert_eq!(fmt_plain(304.0), "304");
        assert_eq!(signed(2.25), "+2.3");
        assert_eq!(signed(-0.01), "0.0");
        assert_eq!(Cell::Year(2021).display(), "2021");
    }
}
