//! The served data, independent of HTTP: columnar layers that the handlers in [`crate::http`]
//! query and render.

pub mod layer;

pub use layer::{CellSource, Column, ColumnData, ColumnType, FeatureRef, Layer, LayerError, PendingFeature, Rows};
