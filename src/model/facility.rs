use geo::Point;

use super::{Attributes, FeatureId, KindId};

/// A facility that serves estates within its kind's radius.
///
/// # Units
/// `location` is in the working CRS, metres. `capacity` is in the kind's own unit
/// (beds, spaces, stalls, chargers, places: see [`KindSpec::capacity_unit`](super::KindSpec)).
#[derive(Debug, Clone, PartialEq)]
pub struct Facility {
    /// The source id, unique among facilities.
    pub id: FeatureId,
    /// What it is, as a position in the catalogue.
    pub kind: KindId,
    /// Display name.
    pub name: Option<String>,
    /// Capacity in the kind's unit; `None` when unknown (counts as 0 in capacity sums).
    pub capacity: Option<f64>,
    /// Year it opened; `None` means it always counts.
    pub opened_year: Option<i32>,
    /// A planned facility (a what-if scenario: `--planned`, `[[planned]]`), not yet built; it
    /// counts as if built in its `opened_year`, and outputs mark it.
    pub planned: bool,
    /// District it belongs to.
    pub district: Option<String>,
    /// Position in the working CRS (metres).
    pub location: Point<f64>,
    /// Every other source property, passed through to outputs.
    pub extra: Attributes,
}

impl Facility {
    /// Whether the facility existed at the end of `year` (`None`: the present, everything counts).
    ///
    /// # Examples
    /// ```
    /// # use gapmap::model::{Facility, FeatureId, KindId};
    /// let f = Facility { id: FeatureId::Int(1), kind: KindId(0), name: None, capacity: None,
    ///     opened_year: Some(2021), planned: false, district: None, location: geo::point!(x: 0.0, y: 0.0), extra: vec![] };
    /// assert!(!f.open_in(Some(2020)));
    /// assert!(f.open_in(Some(2021)));
    /// assert!(f.open_in(None));
    /// ```
    #[must_use]
    pub fn open_in(&self, year: Option<i32>) -> bool {
        match (year, self.opened_year) {
            (Some(y), Some(opened)) => opened <= y,
            _ => true,
        }
    }
}
