//! Where the propagator, tracer and meter come from (per session, the global ones by
//! default), and the attribute names this crate records.

use std::sync::Arc;

use opentelemetry::InstrumentationScope;
use opentelemetry::global;
use tracewire_core::intern::Interner;

use crate::metrics::SessionMetrics;

/// A shareable propagator, as [`Session::propagator`](crate::Session::propagator) takes it.
pub use tracewire_core::instrument::SharedPropagator;
pub(crate) use tracewire_core::instrument::{Propagation, SharedTracer};

/// Message types, interned process-wide for the span names `process {type}` and
/// `send {type}` and the `websocket.message.type` value (no allocation per message).
/// Types are chosen by the peer, hence the cap: past it, those strings are built per
/// message as before.
pub(crate) static MESSAGE_TYPES: Interner = Interner::new(4096);

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
    // Metric attributes.
    pub(crate) const ROLE: &str = "websocket.role";
    pub(crate) const HTTP_ROUTE: &str = "http.route";
    pub(crate) const URL_TEMPLATE: &str = "url.template";
    pub(crate) const MESSAGE_OUTCOME: &str = "websocket.message.outcome";
    pub(crate) const IO_DIRECTION: &str = "network.io.direction";
}

/// The instrumentation scope of every span and instrument this crate creates.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Propagator, tracer and instruments, shared by a session's connections and senders.
#[derive(Clone, Debug)]
pub(crate) struct Telemetry {
    pub(crate) tracer: SharedTracer,
    pub(crate) propagation: Propagation,
    pub(crate) metrics: Arc<SessionMetrics>,
}

impl Default for Telemetry {
    /// The global propagator, and the global tracer and meter providers' as of now.
    fn default() -> Self {
        Self {
            tracer: SharedTracer::global(scope()),
            propagation: Propagation::Global,
            metrics: Arc::new(SessionMetrics::new(&global::meter_with_scope(scope()))),
        }
    }
}
