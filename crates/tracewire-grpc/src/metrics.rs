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

use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry_semantic_conventions::metric as semconv;

/// Bucket boundaries for call durations (seconds): the HTTP duration buckets, which
/// the RPC conventions also recommend, extended for long-lived streams.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
    300.0,
];

/// `rpc.server.call.duration`.
pub(crate) fn server_duration(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram(semconv::RPC_SERVER_CALL_DURATION)
        .with_unit("s")
        .with_description("Duration of gRPC calls served, until the trailers.")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}

/// `rpc.client.call.duration`.
pub(crate) fn client_duration(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram(semconv::RPC_CLIENT_CALL_DURATION)
        .with_unit("s")
        .with_description("Duration of gRPC calls made, until the trailers.")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}
