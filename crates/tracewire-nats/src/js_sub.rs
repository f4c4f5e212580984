//! The JetStream side of a subscription: a pull consumer, settle commands and the
//! in-progress keep-alive.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt as _;
use tokio::sync::watch;
use tracewire_broker::{AckError, Message, SubscribeError, SubscribeOptions};

use crate::broker::{Inner, Js, closed};
use crate::codec::decode;
use crate::dead_letter::{
    KIND_MAX_DELIVER, KIND_REJECTED, Outcome, dead_letter, dead_letter_malformed, stored_topic,
};
use crate::keepalive::{Pending, Ticket};
use crate::{JetStreamConfig, NatsError, StartFrom};

/// While closing: how long without a message before asking the server whether the
/// consumer has anything left.
const IDLE: Duration = Duration::from_millis(250);

fn consumer_error(err: impl Into<async_nats::Error>) -> SubscribeError {
    SubscribeError::Backend(Box::new(NatsError::client(err)))
}

/// The durable consumer of queue group `group` on `topic`: `{group}-{topic}`, with the
/// characters NATS forbids in names replaced by `_`. A queue group is per topic (as in
/// core NATS), so one group on two topics is two consumers; a consumer named by the
/// group alone would hand the second topic's subscriber the first topic's messages.
fn durable_name(group: &str, topic: &str) -> String {
    format!("{group}-{topic}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) struct JsSub {
    inner: Arc<Inner>,
    consumer: PullConsumer,
    messages: pull::Stream,
    close_rx: watch::Receiver<bool>,
    closing: bool,
    pending: Arc<Pending>,
    /// Consumer name to delete on drop (fan-out subscriptions).
    ephemeral: Option<String>,
}

impl std::fmt::Debug for JsSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsSub")
            .field("consumer", &self.consumer.cached_info().name)
            .field("closing", &self.closing)
            .field("unsettled", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn js(inner: &Inner) -> Result<&Js, SubscribeError> {
    inner
        .js
        .as_ref()
        .ok_or(SubscribeError::Unsupported("jetstream"))
}

impl JsSub {
    pub(crate) async fn open(
        inner: Arc<Inner>,
        subject: String,
        options: &SubscribeOptions,
    ) -> Result<Self, SubscribeError> {
        let js = js(&inner)?;
        let cfg = &js.config;
        let topic = inner.topic_of(&subject);
        let durable = options
            .queue_group
            .as_deref()
            .map(|group| durable_name(group, &topic));
        let deliver_policy = match (&durable, cfg.durable_start) {
            (Some(_), StartFrom::All) => DeliverPolicy::All,
            _ => DeliverPolicy::New,
        };
        let config = pull::Config {
            durable_name: durable.clone(),
            filter_subject: subject.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: cfg.ack_wait,
            // Redelivery is unlimited on the server: the backend dead-letters at
            // `max_deliver` itself, so no message is dropped without a trace.
            max_deliver: -1,
            max_ack_pending: i64::from(cfg.max_ack_pending),
            deliver_policy,
            inactive_threshold: if durable.is_some() {
                Duration::ZERO
            } else {
                cfg.inactive_threshold
            },
            ..Default::default()
        };
        let timeout = inner.config.request_timeout;
        let create = async {
            match &durable {
                Some(name) => js
                    .stream
                    .get_or_create_consumer::<pull::Config>(name, config)
                    .await
                    .map_err(consumer_error),
                None => js
                    .stream
                    .create_consumer(config)
                    .await
                    .map_err(consumer_error),
            }
        };
        let consumer: PullConsumer = tokio::time::timeout(timeout, create)
            .await
            .map_err(|_| timed_out("create consumer", timeout))??;
        // Two (group, topic) pairs whose names sanitise alike must not share a consumer.
        if let (Some(group), Some(found)) = (&options.queue_group, &durable) {
            let filter = &consumer.cached_info().config.filter_subject;
            if *filter != subject {
                return Err(SubscribeError::Backend(Box::new(NatsError::client(
                    format!(
                        "durable consumer {found:?} of queue group {group:?} filters {filter:?}, not {subject:?}"
                    ),
                ))));
            }
        }
        let ephemeral = durable
            .is_none()
            .then(|| consumer.cached_info().name.clone());
        let batch = options.capacity.unwrap_or(cfg.batch).max(1);
        let messages = tokio::time::timeout(timeout, stream_of(&consumer, batch))
            .await
            .map_err(|_| timed_out("start pulling", timeout))??;
        let close_rx = inner.close_tx.subscribe();
        let pending = Pending::start(inner.client.clone(), cfg.ack_wait);
        Ok(Self {
            inner,
            consumer,
            messages,
            close_rx,
            closing: false,
            pending,
            ephemeral,
        })
    }

    pub(crate) async fn next(&mut self) -> Option<JsDelivery> {
        loop {
            let item = if self.closing {
                match tokio::time::timeout(IDLE, self.messages.next()).await {
                    Ok(item) => item,
                    Err(_) if self.drained().await => return None,
                    Err(_) => continue,
                }
            } else {
                tokio::select! {
                    biased;
                    _ = closed(&mut self.close_rx) => {
                        self.closing = true;
                        continue;
                    }
                    item = self.messages.next() => item,
                }
            };
            match item? {
                Ok(msg) => {
                    if let Some(delivery) = self.prepare(msg).await {
                        return Some(delivery);
                    }
                }
                Err(err) => {
                    // Missing heartbeats and pull errors while the server is away are
                    // transient: the stream re-issues its pull once reconnected.
                    tracing::warn!(target: "tracewire_nats", error = %err, "JetStream pull error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Whether nothing is left: no delivery of ours unsettled and the consumer has no
    /// pending message (nor, for a consumer of our own, any unacknowledged one).
    async fn drained(&self) -> bool {
        if self.pending.len() > 0 {
            return false;
        }
        let timeout = self.inner.config.request_timeout;
        match tokio::time::timeout(timeout, self.consumer.get_info()).await {
            Ok(Ok(info)) => {
                info.num_pending == 0 && (self.ephemeral.is_none() || info.num_ack_pending == 0)
            }
            _ => false,
        }
    }

    async fn prepare(&self, msg: jetstream::Message) -> Option<JsDelivery> {
        let delivered = msg
            .info()
            .map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX));
        let msg = msg.message;
        let reply = msg.reply.clone()?;
        let cfg = &self.inner.js.as_ref()?.config;
        let topic = self.inner.topic_of(&msg.subject);
        let settle = Settle {
            inner: Arc::clone(&self.inner),
            reply,
        };
        match decode(topic, msg.headers.as_ref(), msg.payload, None) {
            Err(bad) => {
                let (message, reason) = *bad;
                let outcome = dead_letter_malformed(&self.inner, &message, &reason).await;
                settle.after_dead_letter(outcome, cfg).await;
                None
            }
            Ok(mut message) => {
                message.delivery_attempt = delivered;
                if delivered > cfg.max_deliver {
                    // Redelivered past max_deliver without being settled (ack timeouts).
                    let reason = format!(
                        "not settled within ack_wait after {} deliveries",
                        delivered - 1
                    );
                    let topic = cfg.dead_letter_topic.as_deref();
                    let outcome =
                        dead_letter(&self.inner, topic, &message, KIND_MAX_DELIVER, &reason).await;
                    settle.after_dead_letter(outcome, cfg).await;
                    return None;
                }
                let ticket = self.pending.track(settle.reply.clone());
                Some(JsDelivery {
                    message,
                    settle,
                    ticket: Some(ticket),
                })
            }
        }
    }
}

impl Drop for JsSub {
    fn drop(&mut self) {
        let Some(name) = self.ephemeral.take() else {
            return;
        };
        if self.inner.is_closed() {
            return; // the server removes it after inactive_threshold
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        handle.spawn(async move {
            if let Some(js) = &inner.js {
                let timeout = inner.config.request_timeout;
                let _ = tokio::time::timeout(timeout, js.stream.delete_consumer(&name)).await;
            }
        });
    }
}

async fn stream_of(consumer: &PullConsumer, batch: usize) -> Result<pull::Stream, SubscribeError> {
    consumer
        .stream()
        .max_messages_per_batch(batch)
        .messages()
        .await
        .map_err(consumer_error)
}

fn timed_out(operation: &'static str, timeout: Duration) -> SubscribeError {
    SubscribeError::Backend(Box::new(NatsError::timed_out(operation, timeout)))
}

/// Sends settle commands (`+ACK`, `-NAK`, `+TERM`) to a delivery's ack subject.
#[derive(Debug)]
struct Settle {
    inner: Arc<Inner>,
    reply: async_nats::Subject,
}

impl Settle {
    async fn send(&self, kind: AckKind) -> Result<(), AckError> {
        let timeout = self.inner.config.request_timeout;
        let publish = self.inner.client.publish(self.reply.clone(), kind.into());
        match tokio::time::timeout(timeout, publish).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(AckError::Backend(Box::new(NatsError::client(err)))),
            Err(_) => Err(AckError::Backend(Box::new(NatsError::timed_out(
                "ack", timeout,
            )))),
        }
    }

    fn nak(&self, cfg: &JetStreamConfig) -> AckKind {
        AckKind::Nak((!cfg.nak_delay.is_zero()).then_some(cfg.nak_delay))
    }

    /// Terminates a dead-lettered (or discarded) message; naks it when the dead-letter
    /// publish failed, so it is not lost.
    async fn after_dead_letter(&self, outcome: Outcome, cfg: &JetStreamConfig) {
        let kind = match outcome {
            Outcome::DeadLettered | Outcome::Discarded => AckKind::Term,
            Outcome::Failed => self.nak(cfg),
        };
        let _ = self.send(kind).await;
    }
}

/// A JetStream delivery.
#[derive(Debug)]
pub(crate) struct JsDelivery {
    message: Message,
    settle: Settle,
    /// Keeps the message in progress (`+WPI`) until settled.
    ticket: Option<Ticket>,
}

impl JsDelivery {
    pub(crate) fn message(&self) -> &Message {
        &self.message
    }

    pub(crate) async fn ack(mut self) -> Result<(), AckError> {
        self.ticket.take();
        self.settle.send(AckKind::Ack).await
    }

    pub(crate) async fn nack(mut self) -> Result<(), AckError> {
        self.ticket.take();
        let Some(js) = self.settle.inner.js.as_ref() else {
            return Err(AckError::Closed);
        };
        let cfg = &js.config;
        if self.message.delivery_attempt >= cfg.max_deliver {
            let reason = format!(
                "nacked on delivery {} of max_deliver {}",
                self.message.delivery_attempt, cfg.max_deliver
            );
            let topic = cfg.dead_letter_topic.as_deref();
            let outcome = dead_letter(
                &self.settle.inner,
                topic,
                &self.message,
                KIND_MAX_DELIVER,
                &reason,
            )
            .await;
            self.settle.after_dead_letter(outcome, cfg).await;
            return Ok(());
        }
        let kind = self.settle.nak(cfg);
        self.settle.send(kind).await
    }
}

impl JsDelivery {
    /// Dead-letters (kind `rejected`) and sends `+TERM`; with no dead-letter topic the
    /// message is only terminated (logged and counted). If the dead-letter publish
    /// fails, the message is nacked (redelivered) and the reject fails.
    pub(crate) async fn reject(mut self, reason: &str) -> Result<(), AckError> {
        self.ticket.take();
        let inner = Arc::clone(&self.settle.inner);
        let topic = stored_topic(&inner);
        let outcome = dead_letter(&inner, topic, &self.message, KIND_REJECTED, reason).await;
        match outcome {
            Outcome::DeadLettered | Outcome::Discarded => self.settle.send(AckKind::Term).await,
            Outcome::Failed => {
                let kind = match inner.js.as_ref() {
                    Some(js) => self.settle.nak(&js.config),
                    None => AckKind::Nak(None),
                };
                let _ = self.settle.send(kind).await;
                Err(AckError::Backend(Box::new(NatsError::DeadLetterFailed {
                    topic: topic.unwrap_or_default().to_owned(),
                })))
            }
        }
    }
}

impl Drop for JsDelivery {
    fn drop(&mut self) {
        // Unsettled: nack now rather than after ack_wait.
        if self.ticket.take().is_none() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.settle.inner.client.clone();
        let reply = self.settle.reply.clone();
        handle.spawn(async move {
            let _ = client.publish(reply, AckKind::Nak(None).into()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::durable_name;

    #[test]
    fn durable_names_are_per_group_and_topic() {
        assert_eq!(
            durable_name("/services/inventory", "order.created"),
            "_services_inventory-order_created"
        );
        assert_ne!(
            durable_name("g", "order.created"),
            durable_name("g", "order.cancelled")
        );
    }
}
