//! [`RpcContext`]: the trace context of one call, as handlers see it, and the
//! per-message child spans of a stream.

use std::borrow::Cow;

use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::otel::{SharedTracer, scope};
use crate::stream::{ProcessEach, TracedMessages};

/// The context of a traced call (holding its SERVER span) plus the tracer of the layer
/// that traced it. [`GrpcServerTraceLayer`](crate::GrpcServerTraceLayer) puts one in
/// every request's extensions, so a handler gets it with [`RpcContext::of`].
///
/// # Example
///
/// ```
/// use tracewire_grpc::RpcContext;
///
/// let request = tonic::Request::new(());
/// // Outside a traced server: the current context and the global tracer.
/// let rpc = RpcContext::of(&request);
/// let span = rpc.message_span("process message", 1);
/// drop(span); // ends the child span
/// ```
#[derive(Clone, Debug)]
pub struct RpcContext {
    cx: Context,
    tracer: SharedTracer,
}

impl RpcContext {
    pub(crate) fn new(cx: Context, tracer: SharedTracer) -> Self {
        Self { cx, tracer }
    }

    /// The call's context from `request`'s extensions; outside a traced server, the
    /// current context with the global tracer.
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        Self::from_extensions(request.extensions())
    }

    /// Like [`Self::of`], from `http::Extensions` (for tower services and interceptors).
    pub fn from_extensions(extensions: &http::Extensions) -> Self {
        extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(|| Self::new(Context::current(), SharedTracer::global(scope())))
    }

    /// The call's context: its span is the parent of everything the handler does.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Starts an INTERNAL child span of the call for the message numbered `sequence`
    /// (from 1), with `rpc.message.id` = `sequence`. It ends when dropped.
    pub fn message_span(&self, name: impl Into<Cow<'static, str>>, sequence: u64) -> MessageSpan {
        let builder = SpanBuilder::from_name(name.into())
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new(
                "rpc.message.id",
                i64::try_from(sequence).unwrap_or(i64::MAX),
            )]);
        let span = self.tracer.build_with_context(builder, &self.cx);
        MessageSpan {
            cx: self.cx.with_span(span),
        }
    }

    /// Wraps an inbound message stream (`tonic::Streaming<T>` or any stream of
    /// `Result<T, E>`) so that every message comes with its own [`MessageSpan`], a child
    /// of the call's span named `name`.
    pub fn trace_messages<S>(
        &self,
        stream: S,
        name: impl Into<Cow<'static, str>>,
    ) -> TracedMessages<S> {
        TracedMessages::new(stream, self.clone(), name.into())
    }

    /// Runs `f` for every inbound message, inside its own child span named `name` (the
    /// span's context is current while `f`'s future runs and is also passed to it), and
    /// yields `f`'s results: the seed's `process_stream_request`, as a stream that can
    /// be returned as a server-streaming response. An `Err` from `f` marks its span as
    /// failed and is yielded (tonic then ends the call with that status).
    pub fn process_each<S, F, Fut>(
        &self,
        stream: S,
        name: impl Into<Cow<'static, str>>,
        f: F,
    ) -> ProcessEach<S, F, Fut> {
        ProcessEach::new(stream, self.clone(), name.into(), f)
    }
}

/// The span of one message of a stream; ends when dropped.
#[derive(Debug)]
pub struct MessageSpan {
    cx: Context,
}

impl MessageSpan {
    /// The context holding the span (make it current, or pass it on, while the message
    /// is processed).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Marks the span as failed with `status` (code name in `error.type`).
    pub fn record_error(&self, status: &tonic::Status) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "error.type",
            crate::status::code_name(status.code()),
        ));
        span.set_status(Status::error(status.message().to_owned()));
    }
}

impl Drop for MessageSpan {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}
