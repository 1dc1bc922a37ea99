//! Coordinate reference systems: parsing CRS names, GCJ-02 / BD-09 conversion, choosing the
//! metric working CRS, and PROJ transformations (one `Proj` per thread, never shared).

use geo::Coord;

use super::LoadError;

/// A source CRS as the user or file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrsSpec {
    /// WGS84 longitude/latitude (`CRS84`, `OGC:CRS84`, `EPSG:4326`, `WGS84`).
    Crs84,
    /// China's obfuscated GCJ-02 (AMap, Tencent): converted to WGS84 by gapmap.
    Gcj02,
    /// Baidu's BD-09: converted to WGS84 by gapmap.
    Bd09,
    /// Anything PROJ understands (`EPSG:4547`, WKT, PROJ strings).
    Proj(String),
}

impl std::str::FromStr for CrsSpec {
    type Err = LoadError;
    fn from_str(_s: &str) -> Result<Self, Self::Err> {
        todo!("helper: parse CRS names")
    }
}

/// WGS84 → GCJ-02.
#[must_use]
pub fn wgs84_to_gcj02(_lonlat: Coord<f64>) -> Coord<f64> {
    todo!()
}

/// GCJ-02 → WGS84.
#[must_use]
pub fn gcj02_to_wgs84(_lonlat: Coord<f64>) -> Coord<f64> {
    todo!()
}

/// BD-09 → WGS84.
#[must_use]
pub fn bd09_to_wgs84(_lonlat: Coord<f64>) -> Coord<f64> {
    todo!()
}

/// The working CRS for data whose WGS84 extent has this centre.
#[must_use]
pub fn working_crs_for(_centre_lonlat: Coord<f64>) -> String {
    todo!()
}

/// Converts coordinates from a source CRS to the working CRS.
pub struct Transformer;

impl Transformer {
    /// Set up.
    ///
    /// # Errors
    /// Bad CRS.
    pub fn new(_source: &CrsSpec, _working: &str) -> Result<Self, LoadError> {
        todo!()
    }
    /// Converts in place.
    ///
    /// # Errors
    /// PROJ failure.
    pub fn to_working_crs(&self, _coords: &mut [Coord<f64>]) -> Result<(), LoadError> {
        todo!()
    }
}
