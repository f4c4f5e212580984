//! Plumbing shared by the server and client instrumentation: where the propagator,
//! tracer and meter come from (a per-layer choice, the global ones by default).

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider;
use opentelemetry::{Context, InstrumentationScope};
use tracewire_core::carrier::{HeaderExtractor, HeaderInjector};

/// A shareable propagator, as the layers take it.
pub type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// The instrumentation scope of every span and instrument this crate creates.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
        .build()
}

/// Which propagator a layer uses: the global one (looked up on every request, so a
/// propagator installed after the layer was built is still honoured) or its own.
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
    pub(crate) fn extract(&self, headers: &HeaderMap) -> Context {
        let carrier = HeaderExtractor(headers);
        match self {
            Self::Global => global::get_text_map_propagator(|p| {
                p.extract_with_context(&Context::new(), &carrier)
            }),
            Self::Custom(p) => p.extract_with_context(&Context::new(), &carrier),
        }
    }

    pub(crate) fn inject(&self, cx: &Context, headers: &mut HeaderMap) {
        let mut carrier = HeaderInjector(headers);
        match self {
            Self::Global => {
                global::get_text_map_propagator(|p| p.inject_context(cx, &mut carrier));
            }
            Self::Custom(p) => p.inject_context(cx, &mut carrier),
        }
    }
}

/// A type-erased tracer taken from a provider once, when the layer is built.
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

/// The meter of the global meter provider (taken when the layer is built).
pub(crate) fn global_meter() -> Meter {
    global::meter_with_scope(scope())
}

/// The meter of `provider`.
pub(crate) fn meter_from<P: MeterProvider + ?Sized>(provider: &P) -> Meter {
    provider.meter_with_scope(scope())
}

/// Normalises an HTTP method as the semantic conventions ask: the nine standard methods
/// (and `QUERY`) as themselves, anything else as `_OTHER` (the original goes in
/// `http.request.method_original`).
pub(crate) fn known_method(method: &http::Method) -> Option<&'static str> {
    Some(match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ if method.as_str() == "QUERY" => "QUERY",
        _ => return None,
    })
}

/// `http.request.method` value for `method`.
pub(crate) fn method_attr(method: &http::Method) -> &'static str {
    known_method(method).unwrap_or("_OTHER")
}

/// `network.protocol.version` for an HTTP version.
pub(crate) fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_normalised() {
        assert_eq!(method_attr(&http::Method::GET), "GET");
        let odd = http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_attr(&odd), "_OTHER");
        let query = http::Method::from_bytes(b"QUERY").unwrap();
        assert_eq!(method_attr(&query), "QUERY");
    }

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version(http::Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(http::Version::HTTP_2), Some("2"));
    }
}
