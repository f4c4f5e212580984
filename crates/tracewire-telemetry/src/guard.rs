//! [`TelemetryGuard`]: owns the providers; flushes and shuts them down on drop.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};

use crate::error::ShutdownError;

/// What [`init`](crate::init) set up, for a start-up log line or a test.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct InitReport {
    /// `service.name`.
    pub service_name: String,
    /// `service.instance.id` (generated unless configured).
    pub service_instance_id: String,
    /// The traces exporter, e.g. `otlp http/protobuf http://localhost:4318/v1/traces`.
    pub traces_exporter: String,
    /// The metrics exporter, described the same way.
    pub metrics_exporter: String,
    /// The propagator in use, as an `OTEL_PROPAGATORS` list (or `custom`).
    pub propagators: String,
    /// Propagator names that were not recognised (and were ignored).
    pub unknown_propagators: Vec<String>,
    /// Every warning emitted during set-up (also logged with `tracing::warn!`).
    pub warnings: Vec<String>,
}

/// Keeps telemetry running; on drop it flushes and shuts down the tracer and meter
/// providers (errors are logged). Call [`shutdown`](Self::shutdown) to see them instead.
///
/// Hold it in `main` for the life of the process: `let _telemetry = init(..)?;`
/// (not `let _ = ...`, which drops it at once).
#[derive(Debug)]
#[must_use = "dropping the guard shuts telemetry down"]
pub struct TelemetryGuard {
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) meter_provider: SdkMeterProvider,
    pub(crate) in_memory_spans: Option<InMemorySpanExporter>,
    pub(crate) in_memory_metrics: Option<InMemoryMetricExporter>,
    pub(crate) report: InitReport,
    pub(crate) shut_down: bool,
}

impl TelemetryGuard {
    /// The tracer provider (also the global one unless globals were disabled).
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// A tracer of [`tracer_provider`](Self::tracer_provider).
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.tracer_provider.tracer(name)
    }

    /// The meter provider (also the global one unless globals were disabled).
    pub fn meter_provider(&self) -> &SdkMeterProvider {
        &self.meter_provider
    }

    /// With the in-memory traces exporter: the spans finished so far. Otherwise empty.
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.in_memory_spans
            .as_ref()
            .and_then(|e| e.get_finished_spans().ok())
            .unwrap_or_default()
    }

    /// The in-memory span exporter, when that exporter was chosen.
    pub fn in_memory_spans(&self) -> Option<&InMemorySpanExporter> {
        self.in_memory_spans.as_ref()
    }

    /// The in-memory metric exporter, when that exporter was chosen.
    pub fn in_memory_metrics(&self) -> Option<&InMemoryMetricExporter> {
        self.in_memory_metrics.as_ref()
    }

    /// What was set up, including warnings such as unknown propagator names.
    pub fn report(&self) -> &InitReport {
        &self.report
    }

    /// Exports everything buffered so far, keeping telemetry running.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let traces = self
            .tracer_provider
            .force_flush()
            .map_err(ShutdownError::Traces);
        let metrics = self
            .meter_provider
            .force_flush()
            .map_err(ShutdownError::Metrics);
        traces.and(metrics)
    }

    /// Flushes and shuts down both providers, reporting the first failure (both are
    /// shut down regardless).
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        if self.shut_down {
            return Ok(());
        }
        self.shut_down = true;
        let traces = self
            .tracer_provider
            .shutdown()
            .map_err(ShutdownError::Traces);
        let metrics = self
            .meter_provider
            .shutdown()
            .map_err(ShutdownError::Metrics);
        traces.and(metrics)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown_inner() {
            tracing::warn!(%error, "telemetry shutdown failed; some spans or metrics may be lost");
        }
    }
}
