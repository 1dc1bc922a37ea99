//! Flattening polygon coordinates into one buffer and back, so a whole layer is reprojected in
//! one batched, parallel PROJ call instead of one call per vertex.

use geo::{Coord, LineString, MultiPolygon, Polygon};

/// Every ring's coordinates of every multipolygon, in order (exterior, then holes).
pub(crate) fn flatten<'a>(geometries: impl Iterator<Item = &'a MultiPolygon<f64>>) -> Vec<Coord<f64>> {
    let mut coords = Vec::new();
    for mp in geometries {
        for p in mp {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                coords.extend_from_slice(&ring.0);
            }
        }
    }
    coords
}

/// Writes `coords` (as produced by [`flatten`] over the same geometries) back into them.
///
/// # Panics
/// When `coords` is shorter than the geometries' vertex count.
pub(crate) fn unflatten<'a>(geometries: impl Iterator<Item = &'a mut MultiPolygon<f64>>, coords: Vec<Coord<f64>>) {
    let mut next = coords.into_iter();
    let mut take = |ring: &mut LineString<f64>| {
        for c in &mut ring.0 {
            *c = next.next().expect("one output per input coordinate");
        }
    };
    for mp in geometries {
        for p in &mut mp.0 {
            let (mut exterior, mut interiors) = std::mem::replace(p, Polygon::new(LineString(vec![]), vec![])).into_inner();
            take(&mut exterior);
            for hole in &mut interiors {
                take(hole);
            }
            *p = Polygon::new(exterior, interiors);
        }
    }
}
