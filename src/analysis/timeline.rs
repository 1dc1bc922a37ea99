//! Coverage through the years from one computation: the *timeline*.
//!
//! Facilities only open (a facility counts from its `opened_year` on, or always when it has none),
//! so an estate's coverage by a kind changes only in years when some facility opens, and most
//! cells change a few times at most. The timeline measures coverage once per *event year* — the
//! baseline (the first year asked for, or the year before the first opening) and each later year
//! in which some facility opens — and
//! keeps, per estate × kind, only the steps where the cell changed. Coverage as of any year is
//! then a lookup: the last step at or before it. [`CoverageTimeline::table_at`] equals
//! [`compute_coverage`](super::compute_coverage) with that year exactly (it *is* that
//! computation, for the event year at or before it), which the property tests check for every
//! year; the service's year slider, tiles and reports read it instead of analysing each year.
//!
//! # Memory
//! 24 bytes per step, plus per event year about 1.5 bits per estate × kind (which cells changed,
//! with ranks). Steps are kept year by year, in cell order within a year, exactly as measured:
//! the build copies nothing, so its peak is the steps plus two years' cells. A year read from it
//! ([`CoverageTimeline::table_view`]) holds 4 bytes per estate × kind: the position of each
//! cell's state.

use std::sync::Arc;

use rayon::prelude::*;

use super::coverage::{table_from_cells, PackedCell};
use super::{AnalysisError, AnalysisParams, CoverageMetric, CoverageTable, Demand, KindCoverage, Progress};
use crate::model::{Catalogue, Estate, Facility};

/// The state of a cell from the event year it is kept under on (until its next step).
type Step = PackedCell;

/// Step positions per entry of [`CoverageTimeline`]'s page table.
const STEP_PAGE: usize = 1024;

/// Per page of [`STEP_PAGE`] positions, the year whose steps hold the page's first position
/// (`starts[y] <= position < starts[y + 1]`).
fn page_years(starts: &[u32]) -> Vec<u32> {
    let total = starts.last().copied().unwrap_or(0) as usize;
    let mut y = 0usize;
    (0..total.div_ceil(STEP_PAGE))
        .map(|page| {
            let first = page * STEP_PAGE;
            while starts[y + 1] as usize <= first {
                y += 1;
            }
            u32::try_from(y).unwrap_or(u32::MAX)
        })
        .collect()
}

/// Which years a timeline answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YearSpan {
    /// The first year answered; `None`: every year back (the baseline holds for all years before
    /// the first opening).
    pub from: Option<i32>,
    /// The last year answered; `None`: every year on, and the present (`year = None`).
    pub to: Option<i32>,
}

/// Coverage of every estate by every kind, for every year of a [`YearSpan`].
#[derive(Debug, Clone)]
pub struct CoverageTimeline {
    kinds: usize,
    estates: usize,
    /// Event years measured, ascending; the first is the baseline.
    years: Vec<i32>,
    span: YearSpan,
    /// Per event year, the cells that changed in it (in the baseline: every cell).
    changes: Vec<YearChanges>,
    /// Steps are numbered year by year: year `y`'s are `starts[y]..starts[y + 1]`.
    starts: Vec<u32>,
    /// Per page of [`STEP_PAGE`] step positions, the year its first position is in: a
    /// position's year is found from there in a step or two, not by a search over the years.
    page_years: Vec<u32>,
    template: AnalysisParams,
}

/// The cells that changed in one event year and their new states.
#[derive(Debug, Clone)]
struct YearChanges {
    /// Bit `c % 64` of word `c / 64`: cell `c` changed.
    bits: Vec<u64>,
    /// Per word, the changed cells before it.
    ranks: Vec<u32>,
    /// The new states, in cell order.
    steps: Vec<Step>,
}

impl YearChanges {
    /// The changes of `cells` against `previous` (all of them without one).
    fn between(cells: &[Step], previous: Option<&[Step]>) -> Self {
        let bits: Vec<u64> = cells
            .par_chunks(64)
            .enumerate()
            .map(|(w, chunk)| {
                chunk.iter().enumerate().fold(0u64, |word, (i, cell)| {
                    let changed = previous.is_none_or(|p| p[w * 64 + i] != *cell);
                    word | (u64::from(changed) << i)
                })
            })
            .collect();
        let mut ranks = Vec::with_capacity(bits.len());
        let mut before = 0u32;
        for word in &bits {
            ranks.push(before);
            before += word.count_ones();
        }
        let steps = cells.par_iter().enumerate().filter(|(c, _)| bits[c / 64] >> (c % 64) & 1 == 1).map(|(_, cell)| *cell).collect();
        Self { bits, ranks, steps }
    }

    fn heap_bytes(&self) -> usize {
        self.bits.capacity() * 8 + self.ranks.capacity() * 4 + self.steps.capacity() * std::mem::size_of::<Step>()
    }
}

impl CoverageTimeline {
    /// Measures the coverage of `estates` by `metric` in each event year of `span`: its first
    /// year (or, open-ended, the year before the first opening) and every later year in it in
    /// which one of `facilities` opens. `facilities` must be those `metric` was prepared with.
    ///
    /// # Errors
    /// Those of [`CoverageMetric::measure`], [`AnalysisError::Catalogue`] for an invalid
    /// catalogue, and [`AnalysisError::TooManySteps`] beyond 2^32 − 1 steps.
    ///
    /// # Complexity
    /// One measurement per event year (D of them): O(D · measure) time, O(E · K · s) memory for
    /// s steps per cell.
    pub fn build(
        estates: &[Estate],
        facilities: &[Facility],
        metric: &dyn CoverageMetric,
        catalogue: &Catalogue,
        span: YearSpan,
        progress: &dyn Progress,
    ) -> Result<Self, AnalysisError> {
        catalogue.validate()?;
        let years = event_years(facilities, span);
        let kinds = catalogue.len();
        let mut changes: Vec<YearChanges> = Vec::with_capacity(years.len());
        let mut starts = vec![0u32];
        let mut previous: Option<Vec<Step>> = None;
        let share = ShareOf { progress, parts: years.len(), done: std::sync::atomic::AtomicU64::new(0) };
        for &year in &years {
            // Packed at once: two years' cells at 24 bytes each, not 72, at the build's peak.
            let cells: Vec<Step> = metric.measure(estates, catalogue, Some(year), &share)?.par_iter().map(Step::new).collect();
            let year_changes = YearChanges::between(&cells, previous.as_deref());
            let total = starts.last().copied().unwrap_or(0) as usize + year_changes.steps.len();
            starts.push(u32::try_from(total).ok().filter(|&t| t < u32::MAX).ok_or(AnalysisError::TooManySteps { steps: total })?);
            changes.push(year_changes);
            previous = Some(cells);
        }
        Ok(Self {
            kinds,
            estates: estates.len(),
            years,
            span,
            changes,
            page_years: page_years(&starts),
            starts,
            template: AnalysisParams { distance_from: metric.distance_from(), year: None, metric: metric.kind() },
        })
    }

    /// Whether `year` (`None`: the present, every facility) is answered.
    #[must_use]
    pub fn answers(&self, year: Option<i32>) -> bool {
        match year {
            None => self.span.to.is_none(),
            Some(y) => self.span.from.is_none_or(|from| y >= from) && self.span.to.is_none_or(|to| y <= to),
        }
    }

    /// The event years measured (the first is the baseline).
    #[must_use]
    pub fn event_years(&self) -> &[i32] {
        &self.years
    }

    /// Steps kept, over all cells.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.starts.last().copied().unwrap_or(0) as usize
    }

    /// Bytes held (steps and offsets).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.changes.iter().map(YearChanges::heap_bytes).sum::<usize>() + (self.starts.capacity() + self.page_years.capacity() + self.years.capacity()) * 4
    }

    /// Coverage as of the end of `year` (`None`: every facility), with required capacity and
    /// shortfall under `demand`; `None` when the year is outside the span. Equals
    /// [`compute_coverage`](super::compute_coverage) for that year.
    ///
    /// `estates` and `catalogue` must be those the timeline was built for.
    ///
    /// # Errors
    /// [`AnalysisError::TimelineMismatch`] when `catalogue` or `estates` differ in size from the
    /// build's.
    ///
    /// # Complexity
    /// O(E · K · log s) for s steps per cell; parallel over estates.
    pub fn table_at(&self, year: Option<i32>, estates: &[Estate], catalogue: &Catalogue, demand: &dyn Demand) -> Result<Option<CoverageTable>, AnalysisError> {
        if catalogue.len() != self.kinds {
            return Err(AnalysisError::TimelineMismatch { what: "kinds", built: self.kinds, given: catalogue.len() });
        }
        if estates.len() != self.estates {
            return Err(AnalysisError::TimelineMismatch { what: "estates", built: self.estates, given: estates.len() });
        }
        if !self.answers(year) {
            return Ok(None);
        }
        let positions = self.positions(year);
        let cells: Vec<KindCoverage> = positions.par_iter().with_min_len(4096).map(|&p| self.state(p)).collect();
        Ok(Some(table_from_cells(estates, cells, catalogue, demand, AnalysisParams { year, ..self.template })))
    }

    /// Coverage as of the end of `year`, as [`CoverageTimeline::table_at`], held as positions in
    /// this timeline (4 bytes per estate × kind instead of the cells' 72): the table of a year
    /// the service keeps. `required` is [`required_capacity`](super::required_capacity) of the
    /// estates the timeline was built for, shared by every year.
    ///
    /// # Errors
    /// [`AnalysisError::TimelineMismatch`] when `required` is not one value per estate × kind.
    pub fn table_view(self: &Arc<Self>, year: Option<i32>, required: Arc<[f64]>, radii_m: Vec<f64>) -> Result<Option<CoverageTable>, AnalysisError> {
        if required.len() != self.estates * self.kinds {
            return Err(AnalysisError::TimelineMismatch { what: "estate × kind requirements", built: self.estates * self.kinds, given: required.len() });
        }
        if radii_m.len() != self.kinds {
            return Err(AnalysisError::TimelineMismatch { what: "kinds", built: self.kinds, given: radii_m.len() });
        }
        if !self.answers(year) {
            return Ok(None);
        }
        let positions = self.positions(year);
        Ok(Some(CoverageTable::from_steps(Arc::clone(self), self.estates, positions, required, radii_m, AnalysisParams { year, ..self.template })))
    }

    /// Per cell, the position of its step in force at the end of `year` (`u32::MAX`: none).
    fn positions(&self, year: Option<i32>) -> Vec<u32> {
        // Before the baseline, the baseline holds (no facility with a year had opened yet).
        let y = year.map_or(i32::MAX, |y| y.max(self.years.first().copied().unwrap_or(y)));
        // The last event year at or before `y`.
        let Some(last) = self.years.partition_point(|&e| e <= y).checked_sub(1) else {
            return vec![u32::MAX; self.estates * self.kinds];
        };
        // Word by word (64 cells): back through the years from the last, each cell takes its
        // step from the first year met in which it changed (every cell has one in the baseline).
        let mut positions = vec![u32::MAX; self.estates * self.kinds];
        positions.par_chunks_mut(64).enumerate().with_min_len(64).for_each(|(w, chunk)| {
            let mut unresolved = u64::MAX >> (64 - chunk.len());
            let mut at = last;
            loop {
                let changes = &self.changes[at];
                let word = changes.bits[w];
                let mut hit = word & unresolved;
                while hit != 0 {
                    let b = hit.trailing_zeros();
                    chunk[b as usize] = self.starts[at] + changes.ranks[w] + (word & ((1u64 << b) - 1)).count_ones();
                    hit &= hit - 1;
                }
                unresolved &= !word;
                match at.checked_sub(1) {
                    Some(before) if unresolved != 0 => at = before,
                    _ => break,
                }
            }
        });
        positions
    }

    /// The cell state at step position `p` (`u32::MAX`: [`KindCoverage::EMPTY`]), without
    /// required capacity.
    #[inline]
    pub(super) fn state(&self, p: u32) -> KindCoverage {
        self.step(p).map_or(KindCoverage::EMPTY, Step::cell)
    }

    /// The cell state at step position `p` as kept (`None`: no state, `u32::MAX`).
    #[inline]
    pub(super) fn step(&self, p: u32) -> Option<&Step> {
        let &first = self.page_years.get(p as usize / STEP_PAGE)?;
        // From the page's first year on to the one holding `p` (years without steps skipped).
        let mut y = first as usize;
        while self.starts.get(y + 1).is_some_and(|&next| next <= p) {
            y += 1;
        }
        self.changes.get(y)?.steps.get((p - self.starts[y]) as usize)
    }
}

/// The baseline year and every year of the span in which a facility opens, ascending.
fn event_years(facilities: &[Facility], span: YearSpan) -> Vec<i32> {
    let mut opened: Vec<i32> = facilities.iter().filter_map(|f| f.opened_year).filter(|&y| span.to.is_none_or(|to| y <= to)).collect();
    opened.sort_unstable();
    opened.dedup();
    // The first year answered is measured as it is (its openings included); without one, the
    // year before the first opening stands for every year back.
    let baseline = match span.from {
        Some(from) => from,
        None => opened.first().map_or(i32::MIN, |&first| first.saturating_sub(1)),
    };
    let mut years = vec![baseline];
    years.extend(opened.into_iter().filter(|&y| y > baseline));
    years
}

/// Progress of `parts` measurements of every estate, reported as one pass over the estates.
struct ShareOf<'a> {
    progress: &'a dyn Progress,
    parts: usize,
    done: std::sync::atomic::AtomicU64,
}

impl Progress for ShareOf<'_> {
    fn advance(&self, n: u64) {
        let parts = self.parts.max(1) as u64;
        let before = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        let forward = (before + n) / parts - before / parts;
        if forward > 0 {
            self.progress.advance(forward);
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests panic on unexpected errors")]

    use super::*;
    use crate::analysis::{compute_coverage, DistanceFrom, RecordedHouseholds, StraightLine};
    use crate::model::{FeatureId, KindId, KindSpec, LivingCircle};

    fn catalogue() -> Catalogue {
        Catalogue {
            name: "t".into(),
            residents_per_household: 2.5,
            kinds: vec![KindSpec {
                key: "k".into(),
                label_zh: String::new(),
                label_en: String::new(),
                radius_m: 100.0,
                circle: LivingCircle::FiveMin,
                ratio: None,
                capacity_unit: None,
                clause: "t".into(),
                confirmed: false,
                osm: vec![],
                amap_types: vec![],
                keywords: vec![],
            }],
        }
    }

    fn facility(id: i64, x: f64, opened: Option<i32>) -> Facility {
        Facility { id: FeatureId::Int(id), kind: KindId(0), name: None, capacity: Some(5.0), opened_year: opened, planned: false, district: None, location: geo::point!(x: x, y: 0.0), extra: vec![] }
    }

    fn estate() -> Estate {
        Estate {
            id: FeatureId::Int(1),
            name: None,
            district: None,
            households: Some(10),
            built_year: None,
            renovation_year: None,
            geometry: geo::wkt! { MULTIPOLYGON(((-10. -10.,10. -10.,10. 10.,-10. 10.,-10. -10.))) },
            extra: vec![],
        }
    }

    #[test]
    fn the_nearest_moves_closer_as_facilities_open() {
        let facilities = vec![facility(1, 500.0, None), facility(2, 50.0, Some(2010)), facility(3, 30.0, Some(2020)), facility(4, 80.0, Some(2015))];
        let estates = vec![estate()];
        let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
        let t = CoverageTimeline::build(&estates, &facilities, &metric, &catalogue(), YearSpan::default(), &()).unwrap();
        assert_eq!(t.event_years(), &[2009, 2010, 2015, 2020]);
        let at = |y| t.table_at(y, &estates, &catalogue(), &RecordedHouseholds).unwrap().unwrap();
        for year in [None, Some(1990), Some(2009), Some(2010), Some(2014), Some(2015), Some(2019), Some(2020), Some(2030)] {
            let fresh = compute_coverage(&estates, &metric, &catalogue(), year, &RecordedHouseholds, &()).unwrap();
            assert_eq!(at(year), fresh, "year {year:?}");
        }
        let cell = at(Some(2015)).get(0, KindId(0));
        assert_eq!((cell.nearest.unwrap().facility, cell.count_within), (1, 2));
        // Four states, and the nearest at 2015 (50 m) did not change when 4 (80 m) opened.
        assert_eq!(t.steps(), 4);
    }

    #[test]
    fn a_span_answers_only_its_years() {
        let facilities = vec![facility(1, 50.0, Some(2010)), facility(2, 30.0, Some(2030))];
        let estates = vec![estate()];
        let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
        let span = YearSpan { from: Some(2000), to: Some(2020) };
        let t = CoverageTimeline::build(&estates, &facilities, &metric, &catalogue(), span, &()).unwrap();
        assert_eq!(t.event_years(), &[2000, 2010]);
        assert!(t.answers(Some(2000)) && t.answers(Some(2020)) && !t.answers(Some(2021)) && !t.answers(None) && !t.answers(Some(1999)));
        assert!(t.table_at(Some(2021), &estates, &catalogue(), &RecordedHouseholds).unwrap().is_none());
        let fresh = compute_coverage(&estates, &metric, &catalogue(), Some(2020), &RecordedHouseholds, &()).unwrap();
        assert_eq!(t.table_at(Some(2020), &estates, &catalogue(), &RecordedHouseholds).unwrap().unwrap(), fresh);
    }
}
