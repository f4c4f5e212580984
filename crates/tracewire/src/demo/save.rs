//! `tracewire demo --save FILE`: the demo's spans as OTLP JSON lines, one line per
//! service (its resource names it), readable by `tracewire view` or any OTLP tool.

use std::path::Path;

use anyhow::Context as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tracewire_telemetry::file::OtlpJsonFileExporter;

/// Writes each service's spans to `path`, replacing what was there.
pub(crate) async fn save(path: &Path, services: &[(&str, Vec<SpanData>)]) -> anyhow::Result<()> {
    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    for (service, spans) in services {
        let mut exporter = OtlpJsonFileExporter::create(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        exporter.set_resource(
            &Resource::builder_empty()
                .with_service_name(service.to_string())
                .build(),
        );
        exporter
            .export(spans.clone())
            .await
            .with_context(|| format!("writing {}'s spans to {}", service, path.display()))?;
    }
    Ok(())
}
