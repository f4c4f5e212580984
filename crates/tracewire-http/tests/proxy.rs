//! `ForwardProxy` over loopback: the proxy is a traced hop (SERVER then CLIENT span),
//! keeps the trace and the mesh headers, drops hop-by-hop headers, and answers an
//! unreachable upstream with 502 and the JSON error body.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use common::*;
use opentelemetry::trace::{SpanKind, Status};
use tracewire_http::proxy::ForwardProxy;
use tracewire_http::{ClientTraceLayer, JsonBody, ServerTraceLayer};

type Seen = BTreeMap<String, String>;

fn server_layer(capture: &Capture) -> ServerTraceLayer {
    ServerTraceLayer::new()
        .tracer_provider(&capture.provider)
        .propagator(mesh())
}

async fn proxy_to(capture: &Capture, upstream: &str) -> std::net::SocketAddr {
    let proxy = ForwardProxy::new(upstream).unwrap().client_layer(
        &ClientTraceLayer::new()
            .tracer_provider(&capture.provider)
            .propagator(mesh()),
    );
    serve(
        Router::new()
            .route_service("/inventory/{*rest}", proxy)
            .layer(server_layer(capture)),
    )
    .await
}

#[tokio::test]
async fn the_proxy_keeps_the_trace_and_forwards_mesh_headers() {
    let capture = Capture::new();
    let upstream = serve(
        Router::new()
            .route(
                "/inventory/items",
                get(|headers: HeaderMap| async move {
                    let seen: Seen = headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                        .collect();
                    JsonBody(seen)
                }),
            )
            .layer(server_layer(&capture)),
    )
    .await;
    let proxy = proxy_to(&capture, &format!("http://{upstream}")).await;

    let response = reqwest::Client::new()
        .get(format!("http://{proxy}/inventory/items"))
        .header("traceparent", TRACEPARENT)
        .header("x-request-id", "mesh-req-1")
        .header("x-ot-span-context", "opaque-vendor-context")
        .header("connection", "x-secret-hop")
        .header("x-secret-hop", "must not pass")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "mesh-req-1");
    let seen: Seen = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();

    wait_for_spans(&capture, 3).await;
    let proxy_server = capture.span("GET /inventory/{*rest}");
    let proxy_client = capture.span("GET");
    let upstream_server = capture.span("GET /inventory/items");
    assert_eq!(proxy_server.span_kind, SpanKind::Server);
    assert_eq!(proxy_client.span_kind, SpanKind::Client);
    for span in [&proxy_server, &proxy_client, &upstream_server] {
        assert_eq!(span.span_context.trace_id(), trace_id(), "{}", span.name);
    }
    assert_eq!(proxy_server.parent_span_id, parent_id());
    assert_eq!(
        proxy_client.parent_span_id,
        proxy_server.span_context.span_id()
    );
    assert_eq!(
        upstream_server.parent_span_id,
        proxy_client.span_context.span_id()
    );

    let client_id = proxy_client.span_context.span_id().to_string();
    assert_eq!(seen["traceparent"], format!("00-{TRACE_ID}-{client_id}-01"));
    assert_eq!(seen["x-b3-spanid"], client_id);
    assert_eq!(seen["x-request-id"], "mesh-req-1");
    assert_eq!(seen["x-ot-span-context"], "opaque-vendor-context");
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert!(!seen.contains_key("x-secret-hop"));
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_with_the_json_error_body() {
    let capture = Capture::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = proxy_to(&capture, &format!("http://{closed}")).await;
    let response = reqwest::Client::new()
        .get(format!("http://{proxy}/inventory/items"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "bad_gateway");
    assert!(body["error"]["message"].is_string());

    wait_for_spans(&capture, 2).await;
    let server = capture.span("GET /inventory/{*rest}");
    assert_eq!(attr_i64(&server, "http.response.status_code"), 502);
    assert!(matches!(server.status, Status::Error { .. }));
    let client = capture.span("GET");
    assert!(matches!(client.status, Status::Error { .. }));
    assert!(attr(&client, "error.type").is_some());
    assert_eq!(client.parent_span_id, server.span_context.span_id());
}
