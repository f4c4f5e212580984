//! CloudEvents from producers that write no trace headers: the consumer's `process`
//! span falls back to the event's `traceparent`/`tracestate` extension (structured and
//! binary mode); when the headers do carry a context, the headers win.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt, Tracer};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracewire_broker::events::{EventBus, EventType, Received, STRUCTURED_CONTENT_TYPE};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::router::RouterHandle;
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Headers, Message};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

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

struct Setup {
    capture: SpanCapture,
    broker: Traced<MemoryBroker>,
    handle: RouterHandle,
    rx: mpsc::UnboundedReceiver<u64>,
}

async fn setup() -> Setup {
    let capture = SpanCapture::new();
    let propagator = Arc::new(TracewirePropagator::default());
    let tracing = Tracing::new(&capture.tracer_provider()).with_propagator(propagator.clone());
    let broker = Traced::new(MemoryBroker::new(), tracing);
    let bus = EventBus::new(broker.clone(), "/services/billing").with_propagator(propagator);
    let (tx, rx) = mpsc::unbounded_channel();
    let tracer = capture.tracer("app");
    let handle = bus
        .subscribe(move |event: Received<OrderCreated>| {
            let tx = tx.clone();
            let tracer = tracer.clone();
            async move {
                tracer.in_span("bill order", |_| tx.send(event.data.order_id))?;
                Ok::<_, BoxError>(())
            }
        })
        .await
        .unwrap();
    Setup {
        capture,
        broker,
        handle,
        rx,
    }
}

/// A context from a "foreign" producer, and its `traceparent`/`tracestate` values.
fn foreign(capture: &SpanCapture, name: &'static str) -> (Context, String, String) {
    let cx = Context::current_with_span(capture.tracer("foreign").start(name));
    let mut headers = Headers::new();
    TracewirePropagator::default().inject_context(&cx, &mut headers);
    let traceparent = headers.get("traceparent").unwrap().to_owned();
    (cx, traceparent, "vendor=abc".to_owned())
}

fn structured(traceparent: &str, tracestate: &str, order_id: u64) -> Message {
    let body = serde_json::json!({
        "specversion": "1.0", "id": format!("ev-{order_id}"), "source": "/legacy/shop",
        "type": OrderCreated::TYPE, "datacontenttype": "application/json",
        "traceparent": traceparent, "tracestate": tracestate,
        "data": { "order_id": order_id },
    });
    Message::new("orders.events", serde_json::to_vec(&body).unwrap())
        .with_content_type(STRUCTURED_CONTENT_TYPE)
}

fn binary(traceparent: &str, tracestate: &str, order_id: u64) -> Message {
    Message::new("orders.events", format!(r#"{{"order_id":{order_id}}}"#))
        .with_content_type("application/json")
        .with_header("ce-specversion", "1.0")
        .with_header("ce-id", format!("ev-{order_id}"))
        .with_header("ce-source", "/legacy/shop")
        .with_header("ce-type", OrderCreated::TYPE)
        .with_header("ce-traceparent", traceparent)
        .with_header("ce-tracestate", tracestate)
}

#[tokio::test]
async fn a_foreign_event_without_trace_headers_continues_its_extension_trace() {
    for (mode, encode) in [
        ("structured", structured as fn(&str, &str, u64) -> Message),
        ("binary", binary),
    ] {
        let mut s = setup().await;
        let (cx, traceparent, tracestate) = foreign(&s.capture, "legacy checkout");
        // Published on the untraced inner broker: no transport headers at all.
        s.broker
            .inner()
            .publish(encode(&traceparent, &tracestate, 7))
            .await
            .unwrap();
        assert_eq!(s.rx.recv().await, Some(7), "{mode}");
        s.handle.shutdown().await;
        cx.span().end();

        let trace = s.capture.trace();
        trace
            .assert_no_orphans()
            .assert_child_of("process orders.events", "legacy checkout")
            .assert_link("process orders.events", "legacy checkout")
            .assert_child_of("bill order", "process orders.events");
        let process = trace.span("process orders.events");
        assert_eq!(
            process.parent_span_id,
            cx.span().span_context().span_id(),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn transport_headers_win_over_the_extension() {
    let mut s = setup().await;
    let (header_cx, header_tp, _) = foreign(&s.capture, "header producer");
    let (ext_cx, ext_tp, ext_ts) = foreign(&s.capture, "extension producer");
    let msg = structured(&ext_tp, &ext_ts, 8).with_header("traceparent", header_tp);
    s.broker.inner().publish(msg).await.unwrap();
    assert_eq!(s.rx.recv().await, Some(8));
    s.handle.shutdown().await;
    header_cx.span().end();
    ext_cx.span().end();

    let all = s.capture.all_traces();
    all.assert_child_of("process orders.events", "header producer")
        .assert_link("process orders.events", "header producer");
    assert_ne!(
        all.span("process orders.events").span_context.trace_id(),
        ext_cx.span().span_context().trace_id()
    );
}
