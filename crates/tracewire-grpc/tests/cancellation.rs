//! Cancellation and deadlines: a client that drops its stream, and an expired
//! `grpc-timeout`, end both RPC spans with the right status.
#![cfg(feature = "demo-proto")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Waits until both RPC spans named `name` have ended.
async fn rpc_spans(fixture: &Fixture, name: &str) -> Vec<SpanData> {
    for _ in 0..1_000 {
        let spans = fixture.capture.spans();
        let ended = spans.iter().filter(|s| s.name == name).count();
        if ended == 2 {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unreachable!("RPC spans did not end: {}", fixture.capture.tree());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_dropping_its_stream_cancels_both_spans() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let (tx, rx) = mpsc::channel(16);
    let mut inbound = client
        .process_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for i in 1..=3 {
        tx.send(request(&i.to_string(), "x")).await.unwrap();
        assert_eq!(inbound.next().await.unwrap().unwrap().sequence, i);
    }
    // Walk away mid-stream: the response stream is dropped, the request stream is not
    // finished (so the server cannot end the call normally).
    drop(inbound);

    let spans = rpc_spans(&fixture, STREAM).await;
    let client_span = find(&spans, STREAM, SpanKind::Client);
    let server_span = find(&spans, STREAM, SpanKind::Server);
    assert_eq!(
        attr_str(client_span, "rpc.response.status_code").as_deref(),
        Some("CANCELLED")
    );
    assert!(is_error(client_span), "CANCELLED fails a client call");
    assert_eq!(
        attr_str(server_span, "rpc.response.status_code").as_deref(),
        Some("CANCELLED")
    );
    assert!(!is_error(server_span), "CANCELLED is not a server error");
    // The three processed messages still have their spans, under the SERVER span.
    let children = spans.iter().filter(|s| s.name == "process message").count();
    assert_eq!(children, 3, "{}", fixture.capture.tree());
    drop(tx);
}

#[tokio::test]
async fn an_expired_deadline_is_deadline_exceeded_on_both_sides() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let mut req = tonic::Request::new(request("1", "sleep:5000"));
    req.set_timeout(Duration::from_millis(100));
    let status = client.process(req).await.unwrap_err();
    // tonic's server answers an expired `grpc-timeout` with CANCELLED; the spans say
    // what happened.
    assert!(matches!(
        status.code(),
        tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
    ));

    let spans = rpc_spans(&fixture, UNARY).await;
    for kind in [SpanKind::Client, SpanKind::Server] {
        let span = find(&spans, UNARY, kind.clone());
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("DEADLINE_EXCEEDED"),
            "{kind:?}"
        );
        assert!(is_error(span), "{kind:?}");
    }
}

#[tokio::test]
async fn a_client_side_timeout_is_deadline_exceeded() {
    let fixture = serve(w3c()).await;
    // The endpoint's own timeout fires in the client, before any server answer.
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", fixture.addr))
        .unwrap()
        .timeout(Duration::from_millis(100));
    let mut client = client_with(&fixture, w3c(), endpoint).await;
    let status = client
        .process(request("1", "sleep:5000"))
        .await
        .unwrap_err();
    assert_ne!(status.code(), tonic::Code::Ok);

    let spans = spans(&fixture.capture, 1).await;
    let client_span = find(&spans, UNARY, SpanKind::Client);
    assert_eq!(
        attr_str(client_span, "rpc.response.status_code").as_deref(),
        Some("DEADLINE_EXCEEDED")
    );
    assert!(is_error(client_span));
}
