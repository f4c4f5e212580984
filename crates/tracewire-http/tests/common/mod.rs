//! Shared test support: a per-test tracer provider with an in-memory exporter, a
//! per-test meter provider, and the propagators (no globals are touched).
#![allow(dead_code, unreachable_pub)]
// Test support, not library code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::panic, clippy::needless_pass_by_value)]

use std::sync::Arc;

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracewire_http::SharedPropagator;

pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const PARENT_ID: &str = "00f067aa0ba902b7";
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Finished spans of one test.
pub struct Capture {
    pub provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

impl Capture {
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Self { provider, exporter }
    }

    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
        spans
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span named {name:?}; finished: {names:?}"))
    }

    pub fn span_of_kind(&self, kind: SpanKind) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|s| s.span_kind == kind)
            .collect()
    }
}

/// W3C trace context + baggage (`TracewirePropagator`'s default).
pub fn w3c() -> SharedPropagator {
    Arc::new(tracewire_core::TracewirePropagator::default())
}

/// What a mesh hop uses: W3C + baggage + B3 single + B3 multi.
pub fn mesh() -> SharedPropagator {
    tracewire_http::mesh::mesh_propagator()
}

/// Waits (bounded) until at least `n` spans have finished: a server span ends when
/// the body is done, which may be just after the client has read the response.
pub async fn wait_for_spans(capture: &Capture, n: usize) -> Vec<SpanData> {
    for _ in 0..500 {
        let spans = capture.spans();
        if spans.len() >= n {
            return spans;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let names: Vec<_> = capture.spans().iter().map(|s| s.name.to_string()).collect();
    panic!("expected {n} spans, got {names:?}");
}

/// Serves `app` on a fresh loopback port (with connect info), returns its address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

pub fn trace_id() -> TraceId {
    TraceId::from_hex(TRACE_ID).unwrap()
}

pub fn parent_id() -> SpanId {
    SpanId::from_hex(PARENT_ID).unwrap()
}

pub fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

pub fn attr_str(span: &SpanData, key: &str) -> String {
    attr(span, key)
        .unwrap_or_else(|| panic!("span {:?} has no {key}: {:?}", span.name, span.attributes))
        .as_str()
        .into_owned()
}

pub fn attr_i64(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(Value::I64(v)) => *v,
        other => panic!("span {:?}: {key} = {other:?}", span.name),
    }
}

/// A meter provider with an in-memory exporter, read on demand.
pub struct Metrics {
    pub provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

/// One histogram data point (attributes and count) or sum data point (value).
#[derive(Debug)]
pub struct Point {
    pub attributes: Vec<KeyValue>,
    pub count: u64,
    pub sum: f64,
    pub bounds: Vec<f64>,
    pub value: i64,
}

impl Metrics {
    pub fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_periodic_exporter(exporter.clone())
            .build();
        Self { provider, exporter }
    }

    /// Collects now and returns the points of metric `name`.
    pub fn points(&self, name: &str) -> Vec<Point> {
        self.provider.force_flush().unwrap();
        let mut points = Vec::new();
        let exported = self.exporter.get_finished_metrics().unwrap();
        let Some(last) = exported.last() else {
            return points;
        };
        for scope in last.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            points.push(Point {
                                attributes: p.attributes().cloned().collect(),
                                count: p.count(),
                                sum: p.sum(),
                                bounds: p.bounds().collect(),
                                value: 0,
                            });
                        }
                    }
                    AggregatedMetrics::I64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            points.push(Point {
                                attributes: p.attributes().cloned().collect(),
                                count: 0,
                                sum: 0.0,
                                bounds: Vec::new(),
                                value: p.value(),
                            });
                        }
                    }
                    other => panic!("unexpected data for {name}: {other:?}"),
                }
            }
        }
        points
    }
}

pub fn point_attr(point: &Point, key: &str) -> Option<Value> {
    point
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}
