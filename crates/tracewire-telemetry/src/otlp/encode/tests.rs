use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
use prost::Message as _;

use super::*;

/// Upstream's bytes: the `opentelemetry-proto` tree, encoded by prost.
fn upstream(resource: &Resource, batch: &[SpanData]) -> Vec<u8> {
    let resource = ResourceAttributesWithSchema::from(resource);
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(batch.to_vec(), &resource),
    }
    .encode_to_vec()
}

/// Ours equals upstream's: decoded (compared through `Debug`, where NaN equals
/// NaN and -0.0 differs from 0.0; the first differing line is reported) and byte
/// for byte.
fn assert_same(resource: &Resource, batch: &[SpanData]) {
    let expected = upstream(resource, batch);
    let mut ours = vec![0xff; 3]; // stale content must be replaced
    TraceRequestEncoder::new(resource).encode(batch, &mut ours);
    assert_same_decoded(&ours, &expected);
    assert_same_bytes(&ours, &expected);
}

fn assert_same_decoded(ours: &[u8], expected: &[u8]) {
    let show = |bytes: &[u8]| match ExportTraceServiceRequest::decode(bytes) {
        Ok(request) => format!("{request:#?}"),
        Err(e) => format!("does not decode: {e}"),
    };
    let (ours, expected) = (show(ours), show(expected));
    if let Some((line, (a, b))) = ours
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("decoded requests differ at line {line}:\n ours:     {a}\n upstream: {b}");
    }
    assert_eq!(
        ours.lines().count(),
        expected.lines().count(),
        "decoded lengths differ"
    );
}

/// Byte equality, reported as the first difference (not two huge arrays).
fn assert_same_bytes(ours: &[u8], expected: &[u8]) {
    if let Some(at) = ours.iter().zip(expected).position(|(a, b)| a != b) {
        panic!(
            "same message, different bytes at {at}: ours {:?}, upstream {:?}",
            &ours[at..(at + 16).min(ours.len())],
            &expected[at..(at + 16).min(expected.len())]
        );
    }
    assert_eq!(ours.len(), expected.len(), "same prefix, different lengths");
}

fn span(name: &'static str) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
            SpanId::from(0x1112_1314_1516_1718),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(name),
        start_time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
        end_time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_223_456_789),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("tests").build(),
    }
}

fn every_value() -> Vec<KeyValue> {
    vec![
        KeyValue::new("bool.true", true),
        KeyValue::new("bool.false", false),
        KeyValue::new("int.zero", 0_i64),
        KeyValue::new("int.negative", -42_i64),
        KeyValue::new("int.max", i64::MAX),
        KeyValue::new("int.min", i64::MIN),
        KeyValue::new("double", 3.25_f64),
        KeyValue::new("double.zero", 0.0_f64),
        KeyValue::new("double.negative.zero", -0.0_f64),
        KeyValue::new("double.nan", f64::NAN),
        KeyValue::new("string", "value"),
        KeyValue::new("string.empty", ""),
        KeyValue::new("string.unicode", "naïve – 日本語 – 🦀"),
        KeyValue::new("", "empty key"),
        KeyValue::new("bools", Value::Array(vec![true, false].into())),
        KeyValue::new("ints", Value::Array(vec![1_i64, -1, i64::MAX].into())),
        KeyValue::new("doubles", Value::Array(vec![1.5_f64, -0.0].into())),
        KeyValue::new(
            "strings",
            Value::Array(vec![StringValue::from("a"), StringValue::from("")].into()),
        ),
        KeyValue::new("bools.empty", Value::Array(Vec::<bool>::new().into())),
        KeyValue::new("ints.empty", Value::Array(Vec::<i64>::new().into())),
        KeyValue::new("doubles.empty", Value::Array(Vec::<f64>::new().into())),
        KeyValue::new(
            "strings.empty",
            Value::Array(Vec::<StringValue>::new().into()),
        ),
        KeyValue::new("long", "x".repeat(300)),
    ]
}

#[test]
fn empty_batch_and_empty_resource() {
    assert_same(&Resource::builder_empty().build(), &[]);
    let mut out = Vec::new();
    TraceRequestEncoder::default().encode(&[], &mut out);
    let default_upstream = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            Vec::new(),
            &ResourceAttributesWithSchema::default(),
        ),
    };
    assert_eq!(out, default_upstream.encode_to_vec());
}

#[test]
fn minimal_span() {
    assert_same(&Resource::builder_empty().build(), &[span("minimal")]);
}

#[test]
fn every_value_type_on_span_event_link_and_resource() {
    let resource = Resource::builder_empty()
        .with_attributes(every_value())
        .with_schema_url(
            [KeyValue::new("service.name", "svc")],
            "https://opentelemetry.io/schemas/1.30.0",
        )
        .build();
    let mut s = span("values");
    s.attributes = every_value();
    s.events.events.push(Event::new(
        "event",
        UNIX_EPOCH + Duration::from_secs(5),
        every_value(),
        3,
    ));
    s.links.links.push(Link::new(
        SpanContext::new(
            TraceId::from(7),
            SpanId::from(8),
            TraceFlags::default(),
            true,
            TraceState::from_key_value([("vendor", "x"), ("other", "y=z")]).unwrap_or_default(),
        ),
        every_value(),
        4,
    ));
    assert_same(&resource, &[s]);
}

#[test]
fn ids_flags_and_parents() {
    let mut remote_parent = span("remote parent");
    remote_parent.parent_span_id = SpanId::from(99);
    remote_parent.parent_span_is_remote = true;
    let mut local_parent = span("local parent");
    local_parent.parent_span_id = SpanId::from(98);
    let mut unsampled = span("unsampled, invalid ids");
    unsampled.span_context = SpanContext::new(
        TraceId::INVALID,
        SpanId::INVALID,
        TraceFlags::NOT_SAMPLED,
        true,
        TraceState::NONE,
    );
    let mut with_state = span("trace state");
    with_state.span_context = SpanContext::new(
        TraceId::from(1),
        SpanId::from(2),
        TraceFlags::new(0xff),
        false,
        TraceState::from_key_value([("a", "1"), ("b", "2"), ("c", "3")]).unwrap_or_default(),
    );
    assert_same(
        &Resource::builder_empty().build(),
        &[remote_parent, local_parent, unsampled, with_state],
    );
}

#[test]
fn kinds_statuses_times_and_counts() {
    let kinds = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    let statuses = [
        Status::Unset,
        Status::Ok,
        Status::error(""),
        Status::error("card declined: ünïcode"),
    ];
    let mut batch = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        for (j, status) in statuses.iter().enumerate() {
            let mut s = span("");
            s.span_kind = kind.clone();
            s.status = status.clone();
            s.dropped_attributes_count = (i * 100) as u32;
            s.events.dropped_count = j as u32;
            s.links.dropped_count = u32::MAX;
            if j == 0 {
                s.start_time = UNIX_EPOCH;
                s.end_time = UNIX_EPOCH - Duration::from_secs(1); // before the epoch: 0
            }
            batch.push(s);
        }
    }
    assert_same(&Resource::builder_empty().build(), &batch);
}

#[test]
fn events_and_links_with_and_without_attributes() {
    let mut s = span("events and links");
    s.events.events.push(Event::with_name("bare"));
    s.events
        .events
        .push(Event::new("", UNIX_EPOCH, Vec::new(), 0));
    s.events.events.push(Event::new(
        "exception",
        SystemTime::now(),
        vec![KeyValue::new("exception.message", "boom")],
        0,
    ));
    s.links
        .links
        .push(Link::with_context(SpanContext::empty_context()));
    s.links.links.push(Link::new(
        SpanContext::new(
            TraceId::from(3),
            SpanId::from(4),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        vec![KeyValue::new("messaging.message.id", "m-1")],
        0,
    ));
    assert_same(&Resource::builder_empty().build(), &[s]);
}

#[test]
fn several_scopes_keep_first_appearance_order() {
    let plain = InstrumentationScope::builder("a").build();
    let versioned = InstrumentationScope::builder("b")
        .with_version("1.2.3")
        .build();
    let full = InstrumentationScope::builder("c")
        .with_version("0.1")
        .with_schema_url("https://opentelemetry.io/schemas/1.21.0")
        .with_attributes([KeyValue::new("scope.attr", 1_i64)])
        .build();
    // same name, other version: a distinct scope
    let other_version = InstrumentationScope::builder("b").with_version("2").build();
    let scopes = [&full, &plain, &versioned, &other_version, &plain, &full];
    let batch: Vec<SpanData> = (0..60)
        .map(|i| {
            let mut s = span("scoped");
            s.instrumentation_scope = scopes[i % scopes.len()].clone();
            s.attributes = vec![KeyValue::new("i", i as i64)];
            s
        })
        .collect();
    let resource = Resource::builder_empty()
        .with_schema_url([KeyValue::new("k", "v")], "https://example.com/schema")
        .build();
    assert_same(&resource, &batch);
}

#[test]
fn large_batch_and_buffer_reuse() {
    let resource = Resource::builder().with_service_name("orders").build();
    let mut encoder = TraceRequestEncoder::new(&resource);
    let mut out = Vec::new();
    let big: Vec<SpanData> = (0..2048)
        .map(|i| {
            let mut s = span("GET /orders/{id}");
            s.attributes = every_value();
            s.attributes.push(KeyValue::new("i", i as i64));
            s
        })
        .collect();
    encoder.encode(&big, &mut out);
    assert_same_bytes(&out, &upstream(&resource, &big));
    let capacity = out.capacity();
    // a smaller batch into the same buffer: contents replaced, no reallocation
    encoder.encode(&big[..3], &mut out);
    assert_same_bytes(&out, &upstream(&resource, &big[..3]));
    assert_eq!(out.capacity(), capacity);
    // the resource can change between batches
    let other = Resource::builder_empty()
        .with_attribute(KeyValue::new("x", 1_i64))
        .build();
    encoder.set_resource(&other);
    encoder.encode(&big[..1], &mut out);
    assert_same_bytes(&out, &upstream(&other, &big[..1]));
}

#[test]
fn lengths_are_minimal_varints_around_the_one_byte_limit() {
    // attribute values whose messages straddle 127/128 and 16383/16384 bytes
    for len in [
        100, 120, 121, 122, 123, 124, 125, 126, 127, 128, 16_370, 16_380, 16_400,
    ] {
        let mut s = span("sized");
        s.attributes = vec![KeyValue::new("k", "v".repeat(len))];
        assert_same(&Resource::builder_empty().build(), &[s]);
    }
}

#[test]
fn helpers_match_prost() {
    // `end` widening: compare with prost's length-delimited encoding directly
    for len in [0_usize, 1, 127, 128, 300, 16_383, 16_384, 2_097_152] {
        let content = vec![7_u8; len];
        let mut ours = Vec::new();
        let start = begin(&mut ours, key(1, LEN));
        ours.extend_from_slice(&content);
        end(&mut ours, start);
        let mut theirs = Vec::new();
        prost::encoding::bytes::encode(1, &content, &mut theirs);
        assert_eq!(ours, theirs, "length {len}");
    }
}
