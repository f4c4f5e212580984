//! What both HTTP benches share: the handler, the telemetry pipeline of the traced
//! side, and the exporter.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire_http::ServerTraceLayer;
use tracewire_testkit::bench::{ExportPipeline, OtlpCountingExporter};

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

/// The traced side's pipeline: every span sampled and exported through the SDK's
/// `BatchSpanProcessor` (its own thread, as `with_batch_exporter` and
/// `tracewire-telemetry` set it up) to the OTLP-encoding exporter every harness of the
/// workspace shares (queue large enough that no span is dropped); metrics into an SDK
/// meter provider.
pub struct Pipeline {
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    pub exporter: OtlpCountingExporter,
}

impl Pipeline {
    pub fn new() -> Self {
        let export = ExportPipeline::new(65_536, 512);
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(InMemoryMetricExporter::default())
            .build();
        Self {
            tracer_provider: export.tracer_provider,
            meter_provider,
            exporter: export.exporter,
        }
    }

    pub fn layer(&self) -> ServerTraceLayer {
        ServerTraceLayer::new()
            .tracer_provider(&self.tracer_provider)
            .meter_provider(&self.meter_provider)
            .propagator(Arc::new(tracewire_core::TracewirePropagator::default()))
    }
}
