//! Carriers: adapters between a transport's header storage and the OpenTelemetry
//! [`Extractor`]/[`Injector`] traits.
//!
//! Every extractor here implements [`Extractor::get_all`] so that a propagator sees
//! **every** line of a repeated header (`tracestate` split over several lines must be
//! combined in order; two `traceparent` lines must restart the trace). The stock
//! `opentelemetry-http` extractor returns only the first line, which is why these exist.
//!
//! Header names are ASCII case-insensitive on read everywhere.
//!
//! # Example
//!
//! ```
//! use opentelemetry::propagation::Extractor;
//! use tracewire_core::carrier::PairsExtractor;
//!
//! let pairs = [("TraceState", "foo=1"), ("tracestate", "bar=2")];
//! let carrier = PairsExtractor::new(&pairs);
//! assert_eq!(carrier.get_all("tracestate"), Some(vec!["foo=1", "bar=2"]));
//! ```

#[cfg(feature = "http")]
mod header_map;
mod pairs;

#[cfg(feature = "http")]
pub use header_map::{HeaderExtractor, HeaderInjector};
pub use pairs::{PairsExtractor, PairsInjector};

pub use opentelemetry::propagation::{Extractor, Injector};

/// Stands in for a header line whose bytes are not visible ASCII (and so cannot be
/// borrowed as `&str`). Dropping such a line instead would let `traceparent: <junk>`
/// plus `traceparent: <valid>` look like one valid line; this replacement character is
/// invalid in every propagation grammar, so the combined value is rejected as the
/// W3C specification requires.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // only the HeaderMap carrier needs it
pub(crate) const UNREADABLE_LINE: &str = "\u{fffd}";
