//! Writing results: CSV rows, GeoJSON / FlatGeobuf / GeoPackage estates, JSON summaries.

use geo::Geometry;

use crate::model::Attributes;

/// A feature ready to write: geometry in CRS84, properties in output order.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFeature {
    /// Geometry in CRS84 (lon, lat).
    pub geometry: Geometry<f64>,
    /// Properties in output order.
    pub properties: Attributes,
}
