//! The one error shape of the REST API: `{"error":{"code":"…","message":"…"}}` with a
//! stable, machine-readable code. 5xx bodies say nothing internal; the cause goes to the log.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::error::Error;

/// Inner part of an error body.
#[derive(Debug, Clone, Object)]
pub struct ErrorDetail {
    /// Stable code for programs, e.g. `not_found`, `unauthorized`, `invalid_url`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// Body of every error answer.
#[derive(Debug, Clone, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// Every error status the API uses, documented in the OpenAPI spec.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "request_error")]
pub enum ApiError {
    /// The request could not be parsed or failed validation.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid, revoked or disabled credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such resource for this caller (other tenants' resources included).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The request conflicts with the current state.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Well-formed but semantically invalid input.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Unexpected failure; see the gateway's log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency (the database) is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(code: &str, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
        },
    })
}

impl ApiError {
    /// 401 with the standard message.
    pub fn unauthorized() -> Self {
        ApiError::Unauthorized(body("unauthorized", "missing or invalid credentials"))
    }

    /// 404 for `what`.
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(body("not_found", format!("{what} not found")))
    }

    /// 409 with a stable code: the resource exists but is not in a state that allows this.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ApiError::Conflict(body(code, message))
    }

    /// 422 with a stable code.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable(body(code, message))
    }
}

/// Turns poem-openapi's own parse errors (bad JSON, missing parameter…) into our shape.
fn request_error(err: poem::Error) -> ApiError {
    ApiError::BadRequest(body("bad_request", err.to_string()))
}

/// Maps any error that escaped a handler (e.g. poem's 404/405, auth extractor failures) into
/// the same JSON shape, so clients only ever parse one format.
pub async fn any_error_to_json(err: poem::Error) -> poem::Response {
    use poem::IntoResponse;
    if err.is_from_response() {
        // Already one of ours (an `ApiError` raised by a handler or an auth checker).
        return err.into_response();
    }
    let status = err.status();
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
        "internal error".to_owned()
    } else {
        err.to_string()
    };
    let mut response = body(code, message).into_response();
    response.set_status(status);
    response
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NotFound(what) => ApiError::not_found(what),
            Error::Unauthorized => ApiError::unauthorized(),
            Error::Invalid { code, message } => ApiError::invalid(code, message),
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                ApiError::Unavailable(body("unavailable", "database unavailable, retry later"))
            }
            other => {
                tracing::error!(error = ?other, "request failed");
                ApiError::Internal(body("internal", "internal error"))
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Error::from(err).into()
    }
}
