//! Pure parsing of the `OTEL_*` environment over a lookup function.

use std::path::PathBuf;
use std::time::Duration;

use opentelemetry::KeyValue;
use percent_encoding::percent_decode_str;

use super::{
    MetricsExporter, OtlpCompression, OtlpProtocol, OtlpTlsConfig, PemFile, PropagatorChoice,
    SamplerConfig, TelemetryConfig, TracesExporter,
};
use crate::error::ConfigError;

/// The default `OTEL_PROPAGATORS` list.
pub(crate) const DEFAULT_PROPAGATORS: &str = "tracecontext,baggage";

/// The log filter used when `RUST_LOG` is unset: `info` for everything, with the
/// transport and exporter crates tracewire itself uses held at `warn`, so their chatter
/// stays out of the logs. (Their spans never join user traces whatever the filter: see
/// [`crate::bridge::BRIDGE_EXCLUDED_TARGETS`].)
///
/// `lapin::returned_messages` is held at `error`: lapin logs every message RabbitMQ
/// returns (a mandatory publish nothing routes, which is how `tracewire-amqp` detects
/// "no responders") at `warn` with its headers and payload, and message contents do not
/// belong in logs. The return itself is reported to the caller as `NoResponders`.
pub const DEFAULT_LOG_FILTER: &str = "info,h2=warn,hyper=warn,hyper_util=warn,tonic=warn,\
tower=warn,reqwest=warn,lapin=warn,lapin::returned_messages=error,async_nats=warn,\
rustls=warn,opentelemetry=warn,opentelemetry_sdk=warn,opentelemetry_otlp=warn,\
opentelemetry_http=warn";

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Value of `key`, with empty (or all-blank) values treated as unset, per the spec.
fn get(lookup: Lookup<'_>, key: &str) -> Option<String> {
    lookup(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub(super) fn apply(
    mut config: TelemetryConfig,
    lookup: Lookup<'_>,
) -> Result<TelemetryConfig, ConfigError> {
    // Resource: OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME wins for the name.
    if let Some(raw) = get(lookup, "OTEL_RESOURCE_ATTRIBUTES") {
        for (key, value) in parse_pairs(&raw)
            .map_err(|(entry, reason)| ConfigError::ResourceAttributes { entry, reason })?
        {
            match key.as_str() {
                "service.name" => config.service_name = value,
                "service.version" => config.service_version = Some(value),
                "service.instance.id" => config.service_instance_id = Some(value),
                _ => config = config.with_resource_attribute(KeyValue::new(key, value)),
            }
        }
    }
    if let Some(name) = get(lookup, "OTEL_SERVICE_NAME") {
        config.service_name = name;
    }

    config.sampler = parse_sampler(
        get(lookup, "OTEL_TRACES_SAMPLER").as_deref(),
        get(lookup, "OTEL_TRACES_SAMPLER_ARG").as_deref(),
    )?;

    if let Some(value) = get(lookup, "OTEL_TRACES_EXPORTER") {
        config.traces = match single("OTEL_TRACES_EXPORTER", &value, TRACES_EXPECTED)? {
            "otlp" => TracesExporter::Otlp,
            "console" | "stdout" => TracesExporter::Stdout,
            "none" => TracesExporter::None,
            "file" => match get(lookup, "TRACEWIRE_TRACES_FILE") {
                Some(path) => TracesExporter::File(PathBuf::from(path)),
                None => return Err(ConfigError::MissingTracesFile),
            },
            _ => {
                return Err(unknown_exporter(
                    "OTEL_TRACES_EXPORTER",
                    value,
                    TRACES_EXPECTED,
                ));
            }
        };
    }
    if let Some(value) = get(lookup, "OTEL_METRICS_EXPORTER") {
        config.metrics = match single("OTEL_METRICS_EXPORTER", &value, METRICS_EXPECTED)? {
            "otlp" => MetricsExporter::Otlp,
            "console" | "stdout" => MetricsExporter::Stdout,
            "none" => MetricsExporter::None,
            _ => {
                return Err(unknown_exporter(
                    "OTEL_METRICS_EXPORTER",
                    value,
                    METRICS_EXPECTED,
                ));
            }
        };
    }
    if get(lookup, "OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        config.traces = TracesExporter::None;
        config.metrics = MetricsExporter::None;
    }
    if let Some(ms) = parse_millis(lookup, "OTEL_METRIC_EXPORT_INTERVAL")? {
        config.metrics_interval = ms;
    }

    // OTLP: the traces-specific variable wins over the general one.
    for var in [
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    ] {
        if let Some(value) = get(lookup, var) {
            config.otlp.protocol = parse_protocol(var, &value)?;
        }
    }
    config.otlp.endpoint = get(lookup, "OTEL_EXPORTER_OTLP_ENDPOINT");
    config.otlp.traces_endpoint = get(lookup, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    config.otlp.metrics_endpoint = get(lookup, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        if let Some(raw) = get(lookup, var) {
            let pairs = parse_pairs(&raw).map_err(|(entry, reason)| ConfigError::Headers {
                var,
                entry: redacted_header_entry(&entry),
                reason,
            })?;
            for (key, value) in pairs {
                config
                    .otlp
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                config.otlp.headers.push((key, value));
            }
        }
    }
    for var in [
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    ] {
        if let Some(timeout) = parse_millis(lookup, var)? {
            config.otlp.timeout = Some(timeout);
        }
    }

    // TLS files: the general variables apply to both signals, a signal's own wins.
    apply_tls(lookup, &mut config.otlp.traces_tls, "TRACES");
    apply_tls(lookup, &mut config.otlp.metrics_tls, "METRICS");

    // Compression: likewise, the signal's own variable wins over the general one.
    if let Some(c) = compression(lookup, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")? {
        config.otlp.traces_compression = c;
    }
    if let Some(c) = compression(lookup, "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION")? {
        config.otlp.metrics_compression = c;
    }

    if let Some(list) = get(lookup, "OTEL_PROPAGATORS") {
        config.propagator = PropagatorChoice::List(list);
    }
    if let Some(filter) = get(lookup, "RUST_LOG") {
        config.log_filter = filter;
    }
    Ok(config)
}

/// The TLS variables, general then per signal (`OTEL_EXPORTER_OTLP_{signal}_...`).
#[rustfmt::skip]
const TLS_VARS: [(&str, &str, &str); 3] = [
    ("OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"),
    ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"),
    ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY"),
];

/// Paths only: the files are read by `init`, not while parsing the environment.
fn apply_tls(lookup: Lookup<'_>, tls: &mut OtlpTlsConfig, signal: &str) {
    for (i, (general, traces, metrics)) in TLS_VARS.into_iter().enumerate() {
        let own = if signal == "TRACES" { traces } else { metrics };
        let Some(file) = [own, general]
            .into_iter()
            .find_map(|var| get(lookup, var).map(|path| PemFile::new(path, var)))
        else {
            continue;
        };
        let slot = match i {
            0 => &mut tls.certificate,
            1 => &mut tls.client_certificate,
            _ => &mut tls.client_key,
        };
        *slot = Some(file);
    }
}

/// The compression `signal_var` names, else `OTEL_EXPORTER_OTLP_COMPRESSION`'s; `None`
/// when neither is set. Both variables are checked, so a bad general value is an error
/// even where a signal's own variable overrides it.
fn compression(
    lookup: Lookup<'_>,
    signal_var: &'static str,
) -> Result<Option<OtlpCompression>, ConfigError> {
    let general = parse_compression(lookup, "OTEL_EXPORTER_OTLP_COMPRESSION")?;
    Ok(parse_compression(lookup, signal_var)?.or(general))
}

/// `gzip` or `none` (ASCII case ignored, as `opentelemetry-otlp` does for the same
/// variables); anything else is [`ConfigError::UnknownCompression`].
fn parse_compression(
    lookup: Lookup<'_>,
    var: &'static str,
) -> Result<Option<OtlpCompression>, ConfigError> {
    let Some(value) = get(lookup, var) else {
        return Ok(None);
    };
    if value.eq_ignore_ascii_case("gzip") {
        Ok(Some(OtlpCompression::Gzip))
    } else if value.eq_ignore_ascii_case("none") {
        Ok(Some(OtlpCompression::None))
    } else {
        Err(ConfigError::UnknownCompression { var, value })
    }
}

const TRACES_EXPECTED: &str = "otlp, console, stdout, file, none";
const METRICS_EXPECTED: &str = "otlp, console, stdout, none";

fn unknown_exporter(var: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError::UnknownExporter {
        var,
        value,
        expected,
    }
}

/// tracewire runs one exporter per signal: a list with several entries is an error
/// rather than a silent choice.
fn single<'v>(
    var: &'static str,
    value: &'v str,
    expected: &'static str,
) -> Result<&'v str, ConfigError> {
    let mut names = value.split(',').map(str::trim).filter(|s| !s.is_empty());
    match (names.next(), names.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(unknown_exporter(var, value.to_owned(), expected)),
    }
}

fn parse_protocol(var: &'static str, value: &str) -> Result<OtlpProtocol, ConfigError> {
    match value {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Ok(OtlpProtocol::HttpJson),
        _ => Err(ConfigError::UnknownProtocol {
            var,
            value: value.to_owned(),
        }),
    }
}

fn parse_millis(lookup: Lookup<'_>, var: &'static str) -> Result<Option<Duration>, ConfigError> {
    get(lookup, var)
        .map(|value| {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| ConfigError::Timeout { var, value })
        })
        .transpose()
}

/// Parses `OTEL_TRACES_SAMPLER` + `OTEL_TRACES_SAMPLER_ARG`; the ratio defaults to 1.0
/// and the argument is ignored by samplers that take none (as the spec says).
pub(crate) fn parse_sampler(
    name: Option<&str>,
    arg: Option<&str>,
) -> Result<SamplerConfig, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        match arg {
            None => Ok(1.0),
            Some(text) => text
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| ConfigError::SamplerArg(text.to_owned())),
        }
    };
    Ok(match name.unwrap_or("parentbased_always_on") {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio()?),
        other => return Err(ConfigError::UnknownSampler(other.to_owned())),
    })
}

/// Parses a W3C-Baggage-like `key=value,key=value` list with percent-encoded values
/// (the format of `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`).
/// On error returns the offending entry and the reason.
/// A header entry as an error may show it: the name, never the value (which may be a
/// token); an entry without `=` may be a bare secret, so none of it is shown.
fn redacted_header_entry(entry: &str) -> String {
    match entry.split_once('=') {
        Some((key, _)) => format!("{}=…", key.trim()),
        None => "(an entry without '=')".to_owned(),
    }
}

pub(crate) fn parse_pairs(raw: &str) -> Result<Vec<(String, String)>, (String, &'static str)> {
    let mut out = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, value)) = entry.split_once('=') else {
            return Err((entry.to_owned(), "expected key=value"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err((entry.to_owned(), "empty key"));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err((entry.to_owned(), "whitespace or control character in key"));
        }
        let value = percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| {
                (
                    entry.to_owned(),
                    "value is not UTF-8 after percent-decoding",
                )
            })?;
        out.push((key.to_owned(), value.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TelemetryConfig::from_lookup("from-code", move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_without_environment() {
        let c = config(&[]).unwrap();
        assert_eq!(c.service_name(), "from-code");
        assert_eq!(c.sampler(), SamplerConfig::ParentBasedAlwaysOn);
        assert_eq!(c.traces_exporter(), &TracesExporter::Otlp);
        assert_eq!(c.metrics_exporter(), &MetricsExporter::Otlp);
        assert_eq!(c.otlp().protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(
            c.otlp().protocol.traces_endpoint(c.otlp()),
            "http://localhost:4318/v1/traces"
        );
        assert!(matches!(c.propagator(), PropagatorChoice::List(l) if l == "tracecontext,baggage"));
        assert_eq!(c.log_filter(), DEFAULT_LOG_FILTER);
    }

    #[test]
    fn service_name_precedence() {
        let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")]).unwrap();
        assert_eq!(c.service_name(), "from-attrs");
        let c = config(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "from-name"),
        ])
        .unwrap();
        assert_eq!(c.service_name(), "from-name");
        // empty means unset
        let c = config(&[("OTEL_SERVICE_NAME", "  ")]).unwrap();
        assert_eq!(c.service_name(), "from-code");
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let c = config(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod, team=a%2Cb%20c,service.version=1.2.3,service.instance.id=i-1",
        )])
        .unwrap();
        assert_eq!(
            c.resource_attributes(),
            &[
                KeyValue::new("deployment.environment.name", "prod"),
                KeyValue::new("team", "a,b c")
            ]
        );
        assert_eq!(c.service_version.as_deref(), Some("1.2.3"));
        assert_eq!(c.service_instance_id.as_deref(), Some("i-1"));
    }

    #[rustfmt::skip]
    #[test]
    fn samplers() {
        let cases: &[(Option<&str>, Option<&str>, SamplerConfig)] = &[
            (None, None, SamplerConfig::ParentBasedAlwaysOn),
            (Some("always_on"), None, SamplerConfig::AlwaysOn),
            (Some("always_off"), Some("0.5"), SamplerConfig::AlwaysOff),
            (Some("traceidratio"), Some("0.25"), SamplerConfig::TraceIdRatio(0.25)),
            (Some("traceidratio"), None, SamplerConfig::TraceIdRatio(1.0)),
            (Some("parentbased_always_on"), None, SamplerConfig::ParentBasedAlwaysOn),
            (Some("parentbased_always_off"), None, SamplerConfig::ParentBasedAlwaysOff),
            (Some("parentbased_traceidratio"), Some("0"), SamplerConfig::ParentBasedTraceIdRatio(0.0)),
        ];
        for (name, arg, expected) in cases {
            assert_eq!(parse_sampler(*name, *arg).unwrap(), *expected, "{name:?} {arg:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn bad_samplers_are_typed_errors() {
        assert!(matches!(config(&[("OTEL_TRACES_SAMPLER", "sometimes")]), Err(ConfigError::UnknownSampler(s)) if s == "sometimes"));
        for (arg, why) in [("1.5", "above 1"), ("-0.1", "negative"), ("half", "not a number"), ("NaN", "NaN")] {
            let err = config(&[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", arg)]);
            assert!(matches!(err, Err(ConfigError::SamplerArg(_))), "{why}");
        }
    }

    #[test]
    fn exporters_and_file() {
        let c = config(&[
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .unwrap();
        assert_eq!(c.traces_exporter(), &TracesExporter::Stdout);
        assert_eq!(c.metrics_exporter(), &MetricsExporter::None);
        let c = config(&[
            ("OTEL_TRACES_EXPORTER", "file"),
            ("TRACEWIRE_TRACES_FILE", "/tmp/t.jsonl"),
        ])
        .unwrap();
        assert_eq!(
            c.traces_exporter(),
            &TracesExporter::File("/tmp/t.jsonl".into())
        );
        assert!(matches!(
            config(&[("OTEL_TRACES_EXPORTER", "file")]),
            Err(ConfigError::MissingTracesFile)
        ));
        assert!(matches!(
            config(&[("OTEL_TRACES_EXPORTER", "zipkin")]),
            Err(ConfigError::UnknownExporter {
                var: "OTEL_TRACES_EXPORTER",
                ..
            })
        ));
        assert!(matches!(
            config(&[("OTEL_TRACES_EXPORTER", "otlp,console")]),
            Err(ConfigError::UnknownExporter { .. })
        ));
        let c = config(&[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
        ])
        .unwrap();
        assert_eq!(c.traces_exporter(), &TracesExporter::None);
    }

    #[test]
    fn otlp_protocol_endpoints_headers_timeout() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=secret%3D1, x-tenant = acme",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Tenant=override"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ])
        .unwrap();
        let otlp = c.otlp();
        assert_eq!(otlp.protocol, OtlpProtocol::Grpc);
        assert_eq!(otlp.protocol.traces_endpoint(otlp), "http://collector:4317");
        assert_eq!(
            otlp.headers,
            [
                ("api-key".to_owned(), "secret=1".to_owned()),
                ("X-Tenant".to_owned(), "override".to_owned())
            ]
        );
        assert_eq!(otlp.timeout, Some(Duration::from_millis(2500)));

        let c = config(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ])
        .unwrap();
        assert_eq!(c.otlp().protocol, OtlpProtocol::HttpJson);
        assert_eq!(
            c.otlp().protocol.traces_endpoint(c.otlp()),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            c.otlp().protocol.metrics_endpoint(c.otlp()),
            "http://collector:4318/v1/metrics"
        );

        let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom")]).unwrap();
        assert_eq!(
            c.otlp().protocol.traces_endpoint(c.otlp()),
            "http://t:1/custom"
        );
    }

    #[test]
    fn tls_files_general_and_per_signal() {
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/metrics-ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/client.pem"),
            ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/client.key"),
        ])
        .unwrap();
        let traces = &c.otlp().traces_tls;
        let metrics = &c.otlp().metrics_tls;
        let file = |path, setting| Some(PemFile::new(path, setting));
        assert_eq!(
            traces.certificate,
            file("/ca.pem", "OTEL_EXPORTER_OTLP_CERTIFICATE")
        );
        assert_eq!(
            metrics.certificate,
            file("/metrics-ca.pem", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE")
        );
        assert_eq!(
            traces.client_certificate,
            file("/client.pem", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
        );
        assert_eq!(metrics.client_certificate, traces.client_certificate);
        assert_eq!(
            traces.client_key,
            file("/client.key", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")
        );
        assert_eq!(metrics.client_key, None);
        assert!(!config(&[]).unwrap().otlp().traces_tls.is_set());
    }

    #[rustfmt::skip]
    #[test]
    fn compression_general_and_per_signal() {
        use OtlpCompression::{Gzip, None as Plain};
        type Vars = &'static [(&'static str, &'static str)];
        // (environment, traces, metrics, why)
        let cases: &[(Vars, OtlpCompression, OtlpCompression, &str)] = &[
            (&[], Plain, Plain, "default"),
            (&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")], Gzip, Gzip, "general applies to both"),
            (&[("OTEL_EXPORTER_OTLP_COMPRESSION", " GZIP ")], Gzip, Gzip, "case and blanks ignored"),
            (&[("OTEL_EXPORTER_OTLP_COMPRESSION", "")], Plain, Plain, "empty is unset"),
            (&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"), ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none")], Plain, Gzip, "traces' own wins"),
            (&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none"), ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")], Gzip, Plain, "traces' own wins"),
            (&[("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip")], Plain, Gzip, "metrics' own"),
        ];
        for (vars, traces, metrics, why) in cases {
            let c = config(vars).unwrap();
            assert_eq!(c.otlp().traces_compression, *traces, "{why}");
            assert_eq!(c.otlp().metrics_compression, *metrics, "{why}");
        }
        let c = config(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]).unwrap().with_otlp_compression(Gzip);
        assert_eq!((c.otlp().traces_compression, c.otlp().metrics_compression), (Gzip, Gzip), "builder wins");
    }

    #[rustfmt::skip]
    #[test]
    fn unknown_compression_is_a_typed_error_naming_the_variable() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip9"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "true"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert!(matches!(&err, ConfigError::UnknownCompression { var: v, value: got } if *v == var && got == value), "{err:?}");
            assert!(err.to_string().contains(var), "{err}");
        }
        // a bad general value is not hidden by a valid signal value
        let err = config(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "lz4"), ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")]).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownCompression { var: "OTEL_EXPORTER_OTLP_COMPRESSION", .. }), "{err:?}");
    }

    #[test]
    fn header_errors_never_show_values() {
        for raw in [
            "Authorization=Bearer s3cret%FF",
            "Bearer s3cret",
            "x-api-key=s3cret,Bearer s3cret",
        ] {
            let err = config(&[("OTEL_EXPORTER_OTLP_HEADERS", raw)]).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(matches!(err, ConfigError::Headers { .. }), "{raw}: {shown}");
            assert!(!shown.contains("s3cret"), "{raw}: {shown}");
        }
        let err = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=%FF")]).unwrap_err();
        assert!(err.to_string().contains("Authorization=…"), "{err}");
    }

    #[rustfmt::skip]
    #[test]
    fn malformed_otlp_settings_are_typed_errors() {
        assert!(matches!(config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]), Err(ConfigError::UnknownProtocol { .. })));
        for (raw, why) in [("novalue", "no ="), ("=v", "empty key"), ("a b=c", "space in key"), ("k=%FF", "not UTF-8")] {
            assert!(matches!(config(&[("OTEL_EXPORTER_OTLP_HEADERS", raw)]), Err(ConfigError::Headers { .. })), "{why}");
        }
        assert!(matches!(config(&[("OTEL_RESOURCE_ATTRIBUTES", "oops")]), Err(ConfigError::ResourceAttributes { .. })));
        assert!(matches!(config(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]), Err(ConfigError::Timeout { .. })));
    }

    #[test]
    fn propagators_and_rust_log() {
        let c = config(&[("OTEL_PROPAGATORS", "b3,bogus"), ("RUST_LOG", "debug")]).unwrap();
        assert!(matches!(c.propagator(), PropagatorChoice::List(l) if l == "b3,bogus"));
        assert_eq!(c.log_filter(), "debug");
    }

    #[test]
    fn builder_wins_over_environment() {
        let c = config(&[
            ("OTEL_SERVICE_NAME", "env"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])
        .unwrap()
        .with_service_name("code")
        .with_traces_exporter(TracesExporter::InMemory)
        .with_otlp_endpoint("http://x:1");
        assert_eq!(c.service_name(), "code");
        assert_eq!(c.traces_exporter(), &TracesExporter::InMemory);
        assert_eq!(c.otlp().endpoint.as_deref(), Some("http://x:1"));
    }
}
