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
    /// Every worker for this kind of request is busy; try again after `retry_after_s` seconds.
    #[error("{what}; try again in {retry_after_s} s")]
    Busy {
        /// What is busy (names the config key that sets how many run at once).
        what: String,
        /// The `Retry-After` seconds.
        retry_after_s: u32,
    },
    /// Too many failed attempts from this client; it may try again after `retry_after_s` seconds.
    #[error("{what}; try again in {retry_after_s} s")]
    TooManyAttempts {
        /// What failed too often (names the config key that sets how many are allowed).
        what: String,
        /// The `Retry-After` seconds.
        retry_after_s: u64,
    },
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
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
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
            Self::Busy { .. } => "ServiceUnavailable",
            Self::TooManyAttempts { .. } => "TooManyRequests",
            Self::Internal(_) => "InternalError",
        }
    }
}

impl From<crate::serve::ServeError> for ApiError {
    fn from(e: crate::serve::ServeError) -> Self {
        use crate::serve::ServeError;
        match e {
            ServeError::Load(m) => Self::ReloadFailed(m),
            ServeError::BadParameter { param, message } => Self::bad(param, message),
            ServeError::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<crate::serve::LayerError> for ApiError {
    fn from(e: crate::serve::LayerError) -> Self {
        Self::Internal(e.to_string())
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
        // A busy answer says what is busy and when to come back; other 5xx hide their detail.
        let busy = match &self {
            Self::Busy { retry_after_s, .. } => Some(u64::from(*retry_after_s)),
            Self::TooManyAttempts { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        };
        let description = if status.is_server_error() && busy.is_none() { "internal error".to_owned() } else { self.to_string() };
        let body = serde_json::json!({ "code": self.code(), "description": description });
        let mut response = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = busy {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        } else if status.is_server_error() {
            response.extensions_mut().insert(InternalDetail(self.to_string()));
        }
        response
    }
}
