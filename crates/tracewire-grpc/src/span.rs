//! The life of one RPC span (SERVER or CLIENT): started when the call starts, ended
//! exactly once with the call's gRPC status, when the trailers arrive, the stream
//! fails, or the call is abandoned (dropped: cancelled, or past its deadline).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tonic::Code;

use crate::cancel::CancelSignal;
use crate::deadline::DEADLINE_MESSAGE;
use crate::method::OTHER;
use crate::metrics::CallDuration;
use crate::status::{Side, code_from_http_status, code_name, is_error, status_from_headers};

/// How long before its deadline a server may see the client's deadline reset (the
/// request's transit time, bounded); see `RpcSpan::deadline_passed`.
const SERVER_DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// Owns the span (inside `cx`) and the pending duration measurement.
#[derive(Debug)]
pub(crate) struct RpcSpan {
    cx: Context,
    side: Side,
    started: Instant,
    deadline: Option<Instant>,
    duration: CallDuration,
    /// `rpc.system.name`, `rpc.method` and, on the client, `server.*`.
    metric_attrs: Vec<KeyValue>,
    /// The status seen in response headers (a trailers-only response).
    header_status: Option<(Code, String)>,
    /// Signalled when the call is abandoned (client side: resets the HTTP/2 stream).
    cancel: Option<Arc<CancelSignal>>,
    ended: bool,
}

impl RpcSpan {
    pub(crate) fn start(
        cx: Context,
        side: Side,
        deadline: Option<Instant>,
        duration: CallDuration,
        metric_attrs: Vec<KeyValue>,
    ) -> Self {
        Self {
            cx,
            side,
            started: Instant::now(),
            deadline,
            duration,
            metric_attrs,
            header_status: None,
            cancel: None,
            ended: false,
        }
    }

    /// Signals `cancel` if the call is abandoned.
    pub(crate) fn cancel_on_abandon(&mut self, cancel: Arc<CancelSignal>) {
        self.cancel = Some(cancel);
    }

    /// Server or client.
    pub(crate) const fn side(&self) -> Side {
        self.side
    }

    /// The call's deadline (from its `grpc-timeout`), if it has one.
    pub(crate) const fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether a call that ends cancelled now ended by its deadline. A server learns
    /// the deadline as a `grpc-timeout` that starts when the request arrives, so its
    /// deadline is the client's plus the request's transit time, and a client that
    /// resets the stream at its own deadline is seen up to that much before the
    /// server's: on the server, a cancellation within [`SERVER_DEADLINE_SLACK`] (at
    /// most a quarter of the timeout) of the deadline counts as the deadline.
    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|deadline| {
            let deadline = match self.side {
                Side::Client => deadline,
                Side::Server => {
                    let timeout = deadline.saturating_duration_since(self.started);
                    deadline
                        .checked_sub(SERVER_DEADLINE_SLACK.min(timeout / 4))
                        .unwrap_or(deadline)
                }
            };
            Instant::now() >= deadline
        })
    }

    /// The context holding the span.
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Notes the `grpc-status` of the response headers (trailers-only responses), or,
    /// for a non-200 response without one, the code its HTTP status maps to.
    pub(crate) fn record_response(&mut self, parts: &http::response::Parts) {
        if let Some(status) = status_from_headers(&parts.headers) {
            self.header_status = Some(status);
        } else if parts.status != http::StatusCode::OK {
            self.header_status = Some((
                code_from_http_status(parts.status),
                format!("HTTP status {} without grpc-status", parts.status),
            ));
        }
    }

    /// Ends the call with the status of `trailers`, else of the response headers,
    /// else `UNKNOWN` (a stream that ended without any `grpc-status`).
    pub(crate) fn finish_with_trailers(&mut self, trailers: Option<&HeaderMap>) {
        let (code, message) = trailers
            .and_then(status_from_headers)
            .or_else(|| self.header_status.take())
            .unwrap_or_else(|| (Code::Unknown, "stream ended without grpc-status".to_owned()));
        self.finish(code, &message);
    }

    /// Ends the call as abandoned: with the status of a trailers-only response when
    /// there was one (its body may never be polled), else `DEADLINE_EXCEEDED` when the
    /// deadline has passed, else `CANCELLED`.
    pub(crate) fn abandon(&mut self) {
        if let Some((code, message)) = self.header_status.take() {
            self.finish(code, &message);
            return;
        }
        if self.deadline_passed() {
            self.finish(Code::DeadlineExceeded, DEADLINE_MESSAGE);
        } else {
            self.finish(Code::Cancelled, "call abandoned before its trailers");
        }
    }

    /// Ends the call as cut off at its deadline by the layer: `DEADLINE_EXCEEDED`, and
    /// on the client the request body is cancelled (the HTTP/2 stream is reset).
    pub(crate) fn expire(&mut self) {
        self.finish(Code::DeadlineExceeded, DEADLINE_MESSAGE);
        if let Some(cancel) = &self.cancel {
            cancel.cancel();
        }
    }

    /// Records `code` and ends the span and the measurement (once). `CANCELLED` past
    /// the call's deadline is recorded as `DEADLINE_EXCEEDED`: tonic's server answers
    /// an expired `grpc-timeout` with `CANCELLED`.
    pub(crate) fn finish(&mut self, code: Code, message: &str) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let code = if code == Code::Cancelled && self.deadline_passed() {
            Code::DeadlineExceeded
        } else {
            code
        };
        let seconds = self.started.elapsed().as_secs_f64();
        let span = self.cx.span();
        let name = code_name(code);
        span.set_attribute(KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, name));
        let mut attrs = std::mem::take(&mut self.metric_attrs);
        if self.side == Side::Server {
            // The server span gets `rpc.method` now that it is known whether the
            // server recognised the method (UNIMPLEMENTED: `_OTHER`).
            server_method(&span, &mut attrs, code == Code::Unimplemented);
        }
        attrs.push(KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, name));
        if is_error(self.side, code) {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, name));
            span.set_status(Status::error(message.to_owned()));
            attrs.push(KeyValue::new(semconv::ERROR_TYPE, name));
        }
        span.end();
        self.duration.record(seconds, &attrs);
    }
}

impl Drop for RpcSpan {
    fn drop(&mut self) {
        if !self.ended {
            self.abandon();
            if let Some(cancel) = &self.cancel {
                cancel.cancel();
            }
        }
    }
}

/// Sets `rpc.method` on a SERVER span; for an unrecognised method, `_OTHER` (on the
/// span and in the metric attributes) and the original in `rpc.method_original`.
fn server_method(
    span: &opentelemetry::trace::SpanRef<'_>,
    attrs: &mut [KeyValue],
    unrecognised: bool,
) {
    for kv in attrs.iter_mut() {
        if kv.key.as_str() != semconv::RPC_METHOD {
            continue;
        }
        if unrecognised && kv.value.as_str() != OTHER {
            span.set_attribute(KeyValue::new(
                semconv::RPC_METHOD_ORIGINAL,
                kv.value.as_str().into_owned(),
            ));
            *kv = KeyValue::new(semconv::RPC_METHOD, OTHER);
        }
        span.set_attribute(kv.clone());
    }
}
