//! `ApiError`: the only type that becomes an HTTP error response.
//!
//! Every answer is an OGC exception body `{"code": …, "description": …}`. 4xx descriptions
//! echo what was wrong and what is accepted; 5xx say "internal error" only, and the full
//! error travels in a response extension ([`InternalDetail`]) for the logging middleware.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer of the HTTP API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is unknown, repeated or has a bad value.
    #[error("{param}: {message}")]
    BadParameter {
        /// The parameter's name.
        param: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// No such collection.
    #[error("no collection `{0}`; see /collections")]
    NoCollection(String),
    /// No such feature in a collection.
    #[error("collection `{collection}` has no feature `{id}`")]
    NoFeature {
        /// Collection id.
        collection: String,
        /// Requested feature id.
        id: String,
    },
    /// No such resource at all.
    #[error("no resource at {0}; start at /")]
    NoRoute(String),
    /// Missing or wrong bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// A reload could not load the data; the previous data is still served.
    #[error("reload failed, the previous data is still served: {0}")]
    ReloadFailed(String),
    /// Anything else: a bug or a failed background task.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The detail of a 5xx answer, kept out of the body and logged by middleware.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    /// A [`ApiError::BadParameter`].
    #[must_use]
    pub fn bad(param: &str, message: impl Into<String>) -> Self {
        Self::BadParameter { param: param.to_owned(), message: message.into() }
    }

    /// The HTTP status of this error.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadParameter { .. } => StatusCode::BAD_REQUEST,
            Self::NoCollection(_) | Self::NoFeature { .. } | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::ReloadFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OGC exception `code`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadParameter { .. } => "InvalidParameterValue",
            Self::NoCollection(_) | Self::NoFeature { .. } | Self::NoRoute(_) => "NotFound",
            Self::Unauthorized(_) => "Unauthorized",
            Self::ReloadFailed(_) => "ReloadFailed",
            Self::Internal(_) => "InternalError",
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let description = if status.is_server_error() { "internal error".to_owned() } else { self.to_string() };
        let body = serde_json::json!({ "code": self.code(), "description": description });
        let mut response = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status.is_server_error() {
            response.extensions_mut().insert(InternalDetail(self.to_string()));
        }
        response
    }
}
