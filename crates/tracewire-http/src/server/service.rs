//! [`ServerTrace`]: the middleware service.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use opentelemetry::trace::{Link, SpanBuilder, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use tower_service::Service;
use tracewire_core::carrier::HeaderExtractor;

use super::attributes::{matched_route, request_attributes, scheme_value};
use super::body::TracedBody;
use super::future::ResponseFuture;
use super::layer::Core;
use super::options::{MakeSpanName, PublicEndpoint, RequestFilter};
use super::route::route_value;
use super::span::{MetricAttributes, ServerSpan, panic_message};
use crate::otel::{method_attr, protocol_version};
use crate::request_id::{RequestId, X_REQUEST_ID_HEADER};

/// The layer's configuration, shared by every clone of the service.
pub(crate) struct Shared<F, N, P> {
    pub(crate) core: Core,
    pub(crate) filter: F,
    pub(crate) name: N,
    pub(crate) public: P,
}

/// Middleware that traces each request; built by [`ServerTraceLayer`](super::ServerTraceLayer).
///
/// Also puts the request's [`opentelemetry::Context`] (holding the SERVER span) and
/// its [`RequestId`] into the request extensions for handlers that need them
/// explicitly (for example to spawn work with `FutureExt::with_context`).
pub struct ServerTrace<S, F = (), N = super::DefaultSpanName, P = bool> {
    inner: S,
    shared: Arc<Shared<F, N, P>>,
}

impl<S, F, N, P> ServerTrace<S, F, N, P> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<F, N, P>>) -> Self {
        Self { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, F, N, P> Clone for ServerTrace<S, F, N, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, F, N, P> fmt::Debug for ServerTrace<S, F, N, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTrace")
            .field("inner", &self.inner)
            .field("core", &self.shared.core)
            .finish_non_exhaustive()
    }
}

impl<F, N, P> Shared<F, N, P>
where
    N: MakeSpanName,
    P: PublicEndpoint,
{
    /// Extracts the parent (or, for a public endpoint, a link) and starts the span.
    fn start_span(&self, parts: &Parts, request_id: Option<&RequestId>) -> ServerSpan {
        let route = matched_route(parts);
        let name = self.name.span_name(parts, route);
        let route = route.map(route_value);
        let scheme = scheme_value(parts);
        let extracted = self
            .core
            .propagation
            .extract(&HeaderExtractor(&parts.headers));
        let mut attrs = request_attributes(parts, route.as_ref(), &scheme);
        if let Some(id) = request_id {
            attrs.push(KeyValue::new(
                "http.request.header.x-request-id",
                opentelemetry::Value::Array(opentelemetry::Array::String(vec![
                    id.as_str().to_owned().into(),
                ])),
            ));
        }
        let mut builder = SpanBuilder::from_name(name).with_kind(SpanKind::Server);
        let parent = if self.public.is_public(parts) {
            let remote = extracted.span().span_context().clone();
            if remote.is_valid() {
                builder = builder.with_links(vec![Link::with_context(remote)]);
            }
            Context::new()
        } else {
            extracted
        };
        let span = self
            .core
            .tracer
            .build_with_context(builder.with_attributes(attrs), &parent);
        let cx = parent.with_span(span);
        let metric_attrs = MetricAttributes {
            method: method_attr(&parts.method),
            scheme,
            route,
            version: protocol_version(parts.version),
            status: None,
            error_type: None,
        };
        ServerSpan::start(cx, Arc::clone(&self.core.metrics), metric_attrs)
    }
}

impl<S, F, N, P, ReqBody, ResBody> Service<Request<ReqBody>> for ServerTrace<S, F, N, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ResBody: Body,
    ResBody::Data: From<Bytes>,
    ResBody::Error: fmt::Display,
    F: RequestFilter,
    N: MakeSpanName,
    P: PublicEndpoint,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let request_id = self.shared.core.request_id.then(|| {
            let id = RequestId::from_headers_or_new(&parts.headers);
            // Downstream code (and the forwarding proxy) sees the id it will return.
            parts
                .headers
                .insert(X_REQUEST_ID_HEADER, id.header_value().clone());
            parts.extensions.insert(id.clone());
            id
        });
        let span = self
            .shared
            .filter
            .should_trace(&parts)
            .then(|| self.shared.start_span(&parts, request_id.as_ref()));
        let otel_cx = span.as_ref().map(|s| s.context().clone());
        if let Some(cx) = &otel_cx {
            parts.extensions.insert(cx.clone());
        }
        let req = Request::from_parts(parts, body);
        let request_id: Option<HeaderValue> = request_id.map(|id| id.header_value().clone());

        let called = {
            let _attached = otel_cx.as_ref().map(|cx| cx.clone().attach());
            catch_unwind(AssertUnwindSafe(|| self.inner.call(req)))
        };
        match called {
            Ok(future) => ResponseFuture::new(future, otel_cx, span, request_id),
            Err(payload) => ResponseFuture::panicked(panic_message(&*payload), span, request_id),
        }
    }
}
