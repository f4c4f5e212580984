//! RPC metrics, recorded through the OpenTelemetry metrics API:
//!
//! | instrument | kind | unit | recorded by |
//! |---|---|---|---|
//! | `rpc.server.call.duration` | histogram | `s` | [`GrpcServerTraceLayer`](crate::GrpcServerTraceLayer), when the call ends (trailers sent, or cancelled) |
//! | `rpc.client.call.duration` | histogram | `s` | [`GrpcClientTraceLayer`](crate::GrpcClientTraceLayer), when the call ends (trailers received, error, or dropped) |
//!
//! Attributes: `rpc.system.name`, `rpc.method`, `rpc.response.status_code`,
//! `error.type` (failed calls only), and on the client `server.address`/`server.port`.
//! The meter comes from the layer's `.meter_provider(..)`, else from the global meter
//! provider when the layer is built.
//!
//! Each distinct attribute set is bound to its series once (up to
//! [`MAX_BOUND_SERIES`] per layer; later sets are recorded unbound), so a call's
//! measurement is an atomic update instead of the SDK's attribute sort, hash and
//! lookup. Bound instruments need an OpenTelemetry SDK (this crate turns the SDK
//! feature on); a hand-written `MeterProvider` that does not implement `bind` gets
//! no-op bound instruments, and so no RPC metrics.

use opentelemetry::metrics::Meter;
use opentelemetry_semantic_conventions::metric as semconv;
use tracewire_core::series::BoundHistograms;

/// The most attribute sets (methods × status codes × servers) each layer binds; the
/// SDK's default cardinality limit is 2 000.
pub const MAX_BOUND_SERIES: usize = 512;

/// Bucket boundaries for call durations (seconds): the HTTP duration buckets, which
/// the RPC conventions also recommend, extended for long-lived streams.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
    300.0,
];

/// `rpc.server.call.duration`.
pub(crate) fn server_duration(meter: &Meter) -> CallDuration {
    CallDuration::new(
        meter
            .f64_histogram(semconv::RPC_SERVER_CALL_DURATION)
            .with_unit("s")
            .with_description("Duration of gRPC calls served, until the trailers.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build(),
        MAX_BOUND_SERIES,
    )
}

/// `rpc.client.call.duration`.
pub(crate) fn client_duration(meter: &Meter) -> CallDuration {
    CallDuration::new(
        meter
            .f64_histogram(semconv::RPC_CLIENT_CALL_DURATION)
            .with_unit("s")
            .with_description("Duration of gRPC calls made, until the trailers.")
            .with_boundaries(DURATION_BUCKETS.to_vec())
            .build(),
        MAX_BOUND_SERIES,
    )
}

/// A call-duration histogram and its bound series, shared by a layer's calls; the
/// attribute list (in a fixed order) is the series key.
pub(crate) type CallDuration = BoundHistograms;

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    use opentelemetry::KeyValue;

    use super::*;

    /// Attribute sets past the bound series are recorded unbound: every call counts,
    /// each in its own series.
    #[test]
    fn every_call_is_counted_past_the_bound_series() {
        let exporter = InMemoryMetricExporter::default();
        let meters = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let duration = server_duration(&meters.meter("test"));
        let sets = MAX_BOUND_SERIES + 40;
        for _ in 0..2 {
            for n in 0..sets {
                let method = format!("pkg.Svc/M{n}");
                duration.record(0.001, &[KeyValue::new("rpc.method", method)]);
            }
        }
        meters.force_flush().unwrap();
        let mut counts = Vec::new();
        for resource in exporter.get_finished_metrics().unwrap() {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics() {
                    if let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() {
                        counts.extend(h.data_points().map(|p| p.count()));
                    }
                }
            }
        }
        assert_eq!(counts.len(), sets, "one series per attribute set");
        assert!(counts.iter().all(|&c| c == 2), "{counts:?}");
    }
}
