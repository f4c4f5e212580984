//! Client → server → client over real loopback sockets: trace context per message,
//! handshake context, span kinds and attributes.
#![cfg(all(feature = "axum", feature = "client"))]

mod common;

use std::time::Duration;

use futures_util::SinkExt;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tracewire_core::TracewirePropagator;
use tracewire_core::carrier::PairsExtractor;
use tracewire_testkit::{SpanCapture, TraceView};
use tracewire_ws::{BoxError, Envelope, Responder, WsConfig, close_code};

use common::*;

#[tokio::test]
async fn each_message_carries_its_own_trace_through_client_server_client() {
    let cap = SpanCapture::new();
    let addr = serve(traced(&cap, echo, WsConfig::default())).await;

    // The client's handler hands every reply (and the context it ran in) to the test.
    let (tx, mut replies) = mpsc::unbounded_channel();
    let client = traced(
        &cap,
        move |msg: Envelope, _reply: Responder| {
            let tx = tx.clone();
            async move {
                tx.send((msg, Context::current())).ok();
                Ok::<_, BoxError>(())
            }
        },
        WsConfig::default(),
    );
    let conn = client.connect(&format!("ws://{addr}/ws")).await.unwrap();

    // Two business operations, A and B, share the connection.
    let tracer = cap.tracer_provider().tracer("app");
    for op in ["op A", "op B"] {
        let cx = Context::new().with_span(tracer.start(op));
        conn.send(Envelope::new("say", json!(op)).with_id(op))
            .with_context(cx.clone())
            .await
            .unwrap();
        let (reply, reply_cx) = replies.recv().await.unwrap();
        assert_eq!(
            (reply.id.as_deref(), reply.kind.as_str()),
            (Some(op), "echo")
        );
        // The client continues the reply's context: its handler runs in the op's trace.
        assert_eq!(
            reply_cx.span().span_context().trace_id(),
            cx.span().span_context().trace_id()
        );
        cx.span().end();
    }
    let info = conn.close(close_code::NORMAL, "done").await;
    assert_eq!(info.code, close_code::NORMAL);
    // 2 ops, 2 server and 2 client message spans, 2 connection spans.
    let spans = cap.wait_for_spans(8, Duration::from_secs(5)).await;

    let all = TraceView::any_traces(spans.clone());
    for op in ["op A", "op B"] {
        let root = all.span(op);
        let trace = TraceView::new(
            spans
                .iter()
                .filter(|s| s.span_context.trace_id() == root.span_context.trace_id())
                .cloned()
                .collect(),
        );
        // op → server `process say` → client `process echo`, all in one trace.
        trace
            .assert_child_of("process say", op)
            .assert_child_of("process echo", "process say")
            .assert_kind("process say", SpanKind::Consumer)
            .assert_kind("process echo", SpanKind::Consumer)
            .assert_attr("process say", "websocket.message.id", op)
            .assert_attr("process echo", "websocket.message.type", "echo");
        // Both message spans link to their side's connection span.
        let server_msg = trace.span("process say");
        let client_msg = trace.span("process echo");
        let conns = all.spans_named("WS /ws");
        let server_conn = conns
            .iter()
            .find(|s| s.span_kind == SpanKind::Server)
            .unwrap();
        let client_conn = conns
            .iter()
            .find(|s| s.span_kind == SpanKind::Client)
            .unwrap();
        assert!(
            server_msg
                .links
                .links
                .iter()
                .any(|l| l.span_context == server_conn.span_context)
        );
        assert!(
            client_msg
                .links
                .links
                .iter()
                .any(|l| l.span_context == client_conn.span_context)
        );
    }

    // The connection itself: client CLIENT span → (handshake headers) → server SERVER span.
    let conns = all.spans_named("WS /ws");
    assert_eq!(conns.len(), 2);
    let server_conn = conns
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    let client_conn = conns
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .unwrap();
    assert_eq!(
        server_conn.parent_span_id,
        client_conn.span_context.span_id()
    );
    assert_eq!(
        server_conn.span_context.trace_id(),
        client_conn.span_context.trace_id()
    );
    for (span, initiator) in [(client_conn, "local"), (server_conn, "remote")] {
        let get = |k: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(get("network.protocol.name").as_deref(), Some("websocket"));
        assert_eq!(get("url.path").as_deref(), Some("/ws"));
        assert_eq!(get("server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(get("server.port"), Some(addr.port().to_string()));
        assert_eq!(get("websocket.close.code").as_deref(), Some("1000"));
        assert_eq!(get("websocket.close.initiator").as_deref(), Some(initiator));
    }
}

#[tokio::test]
async fn the_handshake_context_is_used_when_a_message_has_none() {
    let cap = SpanCapture::new();
    let addr = serve(traced(&cap, echo, WsConfig::default())).await;

    // A raw client (as a non-browser peer could) sends traceparent on the handshake only.
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("traceparent", TP_A.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(r#"{"id":"1","type":"say","data":1}"#))
        .await
        .unwrap();
    let reply = next_envelope(&mut socket).await;
    socket.close(None).await.unwrap();
    cap.wait_for_spans(2, Duration::from_secs(5)).await;

    // Everything is in trace A: remote parent → `WS /ws` → `process say`.
    let view = cap.trace();
    assert_eq!(view.trace_id().to_string(), &TP_A[3..35]);
    view.assert_child_of("process say", "WS /ws")
        .assert_no_orphans_except(opentelemetry::trace::SpanId::from_hex(&TP_A[36..52]).unwrap());
    assert_eq!(
        view.span("WS /ws").parent_span_id.to_string(),
        &TP_A[36..52]
    );
    assert!(view.span("process say").links.links.is_empty());

    // The reply carries the message span's context.
    let pairs: Vec<(String, String)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let cx = TracewirePropagator::default().extract(&PairsExtractor::new(&pairs));
    assert_eq!(
        cx.span().span_context().span_id(),
        view.span("process say").span_context.span_id()
    );
}
