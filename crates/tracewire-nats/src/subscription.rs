//! [`NatsSubscription`] and [`NatsDelivery`], with the core NATS side.

use std::sync::Arc;

use async_nats::StatusCode;
use futures_util::StreamExt as _;
use tokio::sync::watch;
use tracewire_broker::{
    AckError, Delivery, Message, Overflow, Reject, SubscribeError, SubscribeOptions, Subscription,
};

use crate::NatsError;
use crate::broker::{Inner, closed};
use crate::codec::decode;
use crate::dead_letter::{
    KIND_REJECTED, Outcome, dead_letter, dead_letter_malformed, malformed_topic,
};
use crate::js_sub::{JsDelivery, JsSub};

/// A subscription on a [`NatsBroker`](crate::NatsBroker): core NATS or a JetStream
/// pull consumer. Dropping it unsubscribes (a fan-out JetStream consumer is deleted; a
/// durable queue-group consumer stays on the server, as durables do).
#[derive(Debug)]
pub struct NatsSubscription {
    topic: String,
    kind: Kind,
    live: Option<LiveGuard>,
}

#[derive(Debug)]
enum Kind {
    Core(CoreSub),
    Js(Box<JsSub>),
}

/// Counts a subscription as live until it ends or is dropped (`close` waits for zero).
#[derive(Debug)]
struct LiveGuard(Arc<Inner>);

impl LiveGuard {
    fn new(inner: Arc<Inner>) -> Self {
        inner.live.send_modify(|n| *n += 1);
        Self(inner)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl NatsSubscription {
    pub(crate) async fn open(
        inner: Arc<Inner>,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<Self, SubscribeError> {
        if inner.is_closed() {
            return Err(SubscribeError::Closed);
        }
        let Some(subject) = inner.subject(topic) else {
            return Err(SubscribeError::InvalidTopic(topic.to_owned()));
        };
        if options.overflow != Overflow::Backpressure {
            return Err(SubscribeError::Unsupported("overflow"));
        }
        let live = LiveGuard::new(Arc::clone(&inner));
        let kind = if inner.stored(topic).is_some() {
            Kind::Js(Box::new(
                JsSub::open(Arc::clone(&inner), subject, &options).await?,
            ))
        } else {
            Kind::Core(CoreSub::open(Arc::clone(&inner), subject, &options).await?)
        };
        Ok(Self {
            topic: topic.to_owned(),
            kind,
            live: Some(live),
        })
    }
}

impl Subscription for NatsSubscription {
    type Delivery = NatsDelivery;

    /// Cancel-safety: cancel-safe; a message is taken only when the future completes
    /// (a malformed message being dead-lettered when the future is dropped is
    /// redelivered by JetStream, and is lost in core NATS, which is at-most-once).
    async fn next(&mut self) -> Option<NatsDelivery> {
        self.live.as_ref()?;
        let delivery = match &mut self.kind {
            Kind::Core(sub) => sub.next().await.map(|message| NatsDelivery {
                inner: DeliveryKind::Core {
                    message,
                    broker: Arc::clone(&sub.inner),
                },
            }),
            Kind::Js(sub) => sub.next().await.map(|d| NatsDelivery {
                inner: DeliveryKind::Js(Box::new(d)),
            }),
        };
        if delivery.is_none() {
            self.live = None;
        }
        delivery
    }

    fn topic(&self) -> &str {
        &self.topic
    }
}

/// One message from a [`NatsSubscription`].
///
/// Core NATS is at-most-once: [`ack`](Delivery::ack) and [`nack`](Delivery::nack) are
/// no-ops that return `Ok` (nothing is redelivered). JetStream: `ack` sends `+ACK`,
/// `nack` sends `-NAK` (with [`JetStreamConfig::nak_delay`](crate::JetStreamConfig::nak_delay)),
/// and after [`max_deliver`](crate::JetStreamConfig::max_deliver) attempts dead-letters
/// the message and sends `+TERM`; while unsettled, `+WPI` keeps it from being
/// redelivered; dropped unsettled, it is nacked.
///
/// [`reject`](Reject::reject) refuses a message for good: it is dead-lettered (kind
/// [`KIND_REJECTED`](crate::KIND_REJECTED)) to the JetStream `dead_letter_topic`, else
/// [`NatsConfig::dead_letter_topic`](crate::NatsConfig::dead_letter_topic), and
/// terminated (`+TERM`); core NATS messages go to the same topics in the other order.
/// Without any dead-letter topic the message is only discarded (logged, counted in
/// `ConnectionStats::skipped`).
#[derive(Debug)]
pub struct NatsDelivery {
    inner: DeliveryKind,
}

#[derive(Debug)]
enum DeliveryKind {
    Core {
        message: Message,
        broker: Arc<Inner>,
    },
    Js(Box<JsDelivery>),
}

impl Delivery for NatsDelivery {
    fn message(&self) -> &Message {
        match &self.inner {
            DeliveryKind::Core { message, .. } => message,
            DeliveryKind::Js(d) => d.message(),
        }
    }

    /// Cancel-safety: dropping the future may leave the message unacknowledged (it is
    /// then redelivered after `ack_wait`).
    async fn ack(self) -> Result<(), AckError> {
        match self.inner {
            DeliveryKind::Core { .. } => Ok(()),
            DeliveryKind::Js(d) => d.ack().await,
        }
    }

    /// Cancel-safety: dropping the future may leave the message unacknowledged (it is
    /// then redelivered after `ack_wait`).
    async fn nack(self) -> Result<(), AckError> {
        match self.inner {
            DeliveryKind::Core { .. } => Ok(()),
            DeliveryKind::Js(d) => d.nack().await,
        }
    }
}

impl Reject for NatsDelivery {
    /// Cancel-safety: dropping the future may leave a JetStream message unsettled (it
    /// is then redelivered), or dead-lettered and still delivered again.
    ///
    /// # Errors
    ///
    /// [`NatsError::DeadLetterFailed`] inside [`AckError::Backend`] when the dead-letter
    /// publish failed (a JetStream message is then nacked, so nothing is lost).
    async fn reject(self, reason: &str) -> Result<(), AckError> {
        match self.inner {
            DeliveryKind::Core { message, broker } => {
                let topic = malformed_topic(&broker);
                match dead_letter(&broker, topic, &message, KIND_REJECTED, reason).await {
                    Outcome::DeadLettered | Outcome::Discarded => Ok(()),
                    Outcome::Failed => {
                        Err(AckError::Backend(Box::new(NatsError::DeadLetterFailed {
                            topic: topic.unwrap_or_default().to_owned(),
                        })))
                    }
                }
            }
            DeliveryKind::Js(d) => d.reject(reason).await,
        }
    }
}

/// A core NATS subscription.
#[derive(Debug)]
struct CoreSub {
    inner: Arc<Inner>,
    sub: async_nats::Subscriber,
    close_rx: watch::Receiver<bool>,
    draining: bool,
}

impl CoreSub {
    async fn open(
        inner: Arc<Inner>,
        subject: String,
        options: &SubscribeOptions,
    ) -> Result<Self, SubscribeError> {
        let timeout = inner.config.request_timeout;
        let subscribe = async {
            match &options.queue_group {
                Some(group) => inner.client.queue_subscribe(subject, group.clone()).await,
                None => inner.client.subscribe(subject).await,
            }
        };
        let sub = match tokio::time::timeout(timeout, subscribe).await {
            Ok(Ok(sub)) => sub,
            Ok(Err(err)) => return Err(SubscribeError::Backend(Box::new(NatsError::client(err)))),
            Err(_) => {
                return Err(SubscribeError::Backend(Box::new(NatsError::timed_out(
                    "subscribe",
                    timeout,
                ))));
            }
        };
        // Publishers on other connections only reach this subscription once the server
        // holds the SUB; `subscribe` returning means it does.
        inner
            .round_trip()
            .await
            .map_err(|err| SubscribeError::Backend(Box::new(err)))?;
        let close_rx = inner.close_tx.subscribe();
        Ok(Self {
            inner,
            sub,
            close_rx,
            draining: false,
        })
    }

    async fn next(&mut self) -> Option<Message> {
        loop {
            let msg = if self.draining {
                self.sub.next().await?
            } else {
                tokio::select! {
                    biased;
                    _ = closed(&mut self.close_rx) => {
                        self.draining = true;
                        // `close` made a round trip first, so everything published
                        // before it is buffered here; unsubscribing keeps the buffer
                        // and ends the stream after it (not `drain`: see round_trip.rs).
                        let _ = self.sub.unsubscribe().await;
                        continue;
                    }
                    msg = self.sub.next() => msg?,
                }
            };
            if msg.status == Some(StatusCode::NO_RESPONDERS) {
                // The server's "no responders" answer to a request published with this
                // inbox as reply subject: not a message.
                self.inner.stats.count_skipped();
                tracing::debug!(target: "tracewire_nats", subject = %msg.subject, "no responders status skipped");
                continue;
            }
            let topic = self.inner.topic_of(&msg.subject);
            let reply = msg.reply.as_ref().map(|r| self.inner.topic_of(r));
            match decode(topic, msg.headers.as_ref(), msg.payload, reply) {
                Ok(message) => return Some(message),
                Err(bad) => {
                    let (message, reason) = *bad;
                    let _ = dead_letter_malformed(&self.inner, &message, &reason).await;
                }
            }
        }
    }
}
