//! What every benchmark harness in the workspace shares: the traced side's export
//! pipeline, so that "traced" means the same CPU work in every figure of
//! `BENCHMARKS.md`.
//!
//! ```
//! use opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use tracewire_testkit::bench::{ExportPipeline, OtlpCountingExporter};
//!
//! let pipeline = ExportPipeline::new(65_536, 512);
//! pipeline.tracer_provider.tracer("bench").in_span("work", |_| {});
//! pipeline.tracer_provider.force_flush().unwrap();
//! assert_eq!(pipeline.exporter.spans(), 1);
//! assert!(pipeline.exporter.bytes() > 0);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use prost::Message as _;

/// Does the CPU work of the OTLP exporter (`opentelemetry-otlp`, protobuf): each batch
/// is converted to OTLP messages and encoded with the same `opentelemetry-proto`
/// functions, then counted instead of sent. Neither a no-op (which would hide the
/// export cost) nor a debug encoder such as JSON (which would overcharge it).
#[derive(Debug, Clone)]
pub struct OtlpCountingExporter {
    resource: Arc<ResourceAttributesWithSchema>,
    spans: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Default for OtlpCountingExporter {
    fn default() -> Self {
        Self {
            resource: Arc::new(ResourceAttributesWithSchema::default()),
            spans: Arc::default(),
            bytes: Arc::default(),
        }
    }
}

impl OtlpCountingExporter {
    /// An exporter with nothing counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spans exported so far (all clones share the count).
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Encoded OTLP bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl SpanExporter for OtlpCountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        // Encoding, not just sizing: the buffer write is part of the exporter's work.
        let body = request.encode_to_vec();
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.spans.fetch_add(spans, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Arc::new(resource.into());
    }
}

/// A tracer provider that samples everything and exports through the SDK's
/// `BatchSpanProcessor` (its own thread, as `tracewire-telemetry` sets it up) to an
/// [`OtlpCountingExporter`].
#[derive(Debug, Clone)]
pub struct ExportPipeline {
    /// The provider to give the traced side.
    pub tracer_provider: SdkTracerProvider,
    /// Its exporter (clones share the counts).
    pub exporter: OtlpCountingExporter,
}

impl ExportPipeline {
    /// `queue`: the processor's queue bound (spans beyond it are dropped, so size it for
    /// the run); `batch`: spans per export; batches are also exported every 200 ms.
    pub fn new(queue: usize, batch: usize) -> Self {
        let exporter = OtlpCountingExporter::new();
        let processor = BatchSpanProcessor::builder(exporter.clone())
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(queue)
                    .with_max_export_batch_size(batch)
                    .with_scheduled_delay(Duration::from_millis(200))
                    .build(),
            )
            .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        Self {
            tracer_provider,
            exporter,
        }
    }
}
