//! `ServerTraceLayer` in process (`tower::ServiceExt::oneshot`): span shape, context
//! extraction, error mapping, panics, filters, public endpoints, streaming bodies,
//! request ids, handler spans (OpenTelemetry and `tracing`); metrics are in
//! `metrics.rs`.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use bytes::Bytes;
use common::*;
use http_body::Frame;
use http_body_util::BodyExt;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use tower::ServiceExt;
use tracewire_http::ServerTraceLayer;
use tracewire_http::server::SkipPaths;

fn layer(capture: &Capture) -> ServerTraceLayer {
    ServerTraceLayer::new()
        .tracer_provider(&capture.provider)
        .propagator(w3c())
}

fn app(capture: &Capture) -> Router {
    let tracer = capture.provider.tracer("handler");
    Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler exploded");
                }
                "unreachable"
            }),
        )
        .route(
            "/work",
            get(move || {
                let tracer = tracer.clone();
                async move {
                    // Uses the current context: the SERVER span must be the parent.
                    let _span = tracer.start("db.query");
                    "done"
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

fn get_req(uri: &str) -> http::request::Builder {
    Request::get(uri).header("host", "orders.svc:8080")
}

#[tokio::test]
async fn continues_the_inbound_trace_with_semconv_attributes() {
    let capture = Capture::new();
    let response = app(&capture)
        .layer(layer(&capture))
        .oneshot(
            get_req("/orders/42?x=1")
                .header("traceparent", TRACEPARENT)
                .header("user-agent", "test-agent/1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "order");

    let span = capture.span("GET /orders/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.span_context.trace_id(), trace_id());
    assert_eq!(span.parent_span_id, parent_id());
    assert!(span.parent_span_is_remote);
    assert_eq!(attr_str(&span, "http.request.method"), "GET");
    assert_eq!(attr_str(&span, "url.path"), "/orders/42");
    assert_eq!(attr_str(&span, "url.query"), "x=1");
    assert_eq!(attr_str(&span, "url.scheme"), "http");
    assert_eq!(attr_str(&span, "http.route"), "/orders/{id}");
    assert_eq!(attr_str(&span, "server.address"), "orders.svc");
    assert_eq!(attr_i64(&span, "server.port"), 8080);
    assert_eq!(attr_str(&span, "user_agent.original"), "test-agent/1");
    assert_eq!(attr_str(&span, "network.protocol.version"), "1.1");
    assert_eq!(attr_i64(&span, "http.response.status_code"), 200);
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn missing_or_malformed_traceparent_starts_a_new_trace() {
    for (value, why) in [
        (None, "missing"),
        (
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            "uppercase",
        ),
        (
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            "zero trace id",
        ),
        (Some("garbage"), "not a traceparent"),
    ] {
        let capture = Capture::new();
        let mut req = get_req("/orders/1");
        if let Some(value) = value {
            req = req.header("traceparent", value);
        }
        let response = app(&capture)
            .layer(layer(&capture))
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
        let span = capture.span("GET /orders/{id}");
        assert!(span.span_context.is_valid(), "{why}");
        assert_ne!(span.span_context.trace_id(), trace_id(), "{why}");
        assert_eq!(
            span.parent_span_id,
            opentelemetry::trace::SpanId::INVALID,
            "{why}"
        );
    }
}

#[tokio::test]
async fn server_errors_are_errors_client_errors_are_not() {
    let capture = Capture::new();
    let app = app(&capture).layer(layer(&capture));
    for uri in ["/fail", "/missing"] {
        let response = app
            .clone()
            .oneshot(get_req(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let fail = capture.span("GET /fail");
    assert_eq!(attr_i64(&fail, "http.response.status_code"), 503);
    assert!(matches!(fail.status, Status::Error { .. }));
    assert_eq!(attr_str(&fail, "error.type"), "503");

    let missing = capture.span("GET /missing");
    assert_eq!(attr_i64(&missing, "http.response.status_code"), 404);
    assert_eq!(missing.status, Status::Unset);
    assert!(attr(&missing, "error.type").is_none());
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_with_an_exception_event() {
    let capture = Capture::new();
    let response = app(&capture)
        .layer(layer(&capture))
        .oneshot(get_req("/panic").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().contains_key("x-request-id"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["code"], "internal");

    let span = capture.span("GET /panic");
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(attr_i64(&span, "http.response.status_code"), 500);
    let event = span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("exception event");
    let message = event
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "exception.message")
        .unwrap();
    assert_eq!(message.value.as_str(), "handler exploded");
}

#[tokio::test]
async fn filtered_requests_get_no_span_but_keep_the_request_id() {
    let capture = Capture::new();
    let response = app(&capture)
        .layer(layer(&capture).filter(SkipPaths::new(["/healthz"])))
        .oneshot(
            get_req("/healthz")
                .header("x-request-id", "probe-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "probe-1");
    response.into_body().collect().await.unwrap();
    assert!(capture.spans().is_empty(), "{:?}", capture.spans());
}

#[tokio::test]
async fn request_id_is_generated_recorded_and_returned() {
    let capture = Capture::new();
    let app = app(&capture).layer(layer(&capture));

    let response = app
        .clone()
        .oneshot(
            get_req("/orders/1")
                .header("x-request-id", "req-abc")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc");
    response.into_body().collect().await.unwrap();

    let response = app
        .oneshot(get_req("/orders/2").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36);
    response.into_body().collect().await.unwrap();

    let recorded: Vec<String> = capture
        .spans()
        .iter()
        .map(|s| match attr(s, "http.request.header.x-request-id") {
            Some(opentelemetry::Value::Array(opentelemetry::Array::String(v))) => {
                v[0].as_str().to_owned()
            }
            other => panic!("request id attribute: {other:?}"),
        })
        .collect();
    assert_eq!(recorded, vec!["req-abc".to_owned(), generated]);
}

#[tokio::test]
async fn public_endpoint_starts_a_new_trace_linked_to_the_caller() {
    let capture = Capture::new();
    let response = app(&capture)
        .layer(layer(&capture).public_endpoint(true))
        .oneshot(
            get_req("/orders/1")
                .header("traceparent", TRACEPARENT)
                .header("baggage", "tenant=evil")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let span = capture.span("GET /orders/{id}");
    assert_ne!(span.span_context.trace_id(), trace_id());
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(span.links.links.len(), 1);
    let link = &span.links.links[0].span_context;
    assert_eq!(link.trace_id(), trace_id());
    assert_eq!(link.span_id(), parent_id());
}

#[tokio::test]
async fn public_endpoint_predicate_applies_per_request() {
    let capture = Capture::new();
    let app = app(&capture).layer(layer(&capture).public_endpoint_when(
        |req: &http::request::Parts| !req.headers.contains_key("x-internal"),
    ));
    for internal in [true, false] {
        let mut req = get_req("/orders/1").header("traceparent", TRACEPARENT);
        if internal {
            req = req.header("x-internal", "1");
        }
        let response = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let spans = capture.spans();
    assert_eq!(
        spans[0].span_context.trace_id(),
        trace_id(),
        "internal continues"
    );
    assert_ne!(
        spans[1].span_context.trace_id(),
        trace_id(),
        "external restarts"
    );
    assert_eq!(spans[1].links.links.len(), 1);
}

#[tokio::test]
async fn handler_spans_are_children_of_the_server_span() {
    let capture = Capture::new();
    let response = app(&capture)
        .layer(layer(&capture))
        .oneshot(
            get_req("/work")
                .header("traceparent", TRACEPARENT)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let server = capture.span("GET /work");
    let child = capture.span("db.query");
    assert_eq!(child.span_context.trace_id(), trace_id());
    assert_eq!(child.parent_span_id, server.span_context.span_id());
    assert!(!child.parent_span_is_remote);
}

#[tokio::test]
async fn tracing_spans_in_handlers_join_the_server_span() {
    use tracing_subscriber::layer::SubscriberExt;

    let capture = Capture::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(capture.provider.tracer("tracing")));
    let _default = tracing::subscriber::set_default(subscriber);

    #[tracing::instrument]
    async fn load_order(id: u32) -> String {
        tracing::info_span!("inner.step").in_scope(|| format!("order {id}"))
    }

    let app = Router::new()
        .route("/traced", get(|| async { load_order(7).await }))
        .layer(layer(&capture));
    let response = app
        .oneshot(
            get_req("/traced")
                .header("traceparent", TRACEPARENT)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let server = capture.span("GET /traced");
    let load = capture.span("load_order");
    let inner = capture.span("inner.step");
    assert_eq!(load.span_context.trace_id(), trace_id());
    assert_eq!(load.parent_span_id, server.span_context.span_id());
    assert_eq!(inner.parent_span_id, load.span_context.span_id());
}

/// A body fed by a channel: the test decides when it ends.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

#[tokio::test]
async fn the_span_ends_when_the_streamed_body_ends() {
    let capture = Capture::new();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    let app = Router::new()
        .route(
            "/events",
            get(move || {
                let rx = rx.lock().unwrap().take().unwrap();
                async move { Body::new(ChannelBody(rx)) }
            }),
        )
        .layer(layer(&capture));
    let response = app
        .oneshot(get_req("/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(capture.spans().is_empty(), "headers sent, span still open");

    let mut body = response.into_body();
    tx.send(Bytes::from_static(b"data: 1\n\n")).await.unwrap();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "data: 1\n\n");
    assert!(
        capture.spans().is_empty(),
        "first event sent, span still open"
    );

    drop(tx);
    assert!(body.frame().await.is_none());
    let span = capture.span("GET /events");
    assert_eq!(attr_i64(&span, "http.response.status_code"), 200);
}

#[tokio::test]
async fn dropping_the_body_ends_the_span() {
    let capture = Capture::new();
    let (_tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    let app = Router::new()
        .route(
            "/stream",
            get(move || {
                let rx = rx.lock().unwrap().take().unwrap();
                async move { Body::new(ChannelBody(rx)) }
            }),
        )
        .layer(layer(&capture));
    let response = app
        .oneshot(get_req("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(capture.spans().is_empty());
    drop(response);
    assert_eq!(capture.spans().len(), 1, "client went away: span ended");
}

/// Span names and `http.route` values are interned per route template: every
/// (method, route) pair must still get its own, however requests interleave.
#[tokio::test]
async fn span_names_and_routes_stay_right_per_route_and_method() {
    let capture = Capture::new();
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/carts/{id}",
            get(|| async { "cart" }).post(|| async { "posted" }),
        )
        .route("/carts/{id}/items", get(|| async { "items" }))
        .route("/any/{x}", axum::routing::any(|| async { "any" }))
        .layer(layer(&capture).meter_provider(&metrics.provider));
    let cases = [
        ("GET", "/carts/1", "GET /carts/{id}", "/carts/{id}"),
        ("POST", "/carts/2", "POST /carts/{id}", "/carts/{id}"),
        (
            "GET",
            "/carts/3/items",
            "GET /carts/{id}/items",
            "/carts/{id}/items",
        ),
        ("PURGE", "/any/4", "HTTP /any/{x}", "/any/{x}"),
        ("DELETE", "/any/5", "DELETE /any/{x}", "/any/{x}"),
    ];
    // Twice round, so the second pass is served from the caches.
    for _ in 0..2 {
        for (method, uri, _, _) in cases {
            let response = app
                .clone()
                .oneshot(get_req(uri).method(method).body(Body::empty()).unwrap())
                .await
                .unwrap();
            response.into_body().collect().await.unwrap();
        }
    }
    let spans = capture.spans();
    assert_eq!(spans.len(), 2 * cases.len());
    for span in &spans {
        let path = attr_str(span, "url.path");
        let (_, _, name, route) = cases.iter().find(|c| c.1 == path).unwrap();
        assert_eq!(span.name, *name, "{path}");
        assert_eq!(attr_str(span, "http.route"), *route, "{path}");
    }
    let points = metrics.points("http.server.request.duration");
    for (method, _, _, route) in cases {
        let method = if method == "PURGE" { "_OTHER" } else { method };
        let point = points
            .iter()
            .find(|p| {
                point_attr(p, "http.route").map(|v| v.as_str().into_owned())
                    == Some(route.to_owned())
                    && point_attr(p, "http.request.method").map(|v| v.as_str().into_owned())
                        == Some(method.to_owned())
            })
            .unwrap_or_else(|| panic!("no point for {method} {route}"));
        assert_eq!(point.count, 2, "{method} {route}");
    }
}

/// The peer address and the `Host` header are cached per thread (one entry each):
/// requests from other peers or for other hosts must not see a stale value.
#[tokio::test]
async fn peer_and_host_attributes_follow_each_request() {
    use std::net::SocketAddr;

    let capture = Capture::new();
    let app = app(&capture).layer(layer(&capture));
    let requests: [(&str, &str, &str, &str, i64, i64); 4] = [
        ("/orders/1", "10.0.0.1:1000", "a.svc:81", "a.svc", 81, 1000),
        (
            "/orders/2",
            "[2001:db8::2]:2000",
            "b.svc",
            "b.svc",
            80,
            2000,
        ),
        ("/orders/3", "10.0.0.1:1001", "a.svc:81", "a.svc", 81, 1001),
        (
            "/orders/4",
            "10.0.0.3:3000",
            "[::1]:8443",
            "[::1]",
            8443,
            3000,
        ),
    ];
    for (uri, peer, host, _, _, _) in requests {
        let mut req = Request::get(uri)
            .header("host", host)
            .body(Body::empty())
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let response = app.clone().oneshot(req).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let spans = capture.spans();
    for (uri, peer, _, address, port, peer_port) in requests {
        let span = spans
            .iter()
            .find(|s| attr_str(s, "url.path") == uri)
            .unwrap();
        let ip = peer.parse::<SocketAddr>().unwrap().ip().to_string();
        assert_eq!(attr_str(span, "client.address"), ip, "{uri}");
        assert_eq!(attr_str(span, "network.peer.address"), ip, "{uri}");
        assert_eq!(attr_i64(span, "network.peer.port"), peer_port, "{uri}");
        assert_eq!(attr_str(span, "server.address"), address, "{uri}");
        assert_eq!(attr_i64(span, "server.port"), port, "{uri}");
    }
}

#[tokio::test]
async fn the_context_is_available_as_an_extension() {
    let capture = Capture::new();
    let app = Router::new()
        .route(
            "/cx",
            get(
                |axum::Extension(cx): axum::Extension<opentelemetry::Context>| async move {
                    cx.span().span_context().trace_id().to_string()
                },
            ),
        )
        .layer(layer(&capture));
    let response = app
        .oneshot(
            get_req("/cx")
                .header("traceparent", TRACEPARENT)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, TRACE_ID);
}
