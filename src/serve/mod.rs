//! The served data, independent of HTTP: a loaded and analysed [`Dataset`] with its year views,
//! its collections as columnar [`Layer`]s, service areas, streets, trial indexes and reports.
//! The handlers in [`crate::http`] query it and render answers; nothing here knows of requests
//! or responses.

pub mod dataset;
pub mod digest;
pub mod error;
pub mod layer;
pub mod programme;
pub mod reports;
pub mod service_area;
pub mod streets;
pub mod trial;

pub use dataset::{build_dataset, load_dataset, Dataset, YearView};
pub use error::ServeError;
pub use layer::{CellSource, Column, ColumnData, ColumnType, FeatureRef, Layer, LayerError, PendingFeature, Rows};
