//! Errors of the served data: loading it, building its views and reports.

use super::layer::LayerError;

/// What loading or querying the served data can fail with. The HTTP layer maps each to a
/// status (`From<ServeError> for ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data could not be loaded (a file, feature, CRS or config problem); the message names
    /// the file or feature at fault. A reload that fails so keeps the old data.
    #[error("{0}")]
    Load(String),
    /// A request parameter the data cannot answer (a report period outside the data).
    #[error("{param}: {message}")]
    BadParameter {
        /// The parameter.
        param: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A fault of the server itself.
    #[error("{0}")]
    Internal(String),
}

impl From<LayerError> for ServeError {
    fn from(e: LayerError) -> Self {
        Self::Internal(e.to_string())
    }
}
