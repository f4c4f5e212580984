//! The CLIENT span shared by [`ClientTraceLayer`](super::ClientTraceLayer) and
//! [`TracingMiddleware`](super::TracingMiddleware).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Method, StatusCode};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{
    Span, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer, TracerProvider,
};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracewire_core::carrier::HeaderInjector;

use crate::metrics::ClientMetrics;
use crate::otel::{
    Propagation, SharedPropagator, SharedTracer, global_meter, known_method, meter_from,
    method_attr, scope,
};

/// What the client instrumentation needs to know about the target URL.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) host: Option<&'a str>,
    pub(crate) port: Option<u16>,
    /// `url.full`, already redacted.
    pub(crate) full: String,
}

/// Tracer, propagator and instruments of one client layer or middleware.
#[derive(Clone, Debug)]
pub(crate) struct ClientCore {
    tracer: SharedTracer,
    propagation: Propagation,
    metrics: Arc<ClientMetrics>,
}

impl ClientCore {
    pub(crate) fn new() -> Self {
        Self {
            tracer: SharedTracer::global(scope()),
            propagation: Propagation::Global,
            metrics: Arc::new(ClientMetrics::new(&global_meter())),
        }
    }

    pub(crate) fn set_propagator(&mut self, propagator: SharedPropagator) {
        self.propagation = Propagation::Custom(propagator);
    }

    pub(crate) fn set_tracer_provider<T>(&mut self, provider: &T)
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        self.tracer = SharedTracer::from_provider(provider, scope());
    }

    pub(crate) fn set_meter_provider<M: MeterProvider + ?Sized>(&mut self, provider: &M) {
        self.metrics = Arc::new(ClientMetrics::new(&meter_from(provider)));
    }

    /// Starts the CLIENT span as a child of `parent` and injects its context into
    /// `headers` (replacing any earlier propagation headers).
    pub(crate) fn start(
        &self,
        parent: &Context,
        method: &Method,
        target: Target<'_>,
        headers: &mut HeaderMap,
    ) -> ClientSpan {
        let name = known_method(method).unwrap_or("HTTP");
        let method_value = method_attr(method);
        let mut attrs = Vec::with_capacity(6);
        attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method_value));
        if known_method(method).is_none() {
            attrs.push(KeyValue::new(
                semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                method.as_str().to_owned(),
            ));
        }
        let mut metric_attrs = Vec::with_capacity(7);
        metric_attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method_value));
        let scheme = match target.scheme {
            "http" => StringValue::from("http"),
            "https" => StringValue::from("https"),
            other => StringValue::from(other.to_owned()),
        };
        metric_attrs.push(KeyValue::new(semconv::URL_SCHEME, scheme));
        if let Some(host) = target.host {
            // Shared by the span and the metric: one allocation, not two.
            let address = KeyValue::new(semconv::SERVER_ADDRESS, Arc::<str>::from(host));
            attrs.push(address.clone());
            metric_attrs.push(address);
        }
        let port = target.port.or(match target.scheme {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        });
        if let Some(port) = port {
            let port = KeyValue::new(semconv::SERVER_PORT, i64::from(port));
            attrs.push(port.clone());
            metric_attrs.push(port);
        }
        attrs.push(KeyValue::new(semconv::URL_FULL, target.full));

        let builder = SpanBuilder::from_name(Cow::Borrowed(name))
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let span = self.tracer.build_with_context(builder, parent);
        let cx = parent.with_span(span);
        self.propagation.inject(&cx, &mut HeaderInjector(headers));
        ClientSpan {
            cx,
            started: Instant::now(),
            metrics: Arc::clone(&self.metrics),
            metric_attrs,
            ended: false,
        }
    }
}

/// One outbound request's span; ends on response headers or on failure.
#[derive(Debug)]
pub(crate) struct ClientSpan {
    cx: Context,
    started: Instant,
    metrics: Arc<ClientMetrics>,
    metric_attrs: Vec<KeyValue>,
    ended: bool,
}

impl ClientSpan {
    /// Records the status: on the client side both 4xx and 5xx are errors.
    pub(crate) fn record_status(&mut self, status: StatusCode) {
        let code = i64::from(status.as_u16());
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, code));
        self.metric_attrs
            .push(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, code));
        if status.is_client_error() || status.is_server_error() {
            let error_type = status.as_str().to_owned();
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
            span.set_status(Status::error(""));
            self.metric_attrs
                .push(KeyValue::new(semconv::ERROR_TYPE, error_type));
        }
    }

    /// Records a transport failure (no response).
    pub(crate) fn record_error(&mut self, error_type: Cow<'static, str>, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
        span.set_status(Status::error(message));
        self.metric_attrs
            .push(KeyValue::new(semconv::ERROR_TYPE, error_type));
    }

    /// Ends the span and records the duration (once).
    pub(crate) fn end(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.cx.span().end();
        let seconds = self.started.elapsed().as_secs_f64();
        self.metrics.duration.record(seconds, &self.metric_attrs);
    }
}

impl Drop for ClientSpan {
    fn drop(&mut self) {
        // A cancelled request (future dropped) still ends its span.
        self.end();
    }
}

/// The parent of an outbound request: an `opentelemetry::Context` placed in the request
/// extensions, else the current context (the handler's, inside `ServerTraceLayer`).
pub(crate) fn parent_context(extensions: &http::Extensions) -> Context {
    extensions
        .get::<Context>()
        .cloned()
        .unwrap_or_else(Context::current)
}
