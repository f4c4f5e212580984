//! `tracewire demo --otlp-endpoint URL`: the captured spans also go to a collector
//! (OTLP over gRPC), each service under its own resource, after the run.
//!
//! Each export waits at most the OTLP timeout (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or
//! `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds, else 10 s), so a collector that never
//! answers delays the demo by that much, and the first failure stops the export.

use anyhow::Context as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};

/// Exports each service's spans to the collector at `endpoint`.
///
/// # Errors
///
/// The first service whose spans could not be exported (bad URL, unreachable, refused,
/// timed out), naming the endpoint.
pub(crate) async fn export(
    endpoint: &str,
    services: &[(&str, Vec<SpanData>)],
) -> anyhow::Result<()> {
    for (service, spans) in services {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .with_context(|| format!("OTLP exporter for {endpoint}"))?;
        exporter.set_resource(
            &Resource::builder_empty()
                .with_service_name(service.to_string())
                .build(),
        );
        exporter
            .export(spans.clone())
            .await
            .with_context(|| format!("exporting {service}'s spans to {endpoint}"))?;
    }
    Ok(())
}
