//! Every answer the API gives: JSON bodies and the one error shape,
//! `{"error": {"code", "message", "problems"?}}`.

use generation::FieldError;
use serde::Serialize;
use serde_json::json;
use worker::{Headers, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is invalid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// Too many failed credentials from this client (or from everyone): wait and try again.
    #[error("too many failed attempts; try again later")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("{0}")]
    NotFound(String),
    /// It existed and is no longer usable (a client's link revoked or expired).
    #[error("{0}")]
    Gone(String),
    #[error("method not allowed on this route; allowed: {}", .0.join(", "))]
    MethodNotAllowed(Vec<&'static str>),
    #[error("{0}")]
    Conflict(String),
    /// Another request with the same key is still running: try again after the wait.
    #[error("{message}")]
    InProgress {
        message: String,
        retry_after_seconds: u64,
    },
    /// The change named an older revision: the answer carries the current draft.
    #[error("{message}")]
    RevisionConflict {
        message: String,
        current: Box<serde_json::Value>,
    },
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// An upload of a type not taken, in words naming the file.
    #[error("{0}")]
    UnsupportedType(String),
    /// An upload over its limit, in words naming the file.
    #[error("{0}")]
    UploadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    NotConfigured(String),
    /// An outside service asked us to wait (a model's rate limit): the client may retry.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_seconds: Option<u64>,
    },
    /// Details go to the log, not to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            ApiError::Validation(_) => (400, "validation_failed"),
            ApiError::BadRequest(_) => (400, "bad_request"),
            ApiError::Unauthorized => (401, "unauthorized"),
            ApiError::Forbidden(_) => (403, "forbidden"),
            ApiError::TooManyAttempts { .. } => (429, "too_many_attempts"),
            ApiError::NotFound(_) => (404, "not_found"),
            ApiError::Gone(_) => (410, "gone"),
            ApiError::MethodNotAllowed(_) => (405, "method_not_allowed"),
            ApiError::Conflict(_) => (409, "conflict"),
            ApiError::InProgress { .. } => (409, "in_progress"),
            ApiError::RevisionConflict { .. } => (409, "revision_conflict"),
            ApiError::TooLarge(_) => (413, "payload_too_large"),
            ApiError::UnsupportedMediaType | ApiError::UnsupportedType(_) => {
                (415, "unsupported_media_type")
            }
            ApiError::UploadTooLarge(_) => (413, "payload_too_large"),
            ApiError::Unprocessable(_) => (422, "unprocessable"),
            ApiError::BadGateway(_) => (502, "model_failed"),
            ApiError::NotConfigured(_) => (503, "not_configured"),
            ApiError::Unavailable { .. } => (503, "model_unavailable"),
            ApiError::Internal(_) => (500, "internal"),
        }
    }

    pub fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            worker::console_error!("internal error: {detail}");
        }
        let mut error = json!({ "code": code, "message": self.to_string() });
        let mut retry_after = None;
        match &self {
            ApiError::Validation(problems) => error["problems"] = json!(problems),
            ApiError::RevisionConflict { current, .. } => error["current"] = (**current).clone(),
            ApiError::InProgress {
                retry_after_seconds,
                ..
            }
            | ApiError::TooManyAttempts {
                retry_after_seconds,
            } => retry_after = Some(*retry_after_seconds),
            ApiError::Unavailable {
                retry_after_seconds,
                ..
            } => retry_after = *retry_after_seconds,
            _ => {}
        }
        let mut response = json(status, &json!({ "error": error })).unwrap_or_else(|_| {
            Response::error("internal error", 500).expect("a plain response can always be built")
        });
        if status == 401 {
            let _ = response.headers_mut().set("www-authenticate", "Bearer");
        }
        if let ApiError::MethodNotAllowed(allowed) = &self {
            let _ = response.headers_mut().set("allow", &allowed.join(", "));
        }
        if let Some(seconds) = retry_after {
            let _ = response
                .headers_mut()
                .set("retry-after", &seconds.to_string());
        }
        response
    }
}

impl From<worker::Error> for ApiError {
    fn from(error: worker::Error) -> Self {
        ApiError::Internal(error.to_string())
    }
}

/// A numeric setting that is not a number: the deploy is misconfigured (503 naming it).
impl From<platform::config::NotANumber> for ApiError {
    fn from(error: platform::config::NotANumber) -> Self {
        ApiError::NotConfigured(error.to_string())
    }
}

impl From<worker::KvError> for ApiError {
    fn from(error: worker::KvError) -> Self {
        ApiError::Internal(format!("KV: {error}"))
    }
}

pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    let text = serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Response::ok(text)?
        .with_status(status)
        .with_headers(headers))
}

/// A body that is JSON already, such as the OpenAPI document.
pub fn raw_json(text: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    Ok(Response::ok(text)?.with_headers(headers))
}

/// `OPTIONS`: no body, the methods the path answers.
pub fn options(allowed: &[&str]) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("allow", &allowed.join(", "))?;
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}
