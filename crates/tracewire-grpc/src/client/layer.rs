//! [`GrpcClientTraceLayer`] and its service.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use tracewire_core::carrier::HeaderInjector;

use crate::body::{BoxError, DEFAULT_MESSAGE_EVENT_LIMIT, Direction, Messages, TracedBody};
use crate::cancel::CancelSignal;
use crate::deadline::grpc_timeout;
use crate::method::{CLIENT_METHODS, method_name, rpc_method};
use crate::metrics::{CallDuration, client_duration};
use crate::otel::{Propagation, SharedPropagator, SharedTracer, global_meter, meter_from, scope};
use crate::span::RpcSpan;
use crate::status::Side;

/// Traces outbound gRPC calls of a tonic client (wrap the `Channel` with
/// `tower::ServiceBuilder`).
///
/// For every call it starts a CLIENT span `package.Service/Method` as a child of the
/// request's `opentelemetry::Context` extension, else of the current context; injects
/// the span's context into the request metadata (lowercase `traceparent`,
/// `tracestate`, `baggage`, or what the propagator writes); records `rpc.system.name`,
/// `rpc.method`, `server.address`/`server.port` and a `message` event per message sent
/// and received; and ends the span when the trailers arrive, with
/// `rpc.response.status_code`. Every non-OK code marks the span as an error. A call
/// dropped before its trailers ends as `CANCELLED` (`DEADLINE_EXCEEDED` past its
/// `grpc-timeout`). It records `rpc.client.call.duration`.
///
/// Deadlines: a call with a `grpc-timeout` (set by `tonic::Request::set_timeout`) whose
/// response stream is still open at the deadline is ended by this layer (see
/// [`Self::enforce_deadlines`]): the stream yields `DEADLINE_EXCEEDED`, the CLIENT span
/// ends as `DEADLINE_EXCEEDED` and the HTTP/2 stream is reset.
///
/// # Example
///
/// ```no_run
/// use tower::ServiceBuilder;
/// use tracewire_grpc::GrpcClientTraceLayer;
/// use tracewire_grpc::demo::v1::stream_service_client::StreamServiceClient;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051").connect().await?;
/// let traced = ServiceBuilder::new()
///     .layer(GrpcClientTraceLayer::new().server_address("127.0.0.1", Some(50051)))
///     .service(channel);
/// let mut client = StreamServiceClient::new(traced);
/// # let _ = &mut client; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct GrpcClientTraceLayer {
    tracer: SharedTracer,
    propagation: Propagation,
    duration: CallDuration,
    message_events: bool,
    message_event_limit: u32,
    /// `server.address` (shared, cloned per call without allocating) and `server.port`.
    server: Option<(StringValue, Option<u16>)>,
    enforce_deadlines: bool,
}

impl GrpcClientTraceLayer {
    /// A layer with the global propagator, tracer and meter providers, and message events.
    pub fn new() -> Self {
        Self {
            tracer: SharedTracer::global(scope()),
            propagation: Propagation::Global,
            duration: client_duration(&global_meter()),
            message_events: true,
            message_event_limit: DEFAULT_MESSAGE_EVENT_LIMIT,
            server: None,
            enforce_deadlines: true,
        }
    }

    /// Injects with `propagator` instead of the global one.
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

    /// Records `rpc.client.call.duration` with a meter of `provider`.
    pub fn meter_provider<M: MeterProvider + ?Sized>(mut self, provider: &M) -> Self {
        self.duration = client_duration(&meter_from(provider));
        self
    }

    /// Whether to add a `message` event per message (default `true`).
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

    /// The `server.address`/`server.port` to record. A tonic `Channel` adds the
    /// endpoint's authority below this layer, so requests seen here carry only a path;
    /// a request URI with an authority still wins.
    pub fn server_address(mut self, host: impl Into<String>, port: Option<u16>) -> Self {
        self.server = Some((StringValue::from(Arc::<str>::from(host.into())), port));
        self
    }

    /// Whether to end a call whose response stream is still open at its deadline
    /// (default `true`).
    ///
    /// The deadline is the request's `grpc-timeout` header, which tonic sets from
    /// `tonic::Request::set_timeout` (`Endpoint::timeout` sets no header: tonic applies
    /// it inside the `Channel`, until the response headers only). When it passes while
    /// the response is still streaming, the response body fails with a `tonic::Status`
    /// `DEADLINE_EXCEEDED` (what the application's `Streaming` yields), the CLIENT span
    /// ends as `DEADLINE_EXCEEDED`, and the request body is cancelled as when the
    /// response is dropped, so the HTTP/2 stream is reset and the server stops too.
    /// That is Go's behaviour, where the deadline ends the whole call; tonic alone ends
    /// a call at its deadline only until the response headers. Calls without
    /// `grpc-timeout` get no timer.
    ///
    /// Needs a Tokio runtime with the time driver, as tonic's `Channel` does. With
    /// `false`, a stream outlives its deadline as with plain tonic.
    pub fn enforce_deadlines(mut self, enabled: bool) -> Self {
        self.enforce_deadlines = enabled;
        self
    }

    pub(crate) fn start<B>(&self, req: &mut Request<B>) -> RpcSpan {
        let parent = req
            .extensions()
            .get::<Context>()
            .cloned()
            .unwrap_or_else(Context::current);
        let path = req.uri().path();
        let method = rpc_method(path);
        let (name, value) = method_name(&CLIENT_METHODS, method);
        let system = KeyValue::new(semconv::RPC_SYSTEM_NAME, "grpc");
        let method_kv = KeyValue::new(semconv::RPC_METHOD, value);
        let server = match req.uri().host() {
            Some(host) => Some((StringValue::from(host.to_owned()), req.uri().port_u16())),
            None => self.server.clone(),
        };
        // Span: system, method, [method_original], [address, [port]]; the metric the
        // same without `rpc.method_original`, plus room for the status code and
        // `error.type` added when the call ends (`RpcSpan::finish`).
        let mut attrs = Vec::with_capacity(5);
        let mut metric_attrs = Vec::with_capacity(6);
        metric_attrs.push(system.clone());
        metric_attrs.push(method_kv.clone());
        attrs.push(system);
        attrs.push(method_kv);
        if method.is_none() {
            attrs.push(KeyValue::new(semconv::RPC_METHOD_ORIGINAL, path.to_owned()));
        }
        if let Some((host, port)) = server {
            let address = KeyValue::new(semconv::SERVER_ADDRESS, host);
            metric_attrs.push(address.clone());
            attrs.push(address);
            if let Some(port) = port {
                let port = KeyValue::new(semconv::SERVER_PORT, i64::from(port));
                metric_attrs.push(port.clone());
                attrs.push(port);
            }
        }
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let span = self.tracer.build_with_context(builder, &parent);
        let cx = parent.with_span(span);
        self.propagation
            .inject(&cx, &mut HeaderInjector(req.headers_mut()));
        let deadline = grpc_timeout(req.headers()).and_then(|t| Instant::now().checked_add(t));
        RpcSpan::start(
            cx,
            Side::Client,
            deadline,
            self.duration.clone(),
            metric_attrs,
        )
    }
}

impl Default for GrpcClientTraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for GrpcClientTraceLayer {
    type Service = GrpcClientTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientTrace {
            inner,
            layer: self.clone(),
        }
    }
}

/// Middleware built by [`GrpcClientTraceLayer`].
#[derive(Clone, Debug)]
pub struct GrpcClientTrace<S> {
    inner: S,
    layer: GrpcClientTraceLayer,
}

impl<S> GrpcClientTrace<S> {
    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the client.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for GrpcClientTrace<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let mut span = self.layer.start(&mut req);
        let cancel = Arc::new(CancelSignal::default());
        span.cancel_on_abandon(Arc::clone(&cancel));
        let cx = span.context().clone();
        let messages = self
            .layer
            .message_events
            .then(|| Messages::new(Direction::Sent, self.layer.message_event_limit));
        let req = req.map(|body| {
            tonic::body::Body::new(TracedBody::request(body, cx, messages, Some(cancel)))
        });
        let received = self
            .layer
            .message_events
            .then(|| Messages::new(Direction::Received, self.layer.message_event_limit));
        ResponseFuture::new(
            self.inner.call(req),
            span,
            received,
            self.layer.enforce_deadlines,
        )
    }
}
