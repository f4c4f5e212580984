//! Several services over real loopback sockets: one trace across client → server →
//! server, restart on bad input, tracestate and baggage over three hops, the Istio
//! B3-multi hop, the tower client layer, client error statuses and metrics, and the
//! typed JSON client's errors.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use reqwest_middleware::ClientBuilder;
use serde::{Deserialize, Serialize};
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire_http::{
    ApiError, ClientTraceLayer, JsonBody, JsonClient, JsonClientError, ServerTraceLayer,
    SharedPropagator, TracingMiddleware,
};

type Seen = BTreeMap<String, String>;

fn middleware(capture: &Capture, propagator: SharedPropagator) -> TracingMiddleware {
    TracingMiddleware::new()
        .tracer_provider(&capture.provider)
        .propagator(propagator)
}

fn client(base: impl Into<String>, capture: &Capture, propagator: SharedPropagator) -> JsonClient {
    JsonClient::with_middleware(base, middleware(capture, propagator))
}

fn server_layer(capture: &Capture, propagator: SharedPropagator) -> ServerTraceLayer {
    ServerTraceLayer::new()
        .tracer_provider(&capture.provider)
        .propagator(propagator)
}

/// The leaf: echoes the propagation headers it received.
async fn leaf(capture: &Capture, propagator: SharedPropagator) -> SocketAddr {
    let app = Router::new()
        .route(
            "/leaf",
            get(|headers: HeaderMap| async move {
                let mut seen = Seen::new();
                for name in [
                    "traceparent",
                    "tracestate",
                    "baggage",
                    "b3",
                    "x-b3-traceid",
                    "x-b3-spanid",
                    "x-b3-sampled",
                    "x-request-id",
                ] {
                    if let Some(v) = headers.get(name) {
                        seen.insert(name.to_owned(), v.to_str().unwrap().to_owned());
                    }
                }
                JsonBody(seen)
            }),
        )
        .layer(server_layer(capture, propagator));
    serve(app).await
}

/// A middle hop: calls `next_path` on `next` with the traced JSON client.
async fn middle(
    capture: &Capture,
    propagator: SharedPropagator,
    route: &'static str,
    next: SocketAddr,
    next_path: &'static str,
) -> SocketAddr {
    let downstream = client(format!("http://{next}"), capture, propagator.clone());
    let app = Router::new()
        .route(
            route,
            get(move || {
                let downstream = downstream.clone();
                async move {
                    downstream
                        .get_json::<Seen>(next_path)
                        .await
                        .map(JsonBody)
                        .map_err(|e| ApiError::bad_gateway(e.to_string()))
                }
            }),
        )
        .layer(server_layer(capture, propagator));
    serve(app).await
}

#[tokio::test]
async fn client_server_server_is_one_trace_with_client_server_links() {
    let capture = Capture::new();
    let leaf_addr = leaf(&capture, w3c()).await;
    let a = middle(&capture, w3c(), "/a", leaf_addr, "/leaf").await;

    let root = capture.provider.tracer("test").start("test.root");
    let root_cx = Context::current_with_span(root);
    let caller = client(format!("http://{a}"), &capture, w3c());
    let seen: Seen = caller
        .get_json("/a")
        .with_context_for_test(root_cx.clone())
        .await
        .unwrap();
    root_cx.span().end();
    assert!(seen.contains_key("traceparent"));

    // test.root, CLIENT(test→a), SERVER(a), CLIENT(a→leaf), SERVER(leaf)
    let spans = wait_for_spans(&capture, 5).await;
    let root = capture.span("test.root");
    let trace = root.span_context.trace_id();
    assert!(
        spans.iter().all(|s| s.span_context.trace_id() == trace),
        "one trace"
    );

    let clients = capture.span_of_kind(SpanKind::Client);
    let servers = capture.span_of_kind(SpanKind::Server);
    assert_eq!((clients.len(), servers.len()), (2, 2));
    let server_a = servers.iter().find(|s| s.name == "GET /a").unwrap();
    let server_leaf = servers.iter().find(|s| s.name == "GET /leaf").unwrap();
    let client_a = clients
        .iter()
        .find(|s| s.parent_span_id == root.span_context.span_id())
        .unwrap();
    let client_leaf = clients
        .iter()
        .find(|s| s.parent_span_id == server_a.span_context.span_id())
        .expect("the outbound call is a child of the SERVER span");
    assert_eq!(server_a.parent_span_id, client_a.span_context.span_id());
    assert!(server_a.parent_span_is_remote);
    assert_eq!(
        server_leaf.parent_span_id,
        client_leaf.span_context.span_id()
    );

    assert_eq!(client_a.name, "GET");
    assert_eq!(attr_str(client_a, "http.request.method"), "GET");
    assert_eq!(attr_str(client_a, "server.address"), "127.0.0.1");
    assert_eq!(attr_i64(client_a, "server.port"), i64::from(a.port()));
    assert_eq!(attr_str(client_a, "url.full"), format!("http://{a}/a"));
    assert_eq!(attr_i64(client_a, "http.response.status_code"), 200);
    assert_eq!(attr_str(server_a, "client.address"), "127.0.0.1");
}

/// `FutureExt::with_context`, named for what the test uses it for.
trait WithContextForTest: Sized {
    fn with_context_for_test(self, cx: Context) -> opentelemetry::context::WithContext<Self>;
}
impl<F: std::future::Future> WithContextForTest for F {
    fn with_context_for_test(self, cx: Context) -> opentelemetry::context::WithContext<Self> {
        opentelemetry::context::FutureExt::with_context(self, cx)
    }
}

#[tokio::test]
async fn tracestate_and_baggage_survive_three_hops() {
    let capture = Capture::new();
    let leaf_addr = leaf(&capture, w3c()).await;
    let b = middle(&capture, w3c(), "/b", leaf_addr, "/leaf").await;
    let a = middle(&capture, w3c(), "/a", b, "/b").await;

    let response = reqwest::Client::new()
        .get(format!("http://{a}/a"))
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        .header("baggage", "tenant=acme,user=alice;ttl=30")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen: Seen = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();

    assert_eq!(
        seen["tracestate"],
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    let baggage = &seen["baggage"];
    assert!(baggage.contains("tenant=acme"), "{baggage}");
    assert!(baggage.contains("user=alice;ttl=30"), "{baggage}");
    assert!(seen["traceparent"].starts_with(&format!("00-{TRACE_ID}-")));

    let spans = wait_for_spans(&capture, 5).await;
    assert!(
        spans
            .iter()
            .all(|s| s.span_context.trace_id() == trace_id())
    );
    assert_eq!(capture.span("GET /a").parent_span_id, parent_id());
}

#[tokio::test]
async fn malformed_traceparent_over_the_wire_starts_a_new_connected_trace() {
    let capture = Capture::new();
    let leaf_addr = leaf(&capture, w3c()).await;
    let a = middle(&capture, w3c(), "/a", leaf_addr, "/leaf").await;
    let response = reqwest::Client::new()
        .get(format!("http://{a}/a"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        )
        .header("tracestate", "foo=1")
        .send()
        .await
        .unwrap();
    let seen: Seen = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(
        !seen.contains_key("tracestate"),
        "tracestate of a rejected parent is dropped"
    );

    wait_for_spans(&capture, 3).await;
    let server_a = capture.span("GET /a");
    assert_ne!(server_a.span_context.trace_id(), trace_id());
    assert_eq!(
        server_a.parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
    let leaf = capture.span("GET /leaf");
    assert_eq!(
        leaf.span_context.trace_id(),
        server_a.span_context.trace_id()
    );
}

#[tokio::test]
async fn istio_b3_multi_inbound_continues_and_outbound_carries_w3c_and_b3() {
    let capture = Capture::new();
    let leaf_addr = leaf(&capture, mesh()).await;
    let a = middle(&capture, mesh(), "/a", leaf_addr, "/leaf").await;
    // What Envoy sends when it started the trace: B3 multi only, plus x-request-id.
    let response = reqwest::Client::new()
        .get(format!("http://{a}/a"))
        .header("x-b3-traceid", TRACE_ID)
        .header("x-b3-spanid", PARENT_ID)
        .header("x-b3-sampled", "1")
        .header("x-request-id", "envoy-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "envoy-7");
    let seen: Seen = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();

    wait_for_spans(&capture, 3).await;
    let server_a = capture.span("GET /a");
    assert_eq!(
        server_a.span_context.trace_id(),
        trace_id(),
        "continues Envoy's trace"
    );
    assert_eq!(server_a.parent_span_id, parent_id());

    let outbound = capture
        .span_of_kind(SpanKind::Client)
        .into_iter()
        .next()
        .unwrap();
    let span_hex = outbound.span_context.span_id().to_string();
    assert_eq!(seen["traceparent"], format!("00-{TRACE_ID}-{span_hex}-01"));
    assert_eq!(seen["x-b3-traceid"], TRACE_ID);
    assert_eq!(seen["x-b3-spanid"], span_hex);
    assert_eq!(seen["x-b3-sampled"], "1");
    assert!(seen["b3"].starts_with(&format!("{TRACE_ID}-{span_hex}")));
}

#[tokio::test]
async fn tower_client_layer_over_hyper_joins_the_trace() {
    let capture = Capture::new();
    let leaf_addr = leaf(&capture, w3c()).await;
    let hyper_client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Empty<Bytes>>();
    let metrics = Metrics::new();
    let mut traced = ServiceBuilder::new()
        .layer(
            ClientTraceLayer::new()
                .tracer_provider(&capture.provider)
                .propagator(w3c())
                .meter_provider(&metrics.provider),
        )
        .service(hyper_client);

    let root = capture.provider.tracer("test").start("test.root");
    let root_cx = Context::current_with_span(root);
    let mut request = http::Request::get(format!("http://{leaf_addr}/leaf?sig=secret&x=1"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    // Explicit parent through the request extensions (no attached context here).
    request.extensions_mut().insert(root_cx.clone());
    let response = traced.ready().await.unwrap().call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let seen: Seen = serde_json::from_slice(&body).unwrap();
    root_cx.span().end();

    wait_for_spans(&capture, 3).await;
    let client_span = capture.span("GET");
    assert_eq!(client_span.span_kind, SpanKind::Client);
    assert_eq!(
        client_span.parent_span_id,
        root_cx.span().span_context().span_id()
    );
    assert_eq!(
        attr_str(&client_span, "url.full"),
        format!("http://{leaf_addr}/leaf?sig=REDACTED&x=1")
    );
    let leaf_span = capture.span("GET /leaf");
    assert_eq!(leaf_span.parent_span_id, client_span.span_context.span_id());
    assert!(seen["traceparent"].contains(&client_span.span_context.span_id().to_string()));

    let points = metrics.points("http.client.request.duration");
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].count, 1);
    assert_eq!(
        point_attr(&points[0], "http.response.status_code"),
        Some(opentelemetry::Value::I64(200))
    );
    assert_eq!(
        point_attr(&points[0], "server.address").unwrap().as_str(),
        "127.0.0.1"
    );
}

#[tokio::test]
async fn client_marks_4xx_5xx_and_transport_errors() {
    let capture = Capture::new();
    let app = Router::new()
        .route(
            "/missing",
            get(|| async { ApiError::not_found("no order 9") }),
        )
        .route("/broken", get(|| async { ApiError::internal("boom") }));
    let addr = serve(app).await;
    let traced = ClientBuilder::new(reqwest::Client::new())
        .with(middleware(&capture, w3c()))
        .build();
    for path in ["/missing", "/broken"] {
        let status = traced
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error() || status.is_server_error());
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    drop(std::net::TcpListener::bind(closed));
    traced
        .get(format!("http://{closed}/x"))
        .send()
        .await
        .unwrap_err();

    let spans = capture.span_of_kind(SpanKind::Client);
    assert_eq!(spans.len(), 3);
    let codes: Vec<String> = spans.iter().map(|s| attr_str(s, "error.type")).collect();
    assert_eq!(codes, vec!["404", "500", "connect"]);
    assert!(
        spans
            .iter()
            .all(|s| matches!(s.status, Status::Error { .. }))
    );
    assert!(attr(&spans[2], "http.response.status_code").is_none());
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    item: String,
    quantity: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Created {
    id: u64,
}

#[tokio::test]
async fn json_client_returns_typed_values_and_typed_errors() {
    let capture = Capture::new();
    let app = Router::new()
        .route(
            "/orders",
            post(|JsonBody(order): JsonBody<Order>| async move {
                if order.quantity == 0 {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "empty_order",
                        "quantity is 0",
                    ));
                }
                Ok(JsonBody(Created {
                    id: u64::from(order.quantity),
                }))
            }),
        )
        .route("/not-json", get(|| async { "plain text" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(server_layer(&capture, w3c()));
    let addr = serve(app).await;
    let api =
        client(format!("http://{addr}/"), &capture, w3c()).timeout(Duration::from_millis(200));

    let created: Created = api
        .post_json(
            "/orders",
            &Order {
                item: "book".into(),
                quantity: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(created, Created { id: 3 });

    let err = api
        .post_json::<_, Created>(
            "/orders",
            &Order {
                item: "book".into(),
                quantity: 0,
            },
        )
        .await
        .unwrap_err();
    match err {
        JsonClientError::Status {
            status,
            error: Some(detail),
            ..
        } => {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(detail.code, "empty_order");
            assert_eq!(detail.message, "quantity is 0");
        }
        other => panic!("expected a status error, got {other:?}"),
    }

    let err = api.get_json::<Created>("/not-json").await.unwrap_err();
    assert!(
        matches!(
            err,
            JsonClientError::Decode {
                status: StatusCode::OK,
                ..
            }
        ),
        "{err:?}"
    );

    let err = api.get_json::<Created>("/slow").await.unwrap_err();
    assert!(matches!(err, JsonClientError::TimedOut(_)), "{err:?}");
}
