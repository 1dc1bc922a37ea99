//! Language and number conventions of the programme report: Chinese as city reports write it
//! (万户, 万元/亿元, 2021年, 2021年6月30日, units as units: m², 个, 户), or English.

use serde::{Deserialize, Serialize};

use crate::programme::Date;
use crate::report::table::{fmt_grouped, group_int};

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Chinese (simplified), the city's own report language.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The text for this language.
    #[must_use]
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Self::En => en,
            Self::Zh => zh,
        }
    }

    /// Whether this is English (the main report's default, left out of its JSON).
    #[must_use]
    pub fn is_en(&self) -> bool {
        *self == Self::En
    }

    /// The key used in file names (`zh`, `en`).
    #[must_use]
    pub fn key(self) -> &'static str {
        self.pick("en", "zh")
    }
}

/// `x` with at most `decimals` decimals, trailing zeros trimmed, thousands grouped.
#[must_use]
pub fn trimmed(x: f64, decimals: usize) -> String {
    let s = fmt_grouped(x, decimals);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `x` with exactly `decimals` decimals, thousands grouped (`17,439.28`, `2,220.00`).
#[must_use]
pub fn fixed(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, crate::report::table::round_to(x, decimals));
    let (int_part, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let negative = int_part.starts_with('-') && text.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let digits: i64 = int_part.trim_start_matches('-').parse().unwrap_or(0);
    let mut out = if negative { format!("-{}", group_int(digits)) } else { group_int(digits) };
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// An integer with thousands separators.
#[must_use]
pub fn int(n: u64) -> String {
    group_int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A count in 万 (ten thousands) when it reaches 10,000: `3.8万`, `42万`; else the plain count.
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn wan(n: u64) -> String {
    if n >= 10_000 {
        format!("{}万", trimmed(n as f64 / 10_000.0, 2))
    } else {
        int(n)
    }
}

/// Households: `3.8万户` / `38,000 households`.
#[must_use]
pub fn households(lang: Lang, n: u64) -> String {
    match lang {
        Lang::Zh => format!("{}户", wan(n)),
        Lang::En => format!("{} households", int(n)),
    }
}

/// A count with its unit: `160个小区` / `160 estates`.
#[must_use]
pub fn count(lang: Lang, n: u64, en_unit: &str, zh_unit: &str) -> String {
    match lang {
        Lang::Zh => format!("{}{zh_unit}", int(n)),
        Lang::En if n == 1 => format!("1 {}", en_unit.strip_suffix('s').unwrap_or(en_unit)),
        Lang::En => format!("{} {en_unit}", int(n)),
    }
}

/// Money: `1.23亿元` or `456.78万元` / `12.35 million yuan`.
#[must_use]
pub fn money(lang: Lang, yuan: f64) -> String {
    match lang {
        Lang::Zh if yuan.abs() >= 1e8 => format!("{}亿元", trimmed(yuan / 1e8, 2)),
        Lang::Zh => format!("{}万元", trimmed(yuan / 1e4, 2)),
        Lang::En => format!("{} million yuan", trimmed(yuan / 1e6, 2)),
    }
}

/// Money in the tables' unit (万元 / million yuan).
#[must_use]
pub fn money_in_unit(lang: Lang, yuan: f64) -> f64 {
    match lang {
        Lang::Zh => yuan / 1e4,
        Lang::En => yuan / 1e6,
    }
}

/// The tables' money unit.
#[must_use]
pub fn money_unit(lang: Lang) -> &'static str {
    lang.pick("million yuan", "万元")
}

/// Floor area: `350万m²` / `3.5 million m²`, or the plain figure below 10,000 m².
#[must_use]
pub fn area(lang: Lang, m2: f64) -> String {
    match lang {
        Lang::Zh if m2 >= 1e4 => format!("{}万m²", trimmed(m2 / 1e4, 2)),
        Lang::En if m2 >= 1e6 => format!("{} million m²", trimmed(m2 / 1e6, 2)),
        _ => format!("{} m²", trimmed(m2, 0)),
    }
}

/// A year: `2021年` / `2021`.
#[must_use]
pub fn year(lang: Lang, y: i32) -> String {
    match lang {
        Lang::Zh => format!("{y}年"),
        Lang::En => y.to_string(),
    }
}

/// A date: `2021年6月30日` / `2021-06-30`.
#[must_use]
pub fn date(lang: Lang, d: Date) -> String {
    match lang {
        Lang::Zh => format!("{}年{}月{}日", d.year, d.month, d.day),
        Lang::En => d.to_string(),
    }
}

/// A share with one decimal: `85.0%` / `85.0 %`.
#[must_use]
pub fn pct(lang: Lang, x: f64) -> String {
    match lang {
        Lang::Zh => format!("{}%", fmt_grouped(x, 1)),
        Lang::En => format!("{} %", fmt_grouped(x, 1)),
    }
}

/// Renovation items and programme words with their Chinese names; facility kinds come from the
/// catalogue.
pub const ITEMS: [(&str, &str, &str); 22] = [
    ("pipes", "Water, gas and heating pipes", "水电气暖管网改造"),
    ("roof", "Roof waterproofing", "屋面防水"),
    ("facade", "Walls and insulation", "外墙保温"),
    ("road", "Roads", "道路修缮"),
    ("lighting", "Lighting", "照明设施"),
    ("fire", "Fire safety", "消防设施"),
    ("security", "Security", "安防设施"),
    ("drainage", "Drainage", "雨污分流"),
    ("elevator", "Elevators added", "加装电梯"),
    ("ebike_charger", "E-bike charging", "电动自行车充电设施"),
    ("fitness", "Fitness space", "健身场地"),
    ("barrier_free", "Barrier-free access", "无障碍设施"),
    ("energy", "Energy retrofit", "建筑节能改造"),
    ("delivery_lockers", "Delivery lockers", "智能快件箱"),
    ("greening", "Greening", "绿化"),
    ("garbage_sorting", "Garbage sorting", "垃圾分类设施"),
    ("property_management", "Property management", "物业管理"),
    ("community_service", "Community service station", "社区综合服务站"),
    ("canteen", "Meal help / canteen", "老年助餐点"),
    ("convenience_store", "Convenience store", "便利店"),
    ("parking_spaces", "Parking spaces marked", "停车位划设"),
    ("other", "Other", "其他"),
];
