//! One inbound text message: parse, open its `process {type}` span, run the handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Link, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, Value};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::run::Driver;
use crate::envelope::{ErrorCode, Rejection};
use crate::metrics::{Direction, MessageAttrs};
use crate::otel::{MESSAGE_TYPES, attr};
use crate::{Envelope, Handler, Responder};

/// Longest `reason` (characters) of an error reply for a rejected message.
const MAX_REASON_CHARS: usize = 200;

/// A running handler (owned, so the loop can poll it next to the socket).
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl<H: Handler> Driver<H> {
    /// Parses `text` and starts its handler, or returns why it was rejected.
    pub(crate) fn dispatch(&self, text: &str) -> Result<HandlerFuture, Rejection> {
        let started = Instant::now();
        let envelope = Envelope::parse(text)?;
        let metrics = Arc::clone(self.open.metrics());
        let attrs = metrics.message(&envelope.kind);
        let cx = self.message_context(&envelope, &attrs, text.len());
        let responder = Responder::new(self.sender.clone(), cx.clone(), envelope.id.clone());
        let handler = Arc::clone(&self.handler);
        Ok(Box::pin(async move {
            let result = handler
                .call(envelope, responder.clone())
                .with_context(cx.clone())
                .await;
            let span = cx.span();
            let failed = result.is_err();
            if let Err(err) = result {
                let reason = err.to_string();
                span.set_attribute(KeyValue::new(
                    attr::ERROR_TYPE,
                    ErrorCode::HandlerError.as_str(),
                ));
                span.set_status(Status::error(reason.clone()));
                // A closed connection cannot take the error reply; the span says why.
                let _ = responder.reply_error(ErrorCode::HandlerError, reason).await;
            }
            span.end();
            metrics.processed(started, &attrs, failed);
        }))
    }

    /// Opens the message's span: in the envelope's own trace when it carries one
    /// (linked to the connection span), else a child of the connection span.
    fn message_context(&self, envelope: &Envelope, types: &MessageAttrs, size: usize) -> Context {
        let extracted = self
            .telemetry
            .propagation
            .extract_with(&self.conn_cx, &envelope.headers);
        let conn_sc = self.conn_cx.span().span_context().clone();
        let own_trace = {
            let sc = extracted.span().span_context().clone();
            sc.is_valid() && sc != conn_sc
        };
        let tracer = &*self.telemetry.tracer;
        let mut attrs = Vec::with_capacity(3);
        // The type's metric attribute value, shared (no copy) when the session has it,
        // else the process-wide interned one.
        let kind = types
            .kind
            .clone()
            .unwrap_or_else(|| MESSAGE_TYPES.value(&envelope.kind));
        attrs.push(KeyValue::new(attr::MESSAGE_TYPE, Value::String(kind)));
        attrs.push(KeyValue::new(
            attr::MESSAGE_SIZE,
            i64::try_from(size).unwrap_or(i64::MAX),
        ));
        if let Some(id) = &envelope.id {
            attrs.push(KeyValue::new(attr::MESSAGE_ID, id.clone()));
        }
        let mut builder = tracer
            .span_builder(MESSAGE_TYPES.name("process", &envelope.kind))
            .with_kind(SpanKind::Consumer)
            .with_attributes(attrs);
        if own_trace && conn_sc.is_valid() {
            builder = builder.with_links(vec![Link::with_context(conn_sc)]);
        }
        let span = builder.start_with_context(tracer, &extracted);
        extracted.with_span(span)
    }

    /// Records a rejected message on the connection span and builds the error reply.
    pub(crate) fn reject(&self, rejection: Rejection) -> Option<Utf8Bytes> {
        self.open
            .metrics()
            .rejected(Direction::Receive, rejection.code.as_str());
        let span = self.conn_cx.span();
        span.add_event(
            "websocket.message.rejected",
            vec![
                KeyValue::new(attr::ERROR_TYPE, rejection.code.as_str()),
                KeyValue::new("exception.message", rejection.reason.clone()),
            ],
        );
        let reason: String = rejection.reason.chars().take(MAX_REASON_CHARS).collect();
        let reply = Envelope::error(rejection.id, rejection.code, reason);
        // Error replies are ours and short: the message size limit does not apply.
        self.sender.encode(reply, &self.conn_cx, None).ok()
    }
}
