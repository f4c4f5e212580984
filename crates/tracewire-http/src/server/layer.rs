//! [`ServerTraceLayer`]: the options, as a type-state builder.

use std::sync::Arc;

use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use tower_layer::Layer;

use super::options::{DefaultSpanName, Hook, MakeSpanName, PublicEndpoint, RequestFilter};
use super::service::{ServerTrace, Shared};
use crate::metrics::ServerMetrics;
use crate::otel::{Propagation, SharedPropagator, SharedTracer, global_meter, meter_from, scope};

/// Traces inbound HTTP requests (axum, hyper, tonic servers): extracts the caller's
/// context with the configured propagator, opens a SERVER span around the handler
/// (current while it runs), ends it when the response body ends, and records the
/// `http.server.*` metrics.
///
/// The three type parameters are the hooks: the request filter, the span-name
/// formatter and the public-endpoint predicate. Their defaults trace everything, name
/// spans `{METHOD} {route}` and trust the caller's context.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use tracewire_http::{ServerTraceLayer, server::SkipPaths};
///
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(ServerTraceLayer::new().filter(SkipPaths::new(["/healthz"])));
/// # let _ = app;
/// ```
///
/// Add the layer with `Router::layer` (not around the finished router) so that axum's
/// `MatchedPath` is known when the span starts; around a plain hyper or tonic service the
/// span is named `{METHOD}` and carries no `http.route`.
///
/// Providers are taken when the layer is built: build it after installing the global
/// tracer and meter providers, or pass them with [`Self::tracer_provider`] and
/// [`Self::meter_provider`]. The global propagator is looked up on every request.
#[derive(Clone, Debug)]
pub struct ServerTraceLayer<F = (), N = DefaultSpanName, P = bool> {
    core: Core,
    filter: Hook<F>,
    name: Hook<N>,
    public: Hook<P>,
}

/// Everything that is not a hook.
#[derive(Clone, Debug)]
pub(crate) struct Core {
    pub(crate) tracer: SharedTracer,
    pub(crate) propagation: Propagation,
    pub(crate) metrics: Arc<ServerMetrics>,
    pub(crate) request_id: bool,
}

impl ServerTraceLayer {
    /// A layer with the global propagator, tracer and meter providers, tracing every
    /// request, trusting inbound context, and handling `x-request-id`.
    pub fn new() -> Self {
        Self {
            core: Core {
                tracer: SharedTracer::global(scope()),
                propagation: Propagation::Global,
                metrics: Arc::new(ServerMetrics::new(&global_meter())),
                request_id: true,
            },
            filter: Hook(()),
            name: Hook(DefaultSpanName),
            public: Hook(false),
        }
    }
}

impl Default for ServerTraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<F, N, P> ServerTraceLayer<F, N, P> {
    /// Traces only the requests `filter` accepts (for example
    /// [`SkipPaths`](super::SkipPaths) or `|req: &Parts| req.uri.path() != "/healthz"`).
    pub fn filter<F2: RequestFilter>(self, filter: F2) -> ServerTraceLayer<F2, N, P> {
        ServerTraceLayer {
            core: self.core,
            filter: Hook(filter),
            name: self.name,
            public: self.public,
        }
    }

    /// Names spans with `name` instead of `{METHOD} {route}`.
    pub fn span_name<N2: MakeSpanName>(self, name: N2) -> ServerTraceLayer<F, N2, P> {
        ServerTraceLayer {
            core: self.core,
            filter: self.filter,
            name: Hook(name),
            public: self.public,
        }
    }

    /// Public-endpoint mode for every request: the inbound trace context and baggage
    /// are not trusted; each request starts a new trace whose root SERVER span links to
    /// the inbound context (when there is a valid one).
    pub fn public_endpoint(self, public: bool) -> ServerTraceLayer<F, N, bool> {
        self.public_endpoint_when(public)
    }

    /// Public-endpoint mode for the requests `predicate` selects (for example, requests
    /// that did not come through the internal gateway).
    pub fn public_endpoint_when<P2: PublicEndpoint>(
        self,
        predicate: P2,
    ) -> ServerTraceLayer<F, N, P2> {
        ServerTraceLayer {
            core: self.core,
            filter: self.filter,
            name: self.name,
            public: Hook(predicate),
        }
    }

    /// Extracts inbound context with `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: SharedPropagator) -> Self {
        self.core.propagation = Propagation::Custom(propagator);
        self
    }

    /// Creates spans with a tracer of `provider` instead of the global provider.
    pub fn tracer_provider<T>(mut self, provider: &T) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        self.core.tracer = SharedTracer::from_provider(provider, scope());
        self
    }

    /// Records metrics with a meter of `provider` instead of the global provider.
    pub fn meter_provider<M: MeterProvider + ?Sized>(mut self, provider: &M) -> Self {
        self.core.metrics = Arc::new(ServerMetrics::new(&meter_from(provider)));
        self
    }

    /// Whether to read or generate `x-request-id`, record it on the span and return it
    /// on the response (default `true`).
    pub fn request_id(mut self, enabled: bool) -> Self {
        self.core.request_id = enabled;
        self
    }
}

impl<S, F, N, P> Layer<S> for ServerTraceLayer<F, N, P>
where
    F: Clone,
    N: Clone,
    P: Clone,
{
    type Service = ServerTrace<S, F, N, P>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerTrace::new(
            inner,
            Arc::new(Shared {
                core: self.core.clone(),
                filter: self.filter.0.clone(),
                name: self.name.0.clone(),
                public: self.public.0.clone(),
            }),
        )
    }
}
