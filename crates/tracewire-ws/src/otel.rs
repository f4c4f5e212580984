//! Where the propagator and tracer come from (per session, the global ones by default),
//! and the attribute names this crate records.

use std::fmt;
use std::sync::Arc;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider;
use opentelemetry::{Context, InstrumentationScope};

/// A shareable propagator, as [`Session::propagator`](crate::Session::propagator) takes it.
pub type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

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
fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The global propagator (looked up on every use) or a session's own.
#[derive(Clone, Default)]
pub(crate) enum Propagation {
    #[default]
    Global,
    Custom(SharedPropagator),
}

impl fmt::Debug for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("Global"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Propagation {
    pub(crate) fn extract_with(&self, base: &Context, carrier: &dyn Extractor) -> Context {
        match self {
            Self::Global => {
                global::get_text_map_propagator(|p| p.extract_with_context(base, carrier))
            }
            Self::Custom(p) => p.extract_with_context(base, carrier),
        }
    }

    pub(crate) fn inject(&self, cx: &Context, carrier: &mut dyn Injector) {
        match self {
            Self::Global => global::get_text_map_propagator(|p| p.inject_context(cx, carrier)),
            Self::Custom(p) => p.inject_context(cx, carrier),
        }
    }
}

/// A type-erased tracer, taken from a provider when the session is configured.
#[derive(Clone)]
pub(crate) struct SharedTracer(pub(crate) Arc<BoxedTracer>);

impl fmt::Debug for SharedTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedTracer")
    }
}

impl SharedTracer {
    pub(crate) fn global() -> Self {
        Self(Arc::new(global::tracer_with_scope(scope())))
    }

    pub(crate) fn from_provider<P>(provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        Self(Arc::new(BoxedTracer::new(Box::new(
            provider.tracer_with_scope(scope()),
        ))))
    }
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
            tracer: SharedTracer::global(),
            propagation: Propagation::Global,
        }
    }
}
