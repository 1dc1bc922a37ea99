//! Input and output at the edge: files in, model out (reprojected to the working CRS), and
//! results written back in CRS84 or the file's own format.
//!
//! Readers ([`geojson`](self::geojson) for the fast pure-Rust path, [`gdal`](self::gdal) for
//! everything GDAL opens) produce [`RawFeature`]s in the source CRS. [`load`] validates them,
//! maps fields through the config, converts coordinates with [`crs`] and builds
//! [`crate::model`] values, recording every rejected feature in a [`LoadReport`]. [`network`]
//! reads the street network the same way: walkable lines and gates, rejections reported.
//! [`postgis`] reads tables and queries from PostgreSQL/PostGIS the same way and writes results
//! back. C handles (`gdal::Dataset`, `proj::Proj`) never leave this module.

pub mod catalogue;
mod coords;
pub mod crs;
pub mod diff;
mod error;
pub mod gdal;
pub mod geojson;
pub mod load;
pub mod network;
pub mod plan;
pub mod postgis;
pub mod programme;
mod raw;
pub mod write;

pub use error::{LoadError, WriteError};
pub use raw::{FeatureSource, LoadReport, RawFeature, Rejection, SourceInfo};
