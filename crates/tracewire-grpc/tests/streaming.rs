//! Bidirectional streams: a 1 000-message stream is one trace, every message has its
//! own child span under the SERVER span, and both RPC spans carry message events and
//! last until the trailers.
#![cfg(feature = "demo-proto")]

mod common;

use common::*;
use futures_util::StreamExt;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;

const MESSAGES: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_one_trace_one_child_span_each() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;

    let outbound =
        tokio_stream::iter((1..=MESSAGES).map(|i| request(&i.to_string(), &format!("m{i}"))));
    let mut inbound = client.process_stream(outbound).await.unwrap().into_inner();
    let mut received = 0;
    while let Some(reply) = inbound.next().await {
        let reply = reply.unwrap();
        received += 1;
        assert_eq!(reply.sequence, received as u64);
        assert_eq!(reply.id, received.to_string());
    }
    assert_eq!(received, MESSAGES);

    let spans = spans(&fixture.capture, MESSAGES + 2).await;
    assert_eq!(spans.len(), MESSAGES + 2);
    let client_span = find(&spans, STREAM, SpanKind::Client);
    let server_span = find(&spans, STREAM, SpanKind::Server);
    let trace_id = client_span.span_context.trace_id();
    assert!(
        spans.iter().all(|s| s.span_context.trace_id() == trace_id),
        "one trace"
    );
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id()
    );

    let per_message: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "process message")
        .collect();
    assert_eq!(per_message.len(), MESSAGES);
    let mut sequences: Vec<i64> = per_message
        .iter()
        .map(|s| {
            assert_eq!(
                s.parent_span_id,
                server_span.span_context.span_id(),
                "parent of message span"
            );
            assert_eq!(s.span_kind, SpanKind::Internal);
            // Each message span lies within the SERVER span.
            assert!(s.start_time >= server_span.start_time && s.end_time <= server_span.end_time);
            i64_attr(s, "rpc.message.id")
        })
        .collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=MESSAGES as i64).collect::<Vec<_>>());

    for span in [client_span, server_span] {
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("OK")
        );
        // Events for the first 64 messages of each direction (the default limit).
        let events = message_events(span);
        let ids = |kind: &str| -> Vec<i64> {
            events
                .iter()
                .filter(|(t, _)| t == kind)
                .map(|(_, id)| *id)
                .collect()
        };
        assert_eq!(
            ids("SENT"),
            (1..=64).collect::<Vec<_>>(),
            "{:?}",
            span.span_kind
        );
        assert_eq!(
            ids("RECEIVED"),
            (1..=64).collect::<Vec<_>>(),
            "{:?}",
            span.span_kind
        );
        assert_eq!(span.events.dropped_count, 0);
    }
    // The SERVER span ended after its last message span: it lasted until the trailers.
    let last_message_end = per_message.iter().map(|s| s.end_time).max().unwrap();
    assert!(server_span.end_time >= last_message_end);
}

#[tokio::test]
async fn message_spans_are_current_while_processing() {
    let fixture = serve_service(
        w3c(),
        tonic::transport::Server::builder(),
        tracewire_grpc::demo::DemoStreamService,
    )
    .await;
    let mut client = client(&fixture, w3c()).await;
    let outbound = tokio_stream::iter((1..=3).map(|i| request(&format!("r{i}"), "x")));
    let replies: Vec<_> = client
        .process_stream(outbound)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(replies.len(), 3);
    let spans = spans(&fixture.capture, 5).await;
    let server_span = find(&spans, STREAM, SpanKind::Server);
    let mut ids: Vec<String> = spans
        .iter()
        .filter(|s| s.name == "process message")
        .map(|s| {
            assert_eq!(s.parent_span_id, server_span.span_context.span_id());
            attr_str(s, "request.id").unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["r1", "r2", "r3"]);
}
