//! Source → model: read, validate, map fields, reproject.
