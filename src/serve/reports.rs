//! The annual reports of a dataset: its report settings and targets (read with the data, so a
//! reload picks up a changed targets file and a bad one fails the reload) and the reports
//! computed from it, cached per `(year, from, lang)` and built one at a time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::dataset::Dataset;
use super::error::ServeError;
use crate::analysis::{Targets, TrendParams};
use crate::config::ReportConfig;
use crate::model::Catalogue;
use crate::report::{self, Report, ReportError, ReportInput};

/// Reports cached per dataset; the oldest is dropped beyond this.
const CACHED_REPORTS: usize = 8;

/// The report settings and targets a dataset was loaded with, and its computed reports.
#[derive(Debug, Default)]
pub struct Reports {
    settings: ReportConfig,
    targets: Targets,
    /// The targets file, as configured.
    pub targets_source: Option<String>,
    cache: Mutex<ReportCache>,
    /// Held while a report is computed: reports queue one behind another instead of each
    /// taking every core (four concurrent 100-year reports all timed out: issue 14).
    building: Mutex<()>,
    /// The renovation programme (`[programme]`), read with the data.
    programme: Option<Arc<report::ProgrammeInputs>>,
}

#[derive(Debug, Default)]
struct ReportCache {
    reports: BTreeMap<(i32, i32, &'static str), Arc<Report>>,
    order: Vec<(i32, i32, &'static str)>,
}

impl Reports {
    /// Reads the targets file `settings` names (checked against `catalogue`).
    ///
    /// # Errors
    /// The targets file's problem, naming the file, line and key.
    pub fn load(settings: &ReportConfig, catalogue: &Catalogue) -> Result<Self, ReportError> {
        let targets = match &settings.targets {
            Some(path) => report::targets::load_targets(path, catalogue)?,
            None => Targets::default(),
        };
        Ok(Self {
            settings: settings.clone(),
            targets,
            targets_source: settings.targets.as_ref().map(|p| p.display().to_string()),
            cache: Mutex::new(ReportCache::default()),
            building: Mutex::new(()),
            programme: None,
        })
    }

    /// Keeps the programme the data was loaded with (shared with the served `projects` and
    /// `wishes`); its sections join every report.
    #[must_use]
    pub fn with_programme(mut self, programme: Option<Arc<report::ProgrammeInputs>>) -> Self {
        self.programme = programme;
        self
    }

    /// The first year of the period reported for `year` when the request names none.
    #[must_use]
    pub fn default_from(&self, year: i32) -> i32 {
        self.settings.from_for(year)
    }

    /// The language of reports when the request names none (`report.lang`, else English).
    #[must_use]
    pub fn default_lang(&self) -> report::Lang {
        self.settings.lang.unwrap_or(report::Lang::En)
    }

    /// The report for `year` from `from` in `lang` (`None`: [`Self::default_lang`]), computed on
    /// first use. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] for an invalid period, [`ServeError::Internal`] otherwise.
    pub fn get(&self, dataset: &Dataset, year: i32, from: i32, lang: Option<report::Lang>) -> Result<Arc<Report>, ServeError> {
        let lang = lang.unwrap_or_else(|| self.default_lang());
        let key = (year, from, lang.key());
        let poisoned = || ServeError::Internal("report cache poisoned".into());
        if let Some(r) = self.cache.lock().map_err(|_| poisoned())?.reports.get(&key) {
            return Ok(Arc::clone(r));
        }
        let _building = self.building.lock().map_err(|_| poisoned())?;
        // Computed by the request this one queued behind?
        if let Some(r) = self.cache.lock().map_err(|_| poisoned())?.reports.get(&key) {
            return Ok(Arc::clone(r));
        }
        let straight = crate::analysis::StraightLine::new(&dataset.facilities, dataset.params.distance_from);
        // The dataset's metric: with a walking network, every year of the period by walking.
        let metric: &dyn crate::analysis::CoverageMetric = match &dataset.network {
            Some(network) => &network.metric,
            None => &straight,
        };
        // The dataset's timeline answers every year; a report reads it instead of building one.
        let timeline = dataset.timeline().ok();
        let input = ReportInput {
            estates: &dataset.estates,
            facilities: &dataset.facilities,
            timeline: timeline.as_deref(),
            catalogue: &dataset.catalogue,
            working_crs: &dataset.working_crs,
            metric,
            params: TrendParams { renovation_built_before: self.settings.renovation_built_before, ..TrendParams::new(from, year) },
            targets: &self.targets,
            targets_source: self.targets_source.as_deref(),
            title: self.settings.title.as_deref(),
        };
        let to_serve = |e: ReportError| match e {
            ReportError::Trend(e) => ServeError::BadParameter { param: "from", message: e.to_string() },
            e => ServeError::Internal(e.to_string()),
        };
        let mut built = report::build_report(&input).map_err(to_serve)?;
        built.set_lang(lang, self.settings.title.as_deref());
        if let Some(programme) = &self.programme {
            let section = programme.section_input(&dataset.estates, &dataset.facilities, metric, &dataset.catalogue, &self.targets.renovation);
            report::add_programme(&mut built, &section).map_err(to_serve)?;
        }
        let built = Arc::new(built);
        let mut cache = self.cache.lock().map_err(|_| poisoned())?;
        if !cache.reports.contains_key(&key) {
            if cache.order.len() >= CACHED_REPORTS {
                let oldest = cache.order.remove(0);
                cache.reports.remove(&oldest);
            }
            cache.order.push(key);
        }
        Ok(Arc::clone(cache.reports.entry(key).or_insert(built)))
    }

    /// Number of reports cached.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.reports.len())
    }
}
