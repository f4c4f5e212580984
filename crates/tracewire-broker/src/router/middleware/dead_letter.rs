//! [`DeadLetter`]: after the last attempt, the message goes to a dead-letter topic.

use std::sync::Arc;

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::router::{BoxHandler, Middleware};
use crate::{Broker, Message};

/// Header: the error text of the last failure.
pub const DLQ_ERROR_HEADER: &str = "tracewire-dlq-error";
/// Header: the error kind (`failed`, `permanent`, `timeout`, `panic`, `decode`, ...).
pub const DLQ_ERROR_KIND_HEADER: &str = "tracewire-dlq-error-kind";
/// Header: the delivery attempt that failed last.
pub const DLQ_ATTEMPTS_HEADER: &str = "tracewire-dlq-attempts";
/// Header: the topic the message was consumed from.
pub const DLQ_TOPIC_HEADER: &str = "tracewire-dlq-original-topic";

/// Publishes a failed message to `topic` once its delivery attempt reaches
/// `max_attempts` (or at once for a [permanent](crate::router::HandlerError::Permanent) error), with
/// the error, the attempt count and the original topic in headers; the original is then
/// acked. Earlier failures are returned (nack, so the broker redelivers). If the
/// dead-letter publish fails, the original error is returned: nothing is lost.
#[derive(Clone, Debug)]
pub struct DeadLetter<B> {
    broker: B,
    topic: String,
    max_attempts: u32,
}

impl<B: Broker> DeadLetter<B> {
    /// Dead-letters to `topic` on `broker` after `max_attempts` deliveries.
    pub fn new(broker: B, topic: impl Into<String>, max_attempts: u32) -> Self {
        Self {
            broker,
            topic: topic.into(),
            max_attempts: max_attempts.max(1),
        }
    }
}

/// The dead-letter copy of `msg` for `dlq_topic`: same id, payload and headers (so the
/// trace continues), plus the reason headers.
pub fn dead_letter_message(msg: &Message, dlq_topic: &str, kind: &str, error: &str) -> Message {
    let mut dead = msg.clone();
    dead.topic = dlq_topic.to_owned();
    dead.delivery_attempt = 1;
    dead.headers.insert(DLQ_ERROR_HEADER, error);
    dead.headers.insert(DLQ_ERROR_KIND_HEADER, kind);
    dead.headers
        .insert(DLQ_ATTEMPTS_HEADER, msg.delivery_attempt.to_string());
    dead.headers.insert(DLQ_TOPIC_HEADER, msg.topic.clone());
    dead
}

impl<B: Broker> Middleware for DeadLetter<B> {
    fn wrap(&self, next: BoxHandler) -> BoxHandler {
        let this = self.clone();
        Arc::new(move |msg: Message| {
            let next = Arc::clone(&next);
            let this = this.clone();
            Box::pin(async move {
                let err = match next(msg.clone()).await {
                    Ok(produced) => return Ok(produced),
                    Err(err) => err,
                };
                if !err.is_permanent() && msg.delivery_attempt < this.max_attempts {
                    return Err(err);
                }
                // The processing failed even though the message is now settled: say so on
                // the current (`process`) span.
                {
                    let cx = Context::current();
                    let span = cx.span();
                    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, err.kind()));
                    span.set_status(Status::error(err.to_string()));
                    let topic = KeyValue::new("tracewire.dlq.topic", this.topic.clone());
                    span.add_event("message dead-lettered", vec![topic]);
                }
                let dead = dead_letter_message(&msg, &this.topic, err.kind(), &err.to_string());
                match this.broker.publish(dead).await {
                    Ok(()) => Ok(Vec::new()),
                    Err(_) => Err(err),
                }
            })
        })
    }
}
