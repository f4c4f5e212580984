//! WebSocket metrics, recorded through the OpenTelemetry metrics API for every
//! connection a [`Session`](crate::Session) runs (server and client).
//!
//! There are no stable semantic conventions for WebSocket, so the instruments are
//! named `tracewire.websocket.*` (shaped after the messaging conventions:
//! `messaging.process.duration`, `messaging.client.sent.messages`):
//!
//! | instrument | kind | unit | attributes | recorded |
//! |---|---|---|---|---|
//! | [`tracewire.websocket.connection.active`](CONNECTION_ACTIVE) | up-down counter | `{connection}` | base | +1 when the connection opens, -1 when it ends |
//! | [`tracewire.websocket.connection.duration`](CONNECTION_DURATION) | histogram | `s` | base, `websocket.close.code`, `error.type` | when the connection ends; from the connection span's start (on the client that includes the handshake; a failed handshake is recorded with `error.type` only) |
//! | [`tracewire.websocket.process.duration`](PROCESS_DURATION) | histogram | `s` | base, `websocket.message.type`, `websocket.message.outcome`, `error.type` | when the handler of an inbound envelope has finished |
//! | [`tracewire.websocket.received.messages`](RECEIVED_MESSAGES) | counter | `{message}` | base | per data message (text or binary) read from the socket |
//! | [`tracewire.websocket.sent.messages`](SENT_MESSAGES) | counter | `{message}` | base | per envelope written to the socket (replies, pushes, error replies) |
//! | [`tracewire.websocket.rejected.messages`](REJECTED_MESSAGES) | counter | `{message}` | base, `error.type`, `network.io.direction` | per message refused: bad input or a size limit |
//! | [`tracewire.websocket.unhandled.messages`](UNHANDLED_MESSAGES) | counter | `{message}` | base | messages received before the connection ended and not handled within `close_timeout` |
//!
//! Attributes:
//!
//! * base: `websocket.role` (`server` or `client`), and the route template when the
//!   connection has one: `http.route` on the server ([`Session::route`](crate::Session::route)
//!   with axum's matched path, [`Session::upgrade`](crate::Session::upgrade) with
//!   `Some(route)`, [`ConnectionMeta::server`](crate::ConnectionMeta::server)),
//!   `url.template` on the client ([`Session::connect_route`](crate::Session::connect_route)).
//!   Raw paths (which may hold ids) are never used.
//! * `websocket.close.code`: the close code ([`CloseInfo::code`](crate::CloseInfo));
//!   `error.type` is that code as a string when it is not
//!   [normal](crate::close_code::is_normal), `cancelled` when the connection's future
//!   was dropped before it ended, `handshake` or `timeout` when a client handshake failed.
//! * `websocket.message.type`: the envelope's `type`. A peer chooses it, so at most
//!   [`MAX_MESSAGE_TYPES`] distinct types per session are recorded as themselves; later
//!   new ones are recorded as [`OTHER_MESSAGE_TYPE`] (spans always carry the real type).
//! * `websocket.message.outcome`: `ok`, or `error` when the handler returned `Err` (then
//!   also `error.type` = `handler_error`).
//! * rejections: `error.type` is the reason, `malformed_json`, `invalid_envelope` (the
//!   codes of the error reply), `message_too_big` (inbound: closed with 1009; outbound:
//!   [`SendError::TooLarge`](crate::SendError::TooLarge)) or `binary_message` (closed
//!   with 1003); `network.io.direction` is `receive` or `transmit`.
//!
//! The meter comes from [`Session::meter_provider`](crate::Session::meter_provider), else
//! from the global meter provider when the session is created. Pass
//! `opentelemetry::metrics::NoopMeterProvider` to record nothing.
//!
//! Cost: the attribute sets are built once per connection (and once per message type
//! per connection), and each is bound to its series on first use
//! (`Histogram::bind`, `Counter::bind`), so a message costs a few atomic updates: no
//! allocation, no attribute hashing. Bound instruments need an OpenTelemetry SDK (this
//! crate turns the SDK feature on); a hand-written `MeterProvider` that does not
//! implement `bind` gets no-op bound instruments, and so no per-message metrics.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use opentelemetry::metrics::{
    BoundCounter, BoundHistogram, Counter, Histogram, Meter, UpDownCounter,
};
use opentelemetry::{KeyValue, StringValue, Value};

use crate::close_code;
use crate::otel::attr;

/// `tracewire.websocket.connection.active`: open connections.
pub const CONNECTION_ACTIVE: &str = "tracewire.websocket.connection.active";
/// `tracewire.websocket.connection.duration`: how long connections lasted.
pub const CONNECTION_DURATION: &str = "tracewire.websocket.connection.duration";
/// `tracewire.websocket.process.duration`: time to handle one inbound envelope.
pub const PROCESS_DURATION: &str = "tracewire.websocket.process.duration";
/// `tracewire.websocket.received.messages`: data messages read.
pub const RECEIVED_MESSAGES: &str = "tracewire.websocket.received.messages";
/// `tracewire.websocket.sent.messages`: envelopes written.
pub const SENT_MESSAGES: &str = "tracewire.websocket.sent.messages";
/// `tracewire.websocket.rejected.messages`: malformed messages and size-limit breaches.
pub const REJECTED_MESSAGES: &str = "tracewire.websocket.rejected.messages";
/// `tracewire.websocket.unhandled.messages`: received, not handled before the end.
pub const UNHANDLED_MESSAGES: &str = "tracewire.websocket.unhandled.messages";

/// Bucket boundaries (seconds) of the connection duration: connections live from
/// milliseconds to days.
pub const CONNECTION_DURATION_BUCKETS: [f64; 16] = [
    0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0,
    28800.0, 86400.0,
];

/// Bucket boundaries (seconds) of the processing duration: the HTTP request-duration
/// buckets, with finer ones below 5 ms (handlers often take well under a millisecond).
pub const PROCESS_DURATION_BUCKETS: [f64; 18] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
    5.0, 7.5, 10.0,
];

/// Distinct `websocket.message.type` values a session records as themselves.
pub const MAX_MESSAGE_TYPES: usize = 128;

/// The `websocket.message.type` of types past [`MAX_MESSAGE_TYPES`].
pub const OTHER_MESSAGE_TYPE: &str = "_OTHER";

/// Per-connection cache bound: admitted types plus a few refused ones.
const MAX_CACHED_TYPES: usize = MAX_MESSAGE_TYPES + 32;

/// `error.type` of a rejected message.
pub(crate) mod reason {
    pub(crate) const TOO_BIG: &str = "message_too_big";
    pub(crate) const BINARY: &str = "binary_message";
}

/// `network.io.direction` of a rejection.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Direction {
    Receive,
    Transmit,
}

/// The instruments of one session (shared by its connections), and the message types
/// it has admitted as attribute values.
#[derive(Debug)]
pub(crate) struct SessionMetrics {
    active: UpDownCounter<i64>,
    connection_duration: Histogram<f64>,
    process_duration: Histogram<f64>,
    received: Counter<u64>,
    sent: Counter<u64>,
    rejected: Counter<u64>,
    unhandled: Counter<u64>,
    types: Mutex<HashSet<Arc<str>>>,
}

impl SessionMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        let messages = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_unit("{message}")
                .with_description(description)
                .build()
        };
        Self {
            active: meter
                .i64_up_down_counter(CONNECTION_ACTIVE)
                .with_unit("{connection}")
                .with_description("Number of open WebSocket connections.")
                .build(),
            connection_duration: meter
                .f64_histogram(CONNECTION_DURATION)
                .with_unit("s")
                .with_description("Duration of WebSocket connections, until they closed.")
                .with_boundaries(CONNECTION_DURATION_BUCKETS.to_vec())
                .build(),
            process_duration: meter
                .f64_histogram(PROCESS_DURATION)
                .with_unit("s")
                .with_description("Duration of handling one inbound WebSocket envelope.")
                .with_boundaries(PROCESS_DURATION_BUCKETS.to_vec())
                .build(),
            received: messages(RECEIVED_MESSAGES, "WebSocket data messages received."),
            sent: messages(SENT_MESSAGES, "WebSocket envelopes sent."),
            rejected: messages(
                REJECTED_MESSAGES,
                "WebSocket messages refused: malformed, or over a size limit.",
            ),
            unhandled: messages(
                UNHANDLED_MESSAGES,
                "WebSocket messages received but not handled before the connection ended.",
            ),
            types: Mutex::new(HashSet::new()),
        }
    }

    /// `kind` as an attribute value, if the session has room for it (or has it).
    fn admit(&self, kind: &str) -> Option<Arc<str>> {
        let mut types = self.types.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = types.get(kind) {
            return Some(Arc::clone(known));
        }
        if types.len() >= MAX_MESSAGE_TYPES {
            return None;
        }
        let kind: Arc<str> = Arc::from(kind);
        types.insert(Arc::clone(&kind));
        Some(kind)
    }

    /// A client handshake that failed: no connection was open, only its duration.
    #[cfg(feature = "client")]
    pub(crate) fn handshake_failed(
        &self,
        base: &[KeyValue],
        started: Instant,
        error_type: &'static str,
    ) {
        let mut attrs = base.to_vec();
        attrs.push(KeyValue::new(attr::ERROR_TYPE, error_type));
        self.connection_duration
            .record(started.elapsed().as_secs_f64(), &attrs);
    }
}

/// The attribute sets of one message type on one connection.
#[derive(Debug)]
pub(crate) struct MessageAttrs {
    /// The admitted type, shared with the span attribute (`None` for `_OTHER`).
    pub(crate) kind: Option<StringValue>,
    ok: Box<[KeyValue]>,
    error: Box<[KeyValue]>,
    /// `ok` and `error` bound to their series, on first use (a bound series is
    /// exported even before its first measurement, so never bind ahead).
    ok_series: OnceLock<BoundHistogram<f64>>,
    error_series: OnceLock<BoundHistogram<f64>>,
}

impl MessageAttrs {
    fn new(base: &[KeyValue], kind: Option<StringValue>) -> Self {
        let value = kind
            .clone()
            .map_or(Value::from(OTHER_MESSAGE_TYPE), Value::String);
        let mut ok = base.to_vec();
        ok.push(KeyValue::new(attr::MESSAGE_TYPE, value));
        let mut error = ok.clone();
        ok.push(KeyValue::new(attr::MESSAGE_OUTCOME, "ok"));
        error.push(KeyValue::new(attr::MESSAGE_OUTCOME, "error"));
        error.push(KeyValue::new(
            attr::ERROR_TYPE,
            crate::ErrorCode::HandlerError.as_str(),
        ));
        Self {
            kind,
            ok: ok.into(),
            error: error.into(),
            ok_series: OnceLock::new(),
            error_series: OnceLock::new(),
        }
    }
}

/// One connection's attribute sets, shared by its loop and its senders.
#[derive(Debug)]
pub(crate) struct ConnMetrics {
    session: Arc<SessionMetrics>,
    base: Box<[KeyValue]>,
    /// `received` and `sent` bound to the base attributes, on first use.
    received_series: OnceLock<BoundCounter<u64>>,
    sent_series: OnceLock<BoundCounter<u64>>,
    other: Arc<MessageAttrs>,
    types: Mutex<HashMap<Arc<str>, Arc<MessageAttrs>>>,
}

impl ConnMetrics {
    pub(crate) fn new(session: Arc<SessionMetrics>, base: Box<[KeyValue]>) -> Self {
        Self {
            other: Arc::new(MessageAttrs::new(&base, None)),
            session,
            base,
            received_series: OnceLock::new(),
            sent_series: OnceLock::new(),
            types: Mutex::new(HashMap::new()),
        }
    }

    /// The attribute sets of messages of type `kind` (built on its first message).
    pub(crate) fn message(&self, kind: &str) -> Arc<MessageAttrs> {
        let mut cache = self.types.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(attrs) = cache.get(kind) {
            return Arc::clone(attrs);
        }
        let attrs = match self.session.admit(kind) {
            Some(kind) => Arc::new(MessageAttrs::new(&self.base, Some(kind.into()))),
            None => Arc::clone(&self.other),
        };
        if cache.len() < MAX_CACHED_TYPES {
            cache.insert(Arc::from(kind), Arc::clone(&attrs));
        }
        attrs
    }

    /// An envelope's handler has finished.
    pub(crate) fn processed(&self, started: Instant, attrs: &MessageAttrs, failed: bool) {
        let (set, series) = if failed {
            (&attrs.error, &attrs.error_series)
        } else {
            (&attrs.ok, &attrs.ok_series)
        };
        series
            .get_or_init(|| self.session.process_duration.bind(set))
            .record(started.elapsed().as_secs_f64());
    }

    /// A data message was read.
    pub(crate) fn received(&self) {
        self.received_series
            .get_or_init(|| self.session.received.bind(&self.base))
            .add(1);
    }

    /// `n` envelopes were written.
    pub(crate) fn sent(&self, n: usize) {
        if n > 0 {
            let n = u64::try_from(n).unwrap_or(u64::MAX);
            self.sent_series
                .get_or_init(|| self.session.sent.bind(&self.base))
                .add(n);
        }
    }

    /// A message was refused (`reason` is its `error.type`).
    pub(crate) fn rejected(&self, direction: Direction, reason: &'static str) {
        let mut attrs = Vec::with_capacity(self.base.len() + 2);
        attrs.extend_from_slice(&self.base);
        attrs.push(KeyValue::new(attr::ERROR_TYPE, reason));
        attrs.push(KeyValue::new(
            attr::IO_DIRECTION,
            match direction {
                Direction::Receive => "receive",
                Direction::Transmit => "transmit",
            },
        ));
        self.session.rejected.add(1, &attrs);
    }

    /// `n` received messages were left unhandled when the connection ended.
    pub(crate) fn unhandled(&self, n: u64) {
        self.session.unhandled.add(n, &self.base);
    }
}

/// An open connection: counted in `connection.active` from creation until
/// [`closed`](Self::closed) or drop (a dropped connection future), which records its
/// duration.
#[derive(Debug)]
pub(crate) struct OpenConnection {
    metrics: Arc<ConnMetrics>,
    started: Instant,
    ended: bool,
}

impl OpenConnection {
    /// Counts the connection as open; `started` is when its span started.
    pub(crate) fn open(metrics: Arc<ConnMetrics>, started: Instant) -> Self {
        metrics.session.active.add(1, &metrics.base);
        Self {
            metrics,
            started,
            ended: false,
        }
    }

    /// The connection's metrics (shared with its senders).
    pub(crate) fn metrics(&self) -> &Arc<ConnMetrics> {
        &self.metrics
    }

    /// The connection ended with close `code`.
    pub(crate) fn closed(&mut self, code: u16) {
        let error = (!close_code::is_normal(code)).then(|| Value::from(code.to_string()));
        self.end(Some(code), error);
    }

    fn end(&mut self, code: Option<u16>, error: Option<Value>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let metrics = &self.metrics;
        metrics.session.active.add(-1, &metrics.base);
        let mut attrs = Vec::with_capacity(metrics.base.len() + 2);
        attrs.extend_from_slice(&metrics.base);
        if let Some(code) = code {
            attrs.push(KeyValue::new(attr::CLOSE_CODE, i64::from(code)));
        }
        if let Some(error) = error {
            attrs.push(KeyValue::new(attr::ERROR_TYPE, error));
        }
        metrics
            .session
            .connection_duration
            .record(self.started.elapsed().as_secs_f64(), &attrs);
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.end(None, Some(Value::from("cancelled")));
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    use super::*;

    fn connection(session: &Arc<SessionMetrics>) -> ConnMetrics {
        let base: Box<[KeyValue]> = Box::new([KeyValue::new(attr::ROLE, "server")]);
        ConnMetrics::new(Arc::clone(session), base)
    }

    fn type_of(attrs: &MessageAttrs) -> Option<Value> {
        attrs
            .ok
            .iter()
            .find(|kv| kv.key.as_str() == attr::MESSAGE_TYPE)
            .map(|kv| kv.value.clone())
    }

    #[test]
    fn message_types_past_the_session_bound_are_other() {
        let provider = SdkMeterProvider::builder().build();
        let session = Arc::new(SessionMetrics::new(&provider.meter("test")));
        let (a, b) = (connection(&session), connection(&session));
        for n in 0..MAX_MESSAGE_TYPES {
            let attrs = a.message(&format!("t{n}"));
            assert_eq!(type_of(&attrs), Some(Value::from(format!("t{n}"))));
            assert!(attrs.kind.is_some());
        }
        // The session is full: a new type is `_OTHER` on every connection ...
        let late = b.message("late");
        assert_eq!(type_of(&late), Some(Value::from(OTHER_MESSAGE_TYPE)));
        assert!(late.kind.is_none(), "spans keep the real type");
        assert_eq!(type_of(&a.message("late")), type_of(&late));
        // ... while the admitted ones stay themselves, on other connections too.
        assert_eq!(type_of(&b.message("t3")), Some(Value::from("t3")));
        // Cached per connection: the same attribute sets each time.
        assert!(Arc::ptr_eq(&a.message("t5"), &a.message("t5")));
    }

    #[test]
    fn outcome_sets_differ_only_in_outcome_and_error_type() {
        let provider = SdkMeterProvider::builder().build();
        let session = Arc::new(SessionMetrics::new(&provider.meter("test")));
        let attrs = connection(&session).message("say");
        let keys = |set: &[KeyValue]| set.iter().map(|kv| kv.key.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keys(&attrs.ok),
            [
                "websocket.role",
                "websocket.message.type",
                "websocket.message.outcome"
            ]
        );
        assert_eq!(
            keys(&attrs.error),
            [
                "websocket.role",
                "websocket.message.type",
                "websocket.message.outcome",
                "error.type"
            ]
        );
    }
}
