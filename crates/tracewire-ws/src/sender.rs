//! [`WsSender`] and [`Responder`]: sending envelopes through a connection's bounded
//! queue, with trace context injected into each.

use std::sync::Arc;

use opentelemetry::trace::{Link, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::Envelope;
use crate::envelope::ErrorCode;
use crate::metrics::{ConnMetrics, Direction, reason};
use crate::otel::{MESSAGE_TYPES, Telemetry, attr};

/// Initial capacity of an encoded envelope: a typical reply with its trace headers
/// fits, larger ones grow from there.
const ENCODE_CAPACITY: usize = 256;

/// What the session loop takes from the send queue.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(Utf8Bytes),
    Close(u16, String),
}

/// Why an envelope was not queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed (or closing).
    #[error("the WebSocket connection is closed")]
    Closed,
    /// The queue is full ([`WsSender::try_send`] only).
    #[error("the send queue is full")]
    Full,
    /// The serialised envelope exceeds the configured maximum message size.
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Serialised size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The envelope could not be serialised.
    #[error("envelope could not be serialised")]
    Serialize(#[source] serde_json::Error),
}

/// A handle that sends envelopes on one connection. Cheap to clone; usable from any
/// task.
///
/// The queue is bounded ([`WsConfig::send_queue`](crate::WsConfig::send_queue)):
/// when it is full, [`send`](Self::send) waits until the socket has taken an envelope
/// (backpressure, nothing is buffered beyond the bound), and
/// [`try_send`](Self::try_send) returns [`SendError::Full`].
#[derive(Clone, Debug)]
pub struct WsSender {
    tx: mpsc::Sender<Outbound>,
    shared: Arc<SenderShared>,
}

#[derive(Debug)]
struct SenderShared {
    telemetry: Telemetry,
    max_message_size: usize,
    /// The connection span's context: the parent of [`WsSender::send_linked`]'s spans.
    conn_cx: Context,
    /// Counts envelopes refused for their size.
    metrics: Arc<ConnMetrics>,
}

impl WsSender {
    pub(crate) fn new(
        tx: mpsc::Sender<Outbound>,
        telemetry: Telemetry,
        max: usize,
        conn_cx: Context,
        metrics: Arc<ConnMetrics>,
    ) -> Self {
        let shared = Arc::new(SenderShared {
            telemetry,
            max_message_size: max,
            conn_cx,
            metrics,
        });
        Self { tx, shared }
    }

    /// Sends `envelope` with the **current** context ([`Context::current`]) injected
    /// into its headers.
    ///
    /// Cancel-safe: if the future is dropped before it completes, nothing was queued.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`], [`SendError::TooLarge`], [`SendError::Serialize`].
    pub async fn send(&self, envelope: Envelope) -> Result<(), SendError> {
        let cx = Context::current();
        self.send_with_context(envelope, &cx).await
    }

    /// Sends `envelope` with the context `cx` injected into its headers.
    ///
    /// Cancel-safe, like [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_with_context(
        &self,
        envelope: Envelope,
        cx: &Context,
    ) -> Result<(), SendError> {
        let text = self.encode(envelope, cx, Some(self.shared.max_message_size))?;
        self.tx
            .send(Outbound::Text(text))
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Sends `envelope` that the application pushes on its own because of an operation
    /// in **another trace** (`cause`: a status change, a price update), for example from
    /// a broadcast feed.
    ///
    /// Opens a PRODUCER span `send {type}` as a child of the connection span, with a
    /// link to `cause`'s span (when it has a valid one) and the attributes
    /// `websocket.message.type`, `websocket.message.id` and `websocket.message.size`;
    /// the envelope carries that span's context. So the stream stays in the
    /// connection's trace while every message points at the operation that caused it
    /// (the span ends once the envelope is queued; error status when it is not).
    ///
    /// Cancel-safe, like [`send`](Self::send) (a dropped future ends the span unqueued).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_linked(&self, envelope: Envelope, cause: &Context) -> Result<(), SendError> {
        let tracer = &*self.shared.telemetry.tracer;
        let kind = MESSAGE_TYPES.value(&envelope.kind);
        let mut attrs = vec![KeyValue::new(attr::MESSAGE_TYPE, kind)];
        if let Some(id) = &envelope.id {
            attrs.push(KeyValue::new(attr::MESSAGE_ID, id.clone()));
        }
        let mut builder = tracer
            .span_builder(MESSAGE_TYPES.name("send", &envelope.kind))
            .with_kind(SpanKind::Producer)
            .with_attributes(attrs);
        let caused_by = cause.span().span_context().clone();
        if caused_by.is_valid() {
            builder = builder.with_links(vec![Link::with_context(caused_by)]);
        }
        let cx = self
            .shared
            .conn_cx
            .with_span(builder.start_with_context(tracer, &self.shared.conn_cx));
        let span = cx.span();
        let queued = match self.encode(envelope, &cx, Some(self.shared.max_message_size)) {
            Ok(text) => {
                let size = i64::try_from(text.len()).unwrap_or(i64::MAX);
                span.set_attribute(KeyValue::new(attr::MESSAGE_SIZE, size));
                self.tx
                    .send(Outbound::Text(text))
                    .await
                    .map_err(|_| SendError::Closed)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &queued {
            span.set_status(Status::error(error.to_string()));
        }
        span.end();
        queued
    }

    /// Queues `envelope` (current context injected) without waiting.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] when the queue is at its bound, and the errors of
    /// [`send`](Self::send).
    pub fn try_send(&self, envelope: Envelope) -> Result<(), SendError> {
        let text = self.encode(
            envelope,
            &Context::current(),
            Some(self.shared.max_message_size),
        )?;
        self.tx.try_send(Outbound::Text(text)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Asks the connection to close with `code` and `reason` (after the envelopes
    /// already queued).
    ///
    /// Cancel-safe: if dropped before completion, no close was queued.
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the connection is already closed.
    pub async fn close(&self, code: u16, reason: impl Into<String>) -> Result<(), SendError> {
        self.tx
            .send(Outbound::Close(code, reason.into()))
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Envelopes queued and not yet taken by the socket (never more than
    /// [`max_queued`](Self::max_queued)).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The bound of the send queue.
    pub fn max_queued(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Injects `cx` and serialises, refusing texts longer than `limit`.
    pub(crate) fn encode(
        &self,
        mut envelope: Envelope,
        cx: &Context,
        limit: Option<usize>,
    ) -> Result<Utf8Bytes, SendError> {
        self.shared
            .telemetry
            .propagation
            .inject(cx, &mut envelope.headers);
        // Sized up front: from empty, `to_string` reallocates (and copies) four or five
        // times on the way to a typical envelope's ~150-250 bytes.
        let mut buf = Vec::with_capacity(ENCODE_CAPACITY);
        serde_json::to_writer(&mut buf, &envelope).map_err(SendError::Serialize)?;
        // serde_json writes UTF-8 only; the check is a cheap guard, never an error.
        let text = String::from_utf8(buf)
            .map_err(|e| SendError::Serialize(serde::ser::Error::custom(e.utf8_error())))?;
        if let Some(max) = limit.filter(|max| text.len() > *max) {
            self.shared
                .metrics
                .rejected(Direction::Transmit, reason::TOO_BIG);
            return Err(SendError::TooLarge {
                size: text.len(),
                max,
            });
        }
        Ok(Utf8Bytes::from(text))
    }
}

/// Sends replies to one inbound message, in that message's trace: every envelope sent
/// through it carries the message span's context, whichever task sends it. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Responder {
    sender: WsSender,
    cx: Context,
    id: Option<String>,
}

impl Responder {
    pub(crate) fn new(sender: WsSender, cx: Context, id: Option<String>) -> Self {
        Self { sender, cx, id }
    }

    /// Sends an envelope of type `kind` with `data`, correlated to the message (same
    /// `id`).
    ///
    /// Cancel-safe, like [`WsSender::send`].
    ///
    /// # Errors
    ///
    /// As [`WsSender::send`].
    pub async fn reply(&self, kind: impl Into<String>, data: Value) -> Result<(), SendError> {
        let mut envelope = Envelope::new(kind, data);
        envelope.id.clone_from(&self.id);
        self.send(envelope).await
    }

    /// Sends an error reply (`type` = `error`, correlated to the message).
    ///
    /// Cancel-safe, like [`WsSender::send`].
    ///
    /// # Errors
    ///
    /// As [`WsSender::send`].
    pub async fn reply_error(
        &self,
        code: ErrorCode,
        reason: impl Into<String>,
    ) -> Result<(), SendError> {
        self.send(Envelope::error(self.id.clone(), code, reason))
            .await
    }

    /// Sends `envelope` as is (its own id) in the message's trace.
    ///
    /// Cancel-safe, like [`WsSender::send`].
    ///
    /// # Errors
    ///
    /// As [`WsSender::send`].
    pub async fn send(&self, envelope: Envelope) -> Result<(), SendError> {
        self.sender.send_with_context(envelope, &self.cx).await
    }

    /// The id of the message being answered.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The message span's context (for work spawned past the handler).
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The connection's sender (injects the context current at each send).
    pub fn sender(&self) -> &WsSender {
        &self.sender
    }
}
