//! The planning vocabulary: estates, facilities, facility kinds and their service standards.
//!
//! Everything here is plain data in the *working CRS* (planar, metres). Readers in
//! [`crate::io`] convert from source coordinates before values reach this module.

mod attr;
mod estate;
mod facility;
mod geometry;
mod ids;
mod standard;
mod validity;

pub use attr::{AttrValue, Attributes};
pub use estate::Estate;
pub use facility::Facility;
pub use geometry::{point_multipolygon_distance_m, segment_distance_sq, DistanceFrom};
pub use ids::{FeatureId, KindId};
pub use standard::{CapacityRatio, Catalogue, CatalogueError, KindSpec, LivingCircle, RatioBasis};
pub use validity::{check_polygon, check_rings, PolygonProblem, Ring};
