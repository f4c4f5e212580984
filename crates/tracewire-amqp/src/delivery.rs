//! [`AmqpDelivery`]: ack, nack (republish with the attempt counted) and reject (dead
//! letter with the reason).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use lapin::Acker;
use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::{AMQPValue, LongString, ShortString};
use tracewire_broker::{AckError, Delivery, Message, Reject};

use crate::broker::Inner;
use crate::codec::{ATTEMPT_HEADER, TOPIC_HEADER, set_header};
use crate::connection::Outgoing;
use crate::dead_letter::{self, Reason};
use crate::error::timed;
use crate::subscription::SubState;

/// A message received from RabbitMQ.
///
/// - [`ack`](Delivery::ack): `basic.ack`;
/// - [`nack`](Delivery::nack): AMQP 0-9-1 only has a `redelivered` flag, so the attempt
///   is counted in a header: the message is republished (confirmed) to the same queue
///   with `x-tracewire-attempt` + 1, then the original is acked. If the republish fails,
///   it falls back to `basic.nack` with requeue (the attempt then counts once more only
///   through the `redelivered` flag). With [`max_deliveries`] set, the last nack
///   dead-letters instead;
/// - [`reject`](AmqpDelivery::reject): dead-letters with the reason in headers.
///
/// A delivery dropped without being settled is nacked (from a task).
///
/// [`max_deliveries`]: crate::AmqpConfig::max_deliveries
pub struct AmqpDelivery {
    message: Message,
    parts: Option<Parts>,
}

struct Parts {
    properties: BasicProperties,
    acker: Acker,
    state: Arc<SubState>,
    inner: Arc<Inner>,
}

impl fmt::Debug for AmqpDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpDelivery")
            .field("message", &self.message)
            .field("settled", &self.parts.is_none())
            .finish()
    }
}

impl AmqpDelivery {
    pub(crate) fn new(
        message: Message,
        properties: BasicProperties,
        acker: Acker,
        state: Arc<SubState>,
        inner: Arc<Inner>,
    ) -> Self {
        state.outstanding.fetch_add(1, Ordering::AcqRel);
        Self {
            message,
            parts: Some(Parts {
                properties,
                acker,
                state,
                inner,
            }),
        }
    }

    /// Dead-letters the message: it is published (confirmed) to the dead-letter
    /// exchange with its original topic as routing key and the headers
    /// `tracewire-dlq-error` = `reason`, `tracewire-dlq-error-kind` = `rejected`,
    /// `tracewire-dlq-attempts` and `tracewire-dlq-original-topic`; then acked. If that
    /// publish fails, `basic.reject` without requeue lets RabbitMQ dead-letter it
    /// (`x-dead-letter-exchange`, reason in `x-death`).
    ///
    /// Cancel-safety: dropping the future may leave the message unsettled (it is then
    /// redelivered) or dead-lettered and still delivered again.
    ///
    /// # Errors
    ///
    /// [`AckError`] when neither way of dead-lettering worked.
    pub async fn reject(mut self, reason: &str) -> Result<(), AckError> {
        match self.parts.take() {
            Some(parts) => parts.reject(&self.message, "rejected", reason).await,
            None => Ok(()),
        }
    }
}

impl Parts {
    async fn ack(self) -> Result<(), AckError> {
        let op = self.inner.config.operation_timeout;
        let result = timed("basic.ack", op, self.acker.ack(BasicAckOptions::default())).await;
        self.settled();
        result.map(drop).map_err(AckError::from)
    }

    async fn nack(self, message: &Message) -> Result<(), AckError> {
        let attempt = message.delivery_attempt;
        if let Some(max) = self.inner.config.max_deliveries
            && attempt >= max
        {
            let reason = format!("delivery {attempt} failed, at most {max} allowed");
            return self.reject(message, "max_deliveries", &reason).await;
        }
        let next = i64::from(attempt.saturating_add(1));
        let properties = set_header(
            self.properties.clone(),
            ATTEMPT_HEADER,
            AMQPValue::LongLongInt(next),
        );
        let topic = AMQPValue::LongString(LongString::from(message.topic.as_str()));
        let out = Outgoing {
            exchange: ShortString::from(""),
            routing_key: self.state.queue.clone(),
            payload: &message.payload,
            properties: set_header(properties, TOPIC_HEADER, topic),
        };
        match self.inner.publish(out).await {
            Ok(()) => self.ack().await,
            Err(error) => {
                tracing::warn!(%error, "republishing a nacked message failed; requeueing it");
                self.requeue().await
            }
        }
    }

    async fn requeue(self) -> Result<(), AckError> {
        let op = self.inner.config.operation_timeout;
        let options = BasicNackOptions {
            multiple: false,
            requeue: true,
        };
        let result = timed("basic.nack", op, self.acker.nack(options)).await;
        self.settled();
        result.map(drop).map_err(AckError::from)
    }

    async fn reject(self, message: &Message, kind: &str, reason: &str) -> Result<(), AckError> {
        let reason = Reason {
            kind,
            error: reason,
            attempts: message.delivery_attempt,
            topic: &message.topic,
        };
        let result = dead_letter::publish_or_reject(
            &self.inner,
            &self.acker,
            &self.properties,
            &message.payload,
            reason,
        )
        .await;
        self.settled();
        result.map_err(AckError::from)
    }

    fn settled(&self) {
        self.state.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Delivery for AmqpDelivery {
    fn message(&self) -> &Message {
        &self.message
    }

    /// Cancel-safety: dropping the future may leave the message unacknowledged (it is
    /// then redelivered when the channel closes).
    async fn ack(mut self) -> Result<(), AckError> {
        match self.parts.take() {
            Some(parts) => parts.ack().await,
            None => Ok(()),
        }
    }

    /// Cancel-safety: dropping the future may leave the message unsettled, or
    /// republished and still unacknowledged (then delivered twice).
    async fn nack(mut self) -> Result<(), AckError> {
        match self.parts.take() {
            Some(parts) => parts.nack(&self.message).await,
            None => Ok(()),
        }
    }
}

impl Reject for AmqpDelivery {
    /// The same as [`AmqpDelivery::reject`].
    async fn reject(self, reason: &str) -> Result<(), AckError> {
        AmqpDelivery::reject(self, reason).await
    }
}

impl Drop for AmqpDelivery {
    fn drop(&mut self) {
        let Some(parts) = self.parts.take() else {
            return;
        };
        let message = std::mem::replace(&mut self.message, Message::new("", ""));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = parts.nack(&message).await;
                });
            }
            // No runtime: the message stays unacked and is redelivered with the channel.
            Err(_) => parts.settled(),
        }
    }
}
