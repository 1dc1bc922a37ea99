//! Streaming GeoJSON writer.
