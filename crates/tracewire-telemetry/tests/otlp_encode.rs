//! tracewire's OTLP trace encoder against upstream's conversion
//! (`opentelemetry-proto`'s `group_spans_by_resource_and_scope`, encoded by prost):
//! generated batches (proptest) and spans recorded through the real SDK must give the
//! same message and the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SpanData, SpanEvents, SpanLimits, SpanLinks,
};
use proptest::prelude::*;
use prost::Message as _;
use tracewire_telemetry::otlp::TraceRequestEncoder;

fn upstream(resource: &Resource, batch: &[SpanData]) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            batch.to_vec(),
            &ResourceAttributesWithSchema::from(resource),
        ),
    }
    .encode_to_vec()
}

/// Same decoded message (through `Debug`: NaN == NaN) and same bytes.
fn check(
    encoder: &mut TraceRequestEncoder,
    buf: &mut Vec<u8>,
    resource: &Resource,
    batch: &[SpanData],
) {
    encoder.encode(batch, buf);
    let expected = upstream(resource, batch);
    let ours = ExportTraceServiceRequest::decode(buf.as_slice()).expect("ours decodes");
    let theirs = ExportTraceServiceRequest::decode(expected.as_slice()).expect("upstream decodes");
    assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    assert!(*buf == expected, "same message, different bytes");
}

// ---- generated batches ----

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z.]{1,12}",
        any::<String>(),
        "[x]{120,140}", // lengths around the one-byte varint limit
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        text().prop_map(|s| Value::String(s.into())),
        prop::collection::vec(any::<bool>(), 0..4).prop_map(|v| Value::Array(Array::Bool(v))),
        prop::collection::vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
        prop::collection::vec(any::<f64>(), 0..4).prop_map(|v| Value::Array(Array::F64(v))),
        prop::collection::vec(text(), 0..4).prop_map(|v| {
            Value::Array(Array::String(
                v.into_iter().map(StringValue::from).collect(),
            ))
        }),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        (text(), value()).prop_map(|(k, v)| KeyValue::new(k, v)),
        0..6,
    )
}

fn trace_state() -> impl Strategy<Value = TraceState> {
    prop::collection::vec(("[a-z][a-z0-9]{0,6}", "[a-zA-Z0-9]{1,8}"), 0..3)
        .prop_map(|kvs| TraceState::from_key_value(kvs).unwrap_or_default())
}

fn context() -> impl Strategy<Value = SpanContext> {
    (
        any::<u128>(),
        any::<u64>(),
        any::<u8>(),
        any::<bool>(),
        trace_state(),
    )
        .prop_map(|(trace, span, flags, remote, state)| {
            SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                TraceFlags::new(flags),
                remote,
                state,
            )
        })
}

fn time() -> impl Strategy<Value = std::time::SystemTime> {
    prop_oneof![
        Just(UNIX_EPOCH),
        Just(UNIX_EPOCH - Duration::from_secs(10)),
        (0..u64::MAX / 2).prop_map(|n| UNIX_EPOCH + Duration::from_nanos(n)),
    ]
}

fn scope() -> impl Strategy<Value = InstrumentationScope> {
    // a few fixed scopes, so batches mix and repeat them
    (0..5_usize).prop_map(|i| match i {
        0 => InstrumentationScope::builder("a").build(),
        1 => InstrumentationScope::builder("a").with_version("1").build(),
        2 => InstrumentationScope::builder("b")
            .with_schema_url("https://opentelemetry.io/schemas/1.21.0")
            .build(),
        3 => InstrumentationScope::builder("c")
            .with_version("0.1")
            .with_attributes([KeyValue::new("k", "v"), KeyValue::new("n", 1_i64)])
            .build(),
        _ => InstrumentationScope::builder("").build(),
    })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Unset),
        Just(Status::Ok),
        text().prop_map(Status::error),
    ]
}

fn kind() -> impl Strategy<Value = SpanKind> {
    prop_oneof![
        Just(SpanKind::Internal),
        Just(SpanKind::Server),
        Just(SpanKind::Client),
        Just(SpanKind::Producer),
        Just(SpanKind::Consumer),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (text(), time(), attributes(), any::<u32>())
        .prop_map(|(name, t, attrs, dropped)| Event::new(name, t, attrs, dropped))
}

fn link() -> impl Strategy<Value = Link> {
    (context(), attributes(), any::<u32>())
        .prop_map(|(context, attrs, dropped)| Link::new(context, attrs, dropped))
}

prop_compose! {
    fn span()(
        span_context in context(),
        parent in prop_oneof![Just(0_u64), any::<u64>()],
        parent_span_is_remote in any::<bool>(),
        span_kind in kind(),
        name in text(),
        start_time in time(),
        end_time in time(),
        attributes in attributes(),
        dropped_attributes_count in any::<u32>(),
        events in prop::collection::vec(event(), 0..3),
        dropped_events in any::<u32>(),
        links in prop::collection::vec(link(), 0..3),
        dropped_links in any::<u32>(),
        status in status(),
        instrumentation_scope in scope(),
    ) -> SpanData {
        SpanData {
            span_context,
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote,
            span_kind,
            name: Cow::Owned(name),
            start_time,
            end_time,
            attributes,
            dropped_attributes_count,
            events: { let mut e = SpanEvents::default(); e.events = events; e.dropped_count = dropped_events; e },
            links: { let mut l = SpanLinks::default(); l.links = links; l.dropped_count = dropped_links; l },
            status,
            instrumentation_scope,
        }
    }
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        attributes(),
        prop::option::of("https://[a-z]{1,8}\\.example/[0-9.]{1,6}"),
    )
        .prop_map(|(attrs, schema)| match schema {
            Some(url) => Resource::builder_empty()
                .with_schema_url(attrs, url)
                .build(),
            None => Resource::builder_empty().with_attributes(attrs).build(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_batches_encode_like_upstream(
        resource in resource(),
        batch in prop::collection::vec(span(), 0..12),
    ) {
        let mut encoder = TraceRequestEncoder::new(&resource);
        let mut buf = Vec::new();
        check(&mut encoder, &mut buf, &resource, &batch);
        // the same encoder and buffer again, for a sub-batch: nothing leaks across
        check(&mut encoder, &mut buf, &resource, &batch[batch.len() / 2..]);
    }
}

// ---- spans recorded through the SDK ----

#[test]
fn spans_from_the_sdk_encode_like_upstream() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_span_limits(SpanLimits {
            max_attributes_per_span: 4,
            max_events_per_span: 2,
            max_links_per_span: 1,
            max_attributes_per_event: 2,
            max_attributes_per_link: 1,
        })
        .build();
    let server = provider.tracer("tracewire-http");
    let messaging = provider.tracer_with_scope(
        InstrumentationScope::builder("tracewire-broker")
            .with_version("0.1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
            .with_attributes([KeyValue::new("backend", "memory")])
            .build(),
    );
    let remote = SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        true,
        "vendor=abc,other=1".parse().unwrap(),
    );
    let parent_cx = Context::new().with_remote_span_context(remote.clone());
    for i in 0..50_i64 {
        let span = server
            .span_builder("GET /orders/{id}")
            .with_kind(SpanKind::Server)
            .with_attributes((0..6).map(|a| KeyValue::new(format!("attr.{a}"), i * a)))
            .start_with_context(&server, &parent_cx);
        let cx = parent_cx.with_span(span);
        let child = messaging
            .span_builder("process orders")
            .with_kind(SpanKind::Consumer)
            .with_links(vec![
                Link::new(
                    remote.clone(),
                    vec![KeyValue::new("a", 1), KeyValue::new("b", 2)],
                    0,
                ),
                Link::with_context(remote.clone()),
            ])
            .start_with_context(&messaging, &cx);
        let child_cx = cx.with_span(child);
        for e in 0..3 {
            child_cx.span().add_event(
                format!("event {e}"),
                vec![
                    KeyValue::new("x", true),
                    KeyValue::new("y", 1.5),
                    KeyValue::new("z", "dropped"),
                ],
            );
        }
        child_cx
            .span()
            .set_status(Status::error(format!("failure {i}")));
        child_cx.span().end();
        cx.span().set_status(Status::Ok);
        cx.span().end();
    }
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 100);
    assert!(spans.iter().any(|s| s.dropped_attributes_count > 0));
    assert!(
        spans
            .iter()
            .any(|s| s.events.dropped_count > 0 && s.links.dropped_count > 0)
    );

    let resource = Resource::builder()
        .with_service_name("orders")
        .with_attribute(KeyValue::new("service.instance.id", "i-1"))
        .build();
    let mut encoder = TraceRequestEncoder::new(&resource);
    let mut buf = Vec::new();
    check(&mut encoder, &mut buf, &resource, &spans);
    for chunk in spans.chunks(7) {
        check(&mut encoder, &mut buf, &resource, chunk);
    }
}
