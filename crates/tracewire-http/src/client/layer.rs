//! [`ClientTraceLayer`]: CLIENT spans for tower HTTP clients (hyper-util, tonic
//! `Channel`, anything that is a `Service<http::Request<B>>`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::redact::full_uri;
use super::span::{ClientCore, ClientSpan, Target, parent_context};
use crate::otel::SharedPropagator;

/// Traces outbound requests of a tower HTTP client: a CLIENT span `{METHOD}` (child of
/// the current context, or of an `opentelemetry::Context` request extension), the
/// span's context injected into the request headers, the stable HTTP client
/// attributes, error status for transport errors and for 4xx/5xx, and
/// `http.client.request.duration`. The span ends when the response headers arrive.
///
/// The request URI must be absolute (`http://host:port/path`), as hyper-util's client
/// requires anyway.
///
/// # Example
///
/// ```
/// use http_body_util::Empty;
/// use bytes::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::ServiceBuilder;
/// use tracewire_http::ClientTraceLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
/// let traced = ServiceBuilder::new().layer(ClientTraceLayer::new()).service(client);
/// # let _ = traced;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientTraceLayer {
    core: ClientCore,
}

impl ClientTraceLayer {
    /// A layer with the global propagator, tracer and meter providers.
    pub fn new() -> Self {
        Self {
            core: ClientCore::new(),
        }
    }

    /// Injects with `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: SharedPropagator) -> Self {
        self.core.set_propagator(propagator);
        self
    }

    /// Creates spans with a tracer of `provider` instead of the global provider.
    pub fn tracer_provider<T>(mut self, provider: &T) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        self.core.set_tracer_provider(provider);
        self
    }

    /// Records `http.client.request.duration` with a meter of `provider`.
    pub fn meter_provider<M: MeterProvider + ?Sized>(mut self, provider: &M) -> Self {
        self.core.set_meter_provider(provider);
        self
    }
}

impl Default for ClientTraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientTrace {
            inner,
            core: self.core.clone(),
        }
    }
}

/// Middleware built by [`ClientTraceLayer`].
#[derive(Clone, Debug)]
pub struct ClientTrace<S> {
    inner: S,
    core: ClientCore,
}

impl<S> ClientTrace<S> {
    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the client.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientTrace<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Split so the target can borrow the URI while the headers are written
        // (no clone of the URI or method per request).
        let (mut parts, body) = req.into_parts();
        let parent = parent_context(&parts.extensions);
        let uri = &parts.uri;
        let target = Target {
            scheme: uri.scheme_str().unwrap_or("http"),
            host: uri.host(),
            port: uri.port_u16(),
            full: full_uri(uri),
        };
        let span = self
            .core
            .start(&parent, &parts.method, target, &mut parts.headers);
        ResponseFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            span: Some(span),
        }
    }
}

pin_project! {
    /// Response future of [`ClientTrace`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<ClientSpan>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(mut span) = this.span.take() {
            match &result {
                Ok(response) => span.record_status(response.status()),
                Err(error) => {
                    span.record_error(std::any::type_name::<E>().into(), error.to_string())
                }
            }
            span.end();
        }
        Poll::Ready(result)
    }
}
