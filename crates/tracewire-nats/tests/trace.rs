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
