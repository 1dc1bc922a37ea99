//! GDAL-backed reading (`GeoPackage`, Shapefile, `FlatGeobuf`, CSV, OSM XML/PBF) and writing
//! (`FlatGeobuf`, `GeoPackage`). Datasets are opened, read and closed inside each call, so no GDAL
//! handle outlives it.
//!
//! # Reading
//! [`GdalSource`] turns one layer into [`RawFeature`]s in the layer's own CRS, which it reports
//! as [`SourceInfo::declared_crs`]. Geometries go through the `gdal` crate's geo conversion
//! after Z/M are dropped (coverage is planar); curves are rejected because that conversion
//! does not linearise them. Field values map as:
//!
//! | OGR field                       | [`AttrValue`]             |
//! |---------------------------------|---------------------------|
//! | Integer, Integer64              | `Int`                     |
//! | Integer with boolean subtype    | `Bool`                    |
//! | Real                            | `Float`                   |
//! | String, Time, Binary            | `Text`                    |
//! | Date, `DateTime`                  | `Text`, ISO 8601          |
//! | lists                           | `Json` (a JSON array)     |
//! | null or unset                   | `Null`                    |
//!
//! Text GDAL hands over that is not valid UTF-8 (a Latin-1 CSV, a DBF without `.cpg`) is
//! converted lossily by the `gdal` crate: each bad byte becomes U+FFFD. Nothing panics and the
//! row is kept; the replacement characters show the user which values to fix.
//!
//! Two special readers sit on top:
//! - **lon/lat columns** ([`GdalSource::lonlat_fields`]): for CSV and other attribute tables,
//!   the point is built from two columns; rows whose coordinates are empty or not numbers are
//!   rejected into the [`LoadReport`].
//! - **OpenStreetMap** ([`GdalSource::osm`]): residential `landuse` areas as estates, nodes
//!   and areas as facilities, or ways and nodes as the street network, with GDAL's `other_tags`
//!   expanded into ordinary properties.
//!
//! # Writing
//! [`write_gdal`] writes CRS84 results to `FlatGeobuf` or `GeoPackage` through a temporary file in
//! the target directory that is renamed into place, so readers never see half a file.
//!
//! [`AttrValue`]: crate::model::AttrValue
//! [`RawFeature`]: super::RawFeature
//! [`SourceInfo::declared_crs`]: super::SourceInfo::declared_crs
//! [`LoadReport`]: super::LoadReport

mod ffi;
mod osm;
mod read;
mod write;

use std::path::PathBuf;

pub use write::write_gdal;

use super::{FeatureSource, LoadError, LoadReport, RawFeature, SourceInfo};

/// A vector file GDAL can open, read as [`RawFeature`]s.
///
/// # Examples
/// ```no_run
/// use gapmap::io::gdal::{GdalSource, OsmRole};
/// use gapmap::io::{FeatureSource, LoadReport};
///
/// let mut source = GdalSource::new("estates.gpkg").with_layer("estates");
/// let mut report = LoadReport::default();
/// let mut features = Vec::new();
/// let info = source.read(&mut report, &mut |f| features.push(f))?;
/// println!("{} features in {:?}", features.len(), info.declared_crs);
///
/// let mut osm = GdalSource::new("city.osm.pbf").with_osm(OsmRole::Facilities);
/// # Ok::<(), gapmap::io::LoadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdalSource {
    /// The file (or any GDAL dataset name, e.g. `/vsizip/…`).
    pub path: PathBuf,
    /// The layer to read; `None` reads the only layer and fails when there are several.
    /// Ignored (with a warning) for OSM roles, which pick their own layers.
    pub layer: Option<String>,
    /// `(lon, lat)` column names: build points from these two columns instead of the layer
    /// geometry, and drop both from the properties. Ignored (with a warning) for OSM roles.
    pub lonlat_fields: Option<(String, String)>,
    /// Read an OpenStreetMap file (`.osm`, `.osm.pbf`) as estates or facilities.
    pub osm: Option<OsmRole>,
}

/// What to take from an OpenStreetMap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OsmRole {
    /// `landuse=residential` areas from the `multipolygons` layer; other areas are skipped and
    /// counted in one warning.
    Estates,
    /// Every node of the `points` layer plus every area of `multipolygons`, the area reduced to
    /// an interior point and marked with the property `osm_geometry = "area"`.
    Facilities,
    /// The street network: every way of the `lines` layer (ids `way/…`) and every node of the
    /// `points` layer (ids `node/…`), from which [`crate::io::network`] takes the gates.
    Network,
}

impl GdalSource {
    /// A source reading the only layer of `path`, with its own geometries.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), layer: None, lonlat_fields: None, osm: None }
    }

    /// Reads layer `name`.
    #[must_use]
    pub fn with_layer(mut self, name: impl Into<String>) -> Self {
        self.layer = Some(name.into());
        self
    }

    /// Builds points from the `lon` and `lat` columns.
    #[must_use]
    pub fn with_lonlat_fields(mut self, lon: impl Into<String>, lat: impl Into<String>) -> Self {
        self.lonlat_fields = Some((lon.into(), lat.into()));
        self
    }

    /// Reads an OpenStreetMap file in `role`.
    #[must_use]
    pub fn with_osm(mut self, role: OsmRole) -> Self {
        self.osm = Some(role);
        self
    }
}

impl FeatureSource for GdalSource {
    /// Streams the layer's features to `sink`.
    ///
    /// Features whose geometry GDAL cannot convert, and lon/lat rows with bad coordinates, go to
    /// `report` and not to `sink`. Features with a null or empty geometry reach `sink` with
    /// `geometry: None`, for the loader to reject with its own wording.
    ///
    /// # Errors
    /// - [`LoadError::Read`] when the file does not exist;
    /// - [`LoadError::Gdal`] when GDAL cannot open or read it, when it has no vector layer, when
    ///   a lon/lat column is missing, or when an OSM role is used on a file that is not OSM;
    /// - [`LoadError::NoLayer`] for an unknown layer name;
    /// - [`LoadError::AmbiguousLayer`] for a multi-layer file read without a layer name.
    fn read(
        &mut self,
        report: &mut LoadReport,
        sink: &mut dyn FnMut(RawFeature),
    ) -> Result<SourceInfo, LoadError> {
        match self.osm {
            Some(role) => {
                if self.layer.is_some() || self.lonlat_fields.is_some() {
                    report.warn(format!(
                        "{}: `layer` and lon/lat columns are ignored for OpenStreetMap input",
                        self.path.display()
                    ));
                }
                osm::read(&self.path, role, report, sink)
            }
            None => read::read(self, report, sink),
        }
    }
}
