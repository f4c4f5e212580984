//! Messaging spans: `send`/`process` shape, attributes, links, and context that travels
//! only in headers.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, SpanKind, TraceContextExt, Tracer};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::trace::{ParentMode, Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

fn traced(capture: &SpanCapture, mode: ParentMode) -> Traced<MemoryBroker> {
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()))
        .with_parent_mode(mode);
    Traced::new(MemoryBroker::new(), tracing)
}

/// Receives one delivery and runs a "handler" span inside its context, then acks.
async fn consume_one<S: Subscription>(sub: &mut S, capture: &SpanCapture) -> Message {
    let delivery = sub.next().await.expect("open");
    let tracer = capture.tracer("app");
    async {
        tracer.in_span("handle order", |_| {});
    }
    .with_context(delivery.context())
    .await;
    let msg = delivery.message().clone();
    delivery.ack().await.expect("ack");
    msg
}

#[tokio::test]
async fn process_is_child_of_send_and_linked() {
    let capture = SpanCapture::new();
    let broker = traced(&capture, ParentMode::ChildAndLink);
    let mut sub = broker
        .subscribe("orders.created", SubscribeOptions::new())
        .await
        .unwrap();
    let tracer = capture.tracer("app");
    let root = Context::current_with_span(tracer.start("checkout"));
    let msg = Message::new("orders.created", "0123456789").with_correlation_id("conv-1");
    broker
        .publish(msg)
        .with_context(root.clone())
        .await
        .unwrap();
    root.span().end();
    let got = consume_one(&mut sub, &capture).await;
    assert!(
        got.headers.contains("traceparent"),
        "context injected into headers"
    );

    let trace = capture.trace();
    trace
        .assert_no_orphans()
        .assert_child_of("send orders.created", "checkout")
        .assert_child_of("process orders.created", "send orders.created")
        .assert_link("process orders.created", "send orders.created")
        .assert_child_of("handle order", "process orders.created")
        .assert_kind("send orders.created", SpanKind::Producer)
        .assert_kind("process orders.created", SpanKind::Consumer)
        .assert_attr(
            "send orders.created",
            "messaging.system",
            "tracewire_memory",
        )
        .assert_attr(
            "send orders.created",
            "messaging.destination.name",
            "orders.created",
        )
        .assert_attr("send orders.created", "messaging.operation.type", "send")
        .assert_attr(
            "send orders.created",
            "messaging.message.id",
            got.id.clone(),
        )
        .assert_attr(
            "send orders.created",
            "messaging.message.conversation_id",
            "conv-1",
        )
        .assert_no_attr("send orders.created", "messaging.message.body.size")
        .assert_no_attr(
            "process orders.created",
            "tracewire.messaging.delivery_attempt",
        )
        .assert_attr(
            "process orders.created",
            "messaging.operation.type",
            "process",
        );
}

#[tokio::test]
async fn opt_in_body_size_and_the_attempt_of_a_redelivery_are_recorded() {
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()))
        .with_body_size(true);
    let broker = Traced::new(MemoryBroker::new(), tracing);
    let mut sub = broker
        .subscribe("t", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("t", "0123456789"))
        .await
        .unwrap();
    // Nacked once: the memory broker redelivers it as attempt 2.
    sub.next().await.unwrap().nack().await.unwrap();
    let again = sub.next().await.unwrap();
    assert_eq!(again.message().delivery_attempt, 2);
    again.ack().await.unwrap();

    let trace = capture.trace();
    trace.assert_attr("send t", "messaging.message.body.size", 10_i64);
    let process = trace.spans_named("process t");
    assert_eq!(process.len(), 2, "{}", trace.tree());
    let attempts: Vec<Option<i64>> = process
        .iter()
        .map(|span| {
            span.attributes.iter().find_map(|kv| {
                (kv.key.as_str() == "tracewire.messaging.delivery_attempt").then(|| {
                    match &kv.value {
                        opentelemetry::Value::I64(n) => *n,
                        other => panic!("attempt is not an integer: {other:?}"),
                    }
                })
            })
        })
        .collect();
    assert!(
        attempts.contains(&None) && attempts.contains(&Some(2)),
        "first attempt unrecorded, redelivery recorded as 2: {attempts:?}"
    );
}

#[tokio::test]
async fn link_only_starts_a_new_trace() {
    let capture = SpanCapture::new();
    let broker = traced(&capture, ParentMode::LinkOnly);
    let mut sub = broker
        .subscribe("t", SubscribeOptions::new())
        .await
        .unwrap();
    broker.publish(Message::new("t", "x")).await.unwrap();
    consume_one(&mut sub, &capture).await;
    let all = capture.all_traces();
    let send = all.span("send t").span_context.clone();
    let process = all.span("process t");
    assert_ne!(
        process.span_context.trace_id(),
        send.trace_id(),
        "new trace"
    );
    all.assert_link("process t", "send t");
}

#[tokio::test]
async fn trace_survives_serialisation_to_bytes() {
    let capture = SpanCapture::new();
    let producer = traced(&capture, ParentMode::ChildAndLink);
    let consumer = traced(&capture, ParentMode::ChildAndLink);
    let mut tap = producer
        .inner()
        .subscribe("t", SubscribeOptions::new())
        .await
        .unwrap();
    let mut sub = consumer
        .subscribe("t", SubscribeOptions::new())
        .await
        .unwrap();

    producer.publish(Message::new("t", "x")).await.unwrap();
    let raw = tap.next().await.unwrap();
    let bytes = raw.message().to_bytes();
    raw.ack().await.unwrap();
    // Another broker (no shared memory with the first) gets only the bytes.
    let decoded = Message::from_bytes(bytes).unwrap();
    consumer.inner().publish(decoded).await.unwrap();
    consume_one(&mut sub, &capture).await;

    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("process t", "send t")
        .assert_child_of("handle order", "process t");
}

#[tokio::test]
async fn reply_inboxes_stay_out_of_span_names() {
    let capture = SpanCapture::new();
    let broker = traced(&capture, ParentMode::ChildAndLink);
    let mut sub = broker
        .subscribe("_INBOX.f00d", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("_INBOX.f00d", "x"))
        .await
        .unwrap();
    consume_one(&mut sub, &capture).await;
    let trace = capture.trace();
    trace
        .assert_child_of("process (reply)", "send (reply)")
        .assert_attr("send (reply)", "messaging.destination.temporary", true);
    assert!(trace.spans().iter().all(|s| !s.name.contains("f00d")));
}

/// The traced wrapper hands out the raw delivery: borrowed, with its span still open
/// (`into_parts`), or with its span ended (`into_inner`).
#[tokio::test]
async fn a_traced_delivery_gives_access_to_the_raw_one() {
    let capture = SpanCapture::new();
    let broker = traced(&capture, ParentMode::ChildAndLink);
    let mut sub = broker
        .subscribe("orders.created", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("orders.created", "1"))
        .await
        .unwrap();
    broker
        .publish(Message::new("orders.created", "2"))
        .await
        .unwrap();

    let d = sub.next().await.unwrap();
    assert_eq!(d.inner().message().payload, "1", "borrowed raw delivery");
    let (raw, cx) = d.into_parts();
    assert!(
        capture
            .spans()
            .iter()
            .all(|s| s.name != "process orders.created"),
        "into_parts keeps the process span open"
    );
    raw.ack().await.unwrap();
    cx.span().end();
    let first = named(&capture, "process orders.created");
    assert_eq!(first.len(), 1, "ended by the caller");
    assert!(first[0].events.is_empty(), "a plain ack records no event");

    let d = sub.next().await.unwrap();
    let raw = d.into_inner();
    let spans = named(&capture, "process orders.created");
    assert_eq!(spans.len(), 2, "into_inner ends the span at once");
    let events: Vec<&str> = spans[1].events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(events, ["delivery unwrapped"]);
    // The raw delivery still settles: a nack redelivers, outside any span.
    raw.nack().await.unwrap();
    let again = sub.next().await.unwrap();
    assert_eq!(
        (
            again.message().payload.as_ref(),
            again.message().delivery_attempt
        ),
        (b"2".as_ref(), 2)
    );
    again.ack().await.unwrap();
}

fn named(capture: &SpanCapture, name: &str) -> Vec<opentelemetry_sdk::trace::SpanData> {
    capture
        .spans()
        .into_iter()
        .filter(|s| s.name == name)
        .collect()
}
