//! Planar geometry of estates shared by the metrics: where distances are measured from, and the
//! point-to-polygon distance (0 inside).

use geo::{Coord, MultiPolygon};
use serde::{Deserialize, Serialize};

/// Which point of an estate distances are measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistanceFrom {
    /// From the polygon boundary; 0 inside.
    #[default]
    Boundary,
    /// From the area-weighted centroid (QGIS's "distance to nearest hub").
    Centroid,
}

impl DistanceFrom {
    /// The name recorded with results.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Boundary => "boundary",
            Self::Centroid => "centroid",
        }
    }
}

impl std::str::FromStr for DistanceFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "boundary" => Ok(Self::Boundary),
            "centroid" => Ok(Self::Centroid),
            other => Err(format!("distance-from must be `boundary` or `centroid`, not `{other}`")),
        }
    }
}

/// Euclidean distance from a point to a multipolygon: 0 inside or on the boundary, a hole
/// counting as outside.
///
/// # Units
/// Metres in, metres out (any planar unit, really: never pass lon/lat).
///
/// # Complexity
/// O(vertices), no allocation.
///
/// # Examples
/// ```
/// use gapmap::model::point_multipolygon_distance_m;
/// let square = geo::wkt! { MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(4. 4.,6. 4.,6. 6.,4. 6.,4. 4.))) };
/// assert_eq!(point_multipolygon_distance_m(geo::coord! { x: 1.0, y: 1.0 }, &square), 0.0);
/// assert_eq!(point_multipolygon_distance_m(geo::coord! { x: 13.0, y: 14.0 }, &square), 5.0);
/// // the centre of the hole is 1 m from the hole's edge
/// assert_eq!(point_multipolygon_distance_m(geo::coord! { x: 5.0, y: 5.0 }, &square), 1.0);
/// ```
#[must_use]
pub fn point_multipolygon_distance_m(p: Coord<f64>, geometry: &MultiPolygon<f64>) -> f64 {
    let mut best_sq = f64::INFINITY;
    for polygon in geometry {
        // Parity over the exterior and every hole: odd = inside the polygon proper.
        let mut inside = false;
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for w in ring.0.windows(2) {
                let (a, b) = (w[0], w[1]);
                if (a.y > p.y) != (b.y > p.y) {
                    let x_cross = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
                    if p.x < x_cross {
                        inside = !inside;
                    }
                }
                best_sq = best_sq.min(segment_distance_sq(p, a, b));
            }
        }
        if inside {
            return 0.0;
        }
    }
    best_sq.sqrt()
}

/// Squared distance from `p` to the segment `a`–`b`.
#[must_use]
pub fn segment_distance_sq(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> f64 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len_sq = dx * dx + dy * dy;
    let t = if len_sq > 0.0 {
        (((p.x - a.x) * dx + (p.y - a.y) * dy) / len_sq).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (a.x + t * dx - p.x, a.y + t * dy - p.y);
    ex * ex + ey * ey
}

