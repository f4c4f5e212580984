//! `JsonBody` rejections: invalid JSON and type mismatches are 400, a wrong content
//! type 415, a body over the limit 413, each with the `{"error": {code, message}}`
//! body; none is a 500 and none marks the SERVER span as an error.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use common::*;
use http_body_util::BodyExt;
use opentelemetry::trace::Status;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tracewire_http::{JsonBody, ServerTraceLayer};

#[derive(Deserialize, Serialize)]
struct Order {
    item: String,
    quantity: u32,
}

fn app(capture: &Capture) -> Router {
    Router::new()
        .route(
            "/orders",
            post(|JsonBody(order): JsonBody<Order>| async move { JsonBody(order) }),
        )
        .layer(DefaultBodyLimit::max(64))
        .layer(
            ServerTraceLayer::new()
                .tracer_provider(&capture.provider)
                .propagator(w3c()),
        )
}

async fn post_body(
    capture: &Capture,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post("/orders");
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    let response = app(capture)
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn valid_json_round_trips() {
    let capture = Capture::new();
    let (status, body) = post_body(
        &capture,
        Some("application/json"),
        r#"{"item":"book","quantity":2}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["item"], "book");
    assert_eq!(body["quantity"], 2);
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_json_error_body() {
    for (content_type, body, status, code, why) in [
        (
            Some("application/json"),
            "{not json",
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "syntax error",
        ),
        (
            Some("application/json"),
            "",
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "empty body",
        ),
        (
            Some("application/json"),
            r#"{"item":"book"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "missing field",
        ),
        (
            Some("application/json"),
            r#"{"item":"book","quantity":-1}"#,
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "wrong type",
        ),
        (
            Some("text/plain"),
            r#"{"item":"book","quantity":1}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "text/plain",
        ),
        (
            None,
            r#"{"item":"book","quantity":1}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "no content type",
        ),
        (
            Some("application/json"),
            &format!(r#"{{"item":"{}","quantity":1}}"#, "x".repeat(100)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "over 64 bytes",
        ),
    ] {
        let capture = Capture::new();
        let (got, json) = post_body(&capture, content_type, body).await;
        assert_eq!(got, status, "{why}");
        assert_eq!(json["error"]["code"], code, "{why}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{why}"
        );

        let span = capture.span("POST /orders");
        assert_eq!(
            attr_i64(&span, "http.response.status_code"),
            i64::from(status.as_u16()),
            "{why}"
        );
        assert_eq!(
            span.status,
            Status::Unset,
            "a 4xx is not a server error: {why}"
        );
    }
}
