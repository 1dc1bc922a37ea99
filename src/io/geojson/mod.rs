//! Fast pure-Rust GeoJSON: a typed serde reader (no intermediate `serde_json::Value` tree for
//! geometries) and a streaming writer.

mod read;
mod split;
mod write;

pub use read::{read_reader, read_slice, GeoJsonSource, STREAM_ABOVE_BYTES};
pub use write::{write_feature_collection, write_feature_collection_to, write_feature_with_id};
