use std::fmt;
use std::path::{Path, PathBuf};

use geo::Geometry;
use serde::Serialize;

use super::LoadError;
use crate::model::{AttrValue, Attributes, FeatureId};

/// A feature as read, before validation and field mapping.
///
/// # Units
/// `geometry` is in the *source* CRS (degrees for CRS84/GCJ-02/BD-09).
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// Position in the source (0-based), used in every message about the feature.
    pub index: usize,
    /// The format's own feature id (GeoJSON `id` member, GDAL FID), if any.
    pub fid: Option<FeatureId>,
    /// Geometry; `None` when missing or null.
    pub geometry: Option<Geometry<f64>>,
    /// Properties in source order.
    pub properties: Attributes,
}

impl RawFeature {
    /// A property by name.
    #[must_use]
    pub fn property(&self, name: &str) -> Option<&AttrValue> {
        self.properties.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// What a reader learned about its source besides the features.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceInfo {
    /// The CRS the file declares, as a string PROJ accepts (`EPSG:4326`, WKT…); `None` when it
    /// declares none.
    pub declared_crs: Option<String>,
    /// Human name of the format/driver (`GeoJSON`, `GPKG`, `ESRI Shapefile`…).
    pub format: String,
    /// Layer read, for multi-layer sources.
    pub layer: Option<String>,
}

/// A reader of raw features: GeoJSON, GDAL, and later PostGIS.
pub trait FeatureSource {
    /// Streams every feature to `sink`; per-feature problems a reader can detect (bad geometry
    /// encoding) go to `report` with the feature skipped.
    ///
    /// # Errors
    /// Whole-source failures: unreadable file, malformed document, missing layer.
    fn read(
        &mut self,
        report: &mut LoadReport,
        sink: &mut dyn FnMut(RawFeature),
    ) -> Result<SourceInfo, LoadError>;
}

/// One rejected feature and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// File it came from.
    pub file: PathBuf,
    /// Feature position in the file (0-based).
    pub index: usize,
    /// Its id when it had one.
    pub id: Option<String>,
    /// What is wrong, in words that say what to fix.
    pub reason: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: feature {}", self.file.display(), self.index)?;
        if let Some(id) = &self.id {
            write!(f, " (id {id})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Everything a load rejected or warned about; nothing is dropped silently.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Features left out, each with its reason.
    pub rejected: Vec<Rejection>,
    /// Features kept after a repair, and whole-file warnings (CRS area of use…).
    pub warnings: Vec<String>,
    /// Features accepted, per file.
    pub accepted: Vec<(PathBuf, usize)>,
}

impl LoadReport {
    /// Records a rejected feature. A PostgreSQL source is recorded without its password.
    pub fn reject(&mut self, file: &Path, index: usize, id: Option<String>, reason: impl Into<String>) {
        let reason = reason.into();
        let reason = match super::postgis::redact(&reason) {
            std::borrow::Cow::Owned(redacted) => redacted,
            std::borrow::Cow::Borrowed(_) => reason,
        };
        self.rejected.push(Rejection { file: super::postgis::redact_path(file), index, id, reason });
    }

    /// Records a warning (PostgreSQL URIs in it without their passwords).
    pub fn warn(&mut self, message: impl Into<String>) {
        let message = message.into();
        let message = match super::postgis::redact(&message) {
            std::borrow::Cow::Owned(redacted) => redacted,
            std::borrow::Cow::Borrowed(_) => message,
        };
        self.warnings.push(message);
    }

    /// Whether anything was rejected.
    #[must_use]
    pub fn has_rejections(&self) -> bool {
        !self.rejected.is_empty()
    }
}
