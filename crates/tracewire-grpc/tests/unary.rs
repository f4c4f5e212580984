//! Unary calls: the CLIENT span is the SERVER span's parent, attributes follow the RPC
//! conventions, metadata carries W3C (or B3) context, tracestate and baggage survive.
#![cfg(feature = "demo-proto")]

mod common;

use std::sync::Arc;

use common::*;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use tracewire_core::TracewirePropagator;

#[tokio::test]
async fn client_span_is_the_parent_of_the_server_span() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let reply = client
        .process(request("1", "hello"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.result, "HELLO");

    let spans = spans(&fixture.capture, 2).await;
    let client_span = find(&spans, UNARY, SpanKind::Client);
    let server_span = find(&spans, UNARY, SpanKind::Server);
    assert_eq!(
        client_span.span_context.trace_id(),
        server_span.span_context.trace_id()
    );
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert!(server_span.parent_span_is_remote);
    assert_eq!(
        client_span.parent_span_id,
        SpanId::INVALID,
        "no ambient context: a root"
    );

    for span in [client_span, server_span] {
        assert_eq!(attr_str(span, "rpc.system.name").as_deref(), Some("grpc"));
        assert_eq!(attr_str(span, "rpc.method").as_deref(), Some(UNARY));
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("OK")
        );
        assert!(!is_error(span));
        assert!(attr(span, "error.type").is_none());
    }
    assert_eq!(
        attr_str(client_span, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(client_span, "server.port"),
        Some(i64::from(fixture.addr.port()).into())
    );
    assert_eq!(
        attr_str(server_span, "server.address").as_deref(),
        Some("127.0.0.1")
    );

    // One message each way, seen from both sides.
    assert_eq!(
        message_events(client_span),
        [("SENT".into(), 1), ("RECEIVED".into(), 1)]
    );
    assert_eq!(
        message_events(server_span),
        [("RECEIVED".into(), 1), ("SENT".into(), 1)]
    );
}

#[tokio::test]
async fn a_caller_context_continues_with_tracestate_and_baggage() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let remote = SpanContext::new(
        trace_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")])
            .unwrap(),
    );
    let parent = Context::new()
        .with_remote_span_context(remote)
        .with_baggage([
            KeyValue::new("tenant", "acme"),
            KeyValue::new("tier", "gold"),
        ]);

    let mut req = tonic::Request::new(request("1", "context"));
    req.extensions_mut().insert(parent);
    let reply = client.process(req).await.unwrap().into_inner().result;

    assert!(reply.contains(&format!("trace={trace_id}")), "{reply}");
    assert!(
        reply.contains("state=rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        "{reply}"
    );
    assert!(
        reply.contains("tenant=acme") && reply.contains("tier=gold"),
        "{reply}"
    );
    // W3C keys, lowercase, as plain ASCII metadata.
    assert!(
        reply.contains("|tracestate=rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        "{reply}"
    );
    assert!(
        reply.contains("metadata=traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{reply}"
    );
    assert!(!reply.contains("b3="), "{reply}");

    let spans = spans(&fixture.capture, 2).await;
    let client_span = find(&spans, UNARY, SpanKind::Client);
    assert_eq!(client_span.span_context.trace_id(), trace_id);
    assert_eq!(
        client_span.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
    let server_span = find(&spans, UNARY, SpanKind::Server);
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
}

#[tokio::test]
async fn the_ambient_context_is_the_default_parent() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let tracer = fixture.capture.tracer("test");
    let parent = {
        use opentelemetry::trace::Tracer;
        Context::new().with_span(tracer.start("checkout"))
    };
    // tonic's generated methods are lazy futures: the layer runs on their first poll,
    // so the context must be current while they are polled (OTel's `with_context`).
    use opentelemetry::context::FutureExt;
    client
        .process(request("1", "x"))
        .with_context(parent.clone())
        .await
        .unwrap();
    parent.span().end();
    let spans = spans(&fixture.capture, 3).await;
    let client_span = find(&spans, UNARY, SpanKind::Client);
    assert_eq!(
        client_span.parent_span_id,
        parent.span().span_context().span_id()
    );
}

#[tokio::test]
async fn b3_metadata_when_the_propagator_says_so() {
    let b3: tracewire_grpc::SharedPropagator =
        Arc::new(TracewirePropagator::builder().b3().build());
    let fixture = serve(b3.clone()).await;
    let mut client = client(&fixture, b3).await;
    let reply = client
        .process(request("1", "context"))
        .await
        .unwrap()
        .into_inner()
        .result;
    assert!(reply.contains("metadata=b3="), "{reply}");
    assert!(!reply.contains("traceparent="), "{reply}");

    let spans = spans(&fixture.capture, 2).await;
    let client_span = find(&spans, UNARY, SpanKind::Client);
    let server_span = find(&spans, UNARY, SpanKind::Server);
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );
    assert_eq!(
        server_span.span_context.trace_id(),
        client_span.span_context.trace_id()
    );
}

#[tokio::test]
async fn traced_calls_can_be_spawned() {
    // The traced client (and its futures) are Send + 'static: calls can run in tasks.
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let task = tokio::spawn(async move {
        client
            .process(request("1", "x"))
            .await
            .map(|r| r.into_inner().result)
    });
    assert_eq!(task.await.unwrap().unwrap(), "X");
    let spans = spans(&fixture.capture, 2).await;
    assert_eq!(
        find(&spans, UNARY, SpanKind::Server).parent_span_id,
        find(&spans, UNARY, SpanKind::Client).span_context.span_id()
    );
}
