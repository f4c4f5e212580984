//! [`NatsBroker`]: the handle, topic ↔ subject mapping, publish and close.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::{self, context::PublishErrorKind};
use tokio::sync::watch;
use tracewire_broker::{
    Broker, CloseError, Guarantees, Message, PublishError, Responders, SubscribeError,
    SubscribeOptions,
};

use crate::codec::encode;
use crate::connect::{ConnectionStats, connect};
use crate::probe::Probes;
use crate::subscription::{NatsDelivery, NatsSubscription};
use crate::{ConnectError, JetStreamConfig, NatsConfig, NatsError};

/// Resolves once `close` has been called.
pub(crate) async fn closed(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|closed| *closed).await;
}

/// Topics with this prefix are reply inboxes: never prefixed, never stored.
pub(crate) const INBOX_PREFIX: &str = "_INBOX.";

/// The NATS backend of [`Broker`]: core NATS (at-most-once) or JetStream
/// (at-least-once), chosen by [`NatsConfig::jetstream`]. Clones share one connection.
///
/// Handlers written against the trait run unchanged; wrap it in
/// [`Traced`](tracewire_broker::trace::Traced) for spans (this type creates none).
#[derive(Clone, Debug)]
pub struct NatsBroker {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) js: Option<Js>,
    pub(crate) config: NatsConfig,
    pub(crate) stats: Arc<ConnectionStats>,
    closed: AtomicBool,
    pub(crate) close_tx: watch::Sender<bool>,
    /// Subscriptions that have not ended yet; `close` waits for zero.
    pub(crate) live: watch::Sender<usize>,
    /// The no-responders probe of `publish_request` (one wildcard subscription).
    pub(crate) probes: Probes,
}

#[derive(Debug)]
pub(crate) struct Js {
    pub(crate) context: jetstream::Context,
    pub(crate) stream: jetstream::stream::Stream,
    pub(crate) config: JetStreamConfig,
}

impl NatsBroker {
    /// Connects (and, with JetStream, creates or verifies the stream).
    ///
    /// Cancel-safety: dropping the future leaves no connection behind.
    pub async fn connect(config: NatsConfig) -> Result<Self, ConnectError> {
        if config.url.trim().is_empty() {
            return Err(ConnectError::InvalidConfig("url is empty".into()));
        }
        let stats = Arc::new(ConnectionStats::default());
        let client = connect(&config, Arc::clone(&stats)).await?;
        let js = match &config.jetstream {
            Some(js_config) => {
                let mut context = jetstream::new(client.clone());
                context.set_timeout(config.request_timeout);
                let stream = crate::stream::ensure(&context, js_config, &config).await?;
                Some(Js {
                    context,
                    stream,
                    config: js_config.clone(),
                })
            }
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                js,
                config,
                stats,
                closed: AtomicBool::new(false),
                close_tx: watch::channel(false).0,
                live: watch::channel(0).0,
                probes: Probes::default(),
            }),
        })
    }

    /// The underlying async-nats client (for anything this crate does not cover).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The configuration this broker was connected with.
    pub fn config(&self) -> &NatsConfig {
        &self.inner.config
    }

    /// Connection event counters (reconnects, disconnects, slow consumers, errors).
    pub fn stats(&self) -> &ConnectionStats {
        &self.inner.stats
    }

    /// Whether this broker uses JetStream.
    pub fn is_jetstream(&self) -> bool {
        self.inner.js.is_some()
    }

    /// The NATS subject for `topic` (the subject prefix applied), or `None` when the
    /// topic is empty or contains whitespace.
    pub fn subject_for(&self, topic: &str) -> Option<String> {
        self.inner.subject(topic)
    }

    /// Generic requests ([`publish_request`](Broker::publish_request)) waiting for
    /// their no-responders probe answer: zero whenever none is in flight (an answered,
    /// cancelled or timed-out request leaves no entry behind).
    pub fn pending_probes(&self) -> usize {
        self.inner.probes.pending()
    }

    /// Waits (at most `request_timeout`) until the server has handled everything
    /// published and subscribed so far on this connection: a round trip, not just a
    /// socket flush.
    ///
    /// Cancel-safety: cancel-safe; nothing is lost by dropping the future.
    pub async fn flush(&self) -> Result<(), PublishError> {
        self.inner.round_trip().await.map_err(backend)
    }
}

pub(crate) fn backend(err: NatsError) -> PublishError {
    PublishError::Backend(Box::new(err))
}

impl Inner {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn subject(&self, topic: &str) -> Option<String> {
        if topic.is_empty() || topic.chars().any(char::is_whitespace) {
            return None;
        }
        match &self.config.subject_prefix {
            Some(prefix) if !topic.starts_with(INBOX_PREFIX) => Some(format!("{prefix}.{topic}")),
            _ => Some(topic.to_owned()),
        }
    }

    pub(crate) fn topic_of(&self, subject: &str) -> String {
        self.config
            .subject_prefix
            .as_ref()
            .and_then(|p| subject.strip_prefix(p.as_str()))
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(subject)
            .to_owned()
    }

    /// Whether `topic` goes through JetStream (stored) rather than core NATS.
    pub(crate) fn stored(&self, topic: &str) -> Option<&Js> {
        self.js
            .as_ref()
            .filter(|_| !topic.starts_with(INBOX_PREFIX))
    }

    /// Publishes; `while_closed` lets the backend's own dead-letter publishes through
    /// while the broker drains.
    pub(crate) async fn publish_inner(
        &self,
        msg: Message,
        while_closed: bool,
    ) -> Result<(), PublishError> {
        if self.is_closed() && !while_closed {
            return Err(PublishError::Closed);
        }
        let subject = match self.subject(&msg.topic) {
            Some(s) if !s.contains(['*', '>']) => s,
            _ => return Err(PublishError::InvalidTopic(msg.topic)),
        };
        let timeout = self.config.request_timeout;
        if let Some(js) = self.stored(&msg.topic) {
            let dedup = format!("{subject}:{}", msg.id);
            let headers = encode(&msg, Some(&dedup)).map_err(backend)?;
            return js_publish(js, subject, headers, msg.payload, timeout).await;
        }
        let headers = encode(&msg, None).map_err(backend)?;
        let reply = match &msg.reply_to {
            Some(topic) => Some(
                self.subject(topic)
                    .ok_or_else(|| PublishError::InvalidTopic(topic.clone()))?,
            ),
            None => None,
        };
        let send = async {
            match reply {
                Some(reply) => {
                    self.client
                        .publish_with_reply_and_headers(subject, reply, headers, msg.payload)
                        .await
                }
                None => {
                    self.client
                        .publish_with_headers(subject, headers, msg.payload)
                        .await
                }
            }
        };
        match tokio::time::timeout(timeout, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(backend(match err.kind() {
                async_nats::client::PublishErrorKind::MaxPayloadExceeded => NatsError::TooLarge,
                _ => NatsError::client(err),
            })),
            Err(_) => Err(backend(NatsError::timed_out("publish", timeout))),
        }
    }
}

async fn js_publish(
    js: &Js,
    subject: String,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
    timeout: Duration,
) -> Result<(), PublishError> {
    let map = |err: jetstream::context::PublishError, subject: &str| {
        backend(match err.kind() {
            PublishErrorKind::StreamNotFound => NatsError::NoStream(subject.to_owned()),
            PublishErrorKind::TimedOut => NatsError::timed_out("JetStream PubAck", timeout),
            PublishErrorKind::MaxPayloadExceeded => NatsError::TooLarge,
            _ => NatsError::client(err),
        })
    };
    let wait = async {
        let ack = js
            .context
            .publish_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|e| map(e, &subject))?;
        ack.await.map_err(|e| map(e, &subject))
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(_ack)) => Ok(()),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(backend(NatsError::timed_out("JetStream PubAck", timeout))),
    }
}

impl Broker for NatsBroker {
    type Subscription = NatsSubscription;
    type Delivery = NatsDelivery;

    fn system(&self) -> &'static str {
        "nats"
    }

    /// Core NATS: ordered per publisher, queue groups, headers, native request/reply,
    /// no responders reported (see [`publish_request`](Broker::publish_request));
    /// at-most-once (no redelivery, ack and nack are no-ops). JetStream adds durable
    /// and at-least-once, and no longer declares no responders (stored topics cannot
    /// tell).
    fn guarantees(&self) -> Guarantees {
        let core = Guarantees::NONE
            .with_ordered(true)
            .with_queue_groups(true)
            .with_headers(true)
            .with_native_request_reply(true);
        match &self.inner.js {
            None => core.with_reports_no_responders(true),
            // A request to a stored topic is answered by the stream's PubAck, never by
            // "no responders"; only topics the stream does not store can tell.
            Some(_) => core.with_durable(true).with_at_least_once(true),
        }
    }

    /// Core NATS: the request is published with a probe subject as its NATS reply
    /// subject (`msg.reply_to` travels in the `tracewire-reply-to` header, where
    /// tracewire responders send the reply), then an empty message to the probe subject
    /// itself. The server handles one connection's messages in order: it answers a
    /// request nobody subscribes to with a "no responders" status on the probe subject
    /// before it delivers the second message there, so the first message on it tells
    /// ([`Responders::Absent`] or [`Responders::Present`]). The probe subjects are
    /// tokens under one wildcard subscription per broker, opened on the first request
    /// (as async-nats multiplexes its own requests): per request, two publishes and one
    /// extra delivery, no subscription; [`NatsBroker::request`] is the cheaper native
    /// path. Without `reply_to`, and for topics the JetStream stream stores, this is
    /// [`publish`](Broker::publish) and [`Responders::Unknown`].
    ///
    /// Cancel-safety: as [`publish`](Broker::publish); the request's probe entry is
    /// removed when the future is dropped.
    async fn publish_request(&self, msg: Message) -> Result<Responders, PublishError> {
        self.inner.publish_request(msg).await
    }

    /// Core NATS: `Ok` once the message is handed to the connection (at-most-once;
    /// [`NatsBroker::flush`] waits for the server). JetStream: `Ok` once the stream's
    /// PubAck arrived (stored; a duplicate `Nats-Msg-Id` within the window is
    /// acknowledged without being stored again). Waits at most `request_timeout`.
    ///
    /// Cancel-safety: as the trait says; a JetStream publish dropped before its PubAck
    /// may have been stored, and publishing the same message again is deduplicated.
    async fn publish(&self, msg: Message) -> Result<(), PublishError> {
        self.inner.publish_inner(msg, false).await
    }

    /// Core NATS: a subscription or queue subscription. JetStream: a pull consumer
    /// (durable, named after the queue group, or one per subscription). Only
    /// [`Overflow::Backpressure`](tracewire_broker::Overflow) is accepted; `capacity`
    /// sets the JetStream pull batch (core NATS buffers per connection, see
    /// [`NatsConfig::subscription_capacity`]).
    ///
    /// Cancel-safety: dropping the future leaves no subscription (a durable consumer
    /// created on the server stays, as durables do).
    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<NatsSubscription, SubscribeError> {
        NatsSubscription::open(Arc::clone(&self.inner), topic, options).await
    }

    /// Stops publishes, lets every subscription drain (core: unsubscribe and deliver
    /// what is in flight; JetStream: deliver until the consumer has nothing pending and
    /// every delivery is settled), then flushes and closes the connection. Waits at
    /// most `drain_timeout`, then closes anyway and returns a `TimedOut` error.
    ///
    /// Cancel-safety: dropping the future stops waiting; the broker stays closed.
    async fn close(&self) -> Result<(), CloseError> {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        // Core subscriptions unsubscribe when told to close; the round trip first makes
        // sure what was published before `close` is already in their buffers.
        let round_trip = inner.round_trip().await;
        inner.close_tx.send_replace(true);
        let mut live = inner.live.subscribe();
        let all_ended = async {
            let _ = live.wait_for(|n| *n == 0).await;
        };
        let drained = tokio::time::timeout(inner.config.drain_timeout, all_ended).await;
        // Dead letters and acks sent while draining reach the server before the end.
        let flushed = inner.round_trip().await;
        let _ = inner.client.drain().await;
        match (drained, round_trip.and(flushed)) {
            (Err(_), _) => Err(CloseError::Backend(Box::new(NatsError::timed_out(
                "drain",
                inner.config.drain_timeout,
            )))),
            (_, Err(err)) => Err(CloseError::Backend(Box::new(err))),
            _ => Ok(()),
        }
    }
}
