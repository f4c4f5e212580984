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
//!
//! Each distinct attribute set (a method, scheme, route, status, ...) is bound once
//! ([`SeriesCache`]; up to [`MAX_BOUND_SERIES`] per instrument, later sets are recorded
//! unbound), so a request's measurements are atomic updates instead of the SDK's
//! attribute sort, hash and lookup. Bound instruments need an OpenTelemetry SDK (this
//! crate turns the SDK feature on); a hand-written `MeterProvider` that does not
//! implement `bind` gets no-op bound instruments, and so no HTTP metrics.

use opentelemetry::StringValue;
use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter, Histogram, Meter, UpDownCounter};
use opentelemetry_semantic_conventions::metric as semconv;
use tracewire_core::series::{BoundHistograms, SeriesCache};

use crate::server::span::MetricAttributes;

/// The most attribute sets each instrument binds (per layer or middleware); the SDK's
/// default cardinality limit is 2 000.
pub const MAX_BOUND_SERIES: usize = 512;

/// The bucket boundaries the HTTP semantic conventions recommend for request durations.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Server-side instruments, with their bound series.
#[derive(Debug)]
pub(crate) struct ServerMetrics {
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    duration_series: SeriesCache<MetricAttributes, BoundHistogram<f64>>,
    active_series: SeriesCache<(&'static str, StringValue), BoundUpDownCounter<i64>>,
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
            duration_series: SeriesCache::new(MAX_BOUND_SERIES),
            active_series: SeriesCache::new(MAX_BOUND_SERIES),
        }
    }

    /// Counts the request as active; the bound series it was counted in (to count it
    /// out again without a second lookup), `None` when it was recorded unbound.
    pub(crate) fn request_started(
        &self,
        attrs: &MetricAttributes,
    ) -> Option<BoundUpDownCounter<i64>> {
        let mut active = None;
        let bound = self.active_series.with(
            (attrs.method, attrs.scheme.clone()),
            || self.active.bind(&attrs.active()),
            |series| {
                series.add(1);
                active = Some(series.clone());
            },
        );
        if !bound {
            self.active.add(1, &attrs.active());
        }
        active
    }

    pub(crate) fn request_finished(
        &self,
        attrs: &MetricAttributes,
        active: Option<&BoundUpDownCounter<i64>>,
        seconds: f64,
    ) {
        match active {
            Some(series) => series.add(-1),
            None => self.active.add(-1, &attrs.active()),
        }
        let bound = self.duration_series.with(
            attrs.clone(),
            || self.duration.bind(&attrs.duration()),
            |series| series.record(seconds),
        );
        if !bound {
            self.duration.record(seconds, &attrs.duration());
        }
    }
}

/// Client-side instruments: the duration histogram with its attribute lists bound
/// (method, scheme, server address and port, status, `error.type`; in that order).
#[derive(Clone, Debug)]
pub(crate) struct ClientMetrics {
    pub(crate) duration: BoundHistograms,
}

impl ClientMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            duration: BoundHistograms::new(
                meter
                    .f64_histogram(semconv::HTTP_CLIENT_REQUEST_DURATION)
                    .with_unit("s")
                    .with_description("Duration of HTTP client requests.")
                    .with_boundaries(DURATION_BUCKETS.to_vec())
                    .build(),
                MAX_BOUND_SERIES,
            ),
        }
    }
}
