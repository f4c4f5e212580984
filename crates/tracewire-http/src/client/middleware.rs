//! [`TracingMiddleware`]: CLIENT spans for reqwest through reqwest-middleware.

use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use reqwest_middleware::{Middleware, Next};

use super::redact::full_url;
use super::span::{ClientCore, Target, parent_context};
use crate::otel::SharedPropagator;

/// reqwest-middleware [`Middleware`] that traces each request like
/// [`ClientTraceLayer`](super::ClientTraceLayer): a CLIENT span `{METHOD}` (child of
/// the current context, or of an `opentelemetry::Context` put in the request
/// extensions with `RequestBuilder::with_extension`), context injected into the
/// headers, semconv attributes, error status for transport errors and 4xx/5xx, and
/// `http.client.request.duration`.
///
/// # Example
///
/// ```
/// use reqwest_middleware::ClientBuilder;
/// use tracewire_http::TracingMiddleware;
///
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware::new())
///     .build();
/// # let _ = client;
/// ```
#[derive(Clone, Debug)]
pub struct TracingMiddleware {
    core: ClientCore,
}

impl TracingMiddleware {
    /// A middleware with the global propagator, tracer and meter providers.
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

impl Default for TracingMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

/// A low-cardinality `error.type` for a reqwest failure.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Middleware(_) => "middleware",
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(e) if e.is_request() => "request",
        reqwest_middleware::Error::Reqwest(e) if e.is_body() => "body",
        reqwest_middleware::Error::Reqwest(e) if e.is_redirect() => "redirect",
        reqwest_middleware::Error::Reqwest(_) => "_OTHER",
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let parent = parent_context(extensions);
        let url = req.url();
        let host_port = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        let has_userinfo = !url.username().is_empty() || url.password().is_some();
        let full = full_url(
            url.scheme(),
            has_userinfo,
            &host_port,
            url.path(),
            url.query(),
        );
        let scheme = url.scheme().to_owned();
        let host = url.host_str().map(str::to_owned);
        let port = url.port_or_known_default();
        let method = req.method().clone();
        let target = Target {
            scheme: &scheme,
            host: host.as_deref(),
            port,
            full,
        };
        let mut span = self.core.start(&parent, &method, target, req.headers_mut());
        let result = next.run(req, extensions).await;
        match &result {
            Ok(response) => span.record_status(response.status()),
            Err(error) => span.record_error(error_type(error).into(), error.to_string()),
        }
        span.end();
        result
    }
}
