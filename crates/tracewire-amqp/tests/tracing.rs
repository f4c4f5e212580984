//! One trace across RabbitMQ: publish through `Traced<AmqpBroker>` on one connection,
//! process on another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{FutureExt as _, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_testkit::SpanCapture;

#[tokio::test]
async fn publish_and_process_on_two_connections_are_one_trace() {
    let config = common::config("trace");
    let exchange = config.exchange_name().to_owned();
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TraceContextPropagator::new()));
    let producer = Traced::new(common::connect(config.clone()).await, tracing.clone());
    let consumer = Traced::new(common::connect(config).await, tracing);
    let mut sub = consumer
        .subscribe(
            "orders.created",
            SubscribeOptions::new().queue_group("billing"),
        )
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
    assert!(
        d.message().headers.contains("traceparent"),
        "context travelled in headers"
    );
    d.ack().await.unwrap();
    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("send orders.created", "checkout")
        .assert_child_of("process orders.created", "send orders.created")
        .assert_link("process orders.created", "send orders.created")
        .assert_kind("send orders.created", SpanKind::Producer)
        .assert_kind("process orders.created", SpanKind::Consumer);
    for span in capture.spans() {
        if span.name.starts_with("send") || span.name.starts_with("process") {
            let system = span
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "messaging.system");
            assert_eq!(
                system.map(|kv| &kv.value),
                Some(&Value::from("rabbitmq")),
                "{}",
                span.name
            );
            for kv in &span.attributes {
                assert!(
                    !kv.value.as_str().contains("guest@"),
                    "no credentials in spans"
                );
            }
        }
    }
    drop(sub);
    producer.close().await.unwrap();
    consumer.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// `reject` through `Traced`: dead-lettered with the reason, the `process` span ends
/// failed with a `message rejected` event; the raw delivery is reachable too.
#[tokio::test]
async fn reject_through_traced_dead_letters_and_fails_the_span() {
    use opentelemetry::trace::Status;
    use tracewire_broker::Reject as _;
    use tracewire_broker::router::middleware::{DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER};

    let config = common::config("trace-reject");
    let exchange = config.exchange_name().to_owned();
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TraceContextPropagator::new()));
    let broker = Traced::new(common::connect(config).await, tracing);
    let mut dlq = broker
        .inner()
        .subscribe_dead_letters("#", SubscribeOptions::new())
        .await
        .unwrap();
    let mut sub = broker
        .subscribe("pay.charge", SubscribeOptions::new().queue_group("billing"))
        .await
        .unwrap();
    broker
        .publish(Message::new("pay.charge", "card-expired"))
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    let d = tokio::time::timeout(wait, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.inner().message().payload, "card-expired", "raw delivery");
    d.reject("card expired").await.unwrap();
    let dead = tokio::time::timeout(wait, dlq.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        dead.message().headers.get(DLQ_ERROR_HEADER),
        Some("card expired")
    );
    assert_eq!(
        dead.message().headers.get(DLQ_ERROR_KIND_HEADER),
        Some("rejected")
    );
    dead.ack().await.unwrap();
    let spans = capture.spans();
    let process = spans
        .iter()
        .find(|s| s.name == "process pay.charge")
        .expect("process span ended by reject");
    assert!(
        matches!(&process.status, Status::Error { description } if description == "card expired"),
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
            && kv.value.as_str() == "card expired"
    }));
    let again = tokio::time::timeout(Duration::from_millis(500), sub.next()).await;
    assert!(again.is_err(), "a rejected message is not redelivered");
    drop((sub, dlq));
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}
