//! The `tracing` bridge: a subscriber whose spans join OpenTelemetry traces and whose log
//! lines carry the current `trace_id` / `span_id`.
//!
//! Layers, in order: an [`EnvFilter`] (from `RUST_LOG` or the configured directives);
//! the tracing-opentelemetry layer on the service's tracer provider, which never sees
//! spans from [`BRIDGE_EXCLUDED_TARGETS`] (our transports' and exporters' own spans, so
//! they cannot leak into user traces whatever `RUST_LOG` says); a fmt layer that
//! prefixes each event with the ids of the current OpenTelemetry context.

use std::fmt;

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer as _, filter};

use crate::error::ConfigError;

/// Target prefixes whose spans never reach the OpenTelemetry layer: the HTTP/2, HTTP,
/// gRPC and broker client crates tracewire uses and the OpenTelemetry exporters' own
/// traffic. Their log events still obey the filter.
pub const BRIDGE_EXCLUDED_TARGETS: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "tower_http",
    "reqwest",
    "lapin",
    "async_nats",
    "rustls",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
];

/// Whether spans of `target` are kept out of the OpenTelemetry layer.
pub fn is_excluded_target(target: &str) -> bool {
    BRIDGE_EXCLUDED_TARGETS.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Builds the bridge subscriber (see the module docs) without installing it: log lines
/// go to `writer`. [`init`](crate::init) installs the same thing globally with stdout.
pub fn subscriber<W>(
    tracer_provider: &SdkTracerProvider,
    log_filter: &str,
    ansi: bool,
    writer: W,
) -> Result<impl Subscriber + Send + Sync + 'static, ConfigError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let env_filter =
        EnvFilter::builder()
            .parse(log_filter)
            .map_err(|source| ConfigError::LogFilter {
                value: log_filter.to_owned(),
                source,
            })?;
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer("tracewire-telemetry"))
        .with_filter(filter::filter_fn(|meta| !is_excluded_target(meta.target())));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer)
        .event_format(WithTraceIds(Format::default()));
    Ok(tracing_subscriber::registry()
        .with(env_filter)
        .with(otel)
        .with(fmt))
}

/// Event formatter that prefixes `trace_id=… span_id=…` of the current OpenTelemetry
/// context (set by an entered `tracing` span or an attached OpenTelemetry context).
#[derive(Clone, Debug, Default)]
pub struct WithTraceIds<F = Format>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let span_context = span.span_context();
        if span_context.is_valid() {
            write!(
                writer,
                "trace_id={} span_id={} ",
                span_context.trace_id(),
                span_context.span_id()
            )?;
        }
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_targets_match_whole_path_segments() {
        assert!(is_excluded_target("h2"));
        assert!(is_excluded_target("h2::codec"));
        assert!(is_excluded_target("opentelemetry_otlp::exporter"));
        assert!(!is_excluded_target("h2o_service"));
        assert!(!is_excluded_target("orders::db"));
    }
}
