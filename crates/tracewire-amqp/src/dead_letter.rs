//! Dead-lettering: publish to `{exchange}.dlx` with the reason in headers, falling back
//! to `basic.reject` (RabbitMQ then dead-letters through `x-dead-letter-exchange`).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use lapin::Acker;
use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use tracewire_broker::router::middleware::{
    DLQ_ATTEMPTS_HEADER, DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};

use crate::AmqpError;
use crate::broker::Inner;
use crate::codec::{ATTEMPT_HEADER, encode_short, is_reserved, set_header};
use crate::connection::Outgoing;
use crate::error::timed;

/// Why a message is dead-lettered.
pub(crate) struct Reason<'a> {
    /// `rejected`, `max_deliveries`, `decode`.
    pub(crate) kind: &'a str,
    pub(crate) error: &'a str,
    pub(crate) attempts: u32,
    pub(crate) topic: &'a str,
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// Publishes the message with the reason headers to the dead-letter exchange (routing
/// key: its topic), then acks it; if the publish fails, rejects it without requeue.
pub(crate) async fn publish_or_reject(
    inner: &Inner,
    acker: &Acker,
    properties: &BasicProperties,
    payload: &[u8],
    reason: Reason<'_>,
) -> Result<(), AmqpError> {
    let op = inner.config.operation_timeout;
    let mut props = properties.clone();
    for (name, value) in [
        (DLQ_ERROR_HEADER, text(reason.error)),
        (DLQ_ERROR_KIND_HEADER, text(reason.kind)),
        (DLQ_ATTEMPTS_HEADER, text(&reason.attempts.to_string())),
        (DLQ_TOPIC_HEADER, text(reason.topic)),
        (ATTEMPT_HEADER, AMQPValue::LongLongInt(1)),
    ] {
        props = set_header(props, name, value);
    }
    let published = match encode_short("topic", reason.topic) {
        Ok(routing_key) => {
            let out = Outgoing {
                exchange: inner.dead_letter_exchange.clone(),
                routing_key,
                payload,
                properties: props,
            };
            inner.publish(out).await
        }
        Err(err) => Err(err),
    };
    match published {
        Ok(()) => timed("basic.ack", op, acker.ack(BasicAckOptions::default()))
            .await
            .map(drop),
        Err(error) => {
            tracing::warn!(%error, "dead-letter publish failed; rejecting to the queue's DLX");
            let reject = acker.reject(BasicRejectOptions { requeue: false });
            timed("basic.reject", op, reject).await.map(drop)
        }
    }
}

/// A delivery that could not be decoded into a `Message`.
pub(crate) struct Undecodable {
    pub(crate) topic: String,
    pub(crate) properties: BasicProperties,
    pub(crate) payload: Bytes,
    pub(crate) acker: Acker,
    pub(crate) reason: String,
}

/// Dead-letters an undecodable delivery (kind `decode`), keeping its raw headers.
pub(crate) async fn undecodable(inner: &Inner, msg: Undecodable) {
    if inner.closed.load(Ordering::Acquire) && !inner.session.connected() {
        return;
    }
    let reason = Reason {
        kind: "decode",
        error: &msg.reason,
        attempts: 1,
        topic: &msg.topic,
    };
    let properties = sanitize(&msg.properties);
    let result = publish_or_reject(inner, &msg.acker, &properties, &msg.payload, reason).await;
    if let Err(error) = result {
        tracing::warn!(%error, "could not dead-letter an undecodable message; it stays unacked");
    }
}

/// The properties with what made the message undecodable moved aside, so that the dead
/// letter itself can be consumed: a reserved header that is not a string moves to
/// `x-invalid-{name}`, a content encoding to the header `x-original-content-encoding`.
fn sanitize(properties: &BasicProperties) -> BasicProperties {
    let mut props = properties.clone();
    if let Some(table) = properties.headers() {
        let mut clean = FieldTable::default();
        for (name, value) in table.inner() {
            let ok = matches!(value, AMQPValue::ShortString(_))
                || matches!(value, AMQPValue::LongString(s) if std::str::from_utf8(s.as_bytes()).is_ok());
            let name = if is_reserved(name.as_str()) && !ok {
                ShortString::try_new(format!("x-invalid-{name}")).unwrap_or_else(|_| name.clone())
            } else {
                name.clone()
            };
            clean.insert(name, value.clone());
        }
        props = props.with_headers(clean);
    }
    if let Some(encoding) = properties.content_encoding() {
        props = set_header(
            props,
            "x-original-content-encoding",
            text(encoding.as_str()),
        )
        .with_content_encoding(ShortString::from("identity"));
    }
    props
}
