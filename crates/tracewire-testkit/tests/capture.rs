//! The testkit tested: captures are isolated, assertions really fail, the tracing
//! subscriber joins OpenTelemetry context.

use std::time::Duration;

use opentelemetry::trace::{
    Link, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue, trace::SpanId};
use tracewire_testkit::{SpanCapture, TraceView};

/// server ─┬─ db
///         └─ publish (producer) ... consume (consumer, child + link), error
fn order_trace(capture: &SpanCapture) {
    let tracer = capture.tracer("test");
    let server = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.route", "/orders/{id}"),
            KeyValue::new("http.response.status_code", 200_i64),
        ])
        .start(&tracer);
    let cx = Context::current_with_span(server);
    tracer
        .span_builder("SELECT orders")
        .with_kind(SpanKind::Client)
        .start_with_context(&tracer, &cx);
    let producer = tracer
        .span_builder("send orders")
        .with_kind(SpanKind::Producer)
        .start_with_context(&tracer, &cx);
    let pcx = cx.with_span(producer);
    let mut consumer = tracer
        .span_builder("process orders")
        .with_kind(SpanKind::Consumer)
        .with_links(vec![Link::with_context(pcx.span().span_context().clone())])
        .start_with_context(&tracer, &pcx);
    opentelemetry::trace::Span::set_status(&mut consumer, Status::error("handler failed"));
    drop(consumer);
    drop(pcx);
    drop(cx);
}

#[test]
fn a_correct_trace_passes_every_assertion() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    let trace = capture.trace();
    assert_eq!(trace.spans().len(), 4);
    trace
        .assert_kind("GET /orders/{id}", SpanKind::Server)
        .assert_attr("GET /orders/{id}", "http.route", "/orders/{id}")
        .assert_attr("GET /orders/{id}", "http.response.status_code", 200_i64)
        .assert_no_attr("GET /orders/{id}", "url.full")
        .assert_child_of("SELECT orders", "GET /orders/{id}")
        .assert_child_of("send orders", "GET /orders/{id}")
        .assert_child_of("process orders", "send orders")
        .assert_link("process orders", "send orders")
        .assert_status_error("process orders")
        .assert_status_not_error("GET /orders/{id}")
        .assert_no_orphans();
    let kids: Vec<_> = trace
        .children_of("GET /orders/{id}")
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(kids, ["SELECT orders", "send orders"]);
    assert!(capture.tree().contains("└─ GET /orders/{id}  server"));
}

#[test]
#[should_panic(
    expected = "\"SELECT orders\" is not a child of \"send orders\": its parent is \"GET /orders/{id}\""
)]
fn wrong_parent_fails() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture
        .trace()
        .assert_child_of("SELECT orders", "send orders");
}

#[test]
#[should_panic(expected = "span tree:\ntrace ")]
fn failures_print_the_tree() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture
        .trace()
        .assert_kind("SELECT orders", SpanKind::Server);
}

#[test]
#[should_panic(expected = "no span named \"nope\"")]
fn missing_span_fails() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture.trace().span("nope");
}

#[test]
#[should_panic(expected = "expected one span named \"twice\", found 2")]
fn duplicate_name_fails() {
    let capture = SpanCapture::new();
    let tracer = capture.tracer("test");
    tracer.in_span("root", |_| {
        tracer.in_span("twice", |_| {});
        tracer.in_span("twice", |_| {});
    });
    let trace = capture.trace();
    assert_eq!(trace.spans_named("twice").len(), 2);
    trace.span("twice");
}

#[test]
#[should_panic(expected = "attribute \"http.response.status_code\" is I64(200), expected String")]
fn attribute_type_matters() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture
        .trace()
        .assert_attr("GET /orders/{id}", "http.response.status_code", "200");
}

#[test]
#[should_panic(expected = "has no attribute \"rpc.method\"")]
fn missing_attribute_fails() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture
        .trace()
        .assert_attr("GET /orders/{id}", "rpc.method", "x");
}

#[test]
#[should_panic(expected = "span \"SELECT orders\" has no link to \"send orders\"")]
fn missing_link_fails() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture.trace().assert_link("SELECT orders", "send orders");
}

#[test]
#[should_panic(expected = "expected Error")]
fn status_not_error_fails() {
    let capture = SpanCapture::new();
    order_trace(&capture);
    capture.trace().assert_status_error("SELECT orders");
}

#[test]
#[should_panic(expected = "expected exactly one trace, found 2")]
fn two_traces_fail() {
    let capture = SpanCapture::new();
    let tracer = capture.tracer("test");
    tracer.in_span("first", |_| {});
    tracer.in_span("second", |_| {});
    assert_eq!(capture.all_traces().spans().len(), 2);
    capture.trace();
}

#[test]
#[should_panic(expected = "expected exactly one trace, but no spans finished")]
fn empty_capture_fails() {
    TraceView::new(Vec::new());
}

fn remote_parent() -> Context {
    let remote = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    Context::new().with_remote_span_context(remote)
}

#[test]
#[should_panic(
    expected = "1 span(s) whose parent is not captured: \"handler\" (parent 00f067aa0ba902b7)"
)]
fn orphans_fail() {
    let capture = SpanCapture::new();
    let tracer = capture.tracer("test");
    drop(tracer.start_with_context("handler", &remote_parent()));
    capture.trace().assert_no_orphans();
}

#[test]
fn an_allowed_remote_root_is_not_an_orphan() {
    let capture = SpanCapture::new();
    let tracer = capture.tracer("test");
    drop(tracer.start_with_context("handler", &remote_parent()));
    let trace = capture.trace();
    trace.assert_no_orphans_except(SpanId::from(0x00f0_67aa_0ba9_02b7_u64));
    assert_eq!(
        trace.trace_id(),
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128)
    );
    assert!(trace.tree().contains("(remote parent 00f067aa0ba902b7)"));
}

/// Many tests at once, each with its own capture: every capture sees exactly its own
/// spans even while the others are busy.
#[test]
fn parallel_captures_see_only_their_own_spans() {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let capture = SpanCapture::new();
                let tracer = capture.tracer("parallel");
                for _ in 0..50 {
                    tracer.in_span(format!("span-{i}"), |_| {});
                }
                let spans = capture.spans();
                assert_eq!(spans.len(), 50, "capture {i}");
                assert!(spans.iter().all(|s| s.name == format!("span-{i}")));
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[tokio::test]
async fn wait_for_spans_sees_spans_ended_on_other_tasks() {
    let capture = SpanCapture::new();
    let tracer = capture.tracer("test");
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        tracer.in_span("late", |_| {});
    });
    let spans = capture.wait_for_spans(1, Duration::from_secs(5)).await;
    assert_eq!(spans[0].name, "late");
    task.await.unwrap();
    capture.clear();
    assert!(capture.spans().is_empty());
}

#[tokio::test]
#[should_panic(expected = "timed out after 50ms waiting for 2 spans, 1 finished")]
async fn wait_for_spans_times_out_with_a_tree() {
    let capture = SpanCapture::new();
    capture.tracer("test").in_span("only", |_| {});
    capture.wait_for_spans(2, Duration::from_millis(50)).await;
}

#[test]
fn tracing_spans_join_the_current_otel_context() {
    let capture = SpanCapture::new();
    let tracer = capture.tracer("test");
    let server = tracer
        .span_builder("GET /x")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    tracing::subscriber::with_default(capture.tracing_subscriber(), || {
        let _guard = Context::current_with_span(server).attach();
        let span = tracing::info_span!("app work");
        let _entered = span.enter();
        // an OTel span inside the tracing span nests under it
        tracer.in_span("db call", |_| {});
    });
    capture
        .trace()
        .assert_child_of("app work", "GET /x")
        .assert_child_of("db call", "app work")
        .assert_no_orphans();
}
