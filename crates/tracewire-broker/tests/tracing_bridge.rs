//! `tracing`-crate spans (`info_span!`, `#[instrument]`) created by application code in
//! a router handler, an event-bus subscriber and a request/reply responder are children
//! of the library's `process` span (the library spans go through the OpenTelemetry API;
//! the `tracing` spans reach the same provider through the capture's bridge).
//!
//! Each test installs the capture's `tracing` subscriber for its thread; the tests run
//! on the current-thread runtime, so every spawned task sees that subscriber.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracewire_broker::events::{EventBus, EventType, Received};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::request_reply::{Requester, serve};
use tracewire_broker::router::{HandlerError, Router, handler_fn};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Message};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;
use tracing::Instrument as _;

const WAIT: Duration = Duration::from_secs(10);

fn traced(capture: &SpanCapture) -> Traced<MemoryBroker> {
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()));
    Traced::new(MemoryBroker::new(), tracing)
}

/// Application code instrumented with `tracing` only: an `#[instrument]`ed async fn
/// with an `info_span!` inside.
#[tracing::instrument(skip_all)]
async fn reserve_stock(order: &str) -> String {
    tokio::task::yield_now().await;
    tracing::info_span!("stock.query").in_scope(|| format!("reserved {order}"))
}

#[tokio::test]
async fn router_handler_tracing_spans_are_children_of_process() {
    let capture = SpanCapture::new();
    let _tracing = tracing::subscriber::set_default(capture.tracing_subscriber());
    let broker = traced(&capture);
    let (done, mut handled) = mpsc::unbounded_channel();
    let router = Router::new(broker.clone())
        .route(
            "orders.created",
            handler_fn(move |m: Message| {
                // Created when the handler is called, before its first poll.
                let span = tracing::info_span!("handle order");
                let done = done.clone();
                async move {
                    let order = String::from_utf8_lossy(&m.payload).into_owned();
                    done.send(reserve_stock(&order).await).unwrap();
                    Ok::<_, HandlerError>(Vec::new())
                }
                .instrument(span)
            }),
        )
        .run()
        .await
        .unwrap();
    broker
        .publish(Message::new("orders.created", "42"))
        .await
        .unwrap();
    assert_eq!(handled.recv().await.unwrap(), "reserved 42");
    router.shutdown().await;
    capture.wait_for_spans(5, WAIT).await;

    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("process orders.created", "send orders.created")
        .assert_child_of("handle order", "process orders.created")
        .assert_child_of("reserve_stock", "handle order")
        .assert_child_of("stock.query", "reserve_stock");
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderCreated {
    order_id: u64,
}

impl EventType for OrderCreated {
    const TYPE: &'static str = "com.example.order.created";
    fn topic() -> &'static str {
        "orders.events"
    }
}

#[tokio::test]
async fn event_subscriber_tracing_spans_are_children_of_process() {
    let capture = SpanCapture::new();
    let _tracing = tracing::subscriber::set_default(capture.tracing_subscriber());
    let broker = traced(&capture);
    let bus = EventBus::new(broker.clone(), "/services/inventory")
        .with_propagator(Arc::new(TracewirePropagator::default()));
    let (done, mut handled) = mpsc::unbounded_channel();
    let subscriber = bus
        .subscribe(move |event: Received<OrderCreated>| {
            let done = done.clone();
            async move {
                let reserved = reserve_stock(&event.data.order_id.to_string()).await;
                tracing::info_span!("event.done").in_scope(|| done.send(reserved))?;
                Ok::<_, BoxError>(())
            }
        })
        .await
        .unwrap();
    bus.publish_event(&OrderCreated { order_id: 7 })
        .await
        .unwrap();
    assert_eq!(handled.recv().await.unwrap(), "reserved 7");
    subscriber.shutdown().await;
    capture.wait_for_spans(5, WAIT).await;

    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("process orders.events", "send orders.events")
        .assert_child_of("reserve_stock", "process orders.events")
        .assert_child_of("stock.query", "reserve_stock")
        .assert_child_of("event.done", "process orders.events");
}

#[tokio::test]
async fn responder_tracing_spans_are_children_of_process() {
    let capture = SpanCapture::new();
    let _tracing = tracing::subscriber::set_default(capture.tracing_subscriber());
    let broker = traced(&capture);
    let server = serve(broker.clone(), "stock.reserve", |req: Message| async move {
        let order = String::from_utf8_lossy(&req.payload).into_owned();
        Ok::<_, BoxError>(Message::new("", reserve_stock(&order).await))
    })
    .await
    .unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    let reply = requester
        .request("stock.reserve", Message::new("", "9"), WAIT)
        .await
        .unwrap();
    assert_eq!(reply.payload, "reserved 9");
    server.shutdown().await;
    // send, process, reserve_stock, stock.query, send (reply), process (reply)
    capture.wait_for_spans(6, WAIT).await;
    drop(requester);

    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("process stock.reserve", "send stock.reserve")
        .assert_child_of("reserve_stock", "process stock.reserve")
        .assert_child_of("stock.query", "reserve_stock")
        .assert_child_of("send (reply)", "process stock.reserve");
}
