//! Building the resource, sampler, exporters and providers from a [`TelemetryConfig`].

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, Sampler, SdkTracerProvider, TracerProviderBuilder,
};

use crate::config::{
    MetricsExporter, OtlpProtocol, SamplerConfig, TelemetryConfig, TracesExporter,
};
use crate::error::{ConfigError, TelemetryError};
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
use crate::otlp::ClientTls;

/// The resource every span and metric carries.
pub(crate) fn resource(config: &TelemetryConfig) -> Resource {
    let instance_id = config
        .service_instance_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(config.resource_attributes.iter().cloned())
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.instance.id", instance_id));
    if let Some(version) = &config.service_version {
        builder = builder.with_attribute(KeyValue::new("service.version", version.clone()));
    }
    builder.build()
}

fn checked_ratio(ratio: f64) -> Result<f64, ConfigError> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(ConfigError::SamplerArg(ratio.to_string()))
    }
}

/// The SDK sampler for `config` (ratios set through the builder are validated here).
pub(crate) fn sampler(config: SamplerConfig) -> Result<Sampler, ConfigError> {
    Ok(match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(checked_ratio(r)?),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(checked_ratio(r)?)))
        }
    })
}

/// The tracer provider plus, for [`TracesExporter::InMemory`], the exporter to read.
pub(crate) fn tracer_provider(
    config: &TelemetryConfig,
    resource: Resource,
) -> Result<(SdkTracerProvider, Option<InMemorySpanExporter>), TelemetryError> {
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(config.sampler)?);
    let mut in_memory = None;
    let builder = match &config.traces {
        TracesExporter::None => builder,
        TracesExporter::InMemory => {
            // simple processor: the demo and tests read spans right after they end
            let exporter = InMemorySpanExporter::default();
            in_memory = Some(exporter.clone());
            builder.with_simple_exporter(exporter)
        }
        TracesExporter::Stdout => stdout_spans(builder)?,
        TracesExporter::File(path) => file_spans(builder, path)?,
        TracesExporter::Otlp => otlp_spans(builder, config)?,
    };
    Ok((builder.build(), in_memory))
}

#[cfg(feature = "stdout")]
fn stdout_spans(builder: TracerProviderBuilder) -> Result<TracerProviderBuilder, TelemetryError> {
    Ok(builder.with_batch_exporter(opentelemetry_stdout::SpanExporter::default()))
}

#[cfg(not(feature = "stdout"))]
fn stdout_spans(_: TracerProviderBuilder) -> Result<TracerProviderBuilder, TelemetryError> {
    Err(ConfigError::FeatureDisabled {
        what: "stdout",
        feature: "stdout",
    }
    .into())
}

#[cfg(feature = "file")]
fn file_spans(
    builder: TracerProviderBuilder,
    path: &std::path::Path,
) -> Result<TracerProviderBuilder, TelemetryError> {
    let exporter = crate::file::OtlpJsonFileExporter::create(path).map_err(|source| {
        TelemetryError::TracesFile {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(builder.with_batch_exporter(exporter))
}

#[cfg(not(feature = "file"))]
fn file_spans(
    _: TracerProviderBuilder,
    _: &std::path::Path,
) -> Result<TracerProviderBuilder, TelemetryError> {
    Err(ConfigError::FeatureDisabled {
        what: "file",
        feature: "file",
    }
    .into())
}

fn otlp_spans(
    builder: TracerProviderBuilder,
    config: &TelemetryConfig,
) -> Result<TracerProviderBuilder, TelemetryError> {
    let otlp = &config.otlp;
    let endpoint = otlp.protocol.traces_endpoint(otlp);
    match otlp.protocol {
        OtlpProtocol::Grpc => {
            #[cfg(feature = "otlp-grpc")]
            {
                // tracewire's exporter (crate::otlp): same wire format, ~6x less CPU
                require_runtime("OTLP gRPC")?;
                let exporter = crate::otlp::OtlpTraceExporter::grpc_with_tls(
                    &endpoint,
                    grpc_metadata(&otlp.headers)?,
                    otlp.timeout.unwrap_or(crate::otlp::DEFAULT_TIMEOUT),
                    &ClientTls::load(&otlp.traces_tls)?,
                )
                .map_err(|source| TelemetryError::Exporter {
                    what: "OTLP gRPC",
                    source,
                })?
                .with_compression(otlp.traces_compression);
                Ok(builder.with_batch_exporter(exporter))
            }
            #[cfg(not(feature = "otlp-grpc"))]
            {
                let _ = (builder, endpoint);
                Err(ConfigError::FeatureDisabled {
                    what: "OTLP gRPC",
                    feature: "otlp-grpc",
                }
                .into())
            }
        }
        OtlpProtocol::HttpProtobuf => {
            #[cfg(feature = "otlp-http")]
            {
                // tracewire's exporter (crate::otlp): same wire format, ~6x less CPU
                let exporter = crate::otlp::OtlpTraceExporter::http_with_tls(
                    &endpoint,
                    http_header_map(&otlp.headers)?,
                    otlp.timeout.unwrap_or(crate::otlp::DEFAULT_TIMEOUT),
                    &ClientTls::load(&otlp.traces_tls)?,
                )
                .map_err(|source| TelemetryError::Exporter {
                    what: "OTLP HTTP",
                    source,
                })?
                .with_compression(otlp.traces_compression);
                Ok(builder.with_batch_exporter(exporter))
            }
            #[cfg(not(feature = "otlp-http"))]
            {
                let _ = (builder, endpoint);
                Err(ConfigError::FeatureDisabled {
                    what: "OTLP HTTP",
                    feature: "otlp-http",
                }
                .into())
            }
        }
        // JSON stays on opentelemetry-otlp (the hand-written encoder is protobuf only)
        OtlpProtocol::HttpJson => {
            #[cfg(feature = "otlp-http")]
            {
                use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
                let mut exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(http_protocol(otlp.protocol))
                    .with_endpoint(endpoint)
                    .with_headers(http_headers(&otlp.headers)?);
                if let Some(timeout) = otlp.timeout {
                    exporter = exporter.with_timeout(timeout);
                }
                if let Some(client) = http_client_for(otlp, &otlp.traces_tls, "OTLP HTTP")? {
                    exporter = exporter.with_http_client(client);
                }
                if let Some(compression) = otel_compression(otlp.traces_compression) {
                    exporter = exporter.with_compression(compression);
                }
                let exporter = exporter
                    .build()
                    .map_err(|e| exporter_error("OTLP HTTP", e))?;
                Ok(builder.with_batch_exporter(exporter))
            }
            #[cfg(not(feature = "otlp-http"))]
            {
                let _ = (builder, endpoint);
                Err(ConfigError::FeatureDisabled {
                    what: "OTLP HTTP",
                    feature: "otlp-http",
                }
                .into())
            }
        }
    }
}

/// One warning per TLS setting (CA file, client certificate, client key) given for an
/// OTLP exporter in use whose endpoint is plaintext `http://`: TLS settings apply to
/// `https` endpoints only, so they have no effect there, which is worth saying rather
/// than leaving the user to believe the export is verified or authenticated. A setting
/// that both signals share (the general variable or a builder method) is named once.
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub(crate) fn plaintext_tls_warnings(config: &TelemetryConfig) -> Vec<String> {
    let otlp = &config.otlp;
    let mut signals: Vec<(&str, &crate::config::OtlpTlsConfig, String)> = Vec::new();
    if config.traces == TracesExporter::Otlp {
        signals.push((
            "traces",
            &otlp.traces_tls,
            otlp.protocol.traces_endpoint(otlp),
        ));
    }
    if config.metrics == MetricsExporter::Otlp {
        signals.push((
            "metrics",
            &otlp.metrics_tls,
            otlp.protocol.metrics_endpoint(otlp),
        ));
    }
    // (setting, signals, endpoints), in the order found
    let mut ignored: Vec<(&'static str, Vec<&str>, Vec<String>)> = Vec::new();
    for (signal, tls, endpoint) in &signals {
        if is_https(endpoint) {
            continue;
        }
        let files = [&tls.certificate, &tls.client_certificate, &tls.client_key];
        for file in files.into_iter().flatten() {
            let endpoint = crate::otlp::redact(endpoint);
            match ignored
                .iter_mut()
                .find(|(setting, ..)| *setting == file.setting)
            {
                Some((_, signals, endpoints)) => {
                    signals.push(signal);
                    if !endpoints.contains(&endpoint) {
                        endpoints.push(endpoint);
                    }
                }
                None => ignored.push((file.setting, vec![signal], vec![endpoint])),
            }
        }
    }
    ignored
        .into_iter()
        .map(|(setting, signals, endpoints)| {
            let noun = if endpoints.len() == 1 {
                "endpoint"
            } else {
                "endpoints"
            };
            format!(
                "{setting} has no effect on the plaintext OTLP {} {noun} {}: TLS settings \
                 apply to https:// endpoints only",
                signals.join(" and "),
                endpoints.join(", "),
            )
        })
        .collect()
}

/// Whether `endpoint`'s scheme is `https` (ASCII case ignored, as URLs are).
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn is_https(endpoint: &str) -> bool {
    endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The meter provider plus, for [`MetricsExporter::InMemory`], the exporter to read.
pub(crate) fn meter_provider(
    config: &TelemetryConfig,
    resource: Resource,
) -> Result<(SdkMeterProvider, Option<InMemoryMetricExporter>), TelemetryError> {
    let builder = SdkMeterProvider::builder().with_resource(resource);
    let interval = config.metrics_interval;
    let mut in_memory = None;
    let builder = match &config.metrics {
        MetricsExporter::None => builder,
        MetricsExporter::InMemory => {
            let exporter = InMemoryMetricExporter::default();
            in_memory = Some(exporter.clone());
            builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(interval)
                    .build(),
            )
        }
        MetricsExporter::Stdout => {
            #[cfg(feature = "stdout")]
            {
                let exporter = opentelemetry_stdout::MetricExporter::builder().build();
                builder.with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(interval)
                        .build(),
                )
            }
            #[cfg(not(feature = "stdout"))]
            return Err(ConfigError::FeatureDisabled {
                what: "stdout",
                feature: "stdout",
            }
            .into());
        }
        MetricsExporter::Otlp => otlp_metrics(builder, config)?,
    };
    Ok((builder.build(), in_memory))
}

fn otlp_metrics(
    builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
    config: &TelemetryConfig,
) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, TelemetryError> {
    let otlp = &config.otlp;
    let endpoint = otlp.protocol.metrics_endpoint(otlp);
    let interval = config.metrics_interval;
    match otlp.protocol {
        OtlpProtocol::Grpc => {
            #[cfg(feature = "otlp-grpc")]
            {
                use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
                require_runtime("OTLP gRPC")?;
                let mut exporter = opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_metadata(grpc_metadata(&otlp.headers)?);
                if let Some(timeout) = otlp.timeout {
                    exporter = exporter.with_timeout(timeout);
                }
                let tls = ClientTls::load(&otlp.metrics_tls)?;
                #[cfg(feature = "tls")]
                if tls.is_custom() && endpoint_is_https(otlp, OtlpProtocol::metrics_endpoint) {
                    exporter = exporter.with_tls_config(tls.tonic_config());
                }
                #[cfg(not(feature = "tls"))]
                let _ = tls;
                if let Some(compression) = otel_compression(otlp.metrics_compression) {
                    exporter = exporter.with_compression(compression);
                }
                let exporter = exporter
                    .build()
                    .map_err(|e| exporter_error("OTLP gRPC metrics", e))?;
                Ok(builder.with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(interval)
                        .build(),
                ))
            }
            #[cfg(not(feature = "otlp-grpc"))]
            {
                let _ = (builder, endpoint, interval);
                Err(ConfigError::FeatureDisabled {
                    what: "OTLP gRPC",
                    feature: "otlp-grpc",
                }
                .into())
            }
        }
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
            #[cfg(feature = "otlp-http")]
            {
                use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
                let mut exporter = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(http_protocol(otlp.protocol))
                    .with_endpoint(endpoint)
                    .with_headers(http_headers(&otlp.headers)?);
                if let Some(timeout) = otlp.timeout {
                    exporter = exporter.with_timeout(timeout);
                }
                if let Some(client) = http_client_for(otlp, &otlp.metrics_tls, "OTLP HTTP metrics")?
                {
                    exporter = exporter.with_http_client(client);
                }
                if let Some(compression) = otel_compression(otlp.metrics_compression) {
                    exporter = exporter.with_compression(compression);
                }
                let exporter = exporter
                    .build()
                    .map_err(|e| exporter_error("OTLP HTTP metrics", e))?;
                Ok(builder.with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(interval)
                        .build(),
                ))
            }
            #[cfg(not(feature = "otlp-http"))]
            {
                let _ = (builder, endpoint, interval);
                Err(ConfigError::FeatureDisabled {
                    what: "OTLP HTTP",
                    feature: "otlp-http",
                }
                .into())
            }
        }
    }
}

/// `opentelemetry-otlp`'s setting for `compression`. `None` for no compression: that
/// crate has no value for it, so it is left unset (and the crate then reads
/// `OTEL_EXPORTER_OTLP_{METRICS_,}COMPRESSION` from the process environment itself,
/// which agrees with ours unless the builder overrode the environment).
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn otel_compression(
    compression: crate::config::OtlpCompression,
) -> Option<opentelemetry_otlp::Compression> {
    use crate::config::OtlpCompression;
    match compression {
        OtlpCompression::Gzip => Some(opentelemetry_otlp::Compression::Gzip),
        OtlpCompression::None => None,
    }
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
fn exporter_error(what: &'static str, e: opentelemetry_otlp::ExporterBuildError) -> TelemetryError {
    TelemetryError::Exporter {
        what,
        source: Box::new(e),
    }
}

/// For `opentelemetry-otlp`'s HTTP exporters: a blocking client carrying the TLS files
/// of `tls` (read here, once), or `None` to keep the exporter's own client when none
/// is set.
#[cfg(feature = "otlp-http")]
fn http_client_for(
    otlp: &crate::config::OtlpConfig,
    tls: &crate::config::OtlpTlsConfig,
    what: &'static str,
) -> Result<Option<reqwest::blocking::Client>, TelemetryError> {
    let tls = ClientTls::load(tls)?;
    if !tls.is_custom() {
        return Ok(None);
    }
    let timeout = otlp.timeout.unwrap_or(crate::otlp::DEFAULT_TIMEOUT);
    crate::otlp::blocking_client(timeout, &tls)
        .map(Some)
        .map_err(|source| TelemetryError::Exporter { what, source })
}

/// Whether the signal's resolved endpoint is `https` (TLS settings apply only there).
#[cfg(all(feature = "otlp-grpc", feature = "tls"))]
fn endpoint_is_https(
    otlp: &crate::config::OtlpConfig,
    endpoint: fn(OtlpProtocol, &crate::config::OtlpConfig) -> String,
) -> bool {
    is_https(&endpoint(otlp.protocol, otlp))
}

/// tonic's channel spawns its worker on the current Tokio runtime: building it outside
/// one would panic, so refuse with a typed error instead.
#[cfg(feature = "otlp-grpc")]
fn require_runtime(what: &'static str) -> Result<(), TelemetryError> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| TelemetryError::RuntimeRequired { what })
}

#[cfg(feature = "otlp-grpc")]
fn grpc_metadata(
    headers: &[(String, String)],
) -> Result<tonic::metadata::MetadataMap, ConfigError> {
    use tonic::metadata::{MetadataKey, MetadataValue};
    let mut map = tonic::metadata::MetadataMap::new();
    for (key, value) in headers {
        let bad = |reason| ConfigError::Headers {
            var: "OTEL_EXPORTER_OTLP_HEADERS",
            entry: format!("{key}=…"),
            reason,
        };
        let k = MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
            .map_err(|_| bad("not a valid gRPC metadata key"))?;
        let v = MetadataValue::try_from(value.as_str())
            .map_err(|_| bad("not a valid gRPC metadata value"))?;
        map.insert(k, v);
    }
    Ok(map)
}

#[cfg(feature = "otlp-http")]
fn http_protocol(protocol: OtlpProtocol) -> opentelemetry_otlp::Protocol {
    if protocol == OtlpProtocol::HttpJson {
        opentelemetry_otlp::Protocol::HttpJson
    } else {
        opentelemetry_otlp::Protocol::HttpBinary
    }
}

/// Header names must be HTTP tokens and values visible ASCII: the OTLP exporter would
/// silently drop anything else, so reject it here.
#[cfg(feature = "otlp-http")]
fn check_http_header(key: &str, value: &str) -> Result<(), ConfigError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let bad = |reason| ConfigError::Headers {
        var: "OTEL_EXPORTER_OTLP_HEADERS",
        entry: format!("{key}=…"),
        reason,
    };
    if key.is_empty() || !key.chars().all(token) {
        return Err(bad("header name is not an HTTP token"));
    }
    if !value
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        return Err(bad("header value is not visible ASCII"));
    }
    Ok(())
}

/// The headers for `opentelemetry-otlp`'s HTTP exporters (JSON traces, metrics).
#[cfg(feature = "otlp-http")]
fn http_headers(
    headers: &[(String, String)],
) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let mut map = std::collections::HashMap::new();
    for (key, value) in headers {
        check_http_header(key, value)?;
        // the exporter percent-decodes again: re-encode `%` so values arrive verbatim
        map.insert(key.clone(), value.replace('%', "%25"));
    }
    Ok(map)
}

/// The headers for tracewire's HTTP trace exporter, sent verbatim (later entries for
/// the same name replace earlier ones, as with the other exporters).
#[cfg(feature = "otlp-http")]
fn http_header_map(
    headers: &[(String, String)],
) -> Result<reqwest::header::HeaderMap, ConfigError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut map = reqwest::header::HeaderMap::new();
    for (key, value) in headers {
        check_http_header(key, value)?;
        let bad = |reason| ConfigError::Headers {
            var: "OTEL_EXPORTER_OTLP_HEADERS",
            entry: format!("{key}=…"),
            reason,
        };
        let name = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| bad("header name is not an HTTP token"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| bad("header value is not visible ASCII"))?;
        map.insert(name, value);
    }
    Ok(map)
}
