//! The programme's records as planners keep them: renovation projects, satisfaction surveys,
//! residents' wishes and the funding rules, with the checks a single record must pass.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::model::FeatureId;

/// A feature id as JSON: a number or a string, as the source spelled it.
pub(super) fn serialize_id<S: serde::Serializer>(id: &FeatureId, s: S) -> Result<S::Ok, S::Error> {
    match id {
        FeatureId::Int(n) => s.serialize_i64(*n),
        FeatureId::Text(t) => s.serialize_str(t),
    }
}

/// Content category of a project (State Council 2020, 国办发〔2020〕23号).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 基础类 (应改尽改): utilities, roads, security, fire, lighting, roofs and walls.
    Basic,
    /// 完善类 (能改则改): parking, chargers, elevators, barrier-free, energy retrofit.
    Improvement,
    /// 提升类 (积极推进): community service, health, childcare, elderly care, markets.
    Upgrade,
}

impl Category {
    /// All categories, in the State Council's order.
    pub const ALL: [Self; 3] = [Self::Basic, Self::Improvement, Self::Upgrade];

    /// Parses `basic`/`improvement`/`upgrade` or the Chinese names (基础类, 完善类, 提升类; the
    /// trailing 类 optional).
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "basic" | "基础类" | "基础" => Ok(Self::Basic),
            "improvement" | "完善类" | "完善" => Ok(Self::Improvement),
            "upgrade" | "提升类" | "提升" => Ok(Self::Upgrade),
            other => Err(format!("category `{other}` is not basic/基础类, improvement/完善类 or upgrade/提升类")),
        }
    }

    /// The key used in config and outputs.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Improvement => "improvement",
            Self::Upgrade => "upgrade",
        }
    }
}

/// Where a project stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// 计划: in a batch, not started.
    Planned,
    /// 已开工: work under way.
    Started,
    /// 已完工: work done, not yet accepted.
    Completed,
    /// 已验收: accepted (which needs a passed satisfaction survey).
    Accepted,
}

impl Status {
    /// All statuses in order.
    pub const ALL: [Self; 4] = [Self::Planned, Self::Started, Self::Completed, Self::Accepted];

    /// Parses the English keys or the Chinese words (计划/未开工, 开工/在建/已开工, 完工/已完工, 验收/已验收).
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "planned" | "计划" | "未开工" => Ok(Self::Planned),
            "started" | "开工" | "已开工" | "在建" => Ok(Self::Started),
            "completed" | "完工" | "已完工" => Ok(Self::Completed),
            "accepted" | "验收" | "已验收" => Ok(Self::Accepted),
            other => Err(format!("status `{other}` is not planned, started, completed or accepted")),
        }
    }

    /// The key used in outputs.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Started => "started",
            Self::Completed => "completed",
            Self::Accepted => "accepted",
        }
    }
}

/// A calendar date (proleptic Gregorian), enough for survey dates; no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

impl Date {
    /// Parses `2021-06-30`, `2021/6/30`, `2021.6.30` or `2021年6月30日`.
    ///
    /// # Errors
    /// A message saying what is wrong with the text.
    ///
    /// # Examples
    /// ```
    /// use gapmap::programme::Date;
    /// assert_eq!(Date::parse("2021年6月3日"), Date::parse("2021-06-03"));
    /// assert!(Date::parse("2021-02-30").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || format!("`{t}` is not a date such as 2021-06-30");
        let cleaned: String = t.chars().map(|c| if matches!(c, '年' | '月' | '/' | '.') { '-' } else { c }).filter(|c| *c != '日').collect();
        let mut parts = cleaned.split('-');
        let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let year: i32 = y.trim().parse().map_err(|_| bad())?;
        let month: u8 = m.trim().parse().map_err(|_| bad())?;
        let day: u8 = d.trim().parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || !(1900..=2200).contains(&year) {
            return Err(format!("`{t}` is not a calendar date"));
        }
        Ok(Self { year, month, day })
    }

    /// The date `days` days after 1970-01-01 (Howard Hinnant's civil-from-days).
    #[must_use]
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "month and day are in range by construction")]
    pub fn from_unix_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year: i32::try_from(year).unwrap_or(i32::MAX), month, day }
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One renovation item of a project (`pipes`, `elevator`, `day_care`…) and how many units
/// (elevators added, parking spaces…) when the source says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Item key: a renovation item or a catalogue facility kind.
    pub key: String,
    /// Units of the item; `None` when the source gives only the item.
    pub units: Option<u32>,
}

impl Item {
    /// Parses a list such as `pipes;elevator:2;day_care` (separators `;`, `,`, `、`, `|`; units
    /// after `:` or `×`/`x`/`*`).
    ///
    /// # Errors
    /// A message naming the item whose units are not a whole number.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut items = Vec::new();
        for part in text.split([';', ',', '、', '|', '；', '，']).map(str::trim).filter(|p| !p.is_empty()) {
            let split = part.split_once([':', '×', '*', '：']).or_else(|| part.rsplit_once('x').filter(|(_, n)| n.trim().parse::<u32>().is_ok()));
            let item = match split {
                Some((key, units)) => {
                    let units: u32 = units.trim().parse().map_err(|_| format!("item `{part}`: `{}` is not a whole number of units", units.trim()))?;
                    Self { key: key.trim().to_owned(), units: Some(units) }
                }
                None => Self { key: part.to_owned(), units: None },
            };
            items.push(item);
        }
        Ok(items)
    }
}

/// A renovation project: one estate's part of a yearly batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// Project id, unique (default: estate id and batch year, `1042-2021`).
    pub id: String,
    /// The estate renovated.
    #[serde(serialize_with = "serialize_id")]
    pub estate_id: FeatureId,
    /// The estate's name, from the estates.
    pub estate_name: Option<String>,
    /// The estate's district, from the estates.
    pub district: Option<String>,
    /// Batch year (改造年度).
    pub batch_year: i32,
    /// Street (街道).
    pub street: Option<String>,
    /// Buildings (栋).
    pub buildings: u32,
    /// Households (户).
    pub households: u32,
    /// Floor area.
    ///
    /// # Units
    /// Square metres.
    pub floor_area_m2: f64,
    /// Content category.
    pub category: Category,
    /// Renovation items.
    pub items: Vec<Item>,
    /// Recorded investment by source (`city`, `district`, `utility`, `residents`…).
    ///
    /// # Units
    /// Yuan.
    pub investment_yuan: BTreeMap<String, f64>,
    /// Recorded total investment when the source gives a total (with or without the split).
    ///
    /// # Units
    /// Yuan.
    pub investment_total_yuan: Option<f64>,
    /// Status.
    pub status: Status,
    /// Work done, 0–100.
    pub complete_pct: f64,
}

impl Project {
    /// The project's investment: the total column when given, else the sum over sources.
    ///
    /// # Units
    /// Yuan.
    #[must_use]
    pub fn total_investment_yuan(&self) -> f64 {
        self.investment_total_yuan.unwrap_or_else(|| self.investment_yuan.values().sum())
    }

    /// Units of an item in the project: its stated units, 1 when listed without, 0 when absent.
    #[must_use]
    pub fn item_units(&self, key: &str) -> u32 {
        self.items.iter().filter(|i| i.key == key).map(|i| i.units.unwrap_or(1)).sum()
    }

    /// Checks one project on its own: % complete within 0–100, figures finite and not negative,
    /// a given total agreeing with the split by source (to 1 yuan), a batch year not after
    /// `today`'s year, a status consistent with % complete.
    ///
    /// # Errors
    /// The first problem, in words that say what to fix.
    pub fn check(&self, today: Date) -> Result<(), String> {
        if !(self.complete_pct.is_finite() && (0.0..=100.0).contains(&self.complete_pct)) {
            return Err(format!("% complete {} is outside 0–100", self.complete_pct));
        }
        if !(self.floor_area_m2.is_finite() && self.floor_area_m2 >= 0.0) {
            return Err(format!("floor area {} m² is not a number of square metres (0 or more)", self.floor_area_m2));
        }
        for (source, yuan) in &self.investment_yuan {
            if !(yuan.is_finite() && *yuan >= 0.0) {
                return Err(format!("investment from `{source}` {yuan} is not an amount of yuan (0 or more)"));
            }
        }
        if let Some(total) = self.investment_total_yuan {
            if !(total.is_finite() && total >= 0.0) {
                return Err(format!("total investment {total} is not an amount of yuan (0 or more)"));
            }
            let sum: f64 = self.investment_yuan.values().sum();
            if !self.investment_yuan.is_empty() && (sum - total).abs() > 1.0 {
                return Err(format!("investment by source sums to {sum} yuan, not the total {total} yuan"));
            }
        }
        if self.batch_year > today.year {
            return Err(format!("batch year {} is in the future (today is {today})", self.batch_year));
        }
        if matches!(self.status, Status::Completed | Status::Accepted) && self.complete_pct < 100.0 {
            return Err(format!("status {} but only {} % complete", self.status.key(), self.complete_pct));
        }
        Ok(())
    }
}

/// What a survey names: a project, or an estate (then the estate's latest project batched in
/// or before the survey's year).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyTarget {
    /// A project id.
    Project(String),
    /// An estate id.
    Estate(#[serde(serialize_with = "serialize_id")] FeatureId),
}

/// How satisfied the respondents were.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Satisfied {
    /// This many of the respondents said satisfied.
    Count(u32),
    /// This share said satisfied (0–100).
    Pct(f64),
}

/// A residents' satisfaction survey (满意度测评).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Survey {
    /// Project or estate surveyed.
    pub target: SurveyTarget,
    /// Survey date.
    pub date: Date,
    /// Residents who answered.
    pub respondents: u32,
    /// Residents satisfied.
    pub satisfied: Satisfied,
}

impl Survey {
    /// The satisfied share, 0–100.
    #[must_use]
    pub fn satisfied_pct(&self) -> f64 {
        match self.satisfied {
            Satisfied::Count(n) if self.respondents > 0 => f64::from(n) * 100.0 / f64::from(self.respondents),
            Satisfied::Count(_) => 0.0,
            Satisfied::Pct(p) => p,
        }
    }

    /// Whether the survey meets a gate of `gate_pct`: exactly the gate passes. Counts are
    /// compared as `satisfied × 100 ≥ gate × respondents`, so 4 of 5 meets 80 % without the
    /// rounding of 4 / 5 × 100.
    #[must_use]
    pub fn meets(&self, gate_pct: f64) -> bool {
        match self.satisfied {
            Satisfied::Count(n) => f64::from(n) * 100.0 >= gate_pct * f64::from(self.respondents),
            Satisfied::Pct(p) => p >= gate_pct,
        }
    }

    /// Checks one survey: at least one respondent, satisfied within the respondents or 0–100 %,
    /// a date not after `today`.
    ///
    /// # Errors
    /// The first problem.
    pub fn check(&self, today: Date) -> Result<(), String> {
        if self.respondents == 0 {
            return Err("no respondents".into());
        }
        match self.satisfied {
            Satisfied::Count(n) if n > self.respondents => return Err(format!("{n} satisfied of only {} respondents", self.respondents)),
            Satisfied::Pct(p) if !(p.is_finite() && (0.0..=100.0).contains(&p)) => return Err(format!("satisfied {p} % is outside 0–100")),
            _ => {}
        }
        if self.date > today {
            return Err(format!("survey date {} is in the future (today is {today})", self.date));
        }
        Ok(())
    }
}

/// Residents of an estate asking for an item before design (问需于民).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wish {
    /// The estate.
    #[serde(serialize_with = "serialize_id")]
    pub estate_id: FeatureId,
    /// The estate's district, from the estates.
    pub district: Option<String>,
    /// A facility kind or a renovation item.
    pub item: String,
    /// Residents asking.
    pub count: u32,
}

/// Which projects a funding rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleScope {
    /// Projects listing this item.
    Item(String),
    /// Projects of this category.
    Category(Category),
}

/// What a per-unit subsidy is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubsidyBasis {
    /// Per unit of the rule's item (per elevator added).
    Unit,
    /// Per square metre of the project's floor area.
    SquareMetre,
}

/// A fixed subsidy (70,000 yuan per added elevator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subsidy {
    /// What it is counted per.
    pub basis: SubsidyBasis,
    /// Amount per unit or per m².
    ///
    /// # Units
    /// Yuan.
    pub yuan_per: f64,
    /// The source paying it (`city`).
    pub source: String,
    /// Most one project receives.
    ///
    /// # Units
    /// Yuan.
    pub cap_yuan: Option<f64>,
}

/// A funding rule: shares of the money by source, and/or a subsidy, for an item or a category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundingRule {
    /// Projects it applies to.
    pub scope: RuleScope,
    /// Shares by source, summing to 100 (empty: the rule only gives a subsidy).
    pub shares_pct: BTreeMap<String, f64>,
    /// A fixed subsidy, paid before the shares split the rest.
    pub subsidy: Option<Subsidy>,
}

impl FundingRule {
    /// Checks the rule: shares 0–100 summing to 100 (to 0.01), subsidy and cap positive.
    ///
    /// # Errors
    /// The problem.
    pub fn check(&self) -> Result<(), String> {
        if !self.shares_pct.is_empty() {
            if let Some((s, p)) = self.shares_pct.iter().find(|(_, p)| !(p.is_finite() && (0.0..=100.0).contains(*p))) {
                return Err(format!("share of `{s}` {p} % is outside 0–100"));
            }
            let sum: f64 = self.shares_pct.values().sum();
            if (sum - 100.0).abs() > 0.01 {
                return Err(format!("shares sum to {sum} %, not 100 %"));
            }
        }
        if let Some(s) = &self.subsidy {
            if !(s.yuan_per.is_finite() && s.yuan_per > 0.0) {
                return Err(format!("subsidy {} yuan is not a positive amount", s.yuan_per));
            }
            if s.cap_yuan.is_some_and(|c| !(c.is_finite() && c >= 0.0)) {
                return Err("cap is not an amount of yuan (0 or more)".into());
            }
            if s.basis == SubsidyBasis::Unit && !matches!(self.scope, RuleScope::Item(_)) {
                return Err("a per-unit subsidy needs an item (item = \"elevator\")".into());
            }
        }
        if self.shares_pct.is_empty() && self.subsidy.is_none() {
            return Err("neither shares nor a subsidy".into());
        }
        Ok(())
    }

    /// Whether the rule applies to `project`.
    #[must_use]
    pub fn applies_to(&self, project: &Project) -> bool {
        match &self.scope {
            RuleScope::Item(key) => project.items.iter().any(|i| &i.key == key),
            RuleScope::Category(c) => project.category == *c,
        }
    }
}
