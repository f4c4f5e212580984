//! [`JsonBody`]: a JSON request extractor (and response) whose rejections are
//! [`ApiError`]s: bad input is always a 4xx with a JSON body, never a 500.

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// JSON request body (as an extractor) or response body (as a return value).
///
/// Rejections, each an [`ApiError`] with the `{"error": {"code", "message"}}` body:
///
/// | input | status | code |
/// |---|---|---|
/// | no `Content-Type`, or not `application/json` / `application/*+json` | 415 | `unsupported_media_type` |
/// | body longer than the limit (axum's `DefaultBodyLimit`, 2 MB unless configured) | 413 | `payload_too_large` |
/// | body that is not JSON | 400 | `invalid_json` |
/// | JSON that does not match `T` | 400 | `invalid_body` |
/// | body that could not be read | 400 | `bad_request` |
///
/// # Example
///
/// ```
/// use axum::{Router, extract::DefaultBodyLimit, routing::post};
/// use serde::{Deserialize, Serialize};
/// use tracewire_http::JsonBody;
///
/// #[derive(Deserialize)]
/// struct NewOrder { item: String, quantity: u32 }
/// #[derive(Serialize)]
/// struct Created { id: u64 }
///
/// async fn create(JsonBody(order): JsonBody<NewOrder>) -> JsonBody<Created> {
///     JsonBody(Created { id: u64::from(order.quantity) + order.item.len() as u64 })
/// }
///
/// let app: Router = Router::new()
///     .route("/orders", post(create))
///     .layer(DefaultBodyLimit::max(64 * 1024));
/// # let _ = app;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonBody<T>(pub T);

/// `application/json` or `application/<anything>+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype
                    .get(subtype.len() - 5..)
                    .is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type(
                "expected content-type application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large("request body is larger than the limit")
            } else {
                ApiError::bad_request(rejection.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| {
                if error.is_data() {
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", error.to_string())
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", error.to_string())
                }
            })
    }
}

impl<T: Serialize> IntoResponse for JsonBody<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(error) => ApiError::internal(format!("response serialisation failed: {error}"))
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn recognises_json_media_types() {
        for (value, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/problem+json", true),
            ("application/+json", false),
            ("text/plain", false),
            ("application/jsonx", false),
            ("json", false),
        ] {
            assert_eq!(is_json(&headers(value)), json, "{value}");
        }
        assert!(!is_json(&HeaderMap::new()), "missing content type");
    }
}
