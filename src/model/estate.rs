use geo::{BoundingRect, Centroid, MultiPolygon, Point, Rect};

use super::{Attributes, FeatureId};

/// A residential estate (小区): the unit whose residents need facilities nearby.
///
/// # Units
/// `geometry` is in the working CRS, metres.
#[derive(Debug, Clone, PartialEq)]
pub struct Estate {
    /// The source id, unique among estates.
    pub id: FeatureId,
    /// Display name.
    pub name: Option<String>,
    /// District (区/街道) used for per-district summaries.
    pub district: Option<String>,
    /// Number of households; the default demand weight.
    pub households: Option<u32>,
    /// Year the estate was built.
    pub built_year: Option<i32>,
    /// Year the estate was renovated, if it was.
    pub renovation_year: Option<i32>,
    /// Footprint in the working CRS (metres); holes are outside the estate.
    pub geometry: MultiPolygon<f64>,
    /// Every other source property, passed through to outputs.
    pub extra: Attributes,
}

impl Estate {
    /// The footprint's bounding rectangle, `None` for an empty geometry.
    ///
    /// # Complexity
    /// O(vertices).
    #[must_use]
    pub fn bounds(&self) -> Option<Rect<f64>> {
        self.geometry.bounding_rect()
    }

    /// The area-weighted centroid, the origin QGIS's "distance to nearest hub" uses.
    #[must_use]
    pub fn centroid(&self) -> Option<Point<f64>> {
        self.geometry.centroid()
    }
}
