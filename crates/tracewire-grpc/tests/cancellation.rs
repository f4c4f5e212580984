//! Cancellation and deadlines: a client that drops its stream, and an expired
//! `grpc-timeout`, end both RPC spans with the right status.
#![cfg(feature = "demo-proto")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
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

/// The drip stream sends a response every 20 ms, forever; calls get 200 ms.
const TIMEOUT: Duration = Duration::from_millis(200);
/// How long a cut-off may take past the deadline (loaded CI machines included); the
/// stream itself would never end.
const CUT_OFF_WITHIN: Duration = Duration::from_millis(1_500);

/// Asserts that a drip call with the 200 ms timeout was cut off: DEADLINE_EXCEEDED for
/// the application, in time, on both spans (errors on both sides), and the handler's
/// stream dropped although the request stream is still open.
async fn assert_cut_off(fixture: &Fixture, client: &mut TracedClient, id: &str) -> tonic::Status {
    let started = std::time::Instant::now();
    let (mut inbound, tx) = open_drip(client, id, Some(TIMEOUT)).await;
    let (status, received) = read_until_error(&mut inbound, 2 * CUT_OFF_WITHIN).await;
    let elapsed = started.elapsed();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(received >= 1, "responses flowed before the deadline");
    assert!(elapsed >= TIMEOUT, "not before the deadline: {elapsed:?}");
    assert!(elapsed < CUT_OFF_WITHIN, "cut off in time: {elapsed:?}");

    let spans = rpc_spans(fixture, STREAM).await;
    for kind in [SpanKind::Client, SpanKind::Server] {
        let span = find(&spans, STREAM, kind.clone());
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("DEADLINE_EXCEEDED"),
            "{kind:?}"
        );
        assert!(is_error(span), "DEADLINE_EXCEEDED fails the {kind:?} span");
    }
    assert!(
        wait_handler_dropped(id, Duration::from_secs(2)).await,
        "the handler's stream keeps running past the deadline"
    );
    // The request stream was left open: the deadline alone ended the call, and the
    // client's request body (hyper's task that sends it) is gone too.
    let closed = tokio::time::timeout(Duration::from_secs(2), tx.closed()).await;
    assert!(closed.is_ok(), "the request body outlived the call");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_deadline_ends_a_streaming_call() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    assert_cut_off(&fixture, &mut client, "both-layers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_layer_ends_the_stream_with_deadline_exceeded_trailers() {
    let fixture = serve(w3c()).await;
    // Only the server enforces: the client learns the deadline from the trailers.
    let mut client = client_configured(&fixture, |layer| layer.enforce_deadlines(false)).await;
    let status = assert_cut_off(&fixture, &mut client, "server-layer").await;
    assert_eq!(status.message(), "deadline exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_ends_the_call_and_resets_the_stream() {
    // Only the client enforces: its reset must stop the server's handler.
    let fixture = serve_configured(|layer| layer.enforce_deadlines(false)).await;
    let mut client = client(&fixture, w3c()).await;
    assert_cut_off(&fixture, &mut client, "client-layer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_timeout_is_not_cut_off() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let (mut inbound, tx) = open_drip(&mut client, "no-timeout", None).await;
    let started = std::time::Instant::now();
    let mut received = 0;
    while started.elapsed() < 3 * TIMEOUT {
        let next = inbound.message().await;
        assert!(matches!(next, Ok(Some(_))), "{next:?}");
        received += 1;
    }
    assert!(received >= 3);
    assert!(!handler_dropped("no-timeout"));
    drop(inbound);
    let spans = rpc_spans(&fixture, STREAM).await;
    let client_span = find(&spans, STREAM, SpanKind::Client);
    assert_eq!(
        attr_str(client_span, "rpc.response.status_code").as_deref(),
        Some("CANCELLED")
    );
    drop(tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_before_its_deadline_is_ok() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    let requests = tokio_stream::iter((1..=3).map(|i| request(&i.to_string(), "x")));
    let mut req = tonic::Request::new(requests);
    req.set_timeout(TIMEOUT);
    let mut inbound = client.process_stream(req).await.unwrap().into_inner();
    let mut received = 0;
    while let Some(response) = inbound.message().await.unwrap() {
        received += 1;
        assert_eq!(response.sequence, received);
    }
    assert_eq!(received, 3);
    // The deadline passing after the end changes nothing.
    tokio::time::sleep(TIMEOUT + Duration::from_millis(100)).await;
    let spans = rpc_spans(&fixture, STREAM).await;
    for kind in [SpanKind::Client, SpanKind::Server] {
        let span = find(&spans, STREAM, kind.clone());
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("OK"),
            "{kind:?}"
        );
        assert!(!is_error(span), "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_call_is_measured_as_deadline_exceeded() {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let fixture = serve_configured(|layer| layer.meter_provider(&meters)).await;
    let mut client = client_configured(&fixture, |layer| layer.meter_provider(&meters)).await;
    assert_cut_off(&fixture, &mut client, "measured").await;
    meters.force_flush().unwrap();
    for name in ["rpc.server.call.duration", "rpc.client.call.duration"] {
        let points = histogram(&exporter, name);
        let [(attrs, count, seconds)] = points.as_slice() else {
            panic!("{name}: one data point expected, got {points:?}");
        };
        assert_eq!(*count, 1, "{name}");
        assert_eq!(attrs["rpc.method"], STREAM, "{name}");
        assert_eq!(
            attrs["rpc.response.status_code"], "DEADLINE_EXCEEDED",
            "{name}"
        );
        assert_eq!(attrs["error.type"], "DEADLINE_EXCEEDED", "{name}");
        // Measured to the cut-off (the server's clock starts a little later).
        assert!(*seconds >= 0.15, "{name}: {seconds}");
        assert!(*seconds < CUT_OFF_WITHIN.as_secs_f64(), "{name}: {seconds}");
    }
}
