//! HTTP metrics, recorded through the OpenTelemetry metrics API with the stable
//! semantic-convention names, units and bucket boundaries:
//!
//! | instrument | kind | unit | recorded by |
//! |---|---|---|---|
//! | `http.server.request.duration` | histogram | `s` | [`ServerTraceLayer`](crate::ServerTraceLayer), when the response body ends |
//! | `http.server.active_requests` | up-down counter | `{request}` | [`ServerTraceLayer`](crate::ServerTraceLayer) |
//! | `http.client.request.duration` | histogram | `s` | [`ClientTraceLayer`](crate::ClientTraceLayer), [`TracingMiddleware`](crate::TracingMiddleware) |
//!
//! The meter comes from the provider given to the layer (`.meter_provider(..)`), else
//! from the global meter provider at the time the layer is built.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, UpDownCounter};
use opentelemetry_semantic_conventions::metric as semconv;

/// The bucket boundaries the HTTP semantic conventions recommend for request durations.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Server-side instruments.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
}

impl ServerMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram(semconv::HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter(semconv::HTTP_SERVER_ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
        }
    }

    pub(crate) fn request_started(&self, attrs: &[KeyValue]) {
        self.active.add(1, attrs);
    }

    pub(crate) fn request_finished(&self, active: &[KeyValue], seconds: f64, attrs: &[KeyValue]) {
        self.active.add(-1, active);
        self.duration.record(seconds, attrs);
    }
}

/// Client-side instruments.
#[derive(Clone, Debug)]
pub(crate) struct ClientMetrics {
    pub(crate) duration: Histogram<f64>,
}

impl ClientMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram(semconv::HTTP_CLIENT_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
        }
    }
}
