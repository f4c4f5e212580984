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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracewire_telemetry::otlp::TraceRequestEncoder;

/// The environment variable that picks what the export thread does in a benchmark run:
/// `otlp` (the default: [`Export::Otlp`]) or `count` ([`Export::CountOnly`]).
pub const EXPORT_ENV: &str = "TRACEWIRE_BENCH_EXPORT";

/// What [`OtlpCountingExporter`] does with each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// Encode to OTLP protobuf with the encoder `tracewire-telemetry`'s OTLP exporter
    /// uses before sending: the real cost of exporting (the figures in `BENCHMARKS.md`
    /// use this).
    Otlp,
    /// Only count the spans: what tracing costs the instrumented threads when the export
    /// thread's work is left out (to split the two, never as the headline figure).
    CountOnly,
}

impl Export {
    /// From [`EXPORT_ENV`]: `count` is [`Export::CountOnly`], anything else
    /// [`Export::Otlp`].
    pub fn from_env() -> Self {
        match std::env::var(EXPORT_ENV).as_deref() {
            Ok("count") => Self::CountOnly,
            _ => Self::Otlp,
        }
    }
}

/// Does the CPU work of `tracewire-telemetry`'s OTLP trace exporter (gRPC and
/// HTTP/protobuf): each batch is encoded to an OTLP `ExportTraceServiceRequest` with the
/// same [`TraceRequestEncoder`] into a reused buffer, then counted instead of sent.
/// Neither a no-op (which would hide the export cost) nor a debug encoder such as JSON
/// (which would overcharge it), unless built with [`Export::CountOnly`].
///
/// Until this exporter switched to [`TraceRequestEncoder`], it used
/// `opentelemetry-otlp`'s conversion and encoding (`opentelemetry-proto` + prost),
/// about 6× the CPU per span on the export thread: figures in `BENCHMARKS.md` measured
/// before that overcharge the export (see its "OTLP export (tracewire-telemetry)"
/// section).
#[derive(Debug, Clone)]
pub struct OtlpCountingExporter {
    /// The encoder and its reused buffer (the batch processor exports one batch at a
    /// time, so the lock is never contended).
    encoding: Arc<Mutex<Encoding>>,
    export: Export,
    spans: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Default for OtlpCountingExporter {
    fn default() -> Self {
        Self::with_export(Export::Otlp)
    }
}

impl OtlpCountingExporter {
    /// An exporter that encodes to OTLP, with nothing counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// An exporter doing `export` with each batch.
    pub fn with_export(export: Export) -> Self {
        Self {
            encoding: Arc::default(),
            export,
            spans: Arc::default(),
            bytes: Arc::default(),
        }
    }

    /// What this exporter does with each batch.
    pub fn export_mode(&self) -> Export {
        self.export
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
        if self.export == Export::CountOnly {
            self.spans.fetch_add(spans, Ordering::Relaxed);
            return Ok(());
        }
        let mut encoding = self
            .encoding
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("encoder lock poisoned".to_owned()))?;
        let Encoding { encoder, body } = &mut *encoding;
        // Encoding, not just sizing: the buffer write is part of the exporter's work.
        encoder.encode(&batch, body);
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.spans.fetch_add(spans, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        // this exporter's own encoder from now on (clones keep theirs)
        self.encoding = Arc::new(Mutex::new(Encoding {
            encoder: TraceRequestEncoder::new(resource),
            body: Vec::new(),
        }));
    }
}

/// The encoder and the buffer it reuses from batch to batch.
#[derive(Debug, Default)]
struct Encoding {
    encoder: TraceRequestEncoder,
    body: Vec<u8>,
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
    /// the run); `batch`: spans per export; batches are also exported every 200 ms. The
    /// exporter does what [`Export::from_env`] says (OTLP encoding unless
    /// `TRACEWIRE_BENCH_EXPORT=count`).
    pub fn new(queue: usize, batch: usize) -> Self {
        let exporter = OtlpCountingExporter::with_export(Export::from_env());
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
