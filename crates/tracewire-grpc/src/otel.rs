//! Plumbing shared by the server and client instrumentation: this crate's scope and
//! meters (the propagator and tracer choice is `tracewire_core::instrument`).

use opentelemetry::InstrumentationScope;
use opentelemetry::global;
use opentelemetry::metrics::{Meter, MeterProvider};

pub use tracewire_core::instrument::SharedPropagator;
pub(crate) use tracewire_core::instrument::{Propagation, SharedTracer};

/// The instrumentation scope of every span and instrument this crate creates.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
        .build()
}

/// The meter of the global meter provider (taken when a layer is built).
pub(crate) fn global_meter() -> Meter {
    global::meter_with_scope(scope())
}

/// The meter of `provider`.
pub(crate) fn meter_from<P: MeterProvider + ?Sized>(provider: &P) -> Meter {
    provider.meter_with_scope(scope())
}
