//! Accessibility beyond covered / not covered: the two-step floating catchment area score
//! (2SFCA; Luo & Wang 2003, with the Gaussian decay of Dai 2010 as GOAT and the R
//! `accessibility` package offer it).
//!
//! For a kind with a capacity, facility j (capacity S_j) and estate i (residents P_i), with the
//! pairs within the kind's radius d0 as the metric measures them:
//! 1. each facility's supply-to-demand ratio R_j = S_j / Σ_{i within d0} P_i · w(d_ij);
//! 2. each estate's score A_i = Σ_{j within d0} R_j · w(d_ij).
//!
//! P_i is households × the catalogue's `residents_per_household` (an estate without households
//! counts 0 residents, but still gets a score: what a resident there would reach). A facility
//! with no weighted demand within its radius serves nobody and adds nothing (R_j = 0), and a
//! facility of unknown capacity supplies 0, as in capacity sums. Scores are reported in the
//! kind's capacity unit **per 1,000 residents**, the basis of per-capita standards (4.5 nursery
//! places per 1,000 people), so a score reads against the kind's ratio directly.
//!
//! Why this one: it is the capacity-aware score planners know from GOAT and the literature, it
//! needs nothing beyond the within-radius pairs the coverage metric already finds (by straight
//! line or walking distance, [`CoverageMetric::facility_pairs`]), and it costs two passes over
//! those pairs.

use serde::{Deserialize, Serialize};

use super::{AnalysisError, CoverageMetric};
use crate::model::{Catalogue, Estate, Facility, KindId};

/// Distance decay w(d) of the 2SFCA score, within the kind's radius d0 (0 beyond it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessDecay {
    /// w = 1 within the radius (the original 2SFCA, Luo & Wang 2003).
    #[default]
    Step,
    /// w(d) = (e^{-½(d/d0)²} − e^{-½}) / (1 − e^{-½}): 1 at the facility, 0 at the radius
    /// (Dai 2010; GOAT's Gaussian 2SFCA).
    Gaussian,
}

impl AccessDecay {
    /// The name used in the config: `step` or `gaussian`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Gaussian => "gaussian",
        }
    }

    /// The weight of a facility `distance_m` away, for a catchment of `radius_m`.
    ///
    /// # Units
    /// Metres in; a weight in 0..=1 out.
    ///
    /// # Examples
    /// ```
    /// use gapmap::analysis::AccessDecay;
    /// assert_eq!(AccessDecay::Step.weight(300.0, 300.0), 1.0);
    /// assert_eq!(AccessDecay::Step.weight(300.1, 300.0), 0.0);
    /// assert_eq!(AccessDecay::Gaussian.weight(0.0, 300.0), 1.0);
    /// assert_eq!(AccessDecay::Gaussian.weight(300.0, 300.0), 0.0);
    /// let half = AccessDecay::Gaussian.weight(150.0, 300.0);
    /// # assert!((half - ((-0.125f64).exp() - (-0.5f64).exp()) / (1.0 - (-0.5f64).exp())).abs() < 1e-15);
    /// assert!(half > 0.7 && half < 0.8);
    /// ```
    #[must_use]
    pub fn weight(self, distance_m: f64, radius_m: f64) -> f64 {
        // NaN compares false both ways: it weighs 0 too.
        if distance_m > radius_m || distance_m.is_nan() {
            return 0.0;
        }
        match self {
            Self::Step => 1.0,
            Self::Gaussian => {
                let edge = (-0.5f64).exp();
                let r = distance_m / radius_m;
                (((-0.5 * r * r).exp() - edge) / (1.0 - edge)).max(0.0)
            }
        }
    }
}

/// 2SFCA scores per estate for the kinds that have one.
#[derive(Debug, Clone, PartialEq)]
pub struct Accessibility {
    /// Per kind in catalogue order: the scores per estate, or `None` for a kind without scores.
    kinds: Vec<Option<Vec<f64>>>,
    /// The decay used.
    decay: AccessDecay,
}

impl Accessibility {
    /// Estate `estate`'s score for `kind`, `None` when the kind has no score
    /// ([`kind_accessibility`] says when).
    ///
    /// # Units
    /// The kind's capacity unit per 1,000 residents.
    #[must_use]
    pub fn get(&self, estate: usize, kind: KindId) -> Option<f64> {
        self.kinds.get(kind.index())?.as_ref().map(|scores| scores[estate])
    }

    /// Whether `kind` has scores.
    #[must_use]
    pub fn is_scored(&self, kind: KindId) -> bool {
        self.kinds.get(kind.index()).is_some_and(Option::is_some)
    }

    /// The decay the scores were computed with.
    #[must_use]
    pub fn decay(&self) -> AccessDecay {
        self.decay
    }
}

/// The 2SFCA scores of every kind for `estates`: [`kind_accessibility`] per kind.
///
/// `facilities` must be the slice `metric` measures (facility positions in its pairs index it).
///
/// # Errors
/// The metric's, when it was prepared for other estates or another catalogue.
///
/// # Panics
/// When the catalogue has more kinds than a [`KindId`] holds (validated catalogues cannot).
///
/// # Complexity
/// O(K · (pair search + P)) for P within-radius pairs per kind.
pub fn compute_accessibility(
    estates: &[Estate],
    facilities: &[Facility],
    metric: &dyn CoverageMetric,
    catalogue: &Catalogue,
    year: Option<i32>,
    decay: AccessDecay,
) -> Result<Accessibility, AnalysisError> {
    let kinds = (0..catalogue.len())
        .map(|k| kind_accessibility(estates, facilities, metric, catalogue, KindId(u16::try_from(k).expect("validated catalogue")), year, decay))
        .collect::<Result<_, _>>()?;
    Ok(Accessibility { kinds, decay })
}

/// The 2SFCA score of every estate for one kind, facilities open by `year` (`None`: all), in
/// the kind's capacity unit per 1,000 residents; `None` when the kind has no `capacity_unit`
/// in the catalogue or no open facility of the kind has a known capacity (a score would then
/// measure missing data, not supply).
///
/// # Units
/// Distances in metres (the metric's); scores per 1,000 residents.
///
/// # Errors
/// The metric's, when it was prepared for other estates or another catalogue.
///
/// # Complexity
/// The metric's pair search, then O(P + E + F) for P pairs.
///
/// # Examples
/// ```
/// use gapmap::analysis::{kind_accessibility, AccessDecay, DistanceFrom, StraightLine};
/// use gapmap::model::{Catalogue, Estate, Facility, FeatureId, KindId};
/// let catalogue: Catalogue = toml::from_str(r#"
///     name = "t"
///     residents_per_household = 2.5
///     [[kinds]]
///     key = "nursery"
///     label_zh = "托儿所"
///     label_en = "nursery"
///     radius_m = 300.0
///     circle = "5min"
///     capacity_unit = "places"
///     clause = "test"
/// "#).unwrap();
/// let estate = |id: i64, x: f64| Estate { id: FeatureId::Int(id), name: None, district: None,
///     households: Some(200), built_year: None, renovation_year: None, extra: vec![],
///     geometry: geo::wkt! { MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.))) }.map_coords(|c| geo::coord! { x: c.x + x, y: c.y }) };
/// # use geo::MapCoords;
/// let estates = [estate(1, 0.0), estate(2, 100.0)];
/// let nursery = Facility { id: FeatureId::Int(9), kind: KindId(0), name: None, capacity: Some(10.0),
///     opened_year: None, planned: false, district: None, location: geo::point!(x: 50.0, y: 5.0), extra: vec![] };
/// let facilities = [nursery];
/// let metric = StraightLine::new(&facilities, DistanceFrom::Boundary);
/// let scores = kind_accessibility(&estates, &facilities, &metric, &catalogue, KindId(0), None, AccessDecay::Step)
///     .unwrap().unwrap();
/// // 10 places shared by 2 × 200 households × 2.5 residents = 1,000 residents: 10 per 1,000
/// assert_eq!(scores, vec![10.0, 10.0]);
/// ```
pub fn kind_accessibility(
    estates: &[Estate],
    facilities: &[Facility],
    metric: &dyn CoverageMetric,
    catalogue: &Catalogue,
    kind: KindId,
    year: Option<i32>,
    decay: AccessDecay,
) -> Result<Option<Vec<f64>>, AnalysisError> {
    let spec = catalogue.spec(kind);
    let has_supply = facilities.iter().any(|f| f.kind == kind && f.open_in(year) && f.capacity.is_some());
    if spec.capacity_unit.is_none() || !has_supply {
        return Ok(None);
    }
    let pairs = metric.facility_pairs(estates, catalogue, kind, year)?;
    let residents: Vec<f64> = estates.iter().map(|e| f64::from(e.households.unwrap_or(0)) * catalogue.residents_per_household).collect();
    let supply: Vec<f64> = facilities.iter().map(|f| f.capacity.unwrap_or(0.0)).collect();
    Ok(Some(two_step_fca(&residents, &supply, &pairs, spec.radius_m, decay)))
}

/// The 2SFCA core: scores per estate (per 1,000 residents) from residents per estate, supply
/// per facility and the within-radius `(estate, facility, distance_m)` pairs.
///
/// Sums run in the pairs' order, so equal inputs give bit-equal scores.
///
/// # Units
/// Distances and `radius_m` in metres; supply in the kind's unit; scores in that unit per
/// 1,000 residents.
///
/// # Panics
/// When a pair names an estate or facility outside `residents` or `supply`.
///
/// # Complexity
/// O(P + E + F).
///
/// # Examples
/// ```
/// use gapmap::analysis::{two_step_fca, AccessDecay};
/// // one facility of 30 places, estates of 1,000 and 2,000 residents within reach
/// let scores = two_step_fca(&[1000.0, 2000.0], &[30.0], &[(0, 0, 10.0), (1, 0, 200.0)], 300.0, AccessDecay::Step);
/// assert_eq!(scores, vec![10.0, 10.0]);
/// ```
#[must_use]
pub fn two_step_fca(residents: &[f64], supply: &[f64], pairs: &[(u32, u32, f64)], radius_m: f64, decay: AccessDecay) -> Vec<f64> {
    let mut demand = vec![0.0; supply.len()];
    for &(e, f, d) in pairs {
        demand[f as usize] += residents[e as usize] * decay.weight(d, radius_m);
    }
    let mut scores = vec![0.0; residents.len()];
    for &(e, f, d) in pairs {
        let weighted = demand[f as usize];
        if weighted > 0.0 {
            scores[e as usize] += supply[f as usize] / weighted * decay.weight(d, radius_m);
        }
    }
    for s in &mut scores {
        *s *= 1000.0;
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn shared_supply_is_split_by_weighted_demand() {
        // Facility 0 (60 places) reaches both estates; facility 1 (10 places) only estate 1.
        let residents = [1000.0, 3000.0];
        let pairs = [(0, 0, 0.0), (1, 0, 0.0), (1, 1, 0.0)];
        let s = two_step_fca(&residents, &[60.0, 10.0], &pairs, 300.0, AccessDecay::Step);
        // R_0 = 60 / 4000, R_1 = 10 / 3000
        assert_relative_eq!(s[0], 1000.0 * 60.0 / 4000.0);
        assert_relative_eq!(s[1], 1000.0 * (60.0 / 4000.0 + 10.0 / 3000.0));
    }

    #[test]
    fn a_facility_without_demand_adds_nothing() {
        let s = two_step_fca(&[0.0], &[50.0], &[(0, 0, 5.0)], 300.0, AccessDecay::Step);
        assert_eq!(s, vec![0.0]);
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "the ends of the curve are exact")]
    fn gaussian_falls_from_one_to_zero() {
        let g = AccessDecay::Gaussian;
        assert_eq!(g.weight(0.0, 500.0), 1.0);
        assert_eq!(g.weight(500.0, 500.0), 0.0);
        assert_eq!(g.weight(501.0, 500.0), 0.0);
        assert!(g.weight(100.0, 500.0) > g.weight(200.0, 500.0));
    }
}
