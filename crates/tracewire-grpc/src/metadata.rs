//! Trace context in gRPC metadata: carriers over tonic's `MetadataMap`, and a client
//! interceptor for channels that want propagation without CLIENT spans.
//!
//! Keys are lowercase ASCII metadata (`traceparent`, `tracestate`, `baggage`, and
//! `b3`/`x-b3-*` when the propagator says so), never `-bin` binary metadata; the old
//! OpenCensus `grpc-trace-bin` is a different format and is not read.
//!
//! # Example
//!
//! ```
//! use opentelemetry::Context;
//! use opentelemetry::trace::TraceContextExt;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_grpc::metadata::{extract, inject};
//!
//! let propagator = TracewirePropagator::default();
//! let mut request = tonic::Request::new(());
//! request.metadata_mut().insert(
//!     "traceparent",
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap(),
//! );
//! let cx = extract(&propagator, request.metadata());
//! assert!(cx.span().span_context().is_remote());
//!
//! let mut outgoing = tonic::metadata::MetadataMap::new();
//! inject(&propagator, &cx, &mut outgoing);
//! assert_eq!(
//!     outgoing.get("traceparent").and_then(|v| v.to_str().ok()),
//!     Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
//! );
//! ```

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use tonic::metadata::MetadataMap;
use tracewire_core::carrier::{HeaderExtractor, HeaderInjector};

use crate::otel::{Propagation, SharedPropagator};

/// Reads ASCII metadata, every line of a repeated key (an
/// [`Extractor`] over tonic's `MetadataMap`).
#[derive(Debug)]
pub struct MetadataExtractor<'a>(HeaderExtractor<'a>);

impl<'a> MetadataExtractor<'a> {
    /// A carrier reading `metadata`.
    pub fn new(metadata: &'a MetadataMap) -> Self {
        Self(HeaderExtractor(metadata.as_ref()))
    }
}

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        self.0.get_all(key)
    }
}

/// Writes ASCII metadata (an [`Injector`] over tonic's `MetadataMap`); a key or value
/// that is not valid metadata is skipped.
#[derive(Debug)]
pub struct MetadataInjector<'a>(pub &'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let mut headers = std::mem::take(self.0).into_headers();
        HeaderInjector(&mut headers).set(key, value);
        *self.0 = MetadataMap::from_headers(headers);
    }
}

/// The context `metadata` carries, read with `propagator` (an empty context when none).
pub fn extract(propagator: &dyn TextMapPropagator, metadata: &MetadataMap) -> Context {
    propagator.extract_with_context(&Context::new(), &MetadataExtractor::new(metadata))
}

/// Writes `cx` into `metadata` with `propagator`.
pub fn inject(propagator: &dyn TextMapPropagator, cx: &Context, metadata: &mut MetadataMap) {
    let mut headers = std::mem::take(metadata).into_headers();
    propagator.inject_context(cx, &mut HeaderInjector(&mut headers));
    *metadata = MetadataMap::from_headers(headers);
}

/// A client interceptor that injects the current context (or a request's
/// `opentelemetry::Context` extension) into the metadata, without starting spans:
/// for `StreamServiceClient::with_interceptor(channel, PropagateInterceptor::new())`.
/// Prefer [`GrpcClientTraceLayer`](crate::GrpcClientTraceLayer), which also traces.
#[derive(Clone, Debug, Default)]
pub struct PropagateInterceptor {
    propagation: Propagation,
}

impl PropagateInterceptor {
    /// An interceptor with the global propagator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Injects with `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: SharedPropagator) -> Self {
        self.propagation = Propagation::Custom(propagator);
        self
    }
}

impl tonic::service::Interceptor for PropagateInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = request
            .extensions()
            .get::<Context>()
            .cloned()
            .unwrap_or_else(Context::current);
        let mut headers = std::mem::take(request.metadata_mut()).into_headers();
        self.propagation
            .inject(&cx, &mut HeaderInjector(&mut headers));
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        Ok(request)
    }
}
