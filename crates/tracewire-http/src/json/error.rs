//! [`ApiError`]: the one error body every tracewire HTTP service returns,
//! `{"error": {"code": "...", "message": "..."}}`.

use std::borrow::Cow;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// The wire shape of an error response: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The inner object of an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`invalid_json`, `not_found`, ...).
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// An HTTP error with a status, a stable code and a message, rendered (with the `axum`
/// feature, through `IntoResponse`) as an [`ErrorBody`] with
/// `content-type: application/json`.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use tracewire_http::ApiError;
///
/// async fn find() -> Result<String, ApiError> {
///     Err(ApiError::not_found("no such order"))
/// }
/// let app: Router = Router::new().route("/orders/{id}", get(find));
/// # let _ = app;
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
}

impl ApiError {
    /// An error with any status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 500 `internal`. Put details in logs or span events, not in the message.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 502 `bad_gateway` (an upstream failed).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "bad_gateway", message)
    }

    /// 504 `gateway_timeout` (an upstream did not answer in time).
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "gateway_timeout", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wire body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.clone().into_owned(),
                message: self.message.clone(),
            },
        }
    }

    /// The wire body, serialised.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            code: &'a str,
            message: &'a str,
        }
        serde_json::to_vec(&Body {
            error: Detail {
                code: &self.code,
                message: &self.message,
            },
        })
        // Two strings always serialise; keep a valid body even if that ever changed.
        .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":""}}"#.to_vec())
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let mut response = (self.status, self.to_json()).into_response();
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_error_body() {
        let error = ApiError::not_found("no \"order\" 7");
        let decoded: ErrorBody = serde_json::from_slice(&error.to_json()).unwrap();
        assert_eq!(decoded, error.body());
        assert_eq!(decoded.error.code, "not_found");
        assert_eq!(decoded.error.message, "no \"order\" 7");
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn into_response_sets_status_and_content_type() {
        use axum::response::IntoResponse;
        let response = ApiError::bad_gateway("upstream down").into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response.headers()["content-type"], "application/json");
    }
}
