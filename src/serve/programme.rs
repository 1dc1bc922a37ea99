//! The renovation programme as served: the `projects` and `wishes` collections and the
//! programme figures the `districts` collection carries.
//!
//! Built once per load from the [`ProgrammeInputs`] the reports use (one copy, shared through an
//! `Arc`): per project its funding split by rule ([`programme::split_funding`]) and its
//! satisfaction gate ([`programme::apply_gate`], over every project, as `gapmap programme` does
//! for the latest year), with its estate's CRS84 geometry; per estate with wishes its wishes
//! ranked ([`programme::rank_wishes`]). The district figures of a year view are recomputed for the
//! projects batched up to that year (the gate over those projects, as the report of that year
//! states it): a few hundred projects cost microseconds, so nothing is cached.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use geo::Geometry;
use serde_json::json;

use super::error::ServeError;
use super::layer::{Layer, PendingFeature};
use crate::model::{AttrValue, Attributes, Estate, FeatureId};
use crate::programme::{self, Gate, GateResult, FundingSplit, Project, WishScope};
use crate::report::ProgrammeInputs;

/// Wishes listed per estate in `projects` and `wishes` (`top_wishes`, `top1_item` …).
pub const TOP_WISHES: usize = 3;

/// The served programme: its inputs (shared with the reports) and its collections.
#[derive(Debug)]
pub struct ServedProgramme {
    /// Projects, surveys, wishes, funding rules and the gate, as loaded.
    pub inputs: Arc<ProgrammeInputs>,
    /// `projects` collection: one feature per project, its estate's geometry.
    pub projects: Layer,
    /// `wishes` collection: one feature per estate with wishes.
    pub wishes: Layer,
}

/// A project's gate as a property value.
fn gate_key(g: Gate) -> &'static str {
    match g {
        Gate::Passed => "passed",
        Gate::Failed => "failed",
        Gate::NoSurvey => "no_survey",
    }
}

fn int(n: impl TryInto<i64>) -> AttrValue {
    AttrValue::Int(n.try_into().unwrap_or(i64::MAX))
}

fn text(s: Option<&String>) -> AttrValue {
    s.map_or(AttrValue::Null, |s| AttrValue::Text(s.clone()))
}

fn id_value(id: &FeatureId) -> AttrValue {
    match id {
        FeatureId::Int(n) => AttrValue::Int(*n),
        FeatureId::Text(s) => AttrValue::Text(s.clone()),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl ServedProgramme {
    /// Builds the collections: `geometries[i]` is the CRS84 geometry of `estates[i]`.
    ///
    /// # Errors
    /// [`ServeError::Internal`] when a layer cannot be built (a project of an estate not loaded
    /// is left out of `projects` by the loader already).
    pub fn build(inputs: Arc<ProgrammeInputs>, estates: &[Estate], geometries: &[Arc<Geometry<f64>>]) -> Result<Self, ServeError> {
        let data = &inputs.data;
        let position: HashMap<&FeatureId, usize> = estates.iter().enumerate().map(|(i, e)| (&e.id, i)).collect();
        let funding: Vec<FundingSplit> = data.projects.iter().map(|p| programme::split_funding(p, &data.rules)).collect();
        let gates = programme::apply_gate(&data.projects, &data.surveys, inputs.gate_pct);
        // Every source any project records or the rules assign, so that each project carries
        // the same columns (0 where a source gives nothing).
        let rule_sources: BTreeSet<&str> = funding.iter().flat_map(|f| f.by_source_yuan.keys().map(String::as_str)).collect();
        let recorded_sources: BTreeSet<&str> = data.projects.iter().flat_map(|p| p.investment_yuan.keys().map(String::as_str)).collect();
        let rankings = programme::rank_wishes(&data.wishes);
        let by_estate: HashMap<&FeatureId, &programme::WishRanking> = rankings
            .iter()
            .filter_map(|r| match &r.scope {
                WishScope::Estate(id) => Some((id, r)),
                _ => None,
            })
            .collect();
        let top_json = |id: &FeatureId| {
            let items: Vec<_> = by_estate.get(id).map_or(&[][..], |r| &r.items[..]).iter().take(TOP_WISHES).map(|w| json!({ "item": w.item, "count": w.count })).collect();
            AttrValue::Json(serde_json::Value::Array(items).to_string())
        };

        let mut pending = Vec::with_capacity(data.projects.len());
        for ((p, f), g) in data.projects.iter().zip(&funding).zip(&gates) {
            let Some(&i) = position.get(&p.estate_id) else { continue };
            let mut props = project_properties(p, f, g, &rule_sources, &recorded_sources);
            props.push(("top_wishes".into(), top_json(&p.estate_id)));
            pending.push(PendingFeature { id: FeatureId::Text(p.id.clone()), geometry: Arc::clone(&geometries[i]), properties: props });
        }
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        let projects = Layer::from_features(pending, "MultiPolygon").map_err(|e| ServeError::Internal(format!("projects: {e}")))?;

        let mut pending = Vec::with_capacity(by_estate.len());
        for (id, ranking) in &by_estate {
            let Some(&i) = position.get(id) else { continue };
            let estate = &estates[i];
            let total: u64 = ranking.items.iter().map(|w| w.count).sum();
            let mut props: Attributes = vec![
                ("estate_id".into(), id_value(id)),
                ("estate_name".into(), text(estate.name.as_ref())),
                ("district".into(), text(estate.district.as_ref())),
                ("households".into(), estate.households.map_or(AttrValue::Null, int)),
                ("wishes_total".into(), int(total)),
                ("wish_items".into(), int(ranking.items.len())),
            ];
            for n in 0..TOP_WISHES {
                let w = ranking.items.get(n);
                props.push((format!("top{}_item", n + 1), w.map_or(AttrValue::Null, |w| AttrValue::Text(w.item.clone()))));
                props.push((format!("top{}_count", n + 1), w.map_or(AttrValue::Null, |w| int(w.count))));
            }
            props.push(("top_wishes".into(), top_json(id)));
            pending.push(PendingFeature { id: (*id).clone(), geometry: Arc::clone(&geometries[i]), properties: props });
        }
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        let wishes = Layer::from_features(pending, "MultiPolygon").map_err(|e| ServeError::Internal(format!("wishes: {e}")))?;
        Ok(Self { inputs, projects, wishes })
    }

    /// Per district, the programme figures of the projects batched up to `year` (all with
    /// `None`), as properties named `programme_*` for the `districts` collection.
    #[must_use]
    pub fn district_properties(&self, year: Option<i32>) -> BTreeMap<String, Attributes> {
        let data = &self.inputs.data;
        let batched: Vec<Project> = data.projects.iter().filter(|p| year.is_none_or(|y| p.batch_year <= y)).cloned().collect();
        let funding: Vec<FundingSplit> = batched.iter().map(|p| programme::split_funding(p, &data.rules)).collect();
        let gates = programme::apply_gate(&batched, &data.surveys, self.inputs.gate_pct);
        let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, p) in batched.iter().enumerate() {
            if let Some(d) = &p.district {
                members.entry(d.as_str()).or_default().push(i);
            }
        }
        members
            .into_iter()
            .map(|(d, m)| {
                let t = programme::totals(&m, &batched, &funding, &gates);
                let props: Attributes = vec![
                    ("programme_projects".into(), int(t.projects)),
                    ("programme_estates".into(), int(t.estates)),
                    ("programme_households".into(), int(t.households)),
                    ("programme_floor_area_m2".into(), AttrValue::Float(round2(t.floor_area_m2))),
                    ("programme_investment_yuan".into(), AttrValue::Float(round2(t.investment_total_yuan))),
                    ("programme_complete_pct".into(), AttrValue::Float(round2(t.complete_pct))),
                    ("programme_accepted".into(), int(t.accepted())),
                    ("programme_gate_passed".into(), int(t.gate_passed)),
                    ("programme_gate_failed".into(), int(t.gate_failed)),
                    ("programme_no_survey".into(), int(t.no_survey)),
                ];
                (d.to_owned(), props)
            })
            .collect()
    }

    /// The `programme_*` property names [`Self::district_properties`] gives, for districts
    /// without projects (zeros).
    #[must_use]
    pub fn empty_district_properties() -> Attributes {
        [
            ("programme_projects", AttrValue::Int(0)),
            ("programme_estates", AttrValue::Int(0)),
            ("programme_households", AttrValue::Int(0)),
            ("programme_floor_area_m2", AttrValue::Float(0.0)),
            ("programme_investment_yuan", AttrValue::Float(0.0)),
            ("programme_complete_pct", AttrValue::Float(0.0)),
            ("programme_accepted", AttrValue::Int(0)),
            ("programme_gate_passed", AttrValue::Int(0)),
            ("programme_gate_failed", AttrValue::Int(0)),
            ("programme_no_survey", AttrValue::Int(0)),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
    }

    /// Heap bytes of the collections (the inputs are the reports').
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.projects.heap_bytes() + self.wishes.heap_bytes()
    }
}

/// A project's properties: its record, its funding split by rule, its gate.
fn project_properties(p: &Project, f: &FundingSplit, g: &GateResult, rule_sources: &BTreeSet<&str>, recorded_sources: &BTreeSet<&str>) -> Attributes {
    let items: Vec<String> = p.items.iter().map(|i| i.units.map_or_else(|| i.key.clone(), |u| format!("{}:{u}", i.key))).collect();
    let mut props: Attributes = vec![
        ("project_id".into(), AttrValue::Text(p.id.clone())),
        ("estate_id".into(), id_value(&p.estate_id)),
        ("estate_name".into(), text(p.estate_name.as_ref())),
        ("district".into(), text(p.district.as_ref())),
        ("street".into(), text(p.street.as_ref())),
        ("batch_year".into(), int(p.batch_year)),
        ("buildings".into(), int(p.buildings)),
        ("households".into(), int(p.households)),
        ("floor_area_m2".into(), AttrValue::Float(p.floor_area_m2)),
        ("category".into(), AttrValue::Text(p.category.key().to_owned())),
        ("items".into(), AttrValue::Text(items.join(";"))),
        ("status".into(), AttrValue::Text(p.status.key().to_owned())),
        ("complete_pct".into(), AttrValue::Float(p.complete_pct)),
        ("investment_total_yuan".into(), AttrValue::Float(p.total_investment_yuan())),
    ];
    for s in recorded_sources {
        props.push((format!("investment_{s}_yuan"), p.investment_yuan.get(*s).map_or(AttrValue::Null, |y| AttrValue::Float(*y))));
    }
    for s in rule_sources {
        props.push((format!("funding_{s}_yuan"), AttrValue::Float(round2(f.by_source_yuan.get(*s).copied().unwrap_or(0.0)))));
    }
    props.push(("funding_subsidy_yuan".into(), AttrValue::Float(round2(f.subsidy_yuan))));
    props.push(("funding_unassigned_yuan".into(), AttrValue::Float(round2(f.unassigned_yuan))));
    let split: serde_json::Map<String, serde_json::Value> = f.by_source_yuan.iter().map(|(s, y)| (s.clone(), json!(round2(*y)))).collect();
    props.push(("funding".into(), AttrValue::Json(serde_json::Value::Object(split).to_string())));
    props.push(("gate".into(), AttrValue::Text(gate_key(g.gate).to_owned())));
    props.push(("satisfied_pct".into(), g.satisfied_pct.map_or(AttrValue::Null, |x| AttrValue::Float(round2(x)))));
    props.push(("survey_date".into(), g.survey_date.map_or(AttrValue::Null, |d| AttrValue::Text(d.to_string()))));
    props.push(("respondents".into(), g.respondents.map_or(AttrValue::Null, int)));
    props.push(("surveys".into(), int(g.surveys)));
    props.push(("contradiction".into(), AttrValue::Bool(g.contradiction)));
    props
}
