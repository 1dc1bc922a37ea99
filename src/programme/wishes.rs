//! Residents' wishes (问需于民) ranked per estate, per district and city-wide: items by residents
//! asking, most first, ties by item key so that the order is stable.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::Wish;
use crate::model::FeatureId;

/// Where a ranking applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "name")]
pub enum WishScope {
    /// The whole city.
    City,
    /// A district.
    District(String),
    /// An estate.
    Estate(#[serde(serialize_with = "super::model::serialize_id")] FeatureId),
}

/// One item's place in a scope's ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankedWish {
    /// Rank, 1 for the most asked; equal counts share no rank (ties ordered by item key).
    pub rank: usize,
    /// Item.
    pub item: String,
    /// Residents asking.
    pub count: u64,
    /// Share of all residents' requests in the scope, 0–100.
    pub share_pct: f64,
    /// Estates asking for it.
    pub estates: usize,
}

/// A scope and its ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WishRanking {
    /// The scope.
    pub scope: WishScope,
    /// Items, most asked first.
    pub items: Vec<RankedWish>,
}

#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn rank(scope: WishScope, counts: BTreeMap<&str, (u64, std::collections::BTreeSet<&FeatureId>)>) -> WishRanking {
    let total: u64 = counts.values().map(|(c, _)| c).sum();
    let mut items: Vec<(&str, u64, usize)> = counts.into_iter().map(|(item, (c, e))| (item, c, e.len())).collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, (item, count, estates))| RankedWish {
            rank: i + 1,
            item: item.to_owned(),
            count,
            share_pct: if total > 0 { count as f64 * 100.0 / total as f64 } else { 0.0 },
            estates,
        })
        .collect();
    WishRanking { scope, items }
}

/// Rankings: the city first, then districts and estates in order.
///
/// # Complexity
/// O(w log w) for w wishes.
#[must_use]
pub fn rank_wishes(wishes: &[Wish]) -> Vec<WishRanking> {
    type Counts<'a> = BTreeMap<&'a str, (u64, std::collections::BTreeSet<&'a FeatureId>)>;
    fn add<'a>(c: &mut Counts<'a>, w: &'a Wish) {
        let e = c.entry(w.item.as_str()).or_default();
        e.0 += u64::from(w.count);
        e.1.insert(&w.estate_id);
    }
    let mut city: Counts<'_> = BTreeMap::new();
    let mut districts: BTreeMap<&str, Counts<'_>> = BTreeMap::new();
    let mut estates: BTreeMap<&FeatureId, Counts<'_>> = BTreeMap::new();
    for w in wishes {
        add(&mut city, w);
        if let Some(d) = &w.district {
            add(districts.entry(d.as_str()).or_default(), w);
        }
        add(estates.entry(&w.estate_id).or_default(), w);
    }
    let mut out = vec![rank(WishScope::City, city)];
    out.extend(districts.into_iter().map(|(d, c)| rank(WishScope::District(d.to_owned()), c)));
    out.extend(estates.into_iter().map(|(e, c)| rank(WishScope::Estate(e.clone()), c)));
    out
}

/// Demand weights from the residents' wishes for `item`: per estate (in `estates` order), the
/// residents asking for it (0 where nobody asked); what `gapmap plan --weight wishes:ITEM`
/// places facilities by.
///
/// # Complexity
/// O(w + e) for w wishes and e estates (hashing the ids).
///
/// # Examples
/// ```
/// use gapmap::model::FeatureId;
/// use gapmap::programme::{wish_weights, Wish};
/// let wish = |e: i64, item: &str, count| Wish { estate_id: FeatureId::Int(e), district: None, item: item.into(), count };
/// let wishes = [wish(1, "day_care", 30), wish(1, "parking", 4), wish(2, "day_care", 12)];
/// let estates = [FeatureId::Int(2), FeatureId::Int(3), FeatureId::Int(1)];
/// assert_eq!(wish_weights(&estates, &wishes, "day_care"), [12.0, 0.0, 30.0]);
/// ```
#[must_use]
pub fn wish_weights(estates: &[FeatureId], wishes: &[Wish], item: &str) -> Vec<f64> {
    let mut asking: std::collections::HashMap<&FeatureId, u64> = std::collections::HashMap::new();
    for w in wishes.iter().filter(|w| w.item == item) {
        *asking.entry(&w.estate_id).or_default() += u64::from(w.count);
    }
    #[expect(clippy::cast_precision_loss, reason = "resident counts are far below 2^52")]
    estates.iter().map(|id| asking.get(id).map_or(0.0, |&n| n as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wish(estate: i64, item: &str, count: u32) -> Wish {
        Wish { estate_id: estate.into(), district: None, item: item.into(), count }
    }

    #[test]
    fn weights_sum_each_estates_wishes_for_the_item_only() {
        let wishes = [wish(1, "day_care", 30), wish(2, "parking", 9), wish(1, "parking", 4), wish(3, "day_care", 12)];
        let estates: Vec<FeatureId> = [3_i64, 1, 2, 4].into_iter().map(FeatureId::from).collect();
        assert_eq!(wish_weights(&estates, &wishes, "day_care"), [12.0, 30.0, 0.0, 0.0]);
        assert_eq!(wish_weights(&estates, &wishes, "parking"), [0.0, 4.0, 9.0, 0.0]);
        assert_eq!(wish_weights(&estates, &wishes, "nursery"), [0.0; 4]);
    }
}
