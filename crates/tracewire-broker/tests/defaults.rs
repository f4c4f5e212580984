//! The defaults users get: no explicit propagator means the global one, which
//! `tracewire_telemetry::init` sets to `TracewirePropagator`. This file is its own test
//! binary, so setting the global propagator here touches no other test.
#![cfg(feature = "memory")]

use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::trace::{FutureExt as _, TraceContextExt, Tracer};
use serde::{Deserialize, Serialize};
use tracewire_broker::events::{EventBus, EventType};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

#[derive(Serialize, Deserialize)]
struct Ping {
    n: u32,
}

impl EventType for Ping {
    const TYPE: &'static str = "com.example.ping";
}

#[tokio::test]
async fn the_global_tracewire_propagator_is_used_when_none_is_given() {
    // What `tracewire_telemetry::init` does with the default `OTEL_PROPAGATORS`.
    global::set_text_map_propagator(TracewirePropagator::default());
    let capture = SpanCapture::new();
    let broker = Traced::new(
        MemoryBroker::new(),
        Tracing::new(&capture.tracer_provider()),
    );
    let mut sub = broker
        .subscribe("defaults.t", SubscribeOptions::new())
        .await
        .unwrap();
    let mut events = broker
        .inner()
        .subscribe(Ping::TYPE, SubscribeOptions::new())
        .await
        .unwrap();
    let bus = EventBus::new(broker.inner().clone(), "/services/defaults");

    let root = Context::current_with_span(capture.tracer("app").start("origin"));
    broker
        .publish(Message::new("defaults.t", "x"))
        .with_context(root.clone())
        .await
        .unwrap();
    bus.publish_event(&Ping { n: 1 })
        .with_context(root.clone())
        .await
        .unwrap();
    root.span().end();
    let delivery = sub.next().await.unwrap();
    delivery.ack().await.unwrap();
    let event = events.next().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&event.message().payload).unwrap();
    event.ack().await.unwrap();

    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("send defaults.t", "origin")
        .assert_child_of("process defaults.t", "send defaults.t");
    let trace_id = root.span().span_context().trace_id().to_string();
    let traceparent = body["traceparent"].as_str().unwrap();
    assert!(traceparent.contains(&trace_id), "{traceparent}");
}
