//! [`Telemetry`]: one service's tracer provider and propagator, and everything traced
//! built from them.

use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracewire_broker::Broker;
use tracewire_broker::events::EventBus;
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_http::{JsonClient, ServerTraceLayer, TracingMiddleware};

/// A propagator shared by every hop of a service.
pub use tracewire_http::SharedPropagator;

/// One service's telemetry: its tracer provider (whose resource names the service) and
/// the propagator it speaks on every transport. Nothing here reads globals, so several
/// services can run in one process (as `tracewire demo` does), each with its own name.
///
/// ```
/// use std::sync::Arc;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tracewire_broker::memory::MemoryBroker;
/// use tracewire_core::TracewirePropagator;
/// use tracewire_service_kit::Telemetry;
///
/// let telemetry = Telemetry::new(
///     "payment",
///     SdkTracerProvider::builder().build(),
///     Arc::new(TracewirePropagator::default()),
/// );
/// let broker = telemetry.broker(MemoryBroker::new()); // send/process spans of "payment"
/// let _bus = telemetry.events(broker, "/services/payment");
/// ```
#[derive(Clone)]
pub struct Telemetry {
    service: String,
    provider: SdkTracerProvider,
    propagator: SharedPropagator,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// `service`'s telemetry: spans from `provider`, context carried by `propagator`.
    pub fn new(
        service: impl Into<String>,
        provider: SdkTracerProvider,
        propagator: SharedPropagator,
    ) -> Self {
        Self {
            service: service.into(),
            provider,
            propagator,
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The tracer provider.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// The propagator.
    pub fn propagator(&self) -> SharedPropagator {
        Arc::clone(&self.propagator)
    }

    /// A tracer for the service's own (application) spans.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer(self.service.clone())
    }

    /// `broker` with `send`/`process` spans of this service and its propagator.
    pub fn broker<B: Broker>(&self, broker: B) -> Traced<B> {
        Traced::new(
            broker,
            Tracing::new(&self.provider).with_propagator(self.propagator()),
        )
    }

    /// A CloudEvents bus from `source` on `broker`, with this service's propagator for
    /// the distributed-tracing extension.
    pub fn events<B: Broker>(&self, broker: B, source: &str) -> EventBus<B> {
        EventBus::new(broker, source).with_propagator(self.propagator())
    }

    /// The SERVER-span layer for the service's HTTP (and gRPC-over-axum) routes.
    pub fn http_layer(&self) -> ServerTraceLayer {
        ServerTraceLayer::new()
            .tracer_provider(&self.provider)
            .propagator(self.propagator())
    }

    /// A JSON client for `base_url` whose calls are CLIENT spans of this service.
    pub fn json_client(&self, base_url: impl Into<String>) -> JsonClient {
        JsonClient::with_middleware(
            base_url,
            TracingMiddleware::new()
                .tracer_provider(&self.provider)
                .propagator(self.propagator()),
        )
    }
}
