//! The life of one SERVER span: started when the request arrives, ended exactly once
//! when the response body ends, fails, or is dropped.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use opentelemetry::metrics::BoundUpDownCounter;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::metrics::ServerMetrics;

/// Owns the span (inside `cx`) and the pending metric measurements.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    cx: Context,
    started: Instant,
    metrics: Arc<ServerMetrics>,
    attrs: MetricAttributes,
    /// The `active_requests` series this request was counted in, when bound.
    active: Option<BoundUpDownCounter<i64>>,
    ended: bool,
}

/// The values of the metric attributes, kept apart and assembled when measured: the
/// strings are static or shared, so this costs no allocation per request beyond the
/// one list the duration histogram gets. It is also the key of its bound series
/// (`ServerMetrics`): the values are static or shared, so cloning it is cheap.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MetricAttributes {
    /// `http.request.method`
    pub(crate) method: &'static str,
    /// `url.scheme`
    pub(crate) scheme: StringValue,
    /// `http.route`
    pub(crate) route: Option<StringValue>,
    /// `network.protocol.version`
    pub(crate) version: Option<&'static str>,
    /// `http.response.status_code`, once known.
    pub(crate) status: Option<i64>,
    /// `error.type`, on failure.
    pub(crate) error_type: Option<Cow<'static, str>>,
}

impl MetricAttributes {
    /// Attributes of `http.server.active_requests` (method, scheme).
    pub(crate) fn active(&self) -> [KeyValue; 2] {
        [
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method),
            KeyValue::new(semconv::URL_SCHEME, self.scheme.clone()),
        ]
    }

    /// Attributes of `http.server.request.duration`, in a fixed order (the SDK finds
    /// an existing series fastest when the order repeats).
    pub(crate) fn duration(&self) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(7);
        attrs.extend(self.active());
        if let Some(route) = &self.route {
            attrs.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
        }
        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_NAME, "http"));
        if let Some(version) = self.version {
            attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
        }
        if let Some(status) = self.status {
            attrs.push(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, status));
        }
        if let Some(error_type) = &self.error_type {
            attrs.push(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
        }
        attrs
    }
}

impl ServerSpan {
    pub(crate) fn start(cx: Context, metrics: Arc<ServerMetrics>, attrs: MetricAttributes) -> Self {
        let active = metrics.request_started(&attrs);
        Self {
            cx,
            started: Instant::now(),
            metrics,
            attrs,
            active,
            ended: false,
        }
    }

    /// The context holding the span (the parent of everything the handler does).
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Records the response status: 5xx is an error on the server side, 4xx is not.
    pub(crate) fn record_status(&mut self, status: StatusCode) {
        let code = i64::from(status.as_u16());
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, code));
        self.attrs.status = Some(code);
        if status.is_server_error() {
            let error_type = server_error_type(status);
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
            span.set_status(Status::error(""));
            self.attrs.error_type = Some(error_type);
        }
    }

    /// Records a failure that produced no (complete) response.
    pub(crate) fn record_error(&mut self, error_type: Cow<'static, str>, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
        span.set_status(Status::error(message));
        self.attrs.error_type = Some(error_type);
    }

    /// Records a panic of the handler as an `exception` event.
    pub(crate) fn record_panic(&mut self, message: &str) {
        self.cx.span().add_event(
            "exception",
            vec![
                KeyValue::new(semconv::EXCEPTION_TYPE, "panic"),
                KeyValue::new(semconv::EXCEPTION_MESSAGE, message.to_owned()),
            ],
        );
    }

    /// Ends the span and records the metrics (once).
    pub(crate) fn end(&mut self) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        self.cx.span().end();
        self.metrics
            .request_finished(&self.attrs, self.active.as_ref(), seconds);
    }
}

impl Drop for ServerSpan {
    fn drop(&mut self) {
        self.end();
    }
}

/// `error.type` of a 5xx response: its status code, static for the registered codes
/// (the value is part of a metric series key, cloned per request).
fn server_error_type(status: StatusCode) -> Cow<'static, str> {
    const REGISTERED: [&str; 12] = [
        "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "510", "511",
    ];
    usize::from(status.as_u16())
        .checked_sub(500)
        .and_then(|at| REGISTERED.get(at))
        .map_or_else(
            || Cow::Owned(status.as_str().to_owned()),
            |code| Cow::Borrowed(*code),
        )
}

/// The message of a panic payload (`&str` or `String`, as `panic!` produces).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_error_types_are_the_status_codes() {
        for code in [500_u16, 503, 511, 555, 599] {
            let status = http::StatusCode::from_u16(code).unwrap();
            assert_eq!(super::server_error_type(status), code.to_string());
        }
        let static_500 = super::server_error_type(http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(matches!(static_500, std::borrow::Cow::Borrowed(_)));
    }
}
