//! What both HTTP benches share: the handler, the telemetry pipeline of the traced
//! side, and the exporter.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use prost::Message;
use tracewire_http::ServerTraceLayer;

pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The handler under test, identical on both sides.
pub fn app() -> Router {
    Router::new().route(
        "/orders/{id}",
        get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"id":7,"status":"ok"}"#,
            )
        }),
    )
}

/// Does the CPU work of the OTLP exporter (`opentelemetry-otlp`, HTTP/protobuf): each
/// batch is converted to OTLP messages and encoded to protobuf with the same
/// `opentelemetry-proto` functions, then counted instead of posted. Neither a no-op
/// (which would hide the export cost) nor a debug encoder (which would overcharge it).
#[derive(Debug, Clone)]
pub struct OtlpCountingExporter {
    resource: Arc<ResourceAttributesWithSchema>,
    pub spans: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

impl OtlpCountingExporter {
    pub fn new() -> Self {
        Self {
            resource: Arc::new(ResourceAttributesWithSchema::default()),
            spans: Arc::default(),
            bytes: Arc::default(),
        }
    }
}

impl SpanExporter for OtlpCountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let body = request.encode_to_vec();
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.spans.fetch_add(spans, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Arc::new(resource.into());
    }
}

/// The traced side's pipeline: every span sampled and exported through the SDK's
/// `BatchSpanProcessor` (its own thread, as `with_batch_exporter` and
/// `tracewire-telemetry` set it up); metrics into an SDK meter provider.
pub struct Pipeline {
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    pub exporter: OtlpCountingExporter,
}

impl Pipeline {
    pub fn new() -> Self {
        let exporter = OtlpCountingExporter::new();
        let processor = BatchSpanProcessor::builder(exporter.clone())
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(65_536)
                    .with_max_export_batch_size(512)
                    .with_scheduled_delay(Duration::from_millis(200))
                    .build(),
            )
            .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(InMemoryMetricExporter::default())
            .build();
        Self {
            tracer_provider,
            meter_provider,
            exporter,
        }
    }

    pub fn layer(&self) -> ServerTraceLayer {
        ServerTraceLayer::new()
            .tracer_provider(&self.tracer_provider)
            .meter_provider(&self.meter_provider)
            .propagator(Arc::new(tracewire_core::TracewirePropagator::default()))
    }
}
