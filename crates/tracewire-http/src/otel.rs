//! Plumbing shared by the server and client instrumentation: the scope and meters of
//! this crate (the propagator and tracer choice is `tracewire_core::instrument`), and
//! HTTP semantic-convention helpers.

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
