//! One call sets up OpenTelemetry for a tracewire service: resource, sampler, traces and
//! metrics exporters, the global propagator (tracewire's strict codecs, chosen by
//! `OTEL_PROPAGATORS`), a `tracing` bridge whose spans join the same traces and whose
//! log lines carry trace ids, and a guard that flushes everything on drop.
//!
//! ```no_run
//! use tracewire_telemetry::{TelemetryConfig, init};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // OTEL_* variables configure everything; builder calls override them.
//!     let config = TelemetryConfig::from_env("orders")?
//!         .with_service_version(env!("CARGO_PKG_VERSION"));
//!     let telemetry = init(config)?; // keep it alive: dropping it flushes and shuts down
//!     tracing::info!(report = ?telemetry.report(), "telemetry ready");
//!     // ... run the service ...
//!     telemetry.shutdown()?; // or just let it drop
//!     Ok(())
//! }
//! ```
//!
//! An in-memory set-up that runs anywhere (this is what `tracewire demo` does):
//!
//! ```
//! use opentelemetry::trace::Tracer as _;
//! use tracewire_telemetry::{MetricsExporter, TelemetryConfig, TracesExporter, init, tree};
//!
//! let telemetry = init(
//!     TelemetryConfig::new("demo")
//!         .with_traces_exporter(TracesExporter::InMemory)
//!         .with_metrics_exporter(MetricsExporter::None)
//!         .with_tracing_subscriber(false)
//!         .with_install_globals(false),
//! )?;
//! let tracer = telemetry.tracer("demo");
//! tracer.in_span("checkout", |_| tracer.in_span("charge card", |_| {}));
//! let text = tree::render_traces(&telemetry.finished_spans());
//! assert!(text.contains("└─ checkout") && text.contains("   └─ charge card"));
//! # Ok::<(), tracewire_telemetry::TelemetryError>(())
//! ```
//!
//! | feature     | default | what it adds |
//! |-------------|---------|--------------|
//! | `otlp-grpc` | yes     | OTLP over gRPC (tonic, plaintext; gzip on request); needs a Tokio runtime |
//! | `otlp-http` | yes     | OTLP over HTTP, protobuf or JSON (blocking reqwest client, plaintext; gzip on request): works inside and outside a runtime |
//! | `stdout`    | yes     | spans and metrics printed on stdout |
//! | `file`      | yes     | the OTLP-JSON-lines file exporter and reader ([`file`](mod@file)) |
//! | `otlp-encode` | with `otlp-grpc` / `otlp-http` | the OTLP trace encoder alone ([`otlp::TraceRequestEncoder`]) |
//! | `tls`       | no      | `https://` endpoints for both OTLP transports (rustls with `aws-lc-rs` for tonic and reqwest alike, webpki roots) |
//!
//! OTLP traces over gRPC and HTTP/protobuf go through tracewire's own exporter
//! ([`otlp`]), which encodes spans to protobuf about 6× cheaper than
//! `opentelemetry-otlp`; OTLP/JSON traces and OTLP metrics use `opentelemetry-otlp`.
//!
//! No TLS stack is compiled unless `tls` is on. The in-memory exporters, the
//! [`tree`] printer and the [`bridge`] are always available. The full configuration
//! reference (every variable and builder method) is `docs/telemetry.md`.

pub mod bridge;
mod config;
mod error;
#[cfg(feature = "file")]
pub mod file;
mod guard;
#[cfg(feature = "otlp-encode")]
pub mod otlp;
mod pipeline;
mod propagation;
mod redact;
pub mod tree;

pub use config::{
    DEFAULT_LOG_FILTER, MetricsExporter, OtlpCompression, OtlpConfig, OtlpProtocol, OtlpTlsConfig,
    PemFile, PropagatorChoice, SamplerConfig, SharedPropagator, TelemetryConfig, TracesExporter,
};
pub use error::{BoxError, ConfigError, ShutdownError, TelemetryError};
pub use guard::{InitReport, TelemetryGuard};

use opentelemetry::global;

/// Sets up telemetry as `config` says and returns the guard that keeps it running.
///
/// Everything fallible happens first: on error nothing has been installed. Then, unless
/// disabled in `config`, the global `tracing` subscriber (fails with
/// [`TelemetryError::SubscriberAlreadySet`] if one exists), the global tracer and meter
/// providers and the global propagator are installed.
///
/// Runtime: OTLP over gRPC must be initialised inside a Tokio runtime (else
/// [`TelemetryError::RuntimeRequired`]); everything else works with or without one.
///
/// Warnings (each logged with `tracing::warn!` and kept in
/// [`InitReport::warnings`]): unknown `OTEL_PROPAGATORS` names, and TLS settings (CA,
/// client certificate, client key) given for an OTLP exporter whose endpoint is
/// plaintext `http://`, where they have no effect.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the configuration is spent: `init(TelemetryConfig::from_env(..)?)` reads naturally"
)]
pub fn init(config: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let resource = pipeline::resource(&config);
    let instance_id = resource
        .get(&opentelemetry::Key::from_static_str("service.instance.id"))
        .map(|v| v.to_string())
        .unwrap_or_default();
    let (tracer_provider, in_memory_spans) = pipeline::tracer_provider(&config, resource.clone())?;
    let (meter_provider, in_memory_metrics) = pipeline::meter_provider(&config, resource)?;
    let (propagator, propagators, unknown_propagators) = propagation::resolve(&config.propagator);

    let guard = TelemetryGuard {
        tracer_provider,
        meter_provider,
        in_memory_spans,
        in_memory_metrics,
        report: InitReport {
            service_name: config.service_name.clone(),
            service_instance_id: instance_id,
            traces_exporter: describe_traces(&config),
            metrics_exporter: describe_metrics(&config),
            propagators,
            unknown_propagators,
            warnings: Vec::new(),
        },
        shut_down: false,
    };
    // From here on the guard shuts the providers down if installation fails.
    let mut guard = guard;

    if config.tracing_subscriber {
        let subscriber = bridge::subscriber(
            &guard.tracer_provider,
            &config.log_filter,
            config.log_ansi,
            std::io::stdout,
        )?;
        tracing::subscriber::set_global_default(subscriber)
            .map_err(TelemetryError::SubscriberAlreadySet)?;
    }
    if config.install_globals {
        global::set_tracer_provider(guard.tracer_provider.clone());
        global::set_meter_provider(guard.meter_provider.clone());
        global::set_text_map_propagator(propagator);
    }

    if !guard.report.unknown_propagators.is_empty() {
        let warning = format!(
            "OTEL_PROPAGATORS: ignoring unknown propagator(s) {}; using {}",
            guard.report.unknown_propagators.join(", "),
            guard.report.propagators
        );
        tracing::warn!(unknown = ?guard.report.unknown_propagators, "{warning}");
        guard.report.warnings.push(warning);
    }
    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
    for warning in pipeline::plaintext_tls_warnings(&config) {
        tracing::warn!("{warning}");
        guard.report.warnings.push(warning);
    }
    Ok(guard)
}

fn describe_traces(config: &TelemetryConfig) -> String {
    match &config.traces {
        TracesExporter::Otlp => format!(
            "otlp {} {}",
            protocol_name(config.otlp.protocol),
            // Userinfo may hold a password; the report is meant to be logged.
            redact::endpoint(&config.otlp.protocol.traces_endpoint(&config.otlp))
        ),
        TracesExporter::Stdout => "stdout".to_owned(),
        TracesExporter::File(path) => format!("file {}", path.display()),
        TracesExporter::InMemory => "in-memory".to_owned(),
        TracesExporter::None => "none".to_owned(),
    }
}

fn describe_metrics(config: &TelemetryConfig) -> String {
    match &config.metrics {
        MetricsExporter::Otlp => format!(
            "otlp {} {}",
            protocol_name(config.otlp.protocol),
            redact::endpoint(&config.otlp.protocol.metrics_endpoint(&config.otlp))
        ),
        MetricsExporter::Stdout => "stdout".to_owned(),
        MetricsExporter::InMemory => "in-memory".to_owned(),
        MetricsExporter::None => "none".to_owned(),
    }
}

fn protocol_name(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::Grpc => "grpc",
        OtlpProtocol::HttpProtobuf => "http/protobuf",
        OtlpProtocol::HttpJson => "http/json",
    }
}
