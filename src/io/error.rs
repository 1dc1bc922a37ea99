use std::path::PathBuf;

/// A source that cannot be read at all (per-feature problems go to the
/// [`LoadReport`](super::LoadReport) instead).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is malformed.
    #[error("{path}: malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The document is valid JSON but not GeoJSON we can use.
    #[error("{path}: {message}")]
    NotGeoJson {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// GDAL cannot open or read the source.
    #[error("{path}: GDAL cannot read it: {message}")]
    Gdal {
        /// The file.
        path: PathBuf,
        /// GDAL's message.
        message: String,
    },
    /// The layer asked for does not exist.
    #[error("{path}: no layer named `{layer}`; the file has: {available}")]
    NoLayer {
        /// The file.
        path: PathBuf,
        /// Requested layer.
        layer: String,
        /// Comma-separated layer names.
        available: String,
    },
    /// A file with several layers and no `layer` setting.
    #[error("{path}: the file has several layers ({available}); choose one with `layer = \"…\"` in the config")]
    AmbiguousLayer {
        /// The file.
        path: PathBuf,
        /// Comma-separated layer names.
        available: String,
    },
    /// A CRS string that PROJ and gapmap do not understand, or a failed transformation set-up.
    #[error("CRS `{crs}`: {message}")]
    Crs {
        /// The CRS as written.
        crs: String,
        /// What went wrong.
        message: String,
    },
    /// The catalogue file is unreadable or invalid.
    #[error("catalogue {path}: {message}")]
    Catalogue {
        /// The file (or `<built-in>`).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file extension or format we do not read.
    #[error("{path}: unsupported input format; use .geojson/.json, .gpkg, .shp, .fgb, .csv or .osm.pbf")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// Features were rejected and `--on-invalid abort` is in force.
    #[error("{count} feature(s) rejected (first: {first}); fix them or pass --on-invalid warn to continue without them")]
    Rejected {
        /// How many.
        count: usize,
        /// The first rejection, formatted.
        first: String,
    },
    /// The street network's `walkable` filter is not valid CQL2 text.
    #[error("{key} for {path}: {message}; write CQL2 text over the features' properties, e.g. highway IN ('footway','residential')")]
    Walkable {
        /// Where the filter came from (`network.walkable`).
        key: String,
        /// The network file.
        path: PathBuf,
        /// The parser's message, with the position.
        message: String,
    },
    /// A PostgreSQL source that cannot be read: a bad URI, no connection, no such table, a failed
    /// query. `uri` is the URI without its password.
    #[error("{uri}: {message}")]
    Postgres {
        /// The URI, password redacted.
        uri: PathBuf,
        /// What went wrong, with the server's message.
        message: String,
    },
    /// No usable estates at all: the rejections say why, before the conclusion.
    #[error("{}{path}: no valid estates were loaded{}", rejections_first(rejected), conclusion(rejected))]
    NoEstates {
        /// The file.
        path: PathBuf,
        /// Every estate rejected, with its reason (empty: the file has no features).
        rejected: Vec<super::raw::Rejection>,
    },
}

/// An output that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Filesystem failure.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// CSV encoding failure.
    #[error("cannot write {path}: {message}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// GDAL failure writing FlatGeobuf or GeoPackage.
    #[error("{path}: GDAL cannot write it: {message}")]
    Gdal {
        /// The file.
        path: PathBuf,
        /// GDAL's message.
        message: String,
    },
    /// A PostgreSQL output that cannot be written; the previous tables are left as they were.
    /// `uri` is the URI without its password.
    #[error("{uri}: {message}; the previous tables are unchanged")]
    Postgres {
        /// The URI, password redacted.
        uri: PathBuf,
        /// What went wrong, with the server's message.
        message: String,
    },
    /// Reprojection to CRS84 failed.
    #[error("cannot convert results to CRS84: {0}")]
    Crs(String),
    /// An extension we do not write.
    #[error("{path}: unsupported output format; use .csv, .geojson, .fgb, .gpkg or .json")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
}

/// Rejections listed before a load's conclusion shows: the first few, one a line.
const REJECTIONS_SHOWN: usize = 10;

fn rejections_first(rejected: &[super::raw::Rejection]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for r in rejected.iter().take(REJECTIONS_SHOWN) {
        let _ = writeln!(s, "rejected {r}");
    }
    if rejected.len() > REJECTIONS_SHOWN {
        let _ = writeln!(s, "… and {} more rejections", rejected.len() - REJECTIONS_SHOWN);
    }
    s
}

fn conclusion(rejected: &[super::raw::Rejection]) -> String {
    match rejected.len() {
        0 => ": the file has no features (check `layer` and the field mapping)".to_owned(),
        n => format!(": all {n} were rejected (above); fix them and load again"),
    }
}
