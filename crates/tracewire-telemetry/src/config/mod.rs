//! [`TelemetryConfig`]: what [`init`](crate::init) sets up, from the environment and/or
//! builder calls.

mod env;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;

pub use env::DEFAULT_LOG_FILTER;

use crate::error::ConfigError;

/// Where finished spans go.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TracesExporter {
    /// OTLP to a collector (protocol and endpoint in [`OtlpConfig`]).
    Otlp,
    /// Human-readable spans on stdout (feature `stdout`).
    Stdout,
    /// One OTLP/JSON `ExportTraceServiceRequest` per line, appended to a file (feature `file`).
    File(PathBuf),
    /// Kept in memory; read them with [`TelemetryGuard::finished_spans`](crate::TelemetryGuard::finished_spans).
    InMemory,
    /// Spans are created (context still propagates) but not exported.
    None,
}

/// Where metrics go.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsExporter {
    /// OTLP to a collector (same protocol, endpoint and headers as traces).
    Otlp,
    /// Printed on stdout (feature `stdout`).
    Stdout,
    /// Kept in memory; read them with [`TelemetryGuard::in_memory_metrics`](crate::TelemetryGuard::in_memory_metrics).
    InMemory,
    /// A meter provider with no reader: instruments work, nothing is exported.
    None,
}

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC (feature `otlp-grpc`, default endpoint `http://localhost:4317`).
    Grpc,
    /// HTTP with protobuf bodies (feature `otlp-http`, default endpoint `http://localhost:4318`).
    HttpProtobuf,
    /// HTTP with OTLP/JSON bodies (feature `otlp-http`).
    HttpJson,
}

/// The sampler, as named by `OTEL_TRACES_SAMPLER`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplerConfig {
    /// Record and export every span.
    AlwaysOn,
    /// Drop every span.
    AlwaysOff,
    /// Keep this fraction of traces, by trace id.
    TraceIdRatio(f64),
    /// Follow the parent's decision; sample roots (the default).
    ParentBasedAlwaysOn,
    /// Follow the parent's decision; drop roots.
    ParentBasedAlwaysOff,
    /// Follow the parent's decision; sample this fraction of roots.
    ParentBasedTraceIdRatio(f64),
}

/// OTLP exporter settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// Transport.
    pub protocol: OtlpProtocol,
    /// Base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); for HTTP, `/v1/traces` and
    /// `/v1/metrics` are appended.
    pub endpoint: Option<String>,
    /// Full traces endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), used as is.
    pub traces_endpoint: Option<String>,
    /// Full metrics endpoint (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), used as is.
    pub metrics_endpoint: Option<String>,
    /// Extra request headers / gRPC metadata (`OTEL_EXPORTER_OTLP_HEADERS`,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`).
    pub headers: Vec<(String, String)>,
    /// Export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, milliseconds).
    pub timeout: Option<Duration>,
    /// TLS files for the traces exporter (`OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, ...,
    /// else the general `OTEL_EXPORTER_OTLP_CERTIFICATE`, ...).
    pub traces_tls: OtlpTlsConfig,
    /// TLS files for the metrics exporter (`OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE`, ...,
    /// else the general variables).
    pub metrics_tls: OtlpTlsConfig,
    /// Compression of trace exports (`OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`; default none).
    pub traces_compression: OtlpCompression,
    /// Compression of metric exports (`OTEL_EXPORTER_OTLP_METRICS_COMPRESSION`, else
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`; default none).
    pub metrics_compression: OtlpCompression,
}

/// How OTLP export requests are compressed, as `OTEL_EXPORTER_OTLP_COMPRESSION` names it
/// (`gzip` or `none`, the two values of the OpenTelemetry exporter specification).
///
/// With [`Gzip`](Self::Gzip), OTLP/gRPC sends each message gzip-compressed
/// (`grpc-encoding: gzip`) and OTLP/HTTP sends a gzip body
/// (`Content-Encoding: gzip`), for traces and for metrics. Every OpenTelemetry
/// collector accepts both. Gzip trades export-thread CPU for bytes on the wire: worth it
/// when the collector is across a network that is billed or slow, rarely for a collector
/// on the same host or pod.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpCompression {
    /// Uncompressed requests (the default).
    #[default]
    None,
    /// gzip.
    Gzip,
}

/// TLS files for one OTLP exporter, as the OpenTelemetry exporter specification names
/// them. They apply to `https` endpoints only and need the `tls` feature (without it,
/// [`init`](crate::init) fails with [`ConfigError::TlsFeatureDisabled`] when any is set).
/// With a plaintext `http://` endpoint they have no effect, and [`init`](crate::init)
/// says so: a `tracing` warning per setting, also listed in
/// [`InitReport::warnings`](crate::InitReport::warnings).
/// [`init`](crate::init) reads each file once; a missing, unreadable or invalid file is a
/// [`ConfigError`] naming the setting and the path (never the file's contents).
///
/// * `certificate`: PEM file of the CA certificates trusted to verify the collector.
///   When set, these certificates **replace** the built-in webpki (Mozilla) roots rather
///   than adding to them, as the Go, Java and Python SDKs and the collector's own
///   `ca_file` do: a collector behind a private CA is then trusted through that CA
///   alone. When unset, gRPC trusts the webpki roots and HTTP reqwest's platform
///   verifier (the OS trust store).
/// * `client_certificate` + `client_key`: PEM certificate chain and private key (PKCS#8,
///   PKCS#1 or SEC1) presented to a collector that requires mutual TLS. Both or neither.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpTlsConfig {
    /// Trusted CA certificates (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub certificate: Option<PemFile>,
    /// Client certificate chain for mTLS (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub client_certificate: Option<PemFile>,
    /// Client private key for mTLS (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub client_key: Option<PemFile>,
}

impl OtlpTlsConfig {
    /// Whether any file is set.
    pub fn is_set(&self) -> bool {
        self.certificate.is_some() || self.client_certificate.is_some() || self.client_key.is_some()
    }
}

/// A PEM file and the setting that named it (an environment variable or a builder
/// method), so errors can say where a bad path came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemFile {
    /// The file.
    pub path: PathBuf,
    /// The variable or builder method that set it.
    pub setting: &'static str,
}

impl PemFile {
    /// `path`, set by `setting`.
    pub fn new(path: impl Into<PathBuf>, setting: &'static str) -> Self {
        Self {
            path: path.into(),
            setting,
        }
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            protocol: OtlpProtocol::default_for_build(),
            endpoint: None,
            traces_endpoint: None,
            metrics_endpoint: None,
            headers: Vec::new(),
            timeout: None,
            traces_tls: OtlpTlsConfig::default(),
            metrics_tls: OtlpTlsConfig::default(),
            traces_compression: OtlpCompression::None,
            metrics_compression: OtlpCompression::None,
        }
    }
}

impl OtlpProtocol {
    /// `http/protobuf` (the OpenTelemetry default) when the `otlp-http` feature is on,
    /// otherwise `grpc`.
    pub fn default_for_build() -> Self {
        if cfg!(feature = "otlp-http") || !cfg!(feature = "otlp-grpc") {
            Self::HttpProtobuf
        } else {
            Self::Grpc
        }
    }

    /// The resolved traces endpoint: the signal endpoint as is, else the base endpoint
    /// (plus `/v1/traces` for HTTP), else the protocol's localhost default.
    pub fn traces_endpoint(self, otlp: &OtlpConfig) -> String {
        self.signal_endpoint(
            otlp.traces_endpoint.as_deref(),
            otlp.endpoint.as_deref(),
            "/v1/traces",
        )
    }

    /// The resolved metrics endpoint (see [`traces_endpoint`](Self::traces_endpoint)).
    pub fn metrics_endpoint(self, otlp: &OtlpConfig) -> String {
        self.signal_endpoint(
            otlp.metrics_endpoint.as_deref(),
            otlp.endpoint.as_deref(),
            "/v1/metrics",
        )
    }

    fn signal_endpoint(self, signal: Option<&str>, base: Option<&str>, path: &str) -> String {
        if let Some(url) = signal {
            return url.to_owned();
        }
        let grpc = self == Self::Grpc;
        let default = if grpc {
            "http://localhost:4317"
        } else {
            "http://localhost:4318"
        };
        let base = base.unwrap_or(default);
        if grpc {
            base.to_owned()
        } else {
            format!("{}{path}", base.trim_end_matches('/'))
        }
    }
}

/// A propagator chosen by the caller, shared with the global registry.
pub use tracewire_core::instrument::SharedPropagator;

/// How the global propagator is chosen.
#[derive(Clone)]
#[non_exhaustive]
pub enum PropagatorChoice {
    /// A comma-separated `OTEL_PROPAGATORS` list (`tracecontext,baggage` by default),
    /// built by `tracewire_core`'s strict propagators.
    List(String),
    /// This propagator, as is.
    Custom(SharedPropagator),
}

impl fmt::Debug for PropagatorChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::List(list) => f.debug_tuple("List").field(list).finish(),
            Self::Custom(p) => f
                .debug_tuple("Custom")
                .field(&p.fields().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// Everything [`init`](crate::init) needs. Build it with [`TelemetryConfig::from_env`]
/// (the `OTEL_*` environment) or [`TelemetryConfig::new`] (defaults only), then adjust
/// with the `with_*` setters, which win over the environment.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) service_instance_id: Option<String>,
    pub(crate) resource_attributes: Vec<KeyValue>,
    pub(crate) sampler: SamplerConfig,
    pub(crate) traces: TracesExporter,
    pub(crate) metrics: MetricsExporter,
    pub(crate) otlp: OtlpConfig,
    pub(crate) propagator: PropagatorChoice,
    pub(crate) tracing_subscriber: bool,
    pub(crate) log_filter: String,
    pub(crate) log_ansi: bool,
    pub(crate) install_globals: bool,
    pub(crate) metrics_interval: Duration,
}

impl TelemetryConfig {
    /// Defaults only, ignoring the environment: the OTLP exporters, the parent-based
    /// always-on sampler, `tracecontext,baggage`, a tracing subscriber filtered by
    /// [`DEFAULT_LOG_FILTER`].
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            service_version: None,
            service_instance_id: None,
            resource_attributes: Vec::new(),
            sampler: SamplerConfig::ParentBasedAlwaysOn,
            traces: TracesExporter::Otlp,
            metrics: MetricsExporter::Otlp,
            otlp: OtlpConfig::default(),
            propagator: PropagatorChoice::List(env::DEFAULT_PROPAGATORS.to_owned()),
            tracing_subscriber: true,
            log_filter: DEFAULT_LOG_FILTER.to_owned(),
            log_ansi: false,
            install_globals: true,
            metrics_interval: Duration::from_secs(60),
        }
    }

    /// Reads the process environment (see `docs/telemetry.md` for every variable).
    /// `service_name` is used unless `OTEL_SERVICE_NAME` or a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES` overrides it.
    pub fn from_env(service_name: impl Into<String>) -> Result<Self, ConfigError> {
        Self::from_lookup(service_name, |key| std::env::var(key).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup` (a pure
    /// function, so tests need not mutate the process environment).
    pub fn from_lookup(
        service_name: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        env::apply(Self::new(service_name), &lookup)
    }

    /// The `service.name` resource attribute.
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// The `service.version` resource attribute (often `env!("CARGO_PKG_VERSION")`).
    #[must_use]
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// The `service.instance.id` resource attribute (a random UUID if never set).
    #[must_use]
    pub fn with_service_instance_id(mut self, id: impl Into<String>) -> Self {
        self.service_instance_id = Some(id.into());
        self
    }

    /// An extra resource attribute (replaces one with the same key).
    #[must_use]
    pub fn with_resource_attribute(mut self, attribute: KeyValue) -> Self {
        self.resource_attributes
            .retain(|kv| kv.key != attribute.key);
        self.resource_attributes.push(attribute);
        self
    }

    /// The sampler. A ratio outside `[0, 1]` makes [`init`](crate::init) fail.
    #[must_use]
    pub fn with_sampler(mut self, sampler: SamplerConfig) -> Self {
        self.sampler = sampler;
        self
    }

    /// The traces exporter.
    #[must_use]
    pub fn with_traces_exporter(mut self, exporter: TracesExporter) -> Self {
        self.traces = exporter;
        self
    }

    /// The metrics exporter.
    #[must_use]
    pub fn with_metrics_exporter(mut self, exporter: MetricsExporter) -> Self {
        self.metrics = exporter;
        self
    }

    /// How often metrics are exported (`OTEL_METRIC_EXPORT_INTERVAL`, default 60 s).
    #[must_use]
    pub fn with_metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval;
        self
    }

    /// The OTLP transport.
    #[must_use]
    pub fn with_otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp.protocol = protocol;
        self
    }

    /// The OTLP base endpoint (for HTTP, `/v1/traces` is appended); clears any
    /// signal-specific endpoint from the environment.
    #[must_use]
    pub fn with_otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp.endpoint = Some(endpoint.into());
        self.otlp.traces_endpoint = None;
        self.otlp.metrics_endpoint = None;
        self
    }

    /// The full OTLP traces endpoint, used as is.
    #[must_use]
    pub fn with_otlp_traces_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp.traces_endpoint = Some(endpoint.into());
        self
    }

    /// An extra OTLP request header (HTTP) or metadata entry (gRPC).
    #[must_use]
    pub fn with_otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.headers.push((key.into(), value.into()));
        self
    }

    /// The OTLP export timeout.
    #[must_use]
    pub fn with_otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.timeout = Some(timeout);
        self
    }

    /// Trust only the CA certificates in this PEM file when verifying an `https`
    /// collector, for traces and metrics (instead of the webpki roots; see
    /// [`OtlpTlsConfig`]). Read once by [`init`](crate::init); needs the `tls` feature.
    /// Wins over `OTEL_EXPORTER_OTLP_CERTIFICATE` and its per-signal variants.
    #[must_use]
    pub fn with_otlp_certificate(mut self, ca_pem: impl Into<PathBuf>) -> Self {
        let file = PemFile::new(ca_pem, "TelemetryConfig::with_otlp_certificate");
        self.otlp.traces_tls.certificate = Some(file.clone());
        self.otlp.metrics_tls.certificate = Some(file);
        self
    }

    /// Compress OTLP exports of traces and metrics (`gzip`) or not (`none`). Wins over
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` and its per-signal variants; see
    /// [`OtlpCompression`] for what goes on the wire.
    ///
    /// One exception: for `none`, metrics (sent by `opentelemetry-otlp`) can only be left
    /// unconfigured, and that crate then reads `OTEL_EXPORTER_OTLP_METRICS_COMPRESSION` /
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` from the process environment itself.
    #[must_use]
    pub fn with_otlp_compression(mut self, compression: OtlpCompression) -> Self {
        self.otlp.traces_compression = compression;
        self.otlp.metrics_compression = compression;
        self
    }

    /// Present this client certificate chain and private key (PEM files) to an `https`
    /// collector that requires mutual TLS, for traces and metrics. Read once by
    /// [`init`](crate::init); needs the `tls` feature. Wins over
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` / `OTEL_EXPORTER_OTLP_CLIENT_KEY` and
    /// their per-signal variants.
    #[must_use]
    pub fn with_otlp_client_certificate(
        mut self,
        certificate_pem: impl Into<PathBuf>,
        key_pem: impl Into<PathBuf>,
    ) -> Self {
        let cert = PemFile::new(
            certificate_pem,
            "TelemetryConfig::with_otlp_client_certificate (certificate)",
        );
        let key = PemFile::new(
            key_pem,
            "TelemetryConfig::with_otlp_client_certificate (key)",
        );
        for tls in [&mut self.otlp.traces_tls, &mut self.otlp.metrics_tls] {
            tls.client_certificate = Some(cert.clone());
            tls.client_key = Some(key.clone());
        }
        self
    }

    /// Use this propagator instead of the `OTEL_PROPAGATORS` list.
    #[must_use]
    pub fn with_propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = PropagatorChoice::Custom(Arc::new(propagator));
        self
    }

    /// Use this `OTEL_PROPAGATORS`-style list (`tracecontext,baggage,b3,b3multi,jaeger,none`).
    #[must_use]
    pub fn with_propagators(mut self, list: impl Into<String>) -> Self {
        self.propagator = PropagatorChoice::List(list.into());
        self
    }

    /// Whether to install a global `tracing` subscriber (OpenTelemetry layer + fmt layer
    /// with trace ids). Default `true`.
    #[must_use]
    pub fn with_tracing_subscriber(mut self, install: bool) -> Self {
        self.tracing_subscriber = install;
        self
    }

    /// The `EnvFilter` directives for the subscriber (default: `RUST_LOG`, else
    /// [`DEFAULT_LOG_FILTER`]). Both the log output and the span bridge obey it.
    #[must_use]
    pub fn with_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = directives.into();
        self
    }

    /// Colour the log output (ANSI). Default `false`.
    #[must_use]
    pub fn with_log_ansi(mut self, ansi: bool) -> Self {
        self.log_ansi = ansi;
        self
    }

    /// Whether to install the tracer provider, meter provider and propagator as the
    /// OpenTelemetry globals. Default `true`; tests that run several set-ups in one
    /// process turn it off and use the guard's providers.
    #[must_use]
    pub fn with_install_globals(mut self, install: bool) -> Self {
        self.install_globals = install;
        self
    }

    /// The service name that will be reported.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }

    /// The configured sampler.
    pub fn sampler(&self) -> SamplerConfig {
        self.sampler
    }

    /// The configured traces exporter.
    pub fn traces_exporter(&self) -> &TracesExporter {
        &self.traces
    }

    /// The configured metrics exporter.
    pub fn metrics_exporter(&self) -> &MetricsExporter {
        &self.metrics
    }

    /// The OTLP settings.
    pub fn otlp(&self) -> &OtlpConfig {
        &self.otlp
    }

    /// The propagator choice.
    pub fn propagator(&self) -> &PropagatorChoice {
        &self.propagator
    }

    /// Extra resource attributes (from `OTEL_RESOURCE_ATTRIBUTES` and the builder).
    pub fn resource_attributes(&self) -> &[KeyValue] {
        &self.resource_attributes
    }

    /// The log filter directives.
    pub fn log_filter(&self) -> &str {
        &self.log_filter
    }
}
