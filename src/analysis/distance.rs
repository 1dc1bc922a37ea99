//! Distance from an estate to a facility.
//!
//! The default measures from the estate's *boundary*: 0 when the facility stands inside the
//! estate or on its edge, a hole counting as outside. This is what planners mean by "within
//! 300 m of the estate"; QGIS's "distance to nearest hub" measures from the centroid instead,
//! which [`CentroidDistance`] reproduces so results can be compared.
//!
//! Point-to-polygon distance is computed in one pass over the ring segments: the squared
//! distance to each segment and a crossing-number parity test together, so a facility costs
//! O(vertices) with no allocation.

use geo::{Coord, MultiPolygon};

pub use crate::model::{point_multipolygon_distance_m, DistanceFrom};
use crate::model::Estate;

/// Where a nearest-facility search starts for an estate.
///
/// # Units
/// Metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// Search centre.
    pub xy: Coord<f64>,
    /// Every point the metric measures from lies within `reach_m` of `xy`.
    pub reach_m: f64,
    /// Distance from `xy` to the nearest point the metric measures from (0 when `xy` is inside
    /// the estate); `f64::INFINITY` when the metric offers no such bound.
    pub gap_m: f64,
    /// Tighter bounds from the estate's outline, for metrics measuring from the polygon.
    pub outline: Option<Outline>,
}

/// Bounds on the distance from a polygon (0 inside) to a point, tighter than an [`Anchor`]'s
/// circle: every ring lies within the rings' bounding box, and every vertex is on a ring.
///
/// Both bounds are widened by [`Outline::MARGIN_M`], so that where they decide whether a
/// facility is within a radius or nearer than another, they agree with the exact
/// floating-point distance, not just the real-number one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outline {
    /// The polygon's bounding box: lower left, upper right.
    pub min: Coord<f64>,
    /// Upper right corner of the bounding box.
    pub max: Coord<f64>,
    /// A vertex on each side of the bounding box: leftmost, rightmost, lowest, highest.
    pub extremes: [Coord<f64>; 4],
}

impl Outline {
    /// How much the bounds are widened (metres): far above the rounding error of distances in
    /// a city (1e-10 m), far below anything that matters.
    pub const MARGIN_M: f64 = 1e-6;

    /// The bounding box and extreme vertices of `geometry`; `None` when it has no vertices.
    #[must_use]
    pub fn of(geometry: &MultiPolygon<f64>) -> Option<Self> {
        // Every ring counts, holes too: the distance is to any ring (a point in a hole is outside).
        let mut vertices = geometry.0.iter().flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors())).flat_map(|r| r.0.iter());
        let first = *vertices.next()?;
        let mut extremes = [first; 4];
        for &c in vertices {
            if c.x < extremes[0].x {
                extremes[0] = c;
            }
            if c.x > extremes[1].x {
                extremes[1] = c;
            }
            if c.y < extremes[2].y {
                extremes[2] = c;
            }
            if c.y > extremes[3].y {
                extremes[3] = c;
            }
        }
        Some(Self {
            min: Coord { x: extremes[0].x, y: extremes[2].y },
            max: Coord { x: extremes[1].x, y: extremes[3].y },
            extremes,
        })
    }

    /// A lower bound on the distance from the polygon to `p`: its distance to the box.
    #[must_use]
    pub fn lower_m(&self, p: Coord<f64>) -> f64 {
        let dx = (self.min.x - p.x).max(p.x - self.max.x).max(0.0);
        let dy = (self.min.y - p.y).max(p.y - self.max.y).max(0.0);
        (dx * dx + dy * dy).sqrt() - Self::MARGIN_M
    }

    /// An upper bound on the distance from the polygon to `p`: its distance to the nearest
    /// extreme vertex.
    #[must_use]
    pub fn upper_m(&self, p: Coord<f64>) -> f64 {
        let d2 = |c: Coord<f64>| (c.x - p.x) * (c.x - p.x) + (c.y - p.y) * (c.y - p.y);
        let nearest_sq = d2(self.extremes[0]).min(d2(self.extremes[1])).min(d2(self.extremes[2])).min(d2(self.extremes[3]));
        nearest_sq.sqrt() + Self::MARGIN_M
    }
}

/// A way of measuring estate-to-facility distance.
///
/// # Contract
/// `|anchor.xy - p| - anchor.reach_m <= distance_m(estate, anchor, p) <= |anchor.xy - p| + anchor.gap_m`
/// for every `p`. The R-tree search stops once the lower bound exceeds what it still needs, so a
/// metric that can be shorter than the straight line would silently miss facilities; the upper
/// bound lets a facility count as within the radius without an exact distance. A walking-network
/// metric (never shorter than the straight line, unboundedly longer) satisfies the lower bound
/// and sets `gap_m = f64::INFINITY`.
pub trait DistanceMetric: Sync {
    /// Name recorded with results (`boundary`, `centroid`).
    fn name(&self) -> &'static str;
    /// The search anchor of an estate; `None` for an empty geometry.
    fn anchor(&self, estate: &Estate) -> Option<Anchor>;
    /// Distance from the estate to a point.
    ///
    /// # Units
    /// Metres.
    fn distance_m(&self, estate: &Estate, anchor: &Anchor, to: Coord<f64>) -> f64;
}

/// Distance from the estate's boundary, 0 inside (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct BoundaryDistance;

impl DistanceMetric for BoundaryDistance {
    fn name(&self) -> &'static str {
        DistanceFrom::Boundary.as_str()
    }

    fn anchor(&self, estate: &Estate) -> Option<Anchor> {
        let rect = estate.bounds()?;
        let centre = rect.center();
        Some(Anchor {
            xy: centre,
            reach_m: 0.5 * rect.width().hypot(rect.height()),
            gap_m: point_multipolygon_distance_m(centre, &estate.geometry),
            outline: Outline::of(&estate.geometry),
        })
    }

    fn distance_m(&self, estate: &Estate, _anchor: &Anchor, to: Coord<f64>) -> f64 {
        point_multipolygon_distance_m(to, &estate.geometry)
    }
}

/// Distance from the estate's area-weighted centroid.
#[derive(Debug, Clone, Copy, Default)]
pub struct CentroidDistance;

impl DistanceMetric for CentroidDistance {
    fn name(&self) -> &'static str {
        DistanceFrom::Centroid.as_str()
    }

    fn anchor(&self, estate: &Estate) -> Option<Anchor> {
        estate.centroid().map(|c| Anchor { xy: c.0, reach_m: 0.0, gap_m: 0.0, outline: None })
    }

    fn distance_m(&self, _estate: &Estate, anchor: &Anchor, to: Coord<f64>) -> f64 {
        (anchor.xy.x - to.x).hypot(anchor.xy.y - to.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use geo::{Distance, Euclidean, Intersects};

    #[test]
    fn matches_geo_on_a_multipolygon_with_a_hole() {
        let mp = geo::wkt! { MULTIPOLYGON(((0. 0.,100. 0.,100. 80.,0. 80.,0. 0.),(20. 20.,60. 20.,60. 50.,20. 50.,20. 20.)),((200. 0.,260. 30.,200. 60.,200. 0.))) };
        for (x, y) in [(-5.0, -5.0), (30.0, 30.0), (10.0, 10.0), (150.0, 30.0), (230.0, 30.0), (100.0, 40.0), (400.0, -300.0)] {
            let p = geo::coord! { x: x, y: y };
            let expected = if mp.intersects(&geo::Point(p)) { 0.0 } else { Euclidean.distance(&geo::Point(p), &mp) };
            assert_relative_eq!(point_multipolygon_distance_m(p, &mp), expected, epsilon = 1e-9);
        }
    }

    #[test]
    fn on_the_boundary_is_zero() {
        let mp = geo::wkt! { MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.))) };
        assert_eq!(point_multipolygon_distance_m(geo::coord! { x: 10.0, y: 5.0 }, &mp), 0.0);
        assert_eq!(point_multipolygon_distance_m(geo::coord! { x: 0.0, y: 0.0 }, &mp), 0.0);
    }
}
