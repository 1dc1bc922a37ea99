//! Spatial indexes over facilities.
//!
//! One [`rstar::RTree`] per facility kind, bulk-loaded (OMT packing, O(n log n)) because the
//! facility set is known up front and queries dominate; per-kind trees keep every nearest-neighbour
//! search from wading through facilities of other kinds. Each tree is also kept flattened
//! ([`PackedTree`]): the same nodes in contiguous arrays, for the coverage search's range queries.

mod facility_index;
mod packed;

pub use facility_index::{FacilityEntry, FacilityIndex, FacilityParams, FacilityTree, IndexedFacility};
pub use packed::PackedTree;
