//! One trace across NATS: publish through `Traced<NatsBroker>` on one connection,
//! process on another. Needs nats-server on 127.0.0.1:4222.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, SpanKind, TraceContextExt, Tracer};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_testkit::SpanCapture;

use common::{Streams, connect, core_config, js_config};

async fn one_trace(config: tracewire_nats::NatsConfig) {
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(tracewire_core::TracewirePropagator::default()));
    // Two connections: nothing but the NATS headers links producer and consumer.
    let producer = Traced::new(connect(config.clone()).await, tracing.clone());
    let consumer = Traced::new(connect(config).await, tracing);
    let mut sub = consumer
        .subscribe("orders.created", SubscribeOptions::new())
        .await
        .unwrap();
    let root = Context::current_with_span(capture.tracer("test").start("checkout"));
    producer
        .publish(Message::new("orders.created", "42"))
        .with_context(root.clone())
        .await
        .unwrap();
    root.span().end();
    let d = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert!(d.message().headers.contains("traceparent"));
    d.ack().await.unwrap();
    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("send orders.created", "checkout")
        .assert_child_of("process orders.created", "send orders.created")
        .assert_link("process orders.created", "send orders.created")
        .assert_kind("send orders.created", SpanKind::Producer)
        .assert_kind("process orders.created", SpanKind::Consumer)
        .assert_attr("send orders.created", "messaging.system", "nats")
        .assert_attr("process orders.created", "messaging.system", "nats");
}

#[tokio::test]
async fn core_nats_hop_is_one_trace() {
    one_trace(core_config()).await;
}

#[tokio::test]
async fn jetstream_hop_is_one_trace() {
    let streams = Streams::default();
    let config = js_config(|js| js);
    streams.add(&config);
    one_trace(config).await;
}

/// `reject` through `Traced`: the message is dead-lettered with the reason, the
/// `process` span ends failed with a `message rejected` event, and (JetStream) the
/// message is terminated, not redelivered.
async fn reject_through_traced(
    config: tracewire_nats::NatsConfig,
) -> Traced<tracewire_nats::NatsBroker> {
    use opentelemetry::trace::Status;
    use tracewire_broker::Reject as _;
    use tracewire_broker::router::middleware::{DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER};

    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(tracewire_core::TracewirePropagator::default()));
    let broker = Traced::new(connect(config).await, tracing);
    let mut dead = broker
        .inner()
        .subscribe("dead", SubscribeOptions::new())
        .await
        .unwrap();
    let mut work = broker
        .subscribe("work", SubscribeOptions::new().queue_group("workers"))
        .await
        .unwrap();
    broker
        .publish(Message::new("work", "poison"))
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), work.next())
        .await
        .unwrap()
        .unwrap();
    d.reject("order 7 does not exist").await.unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .unwrap()
        .unwrap();
    let m = letter.message();
    assert_eq!(m.payload, "poison");
    assert_eq!(
        m.headers.get(DLQ_ERROR_KIND_HEADER),
        Some(tracewire_nats::KIND_REJECTED)
    );
    assert_eq!(
        m.headers.get(DLQ_ERROR_HEADER),
        Some("order 7 does not exist")
    );
    letter.ack().await.unwrap();
    let spans = capture.spans();
    let process = spans
        .iter()
        .find(|s| s.name == "process work")
        .expect("process span ended by reject");
    assert!(
        matches!(&process.status, Status::Error { description } if description == "order 7 does not exist"),
        "{:?}",
        process.status
    );
    assert!(
        process
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type" && kv.value.as_str() == "rejected")
    );
    let event = process
        .events
        .iter()
        .find(|e| e.name == "message rejected")
        .expect("rejected event");
    assert!(event.attributes.iter().any(|kv| {
        kv.key.as_str() == "tracewire.messaging.reject.reason"
            && kv.value.as_str() == "order 7 does not exist"
    }));
    // Nothing comes back: JetStream terminated it, core NATS never redelivers.
    let again = tokio::time::timeout(Duration::from_millis(500), work.next()).await;
    assert!(again.is_err(), "a rejected message is not redelivered");
    broker
}

#[tokio::test]
async fn core_nats_reject_through_traced_dead_letters() {
    let broker = reject_through_traced(core_config().with_dead_letter_topic("dead")).await;
    broker.close().await.unwrap();
}

#[tokio::test]
async fn jetstream_reject_through_traced_dead_letters_and_terminates() {
    let streams = Streams::default();
    let config = js_config(|js| js.with_max_deliver(5).with_dead_letter_topic("dead"));
    streams.add(&config);
    let broker = reject_through_traced(config).await;
    broker.inner().flush().await.unwrap();
    let js = async_nats::jetstream::new(broker.inner().client().clone());
    let stream = &broker.inner().config().jetstream.as_ref().unwrap().stream;
    let info = js
        .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
            "workers-work",
            stream,
        )
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(
        (info.num_ack_pending, info.num_pending),
        (0, 0),
        "terminated, not pending"
    );
}
