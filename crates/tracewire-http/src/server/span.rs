//! The life of one SERVER span: started when the request arrives, ended exactly once
//! when the response body ends, fails, or is dropped.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::metrics::ServerMetrics;

/// Owns the span (inside `cx`) and the pending metric measurements.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    cx: Context,
    started: Instant,
    metrics: Arc<ServerMetrics>,
    /// Attributes of `http.server.active_requests` (method, scheme).
    active_attrs: Vec<KeyValue>,
    /// Attributes of `http.server.request.duration`; status and error are added at the end.
    duration_attrs: Vec<KeyValue>,
    ended: bool,
}

impl ServerSpan {
    pub(crate) fn start(
        cx: Context,
        metrics: Arc<ServerMetrics>,
        active_attrs: Vec<KeyValue>,
        duration_attrs: Vec<KeyValue>,
    ) -> Self {
        metrics.request_started(&active_attrs);
        Self {
            cx,
            started: Instant::now(),
            metrics,
            active_attrs,
            duration_attrs,
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
        self.duration_attrs
            .push(KeyValue::new(semconv::HTTP_RESPONSE_STATUS_CODE, code));
        if status.is_server_error() {
            let error_type = status.as_str().to_owned();
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
            span.set_status(Status::error(""));
            self.duration_attrs
                .push(KeyValue::new(semconv::ERROR_TYPE, error_type));
        }
    }

    /// Records a failure that produced no (complete) response.
    pub(crate) fn record_error(&mut self, error_type: Cow<'static, str>, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
        span.set_status(Status::error(message));
        self.duration_attrs
            .retain(|kv| kv.key.as_str() != semconv::ERROR_TYPE);
        self.duration_attrs
            .push(KeyValue::new(semconv::ERROR_TYPE, error_type));
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
            .request_finished(&self.active_attrs, seconds, &self.duration_attrs);
    }
}

impl Drop for ServerSpan {
    fn drop(&mut self) {
        self.end();
    }
}

/// The message of a panic payload (`&str` or `String`, as `panic!` produces).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
