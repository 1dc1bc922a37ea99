//! The satisfaction gate: a project below the gate (80 % by default) is reworked before
//! acceptance (DOMAIN: "below 80 % satisfaction the work is redone before acceptance").
//!
//! A project's latest survey decides (a rework is surveyed again). Surveys name a project, or an
//! estate: then they count for the estate's latest project batched in or before the survey's
//! year.

use serde::Serialize;

use super::model::{Date, Project, Status, Survey, SurveyTarget};

/// The default gate.
///
/// # Units
/// Percent of respondents satisfied.
pub const DEFAULT_GATE_PCT: f64 = 80.0;

/// Where a project stands at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// The latest survey meets the gate.
    Passed,
    /// The latest survey is below the gate: rework.
    Failed,
    /// No survey yet.
    NoSurvey,
}

/// A project's gate result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// Passed, failed or no survey.
    pub gate: Gate,
    /// Satisfied share of the deciding survey, 0–100.
    pub satisfied_pct: Option<f64>,
    /// Date of the deciding survey.
    pub survey_date: Option<Date>,
    /// Respondents of the deciding survey.
    pub respondents: Option<u32>,
    /// Surveys of the project.
    pub surveys: usize,
    /// "Accepted" without a passed survey.
    pub contradiction: bool,
}

/// The project a survey counts for: by project id, or the estate's latest project batched in or
/// before the survey's year. `None` when it names none.
///
/// # Complexity
/// O(projects).
#[must_use]
pub fn survey_project(survey: &Survey, projects: &[Project]) -> Option<usize> {
    match &survey.target {
        SurveyTarget::Project(id) => projects.iter().position(|p| &p.id == id),
        SurveyTarget::Estate(estate) => projects
            .iter()
            .enumerate()
            .filter(|(_, p)| &p.estate_id == estate && p.batch_year <= survey.date.year)
            .max_by_key(|(i, p)| (p.batch_year, *i))
            .map(|(i, _)| i),
    }
}

/// The gate for every project (same order as `projects`).
///
/// # Complexity
/// O(surveys × projects).
#[must_use]
pub fn apply_gate(projects: &[Project], surveys: &[Survey], gate_pct: f64) -> Vec<GateResult> {
    let mut latest: Vec<Option<&Survey>> = vec![None; projects.len()];
    let mut counts = vec![0usize; projects.len()];
    for survey in surveys {
        if let Some(i) = survey_project(survey, projects) {
            counts[i] += 1;
            // A later row of the same date wins: it was entered after.
            if latest[i].is_none_or(|s| s.date <= survey.date) {
                latest[i] = Some(survey);
            }
        }
    }
    projects
        .iter()
        .zip(latest)
        .zip(counts)
        .map(|((p, s), surveys)| {
            let gate = match s {
                None => Gate::NoSurvey,
                Some(s) if s.meets(gate_pct) => Gate::Passed,
                Some(_) => Gate::Failed,
            };
            GateResult {
                gate,
                satisfied_pct: s.map(Survey::satisfied_pct),
                survey_date: s.map(|s| s.date),
                respondents: s.map(|s| s.respondents),
                surveys,
                contradiction: p.status == Status::Accepted && gate != Gate::Passed,
            }
        })
        .collect()
}
