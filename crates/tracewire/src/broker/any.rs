//! [`AnyBroker`]: the backend chosen on the command line, as one type.
//!
//! The [`Broker`] trait returns `impl Future`, so it is not object safe; the services
//! are generic over it. An enum over the backends keeps one instantiation of every
//! service (rather than one per backend) and costs one `match` per call.

use opentelemetry::Context;
#[cfg(feature = "amqp")]
use tracewire_amqp::{AmqpBroker, AmqpDelivery, AmqpSubscription};
use tracewire_broker::memory::{MemoryBroker, MemoryDelivery, MemorySubscription};
use tracewire_broker::{
    AckError, Broker, CloseError, Delivery, Guarantees, Message, PublishError, Reject, Responders,
    SubscribeError, SubscribeOptions, Subscription,
};
#[cfg(feature = "nats")]
use tracewire_nats::{NatsBroker, NatsDelivery, NatsSubscription};

/// Runs `$body` with `$x` bound to the inner value of whichever variant `$value` is.
macro_rules! each {
    ($ty:ident, $value:expr, $x:ident => $body:expr) => {
        match $value {
            $ty::Memory($x) => $body,
            #[cfg(feature = "nats")]
            $ty::Nats($x) => $body,
            #[cfg(feature = "amqp")]
            $ty::Amqp($x) => $body,
        }
    };
}

/// One of the backends this build has.
#[derive(Clone, Debug)]
pub(crate) enum AnyBroker {
    /// The embedded broker.
    Memory(MemoryBroker),
    /// NATS (JetStream for every topic but reply inboxes).
    #[cfg(feature = "nats")]
    Nats(NatsBroker),
    /// RabbitMQ.
    #[cfg(feature = "amqp")]
    Amqp(AmqpBroker),
}

/// A subscription of an [`AnyBroker`].
#[derive(Debug)]
pub(crate) enum AnySubscription {
    Memory(MemorySubscription),
    #[cfg(feature = "nats")]
    Nats(NatsSubscription),
    #[cfg(feature = "amqp")]
    Amqp(AmqpSubscription),
}

/// A delivery of an [`AnyBroker`].
#[derive(Debug)]
pub(crate) enum AnyDelivery {
    Memory(MemoryDelivery),
    #[cfg(feature = "nats")]
    Nats(NatsDelivery),
    /// Boxed: an AMQP delivery is more than twice the size of the others.
    #[cfg(feature = "amqp")]
    Amqp(Box<AmqpDelivery>),
}

impl Broker for AnyBroker {
    type Subscription = AnySubscription;
    type Delivery = AnyDelivery;

    fn system(&self) -> &'static str {
        each!(Self, self, b => b.system())
    }

    fn guarantees(&self) -> Guarantees {
        each!(Self, self, b => b.guarantees())
    }

    async fn publish(&self, msg: Message) -> Result<(), PublishError> {
        each!(Self, self, b => b.publish(msg).await)
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<AnySubscription, SubscribeError> {
        Ok(match self {
            Self::Memory(b) => AnySubscription::Memory(b.subscribe(topic, options).await?),
            #[cfg(feature = "nats")]
            Self::Nats(b) => AnySubscription::Nats(b.subscribe(topic, options).await?),
            #[cfg(feature = "amqp")]
            Self::Amqp(b) => AnySubscription::Amqp(b.subscribe(topic, options).await?),
        })
    }

    async fn close(&self) -> Result<(), CloseError> {
        each!(Self, self, b => b.close().await)
    }

    fn has_subscribers(&self, topic: &str) -> Option<bool> {
        each!(Self, self, b => b.has_subscribers(topic))
    }

    async fn publish_request(&self, msg: Message) -> Result<Responders, PublishError> {
        each!(Self, self, b => b.publish_request(msg).await)
    }
}

impl Subscription for AnySubscription {
    type Delivery = AnyDelivery;

    async fn next(&mut self) -> Option<AnyDelivery> {
        match self {
            Self::Memory(s) => s.next().await.map(AnyDelivery::Memory),
            #[cfg(feature = "nats")]
            Self::Nats(s) => s.next().await.map(AnyDelivery::Nats),
            #[cfg(feature = "amqp")]
            Self::Amqp(s) => s.next().await.map(|d| AnyDelivery::Amqp(Box::new(d))),
        }
    }

    fn topic(&self) -> &str {
        each!(Self, self, s => s.topic())
    }
}

impl Delivery for AnyDelivery {
    fn message(&self) -> &Message {
        each!(Self, self, d => d.message())
    }

    fn context(&self) -> Context {
        each!(Self, self, d => d.context())
    }

    async fn ack(self) -> Result<(), AckError> {
        each!(Self, self, d => d.ack().await)
    }

    async fn nack(self) -> Result<(), AckError> {
        each!(Self, self, d => d.nack().await)
    }
}

/// Dead-letters through the backend: RabbitMQ (`{exchange}.dlx`) and NATS (the dead
/// letter topic; JetStream also `TERM`s the message). The memory broker has no
/// dead-letter target: there the message is nacked (redelivered, not lost) and the
/// answer is `AckError::Backend` holding [`MemoryCannotReject`]; the router's
/// `DeadLetter` middleware is the portable way to dead-letter.
impl Reject for AnyDelivery {
    async fn reject(self, reason: &str) -> Result<(), AckError> {
        match self {
            Self::Memory(d) => {
                let _ = reason; // nowhere to write it
                d.nack().await?;
                Err(AckError::Backend(Box::new(MemoryCannotReject)))
            }
            #[cfg(feature = "nats")]
            Self::Nats(d) => d.reject(reason).await,
            #[cfg(feature = "amqp")]
            Self::Amqp(d) => d.reject(reason).await,
        }
    }
}

/// [`Reject`] on a memory-broker delivery: the memory broker has no dead-letter
/// target, so the message was nacked (redelivered) instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemoryCannotReject;

impl std::fmt::Display for MemoryCannotReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the memory broker has no dead-letter target: the message was nacked instead of rejected",
        )
    }
}

impl std::error::Error for MemoryCannotReject {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn memory_reject_is_a_typed_error_and_loses_nothing() {
        let broker = AnyBroker::Memory(MemoryBroker::default());
        let mut sub = broker
            .subscribe("orders", SubscribeOptions::new())
            .await
            .unwrap();
        broker.publish(Message::new("orders", "42")).await.unwrap();
        let wait = Duration::from_secs(5);
        let first = tokio::time::timeout(wait, sub.next())
            .await
            .unwrap()
            .unwrap();
        let err = first.reject("bad order").await.unwrap_err();
        let AckError::Backend(source) = &err else {
            panic!("expected a backend error, got {err:?}");
        };
        assert!(
            source.downcast_ref::<MemoryCannotReject>().is_some(),
            "{source:?}"
        );
        let again = tokio::time::timeout(wait, sub.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.message().payload, "42", "redelivered, not lost");
        again.ack().await.unwrap();
    }
}
