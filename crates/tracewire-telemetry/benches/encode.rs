//! OTLP protobuf encoding of a span batch: upstream (`opentelemetry-proto`'s
//! `group_spans_by_resource_and_scope`, prost encode, free the tree: what
//! `opentelemetry-otlp` does before sending) against tracewire's
//! [`TraceRequestEncoder`] (one pass into a reused buffer).
//!
//! The batch alternates two realistic spans: an HTTP server span with 12 attributes
//! and a messaging CONSUMER span with 6 attributes and a link to its producer.
//!
//! ```text
//! cargo bench -p tracewire-telemetry --bench encode            # criterion, wall time
//! cargo bench -p tracewire-telemetry --bench encode --no-run   # then, for instructions:
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary> count upstream 51200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary> count tracewire 51200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary> count none 51200
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary> count tracewire-gzip 51200
//! ```
//!
//! `tracewire-gzip` also compresses each encoded batch as `OTEL_EXPORTER_OTLP_COMPRESSION=gzip`
//! makes the exporter do (one gzip member at flate2's default level 6, as tonic and
//! `opentelemetry-otlp` use): the CPU price of compression per span, and the bytes saved;
//! `tracewire-gzip-fast` does the same at level 1.
//!
//! In `count` mode every batch is a fresh clone of the template, dropped after the
//! export, as the batch processor hands it over; `none` only clones and drops, so
//! (Ir(mode) − Ir(none)) / spans is one exported span's encoding cost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput};
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use prost::Message as _;
use tracewire_telemetry::otlp::TraceRequestEncoder;

const BATCH: usize = 512;

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("orders")
        .with_attributes([
            KeyValue::new("service.version", "1.4.2"),
            KeyValue::new(
                "service.instance.id",
                "6f1c2d3e-8a9b-4c5d-9e0f-112233445566",
            ),
            KeyValue::new("deployment.environment.name", "production"),
        ])
        .build()
}

fn http_span(i: u64, scope: &InstrumentationScope) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_000_000_000_000_000 + i);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736 + u128::from(i)),
            SpanId::from(0x00f0_67aa_0ba9_02b7 + i),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::from(0x1122_3344_5566_7788),
        parent_span_is_remote: true,
        span_kind: SpanKind::Server,
        name: Cow::Borrowed("GET /orders/{id}"),
        start_time: start,
        end_time: start + Duration::from_micros(850),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.path", format!("/orders/{i}")),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.route", "/orders/{id}"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("server.address", "orders.shop.svc.cluster.local"),
            KeyValue::new("server.port", 8080_i64),
            KeyValue::new("network.protocol.version", "1.1"),
            KeyValue::new("client.address", "10.42.0.17"),
            KeyValue::new("network.peer.port", 51_234_i64),
            KeyValue::new("user_agent.original", "tracewire-http/0.1.0"),
            KeyValue::new("http.response.body.size", 212_i64),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

fn messaging_span(i: u64, scope: &InstrumentationScope) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_000_000_500_000_000 + i);
    let producer = SpanContext::new(
        TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c + u128::from(i)),
        SpanId::from(0xb7ad_6b71_6920_3331),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    );
    let mut links = SpanLinks::default();
    links.links.push(Link::with_context(producer.clone()));
    SpanData {
        span_context: SpanContext::new(
            producer.trace_id(),
            SpanId::from(0x0102_0304_0506_0708 + i),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: producer.span_id(),
        parent_span_is_remote: true,
        span_kind: SpanKind::Consumer,
        name: Cow::Borrowed("process orders.created"),
        start_time: start,
        end_time: start + Duration::from_micros(120),
        attributes: vec![
            KeyValue::new("messaging.system", "nats"),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.destination.name", "orders.created"),
            KeyValue::new("messaging.message.id", format!("msg-{i:08}")),
            KeyValue::new("messaging.message.conversation_id", format!("corr-{i:08}")),
            KeyValue::new("messaging.message.body.size", 348_i64),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links,
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

fn batch() -> Vec<SpanData> {
    let http = InstrumentationScope::builder("tracewire-http")
        .with_version("0.1.0")
        .build();
    let broker = InstrumentationScope::builder("tracewire-broker")
        .with_version("0.1.0")
        .build();
    (0..BATCH as u64)
        .map(|i| {
            if i % 2 == 0 {
                http_span(i, &http)
            } else {
                messaging_span(i, &broker)
            }
        })
        .collect()
}

/// Upstream: convert (consuming the batch), encode, free the tree.
fn upstream(batch: Vec<SpanData>, resource: &ResourceAttributesWithSchema, buf: &mut Vec<u8>) {
    let request = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(batch, resource),
    };
    buf.clear();
    request.encode(buf).unwrap();
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the exporter owns the batch and drops it after encoding: that drop is part of the cost, as in upstream"
)]
fn ours(batch: Vec<SpanData>, encoder: &mut TraceRequestEncoder, buf: &mut Vec<u8>) {
    encoder.encode(&batch, buf);
}

/// `buf` as one gzip member at `level`, into `out` (reused).
fn gzip(buf: &[u8], out: &mut Vec<u8>, level: flate2::Compression) {
    use std::io::Write as _;
    out.clear();
    let mut encoder = flate2::write::GzEncoder::new(out, level);
    encoder.write_all(buf).unwrap();
    encoder.finish().unwrap();
}

fn count(mode: &str, spans: usize) {
    let template = batch();
    let resource = resource();
    let upstream_resource = ResourceAttributesWithSchema::from(&resource);
    let mut encoder = TraceRequestEncoder::new(&resource);
    let mut buf = Vec::new();
    let mut compressed = Vec::new();
    let mut bytes = 0;
    for _ in 0..spans.div_ceil(BATCH) {
        let batch = template.clone();
        match mode {
            "upstream" => upstream(batch, &upstream_resource, &mut buf),
            "tracewire" => ours(batch, &mut encoder, &mut buf),
            "tracewire-gzip" | "tracewire-gzip-fast" => {
                ours(batch, &mut encoder, &mut buf);
                let level = if mode == "tracewire-gzip" {
                    flate2::Compression::default()
                } else {
                    flate2::Compression::fast()
                };
                gzip(&buf, &mut compressed, level);
                bytes += black_box(&compressed).len();
                continue;
            }
            "none" => drop(black_box(batch)),
            other => panic!(
                "mode is upstream, tracewire, tracewire-gzip, tracewire-gzip-fast or none, not {other:?}"
            ),
        }
        bytes += black_box(&buf).len();
    }
    println!(
        "{mode}: {} spans, {bytes} bytes",
        spans.div_ceil(BATCH) * BATCH
    );
}

fn bench(c: &mut Criterion) {
    let template = batch();
    let resource = resource();
    let upstream_resource = ResourceAttributesWithSchema::from(&resource);
    let mut encoder = TraceRequestEncoder::new(&resource);
    let mut buf = Vec::new();

    // both must produce the same request, or the comparison is meaningless
    let mut theirs = Vec::new();
    upstream(template.clone(), &upstream_resource, &mut theirs);
    ours(template.clone(), &mut encoder, &mut buf);
    assert_eq!(buf, theirs);

    let mut group = c.benchmark_group("otlp_encode_512_spans");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("upstream", |b| {
        b.iter_batched(
            || template.clone(),
            |batch| upstream(batch, &upstream_resource, &mut buf),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("tracewire", |b| {
        b.iter_batched(
            || template.clone(),
            |batch| ours(batch, &mut encoder, &mut buf),
            BatchSize::LargeInput,
        );
    });
    let mut compressed = Vec::new();
    group.bench_function("tracewire_gzip", |b| {
        b.iter_batched(
            || template.clone(),
            |batch| {
                ours(batch, &mut encoder, &mut buf);
                gzip(&buf, &mut compressed, flate2::Compression::default());
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if args.first().map(String::as_str) == Some("count") {
        let mode = args.get(1).map_or("tracewire", String::as_str);
        let spans = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(51_200);
        count(mode, spans);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
