//! Errors, one enum per operation.

use std::path::PathBuf;

use opentelemetry_sdk::error::OTelSdkError;

/// Boxed error source from an exporter crate.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A configuration value (environment variable or builder input) is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `OTEL_TRACES_SAMPLER` names no known sampler.
    #[error(
        "OTEL_TRACES_SAMPLER={0:?} is not a known sampler (always_on, always_off, traceidratio, \
         parentbased_always_on, parentbased_always_off, parentbased_traceidratio)"
    )]
    UnknownSampler(String),
    /// `OTEL_TRACES_SAMPLER_ARG` (or a builder ratio) is not a number in `[0, 1]`.
    #[error("sampler ratio {0:?} is not a number between 0 and 1")]
    SamplerArg(String),
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` is not `grpc`, `http/protobuf` or `http/json`.
    #[error("{var}={value:?} is not an OTLP protocol (grpc, http/protobuf, http/json)")]
    UnknownProtocol {
        /// The variable read.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` (or its `_TRACES_` / `_METRICS_` variant) is
    /// neither `gzip` nor `none`.
    #[error("{var}={value:?} is not an OTLP compression (gzip, none)")]
    UnknownCompression {
        /// The variable read.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` names no known exporter.
    #[error("{var}={value:?} is not a known exporter ({expected})")]
    UnknownExporter {
        /// The variable read.
        var: &'static str,
        /// Its value.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
    /// The `file` traces exporter was chosen without `TRACEWIRE_TRACES_FILE`.
    #[error("OTEL_TRACES_EXPORTER=file needs TRACEWIRE_TRACES_FILE (the path to write)")]
    MissingTracesFile,
    /// `OTEL_EXPORTER_OTLP_HEADERS` is not a `key=value,key=value` list.
    #[error("{var}: malformed header entry {entry:?} ({reason})")]
    Headers {
        /// The variable read.
        var: &'static str,
        /// The offending entry, its value replaced by `…` (header values carry
        /// credentials, and this error ends up in logs).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `OTEL_RESOURCE_ATTRIBUTES` is not a `key=value,key=value` list.
    #[error("OTEL_RESOURCE_ATTRIBUTES: malformed entry {entry:?} ({reason})")]
    ResourceAttributes {
        /// The offending entry.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A numeric variable (a timeout) is not a number.
    #[error("{var}={value:?} is not a whole number of milliseconds")]
    Timeout {
        /// The variable read.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The chosen exporter is compiled out.
    #[error("the {what} exporter needs the `{feature}` feature of tracewire-telemetry")]
    FeatureDisabled {
        /// The exporter.
        what: &'static str,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// A TLS file setting (`OTEL_EXPORTER_OTLP_CERTIFICATE`, ... or a builder method) is
    /// given but tracewire-telemetry was built without its `tls` feature.
    #[error("{setting} is set, but tracewire-telemetry was built without its `tls` feature")]
    TlsFeatureDisabled {
        /// The variable or builder method.
        setting: &'static str,
    },
    /// A TLS file cannot be read.
    #[error("{setting}: cannot read {path}")]
    TlsFileUnreadable {
        /// The variable or builder method that named the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS file is not what its setting needs (its contents are never shown).
    #[error("{setting}: {path} is not valid: {reason}")]
    TlsFileInvalid {
        /// The variable or builder method that named the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A client certificate without a client key, or a key without a certificate.
    #[error("{given} is set without {missing}: mutual TLS needs both")]
    TlsClientIncomplete {
        /// The setting given.
        given: &'static str,
        /// The setting missing.
        missing: &'static str,
    },
    /// `RUST_LOG` (or the builder's filter) is not a valid `EnvFilter` directive list.
    #[error("invalid log filter {value:?}")]
    LogFilter {
        /// The filter text.
        value: String,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
}

/// [`init`](crate::init) failed; nothing was installed globally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The OTLP-JSON traces file cannot be opened for appending.
    #[error("cannot open traces file {path}")]
    TracesFile {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An exporter could not be built (bad endpoint, client construction failure).
    #[error("cannot build the {what} exporter")]
    Exporter {
        /// Which exporter.
        what: &'static str,
        /// The exporter crate's error.
        #[source]
        source: BoxError,
    },
    /// The exporter needs a Tokio runtime and `init` was called outside one.
    #[error(
        "the {what} exporter needs a Tokio runtime: call init inside #[tokio::main] \
         (or Runtime::enter), or use OTLP over HTTP, which works without one"
    )]
    RuntimeRequired {
        /// Which exporter.
        what: &'static str,
    },
    /// A global `tracing` subscriber is already installed.
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// Flushing or shutting down a provider failed (both are still shut down).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The tracer provider failed to flush or shut down.
    #[error("tracer provider shutdown failed")]
    Traces(#[source] OTelSdkError),
    /// The meter provider failed to flush or shut down.
    #[error("meter provider shutdown failed")]
    Metrics(#[source] OTelSdkError),
}
