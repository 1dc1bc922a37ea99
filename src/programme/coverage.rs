//! The link between the programme and coverage: which facility gaps of renovated estates the
//! renovation closed, and which are still open.
//!
//! A project whose items name a catalogue kind (`day_care`, `parking`, `nursery`…) promises a
//! facility of that kind. It closed a gap when a facility of the kind opened in or after the
//! project's batch year (and by the report year) within the kind's radius of the estate, and no
//! facility of the kind was within the radius before the batch year. The facilities within the
//! radius come from the metric's per-kind pairs (estate, facility, distance) for the report year,
//! so the link uses the same distances (straight or walking) as the coverage table; coverage at
//! the report year's end comes from the coverage table. Plain passes over the pairs and the
//! projects: nothing here measures a distance.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{serialize_id, Project};
use crate::analysis::CoverageTable;
use crate::model::{Catalogue, Facility, FeatureId, KindId};

/// What became of a kind a project lists as an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    /// A facility of the kind opened in or after the batch year within the radius, where none was
    /// within it before: the gap is closed.
    Closed,
    /// A facility of the kind opened in or after the batch year within the radius, but one was
    /// within it already: no gap to close.
    AlreadyCovered,
    /// No facility of the kind opened within the radius since the batch year.
    NotAdded,
}

/// One renovated estate and one kind: an item of its project, or a gap still open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapLink {
    /// Project id (the estate's latest project up to the report year for a gap no item names).
    pub project: String,
    /// The estate.
    #[serde(serialize_with = "serialize_id")]
    pub estate_id: FeatureId,
    /// The estate's district.
    pub district: Option<String>,
    /// The project's batch year.
    pub batch_year: i32,
    /// Kind key.
    pub kind: String,
    /// What became of the item; `None` when the project does not list the kind.
    pub item: Option<ItemOutcome>,
    /// Whether a facility of the kind is within the radius at the report year's end (coverage
    /// table); `false` is a gap still open.
    pub covered: bool,
    /// The nearest facility of the kind opened in or after the batch year within the radius.
    #[serde(serialize_with = "serialize_opt_id")]
    pub facility: Option<FeatureId>,
    /// Its opening year.
    pub opened_year: Option<i32>,
    /// Distance to that facility, or for a gap still open to the nearest facility of the kind.
    ///
    /// # Units
    /// Metres.
    pub distance_m: Option<f64>,
}

#[expect(clippy::ref_option, reason = "serde's serialize_with passes a reference")]
fn serialize_opt_id<S: serde::Serializer>(id: &Option<FeatureId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => serialize_id(id, s),
        None => s.serialize_none(),
    }
}

/// Per kind: projects listing it and what became of them, and renovated estates still without it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindGaps {
    /// Kind key.
    pub kind: String,
    /// Projects listing the kind as an item.
    pub items: u64,
    /// Of those, gaps closed.
    pub closed: u64,
    /// Of those, a facility added where one was within reach already.
    pub already_covered: u64,
    /// Of those, no facility of the kind added within the radius.
    pub not_added: u64,
    /// Renovated estates (each once) with no facility of the kind within the radius at the report
    /// year's end: gaps still open.
    pub still_open: u64,
    /// Of those, estates whose project listed the kind.
    pub still_open_listed: u64,
}

/// The link to coverage for the report year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenovationGaps {
    /// Report year: projects batched up to it, facilities open by its end.
    pub year: i32,
    /// Renovated estates (each once).
    pub estates: u64,
    /// Per kind, in catalogue order (kinds with neither an item nor an open gap left out).
    pub by_kind: Vec<KindGaps>,
    /// Every item of a kind, and every gap still open, by project then kind in catalogue order.
    pub links: Vec<GapLink>,
}

/// A kind and its (estate, facility, distance in metres) pairs within the kind's radius.
pub type KindPairs = (KindId, Vec<(u32, u32, f64)>);

/// Everything [`link_gaps`] needs.
#[derive(Debug, Clone, Copy)]
pub struct GapInput<'a> {
    /// Projects (those after `year` are left out here).
    pub projects: &'a [Project],
    /// Estate id → position in the coverage table.
    pub estate_positions: &'a std::collections::HashMap<FeatureId, usize>,
    /// Facilities, positions as the pairs give them.
    pub facilities: &'a [Facility],
    /// The catalogue.
    pub catalogue: &'a Catalogue,
    /// Coverage at the end of `year`.
    pub coverage: &'a CoverageTable,
    /// Per kind named by a project item: every (estate, facility, distance in metres) with the
    /// facility open by `year` within the kind's radius, sorted by estate
    /// ([`CoverageMetric::facility_pairs`](crate::analysis::CoverageMetric::facility_pairs)).
    pub pairs: &'a [KindPairs],
    /// Report year.
    pub year: i32,
}

/// The kinds the projects name as items, in catalogue order: what [`GapInput::pairs`] needs.
#[must_use]
pub fn item_kinds(projects: &[Project], catalogue: &Catalogue) -> Vec<KindId> {
    catalogue
        .kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| projects.iter().any(|p| p.items.iter().any(|i| i.key == k.key)))
        .filter_map(|(i, _)| u16::try_from(i).ok().map(KindId))
        .collect()
}

/// Links the projects up to `year` with coverage: every item naming a kind, with what became of
/// it, and every gap still open on a renovated estate (its latest project up to `year`).
/// Projects whose estate is not in the coverage table are left out (the loader rejects them).
///
/// # Complexity
/// O(P · K + Σ pairs of the projects' estates · log) with P projects and K kinds.
#[must_use]
pub fn link_gaps(input: &GapInput<'_>) -> RenovationGaps {
    let year = input.year;
    let projects: Vec<(&Project, usize)> = input
        .projects
        .iter()
        .filter(|p| p.batch_year <= year)
        .filter_map(|p| input.estate_positions.get(&p.estate_id).map(|&e| (p, e)))
        .collect();
    // Each estate's latest project up to the year answers for its open gaps.
    let mut latest: BTreeMap<usize, &Project> = BTreeMap::new();
    for &(p, e) in &projects {
        let keep = latest.get(&e).is_none_or(|q| (p.batch_year, &p.id) > (q.batch_year, &q.id));
        if keep {
            latest.insert(e, p);
        }
    }
    let pairs_of = |kind: KindId, estate: usize| -> &[(u32, u32, f64)] {
        let Some((_, list)) = input.pairs.iter().find(|(k, _)| *k == kind) else { return &[] };
        let lo = list.partition_point(|&(e, _, _)| (e as usize) < estate);
        let hi = list.partition_point(|&(e, _, _)| (e as usize) <= estate);
        &list[lo..hi]
    };
    let mut links = Vec::new();
    let mut by_kind: Vec<KindGaps> = input.catalogue.kinds.iter().map(|k| KindGaps { kind: k.key.clone(), ..KindGaps::default() }).collect();
    for &(p, e) in &projects {
        let is_latest = latest.get(&e).is_some_and(|q| std::ptr::eq(*q, p));
        for (k, spec) in input.catalogue.kinds.iter().enumerate() {
            let Ok(kind) = u16::try_from(k).map(KindId) else { continue };
            let listed = p.items.iter().any(|i| i.key == spec.key);
            let cell = input.coverage.get(e, kind);
            if !listed && (cell.covered || !is_latest) {
                continue;
            }
            let mut added: Option<(u32, i32, f64)> = None;
            let mut before = false;
            if listed {
                for &(_, f, d) in pairs_of(kind, e) {
                    match input.facilities[f as usize].opened_year {
                        Some(o) if o >= p.batch_year && o <= year => {
                            if added.is_none_or(|(_, _, best)| d < best) {
                                added = Some((f, o, d));
                            }
                        }
                        _ => before = true,
                    }
                }
            }
            let item = listed.then_some(match (added, before) {
                (Some(_), false) => ItemOutcome::Closed,
                (Some(_), true) => ItemOutcome::AlreadyCovered,
                (None, _) => ItemOutcome::NotAdded,
            });
            let row = &mut by_kind[k];
            if let Some(outcome) = item {
                row.items += 1;
                match outcome {
                    ItemOutcome::Closed => row.closed += 1,
                    ItemOutcome::AlreadyCovered => row.already_covered += 1,
                    ItemOutcome::NotAdded => row.not_added += 1,
                }
            }
            if !cell.covered && is_latest {
                row.still_open += 1;
                if listed {
                    row.still_open_listed += 1;
                }
            }
            let nearest = cell.nearest.map(|n| n.distance_m);
            links.push(GapLink {
                project: p.id.clone(),
                estate_id: p.estate_id.clone(),
                district: p.district.clone(),
                batch_year: p.batch_year,
                kind: spec.key.clone(),
                item,
                covered: cell.covered,
                facility: added.map(|(f, _, _)| input.facilities[f as usize].id.clone()),
                opened_year: added.map(|(_, o, _)| o),
                distance_m: added.map(|(_, _, d)| d).or(nearest),
            });
        }
    }
    by_kind.retain(|r| r.items > 0 || r.still_open > 0);
    RenovationGaps { year, estates: latest.len() as u64, by_kind, links }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::analysis::{compute_coverage, CoverageMetric, DistanceFrom, RecordedHouseholds, StraightLine};
    use crate::model::{Estate, KindSpec, LivingCircle};
    use crate::programme::{Category, Item, Status};

    fn square(id: i64, x: f64) -> Estate {
        Estate {
            id: FeatureId::Int(id),
            name: None,
            district: None,
            households: Some(100),
            built_year: Some(1990),
            renovation_year: None,
            extra: vec![],
            geometry: geo::MultiPolygon(vec![geo::Rect::new(geo::coord! { x: x, y: 0.0 }, geo::coord! { x: x + 100.0, y: 100.0 }).to_polygon()]),
        }
    }

    fn facility(id: i64, x: f64, opened: Option<i32>) -> Facility {
        Facility { id: FeatureId::Int(id), kind: KindId(0), name: None, capacity: None, opened_year: opened, planned: false, district: None, location: geo::point!(x: x, y: 150.0), extra: vec![] }
    }

    fn project(id: &str, estate: i64, items: &str) -> Project {
        Project {
            id: id.into(),
            estate_id: FeatureId::Int(estate),
            estate_name: None,
            district: None,
            batch_year: 2020,
            street: None,
            buildings: 1,
            households: 100,
            floor_area_m2: 1000.0,
            category: Category::Upgrade,
            items: Item::parse_list(items).expect("items"),
            investment_yuan: BTreeMap::new(),
            investment_total_yuan: None,
            status: Status::Completed,
            complete_pct: 100.0,
        }
    }

    /// Estates 1 km apart, each with the kind 50 m north of it opening as the case needs.
    #[test]
    fn closed_already_covered_not_added_and_still_open() {
        let catalogue = Catalogue {
            name: "t".into(),
            residents_per_household: 2.5,
            kinds: vec![KindSpec {
                key: "day_care".into(),
                label_zh: "日间照料".into(),
                label_en: "Day care".into(),
                radius_m: 300.0,
                circle: LivingCircle::FiveMin,
                ratio: None,
                capacity_unit: None,
                clause: "t".into(),
                confirmed: false,
                osm: vec![],
                amap_types: vec![],
                keywords: vec![],
            }],
        };
        let estates = vec![square(1, 0.0), square(2, 1000.0), square(3, 2000.0), square(4, 3000.0)];
        // 1: opened 2021, nothing before → closed. 2: opened 2021, one from 2015 → already
        // covered. 3: the only one opens in 2023, after the report year → not added, still open.
        // 4: no item, nothing near → a gap still open that no item names.
        let facilities = vec![facility(10, 50.0, Some(2021)), facility(20, 1050.0, Some(2021)), facility(21, 1050.0, Some(2015)), facility(30, 2050.0, Some(2023))];
        let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
        let year = 2022;
        let coverage = compute_coverage(&estates, &metric, &catalogue, Some(year), &RecordedHouseholds, &()).expect("coverage");
        let projects = vec![project("a", 1, "day_care;pipes"), project("b", 2, "day_care"), project("c", 3, "day_care:1"), project("d", 4, "roof")];
        let pairs = vec![(KindId(0), metric.facility_pairs(&estates, &catalogue, KindId(0), Some(year)).expect("pairs"))];
        let positions: HashMap<FeatureId, usize> = estates.iter().enumerate().map(|(i, e)| (e.id.clone(), i)).collect();
        let gaps = link_gaps(&GapInput { projects: &projects, estate_positions: &positions, facilities: &facilities, catalogue: &catalogue, coverage: &coverage, pairs: &pairs, year });
        let outcomes: Vec<(&str, Option<ItemOutcome>, bool)> = gaps.links.iter().map(|l| (l.project.as_str(), l.item, l.covered)).collect();
        assert_eq!(
            outcomes,
            [("a", Some(ItemOutcome::Closed), true), ("b", Some(ItemOutcome::AlreadyCovered), true), ("c", Some(ItemOutcome::NotAdded), false), ("d", None, false)]
        );
        assert_eq!(gaps.links[0].facility, Some(FeatureId::Int(10)));
        assert_eq!((gaps.links[0].opened_year, gaps.links[0].distance_m), (Some(2021), Some(50.0)));
        assert_eq!(gaps.estates, 4);
        assert_eq!(gaps.by_kind, [KindGaps { kind: "day_care".into(), items: 3, closed: 1, already_covered: 1, not_added: 1, still_open: 2, still_open_listed: 1 }]);
        // A year earlier, the 2021 openings are not there yet: nothing added.
        let coverage = compute_coverage(&estates, &metric, &catalogue, Some(2020), &RecordedHouseholds, &()).expect("coverage");
        let pairs = vec![(KindId(0), metric.facility_pairs(&estates, &catalogue, KindId(0), Some(2020)).expect("pairs"))];
        let gaps = link_gaps(&GapInput { projects: &projects, estate_positions: &positions, facilities: &facilities, catalogue: &catalogue, coverage: &coverage, pairs: &pairs, year: 2020 });
        assert_eq!((gaps.by_kind[0].closed, gaps.by_kind[0].already_covered, gaps.by_kind[0].not_added), (0, 0, 3));
    }
}
