//! Event bus: typed CloudEvents in both modes, the tracing extension, and poison
//! messages dead-lettered without stopping the subscriber.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, TraceContextExt, Tracer};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracewire_broker::events::{EventBus, EventType, Mode, Received};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::router::middleware::{
    DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct OrderCreated {
    order_id: u64,
}

impl EventType for OrderCreated {
    const TYPE: &'static str = "com.example.order.created";
    fn topic() -> &'static str {
        "orders.created"
    }
}

async fn collect(
    bus: &EventBus<MemoryBroker>,
) -> (
    tracewire_broker::router::RouterHandle,
    mpsc::UnboundedReceiver<Received<OrderCreated>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = bus
        .subscribe(move |event: Received<OrderCreated>| {
            let tx = tx.clone();
            async move {
                tx.send(event).map_err(|e| e.to_string())?;
                Ok(())
            }
        })
        .await
        .unwrap();
    (handle, rx)
}

#[tokio::test]
async fn both_modes_round_trip_with_envelope_and_trace_extension() {
    let capture = SpanCapture::new();
    for mode in [Mode::Structured, Mode::Binary] {
        let bus = EventBus::new(MemoryBroker::new(), "/services/order")
            .with_mode(mode)
            .with_propagator(Arc::new(TracewirePropagator::default()));
        let (handle, mut rx) = collect(&bus).await;
        let root = Context::current_with_span(capture.tracer("app").start("create order"));
        let id = bus
            .publish_event(&OrderCreated { order_id: 7 })
            .with_context(root.clone())
            .await
            .unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.data, OrderCreated { order_id: 7 }, "{mode:?}");
        assert_eq!(got.message.id, id, "{mode:?}");
        use cloudevents::AttributesReader;
        assert_eq!(got.event.ty(), OrderCreated::TYPE);
        assert_eq!(got.event.source(), "/services/order");
        assert!(got.event.time().is_some());
        let traceparent = got
            .event
            .extension("traceparent")
            .map(ToString::to_string)
            .unwrap();
        let trace_id = root.span().span_context().trace_id().to_string();
        assert!(traceparent.contains(&trace_id), "{mode:?}: {traceparent}");
        if mode == Mode::Binary {
            assert_eq!(got.message.headers.get("ce-type"), Some(OrderCreated::TYPE));
        }
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn causation_links_follow_up_events() {
    let bus = EventBus::new(MemoryBroker::new(), "/services/order");
    let (handle, mut rx) = collect(&bus).await;
    let first_id = bus
        .publish_event(&OrderCreated { order_id: 1 })
        .await
        .unwrap();
    let first = rx.recv().await.unwrap();
    bus.publish_event_with(&OrderCreated { order_id: 2 }, first.causation())
        .await
        .unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!(
        second
            .event
            .extension("causationid")
            .map(ToString::to_string),
        Some(first_id.clone())
    );
    assert_eq!(
        second
            .event
            .extension("correlationid")
            .map(ToString::to_string),
        Some(first_id.clone())
    );
    assert_eq!(second.message.correlation_id, Some(first_id));
    handle.shutdown().await;
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_the_subscriber_keeps_running() {
    let broker = MemoryBroker::new();
    let bus = EventBus::new(broker.clone(), "/services/billing").with_dead_letter("events.dlq", 3);
    let mut dlq = broker
        .subscribe("events.dlq", SubscribeOptions::new())
        .await
        .unwrap();
    let (handle, mut rx) = collect(&bus).await;

    bus.publish_event(&OrderCreated { order_id: 1 })
        .await
        .unwrap();
    broker
        .publish(Message::new("orders.created", "not an event"))
        .await
        .unwrap();
    broker
        .publish(Message::new("orders.created", r#"{"specversion":"1.0","id":"x","source":"/s","type":"com.example.order.created","datacontenttype":"application/json","data":{"order_id":"nope"}}"#)
            .with_content_type("application/cloudevents+json"))
        .await
        .unwrap();
    bus.publish_event(&OrderCreated { order_id: 2 })
        .await
        .unwrap();

    assert_eq!(rx.recv().await.unwrap().data.order_id, 1);
    assert_eq!(rx.recv().await.unwrap().data.order_id, 2);
    for expected in ["not a CloudEvent", "does not decode"] {
        let d = tokio::time::timeout(Duration::from_secs(10), dlq.next())
            .await
            .unwrap()
            .unwrap();
        let error = d
            .message()
            .headers
            .get(DLQ_ERROR_HEADER)
            .unwrap()
            .to_owned();
        assert!(error.contains(expected), "{error}");
        assert_eq!(
            d.message().headers.get(DLQ_ERROR_KIND_HEADER),
            Some("permanent")
        );
        assert_eq!(
            d.message().headers.get(DLQ_TOPIC_HEADER),
            Some("orders.created")
        );
        d.ack().await.unwrap();
    }
    handle.shutdown().await;
}
