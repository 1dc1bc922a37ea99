use crate::model::Estate;

/// How many households an estate asks service for: the demand a capacity ratio is applied to.
///
/// The default, [`RecordedHouseholds`], takes the estate's `households` property. Later models
/// (population grids, residents' survey wishes) implement this trait instead.
pub trait Demand: Sync {
    /// Households demanding service; `None` when unknown (no shortfall is computed then).
    fn households(&self, estate: &Estate) -> Option<u32>;
}

/// Demand = the estate's recorded `households`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordedHouseholds;

impl Demand for RecordedHouseholds {
    fn households(&self, estate: &Estate) -> Option<u32> {
        estate.households
    }
}
