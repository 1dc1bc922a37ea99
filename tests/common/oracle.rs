//! Brute-force oracles: the plainest O(n·m) loops over `geo`'s own predicates, independent of
//! gapmap's R-tree search and its hand-written point-to-polygon distance.

use geo::{Distance, Euclidean, Intersects, MultiPolygon, Point};

use gapmap::model::{Catalogue, Estate, Facility, KindId};

/// What the oracle says about one estate × kind.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleCell {
    /// Nearest distance (metres), `None` without facilities.
    pub nearest_m: Option<f64>,
    /// Every facility's distance, for tie and boundary handling.
    pub distances_m: Vec<(usize, f64)>,
}

/// Distance from an estate's boundary (0 inside), via `geo`.
pub fn boundary_distance_m(geometry: &MultiPolygon<f64>, p: Point<f64>) -> f64 {
    if geometry.intersects(&p) {
        0.0
    } else {
        Euclidean.distance(&p, geometry)
    }
}

/// All facilities' distances from the estate, per kind.
pub fn oracle(estate: &Estate, facilities: &[Facility], kind: KindId, year: Option<i32>) -> OracleCell {
    let distances_m: Vec<(usize, f64)> = facilities
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == kind && f.open_in(year))
        .map(|(i, f)| (i, boundary_distance_m(&estate.geometry, f.location)))
        .collect();
    let nearest_m = distances_m.iter().map(|(_, d)| *d).reduce(f64::min);
    OracleCell { nearest_m, distances_m }
}

/// Required capacity under the kind's ratio, computed from the catalogue by hand.
pub fn required(catalogue: &Catalogue, kind: KindId, households: Option<u32>) -> Option<f64> {
    let spec = &catalogue.kinds[kind.index()];
    let ratio = spec.ratio?;
    let h = f64::from(households?);
    Some(match ratio.per {
        gapmap::model::RatioBasis::Household => ratio.amount * h,
        gapmap::model::RatioBasis::HundredHouseholds => ratio.amount * h / 100.0,
        gapmap::model::RatioBasis::ThousandResidents => ratio.amount * h * catalogue.residents_per_household / 1000.0,
    })
}
