//! Where the propagator and tracer come from (per session, the global ones by default),
//! and the attribute names this crate records.

use opentelemetry::InstrumentationScope;

/// A shareable propagator, as [`Session::propagator`](crate::Session::propagator) takes it.
pub use tracewire_core::instrument::SharedPropagator;
pub(crate) use tracewire_core::instrument::{Propagation, SharedTracer};

/// Attribute keys recorded on spans.
pub(crate) mod attr {
    pub(crate) const PROTOCOL: &str = "network.protocol.name";
    pub(crate) const URL_PATH: &str = "url.path";
    pub(crate) const SERVER_ADDRESS: &str = "server.address";
    pub(crate) const SERVER_PORT: &str = "server.port";
    pub(crate) const MESSAGE_ID: &str = "websocket.message.id";
    pub(crate) const MESSAGE_TYPE: &str = "websocket.message.type";
    pub(crate) const MESSAGE_SIZE: &str = "websocket.message.size";
    pub(crate) const CLOSE_CODE: &str = "websocket.close.code";
    pub(crate) const CLOSE_REASON: &str = "websocket.close.reason";
    pub(crate) const CLOSE_INITIATOR: &str = "websocket.close.initiator";
    pub(crate) const ERROR_TYPE: &str = "error.type";
    pub(crate) const MESSAGES_REJECTED: &str = "websocket.messages.rejected";
}

/// The instrumentation scope of every span this crate creates.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Propagator and tracer, shared by a session's connections and senders.
#[derive(Clone, Debug)]
pub(crate) struct Telemetry {
    pub(crate) tracer: SharedTracer,
    pub(crate) propagation: Propagation,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            tracer: SharedTracer::global(scope()),
            propagation: Propagation::Global,
        }
    }
}
