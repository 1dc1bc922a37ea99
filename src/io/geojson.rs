//! Fast pure-Rust GeoJSON reading and writing.
