//! [`GrpcServerTraceLayer`] and its service.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use tracewire_core::carrier::HeaderExtractor;

use crate::body::{BoxError, DEFAULT_MESSAGE_EVENT_LIMIT, Direction, Messages, TracedBody};
use crate::context::RpcContext;
use crate::deadline::grpc_timeout;
use crate::method::{SERVER_METHODS, method_name, rpc_method};
use crate::metrics::{CallDuration, server_duration};
use crate::otel::{Propagation, SharedPropagator, SharedTracer, global_meter, meter_from, scope};
use crate::span::RpcSpan;
use crate::status::Side;

/// Traces inbound gRPC calls of a tonic server.
///
/// For every call it extracts the caller's context from the request metadata
/// (`traceparent`, `tracestate`, `baggage`, or whatever the propagator reads), starts a
/// SERVER span `package.Service/Method` with `rpc.system.name` = `grpc` and
/// `rpc.method`, makes it current while the handler and the response stream run, puts
/// an [`RpcContext`] in the request extensions, adds a `message` event per message
/// received and sent, and ends the span when the trailers are sent, with
/// `rpc.response.status_code` (or, when the client goes away, as `CANCELLED`, or
/// `DEADLINE_EXCEEDED` past the call's `grpc-timeout`). It records
/// `rpc.server.call.duration`.
///
/// Deadlines: tonic enforces a request's `grpc-timeout` only until the response
/// headers. This layer enforces it on the response stream too (see
/// [`Self::enforce_deadlines`]): a response still streaming at the deadline is ended
/// with the trailers `grpc-status: 4` (`DEADLINE_EXCEEDED`), the handler's stream is
/// dropped, and the SERVER span ends as `DEADLINE_EXCEEDED` (a server error).
///
/// # Example
///
/// ```no_run
/// use tracewire_grpc::GrpcServerTraceLayer;
/// use tracewire_grpc::demo::{DemoStreamService, v1::stream_service_server::StreamServiceServer};
///
/// # async fn run() -> Result<(), tonic::transport::Error> {
/// tonic::transport::Server::builder()
///     .layer(GrpcServerTraceLayer::new())
///     .add_service(StreamServiceServer::new(DemoStreamService::default()))
///     .serve("127.0.0.1:50051".parse().unwrap_or_else(|_| unreachable!()))
///     .await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct GrpcServerTraceLayer {
    tracer: SharedTracer,
    propagation: Propagation,
    duration: CallDuration,
    message_events: bool,
    message_event_limit: u32,
    enforce_deadlines: bool,
}

impl GrpcServerTraceLayer {
    /// A layer with the global propagator, tracer and meter providers, and message events.
    pub fn new() -> Self {
        Self {
            tracer: SharedTracer::global(scope()),
            propagation: Propagation::Global,
            duration: server_duration(&global_meter()),
            message_events: true,
            message_event_limit: DEFAULT_MESSAGE_EVENT_LIMIT,
            enforce_deadlines: true,
        }
    }

    /// Extracts inbound context with `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: SharedPropagator) -> Self {
        self.propagation = Propagation::Custom(propagator);
        self
    }

    /// Creates spans with a tracer of `provider` instead of the global provider.
    pub fn tracer_provider<T>(mut self, provider: &T) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        self.tracer = SharedTracer::from_provider(provider, scope());
        self
    }

    /// Records `rpc.server.call.duration` with a meter of `provider`.
    pub fn meter_provider<M: MeterProvider + ?Sized>(mut self, provider: &M) -> Self {
        self.duration = server_duration(&meter_from(provider));
        self
    }

    /// Whether to add `message` events (default `true`; see [`Self::message_event_limit`]).
    pub fn message_events(mut self, enabled: bool) -> Self {
        self.message_events = enabled;
        self
    }

    /// How many `message` events to record per direction and call (default
    /// [`DEFAULT_MESSAGE_EVENT_LIMIT`](crate::DEFAULT_MESSAGE_EVENT_LIMIT)): the first
    /// ones; later messages are still numbered but cost no event. Raise the SDK's
    /// `SpanLimits::max_events_per_span` (128 by default) to keep more than 64 + 64.
    pub fn message_event_limit(mut self, limit: u32) -> Self {
        self.message_event_limit = limit;
        self
    }

    /// Whether to end a response stream at the call's deadline (default `true`).
    ///
    /// When a request carries `grpc-timeout` and the deadline passes while the
    /// response body is still streaming, the layer stops polling the handler's stream
    /// (drops it), ends the body with the trailers `grpc-status: 4` and `grpc-message:
    /// deadline exceeded`, and ends the SERVER span as `DEADLINE_EXCEEDED`, which
    /// `rpc.server.call.duration` records too. That is Go's behaviour, where the
    /// deadline ends the whole call; tonic alone cuts a call off only until its
    /// response headers. Calls without `grpc-timeout` get no timer. The check runs when
    /// hyper polls the body: a stream stalled by HTTP/2 flow control (a client that does
    /// not read) is ended when it is polled again, or reset by the client's own deadline.
    ///
    /// Needs a Tokio runtime with the time driver, as tonic's own `grpc-timeout`
    /// handling does. With `false`, a stream outlives its deadline as with plain tonic.
    pub fn enforce_deadlines(mut self, enabled: bool) -> Self {
        self.enforce_deadlines = enabled;
        self
    }
}

impl Default for GrpcServerTraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for GrpcServerTraceLayer {
    type Service = GrpcServerTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServerTrace {
            inner,
            layer: self.clone(),
        }
    }
}

/// Middleware built by [`GrpcServerTraceLayer`].
#[derive(Clone, Debug)]
pub struct GrpcServerTrace<S> {
    inner: S,
    layer: GrpcServerTraceLayer,
}

impl<S> GrpcServerTrace<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl GrpcServerTraceLayer {
    pub(crate) fn start(&self, parts: &http::request::Parts) -> RpcSpan {
        let path = parts.uri.path();
        let method = rpc_method(path);
        let (name, value) = method_name(&SERVER_METHODS, method);
        let system = KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc");
        // `rpc.method` goes on the span when the call ends (see `RpcSpan::finish`); the
        // metric has room for the status code and `error.type` added then.
        let mut metric_attrs = Vec::with_capacity(4);
        metric_attrs.push(system.clone());
        metric_attrs.push(KeyValue::new(semconv::RPC_METHOD, value));
        let mut attrs = Vec::with_capacity(4);
        attrs.push(system);
        if method.is_none() {
            attrs.push(KeyValue::new(semconv::RPC_METHOD_ORIGINAL, path.to_owned()));
        }
        if let Some((host, port)) = parts.uri.authority().map(server_address) {
            attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host));
            if let Some(port) = port {
                attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        let parent = self.propagation.extract(&HeaderExtractor(&parts.headers));
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attrs);
        let span = self.tracer.build_with_context(builder, &parent);
        let deadline = grpc_timeout(&parts.headers).and_then(|t| Instant::now().checked_add(t));
        RpcSpan::start(
            parent.with_span(span),
            Side::Server,
            deadline,
            self.duration.clone(),
            metric_attrs,
        )
    }
}

thread_local! {
    /// The last request authority this thread saw, with its `server.address` and
    /// `server.port`: a server sees the same authority call after call, so its host is
    /// parsed and copied once and then shared (an `Arc<str>`), not per call.
    static LAST_AUTHORITY: RefCell<Option<(Authority, StringValue, Option<u16>)>> =
        const { RefCell::new(None) };
}

/// `server.address` and `server.port` of a request's authority (from the per-thread
/// cache when it is the same authority, byte for byte).
fn server_address(authority: &Authority) -> (StringValue, Option<u16>) {
    let parse = |authority: &Authority| {
        (
            StringValue::from(Arc::<str>::from(authority.host())),
            authority.port_u16(),
        )
    };
    LAST_AUTHORITY
        .try_with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else {
                return parse(authority);
            };
            match &*last {
                Some((seen, host, port)) if seen.as_str() == authority.as_str() => {
                    (host.clone(), *port)
                }
                _ => {
                    let (host, port) = parse(authority);
                    *last = Some((authority.clone(), host.clone(), port));
                    (host, port)
                }
            }
        })
        .unwrap_or_else(|_| parse(authority))
}

impl<S, B, ResBody> Service<Request<B>> for GrpcServerTrace<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let span = self.layer.start(&parts);
        let cx = span.context().clone();
        parts
            .extensions
            .insert(RpcContext::new(cx.clone(), self.layer.tracer.clone()));
        let body = if self.layer.message_events {
            let messages = Some(Messages::new(
                Direction::Received,
                self.layer.message_event_limit,
            ));
            tonic::body::Body::new(TracedBody::request(body, cx.clone(), messages, None))
        } else {
            tonic::body::Body::new(body)
        };
        let future = {
            let _attached = cx.clone().attach();
            self.inner.call(Request::from_parts(parts, body))
        };
        let sent = self
            .layer
            .message_events
            .then(|| Messages::new(Direction::Sent, self.layer.message_event_limit));
        ResponseFuture::new(future, span, sent, self.layer.enforce_deadlines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_cache_answers_what_parsing_would() {
        for raw in [
            "svc.local:50051",
            "svc.local:50051",
            "SVC.local:50051",
            "svc.local",
            "[::1]:443",
            "svc.local:50051",
        ] {
            let authority: Authority = raw.parse().unwrap();
            let (host, port) = server_address(&authority);
            assert_eq!(host.as_str(), authority.host(), "{raw}");
            assert_eq!(port, authority.port_u16(), "{raw}");
        }
    }
}
