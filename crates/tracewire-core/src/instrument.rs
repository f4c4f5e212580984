//! Building blocks for instrumenting a transport: where a layer's propagator and tracer
//! come from. Every tracewire layer (HTTP, gRPC, WebSocket, broker) is built on these,
//! and so can instrumentation of your own.
//!
//! ```
//! use std::sync::Arc;
//! use opentelemetry::trace::{TraceContextExt, Tracer};
//! use opentelemetry::{Context, InstrumentationScope};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_core::instrument::{Propagation, SharedTracer};
//!
//! let provider = SdkTracerProvider::builder().build();
//! let scope = InstrumentationScope::builder("my-transport").build();
//! let tracer = SharedTracer::from_provider(&provider, scope);
//! let propagation = Propagation::Custom(Arc::new(TracewirePropagator::default()));
//!
//! let incoming = vec![(
//!     "traceparent".to_owned(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
//! )];
//! let parent = propagation.extract(&tracewire_core::carrier::PairsExtractor::new(&incoming));
//! let span = tracer.start_with_context("handle", &parent);
//! let cx = parent.with_span(span);
//! assert_eq!(
//!     cx.span().span_context().trace_id().to_string(),
//!     "4bf92f3577b34da6a3ce929d0e0e4736"
//! );
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope};

/// A shareable propagator, as the layers take it (typically
/// `Arc::new(TracewirePropagator::default())`).
pub type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// Which propagator a layer uses: the global one, looked up on every use (so one
/// installed after the layer was built is still honoured), or its own.
#[derive(Clone, Default)]
pub enum Propagation {
    /// `opentelemetry::global`'s text-map propagator (the default).
    #[default]
    Global,
    /// This propagator, whatever the global one is.
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
    /// The context `carrier` holds, on top of `base` (what the carrier does not hold,
    /// such as a connection's baggage, stays).
    pub fn extract_with(&self, base: &Context, carrier: &dyn Extractor) -> Context {
        match self {
            Self::Global => {
                global::get_text_map_propagator(|p| p.extract_with_context(base, carrier))
            }
            Self::Custom(p) => p.extract_with_context(base, carrier),
        }
    }

    /// The context `carrier` holds (an empty context when it holds none).
    pub fn extract(&self, carrier: &dyn Extractor) -> Context {
        self.extract_with(&Context::new(), carrier)
    }

    /// Writes `cx` into `carrier`.
    pub fn inject(&self, cx: &Context, carrier: &mut dyn Injector) {
        match self {
            Self::Global => global::get_text_map_propagator(|p| p.inject_context(cx, carrier)),
            Self::Custom(p) => p.inject_context(cx, carrier),
        }
    }
}

/// A type-erased tracer, taken from a provider once (when a layer is built) and cheap
/// to clone; it dereferences to the tracer.
#[derive(Clone)]
pub struct SharedTracer(Arc<BoxedTracer>);

impl fmt::Debug for SharedTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedTracer")
    }
}

impl SharedTracer {
    /// The tracer of the global tracer provider for `scope`.
    pub fn global(scope: InstrumentationScope) -> Self {
        Self(Arc::new(global::tracer_with_scope(scope)))
    }

    /// The tracer of `provider` for `scope`.
    pub fn from_provider<P>(provider: &P, scope: InstrumentationScope) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        Self(Arc::new(BoxedTracer::new(Box::new(
            provider.tracer_with_scope(scope),
        ))))
    }
}

impl Deref for SharedTracer {
    type Target = BoxedTracer;

    fn deref(&self) -> &BoxedTracer {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn custom_propagation_round_trips_and_global_uses_the_installed_one() {
        let custom = Propagation::Custom(Arc::new(TraceContextPropagator::new()));
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_owned(), TRACEPARENT.to_owned());
        let cx = custom.extract(&carrier);
        assert!(cx.span().span_context().is_valid());
        let mut out: HashMap<String, String> = HashMap::new();
        custom.inject(&cx, &mut out);
        assert_eq!(
            out.get("traceparent").map(String::as_str),
            Some(TRACEPARENT)
        );

        // Not installed globally: the no-op global propagator reads nothing.
        let global = Propagation::Global;
        assert!(!global.extract(&carrier).span().span_context().is_valid());
    }

    #[test]
    fn extract_with_keeps_the_base_context() {
        #[derive(Debug, PartialEq)]
        struct Connection(u8);
        let base = Context::new().with_value(Connection(7));
        let custom = Propagation::Custom(Arc::new(TraceContextPropagator::new()));
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_owned(), TRACEPARENT.to_owned());
        let cx = custom.extract_with(&base, &carrier);
        assert_eq!(cx.get::<Connection>(), Some(&Connection(7)));
        assert!(cx.span().span_context().is_remote());
    }
}
