//! [`AmqpBroker`]: the [`Broker`] implementation.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use lapin::Confirmation;
use lapin::types::ShortString;
use tokio::task::JoinHandle;
use tracewire_broker::{
    Broker, CloseError, Guarantees, Message, PublishError, Responders, SubscribeError,
    SubscribeOptions,
};

use crate::codec::{encode, encode_short};
use crate::connection::{Lane, Outgoing, connect, publish_confirmed};
use crate::session::{Session, close_link};
use crate::subscription::{AmqpDelivery, AmqpSubscription, Source, SubState, open};
use crate::{AmqpConfig, AmqpError};

/// The RabbitMQ broker: one connection, a publisher channel in confirm mode, one channel
/// per subscription, and up to [`AmqpConfig::request_channels`] channels for
/// [`publish_request`](Broker::publish_request). Clones share the connection.
///
/// - **publish** goes to the topic exchange with the topic as routing key and returns
///   `Ok` only once the broker has confirmed it;
/// - **subscribe** without a queue group binds an exclusive, auto-delete queue of its
///   own (fan-out); with a queue group, every member consumes from one shared queue
///   `{exchange}.{topic}.{group}` (durable when [`AmqpConfig::durable`] is set).
///   Topics may use AMQP wildcards (`orders.*`, `orders.#`);
/// - a lost connection is replaced by a new one (exchanges declared again); publishes in
///   flight are retried on it, and every subscription re-declares its queue and
///   consumes again.
#[derive(Clone)]
pub struct AmqpBroker {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: AmqpConfig,
    pub(crate) session: Arc<Session>,
    /// The session's supervisor task (reconnects).
    supervisor: JoinHandle<()>,
    pub(crate) exchange: ShortString,
    pub(crate) dead_letter_exchange: ShortString,
    pub(crate) closed: AtomicBool,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) subscriptions: Mutex<Vec<Weak<SubState>>>,
}

impl Inner {
    pub(crate) fn subscriptions(&self) -> MutexGuard<'_, Vec<Weak<SubState>>> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn publish(&self, out: Outgoing<'_>) -> Result<(), AmqpError> {
        publish_confirmed(&self.session, &self.config, out, Lane::Plain)
            .await
            .map(drop)
    }

    /// [`Broker::publish`] and [`Broker::publish_request`]: checks, encodes and
    /// publishes `msg` to the topic exchange on `lane`.
    async fn publish_message(
        &self,
        msg: Message,
        lane: Lane,
    ) -> Result<Confirmation, PublishError> {
        if msg.topic.is_empty() {
            return Err(PublishError::InvalidTopic(msg.topic));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(PublishError::Closed);
        }
        let _in_flight = InFlight::enter(&self.in_flight);
        let (routing_key, properties) = match encode(&msg, self.config.durable) {
            Ok(encoded) => encoded,
            Err(_) if msg.topic.len() > 255 => return Err(PublishError::InvalidTopic(msg.topic)),
            Err(err) => return Err(err.into()),
        };
        let out = Outgoing {
            exchange: self.exchange.clone(),
            routing_key,
            payload: &msg.payload,
            properties,
        };
        publish_confirmed(&self.session, &self.config, out, lane)
            .await
            .map_err(PublishError::from)
    }
}

impl Drop for Inner {
    /// The last handle is gone: no more reconnections; a live connection is closed
    /// (from a task, bounded by `operation_timeout`) and its socket shut down, so that
    /// lapin's IO thread ends.
    fn drop(&mut self) {
        self.supervisor.abort();
        if let Some(link) = self.session.shut() {
            let op = self.config.operation_timeout;
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(async move {
                        let _ = close_link(&link, op).await;
                    });
                }
                Err(_) => link.cut(),
            }
        }
    }
}

impl fmt::Debug for AmqpBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpBroker")
            .field("url", &self.inner.config.redacted_url())
            .field("exchange", &self.inner.config.exchange)
            .field("connected", &self.is_connected())
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// The state of an [`AmqpBroker`]'s connection ([`AmqpBroker::connection_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Connected; publishes and subscriptions work.
    Connected,
    /// The connection was lost and is being replaced; publishes wait up to
    /// [`AmqpConfig::reconnect_timeout`], subscriptions wait.
    Reconnecting,
    /// Reconnecting gave up ([`ReconnectPolicy::give_up_after`](crate::ReconnectPolicy::give_up_after)),
    /// for good: subscriptions have ended, publishes and subscribes fail with
    /// [`AmqpError::Disconnected`]. Only a new broker connects again.
    GaveUp,
    /// [`close`](Broker::close) was called (or the last handle dropped).
    Closed,
}

/// Counts a publish in flight, for [`Broker::close`].
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AmqpBroker {
    /// Connects to RabbitMQ and declares the topic exchange and its dead-letter
    /// exchange (both durable).
    ///
    /// Cancel-safety: dropping the future abandons the connection attempt.
    ///
    /// # Errors
    ///
    /// [`AmqpError::Config`] for bad settings, [`AmqpError::TimedOut`] after
    /// [`AmqpConfig::connect_timeout`], [`AmqpError::Amqp`] when the server refuses.
    pub async fn connect(config: AmqpConfig) -> Result<Self, AmqpError> {
        let exchange = encode_short("exchange", &config.exchange)?;
        let dead_letter_exchange = encode_short("exchange", &config.dead_letter_exchange())?;
        let connected = connect(&config).await?;
        let (session, supervisor) = Session::start(config.clone(), connected);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                session,
                supervisor,
                exchange,
                dead_letter_exchange,
                closed: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
                subscriptions: Mutex::new(Vec::new()),
            }),
        })
    }

    /// [`connect`](Self::connect) with [`AmqpConfig::from_env`].
    ///
    /// Cancel-safety: as [`connect`](Self::connect).
    ///
    /// # Errors
    ///
    /// [`AmqpError::Env`] for a variable whose value cannot be used, else as
    /// [`connect`](Self::connect).
    pub async fn from_env() -> Result<Self, AmqpError> {
        Self::connect(AmqpConfig::from_env()?).await
    }

    /// The settings this broker was built with.
    pub fn config(&self) -> &AmqpConfig {
        &self.inner.config
    }

    /// Whether the connection is up right now (`false` while reconnecting or closed).
    pub fn is_connected(&self) -> bool {
        self.inner.session.connected()
    }

    /// The state of the connection: connected, reconnecting, given up (for good:
    /// [`ReconnectPolicy::give_up_after`](crate::ReconnectPolicy::give_up_after)), or
    /// closed. After a subscription's `next` returned `None`, [`ConnectionState::GaveUp`]
    /// tells that it ended because reconnecting gave up (then every publish and
    /// subscribe fails at once with [`AmqpError::Disconnected`]).
    pub fn connection_state(&self) -> ConnectionState {
        self.inner.session.state()
    }

    /// How many request channels ([`AmqpConfig::request_channels`]) are open on the
    /// current connection, idle or in use: 0 before the first request and right after
    /// a reconnection (each connection opens its own, on demand), never more than the
    /// limit. A diagnostic.
    pub fn open_request_channels(&self) -> usize {
        self.inner
            .session
            .current()
            .map_or(0, |link| link.requests.open())
    }

    /// Subscribes to dead letters whose original topic matches `pattern` (AMQP
    /// wildcards allowed: `#` for all). They carry the reason in the headers
    /// `tracewire-dlq-error`, `tracewire-dlq-error-kind`, `tracewire-dlq-attempts` and
    /// `tracewire-dlq-original-topic` (or RabbitMQ's `x-death`, where the server
    /// dead-lettered on its own).
    ///
    /// Cancel-safety: dropping the future before it completes leaves no consumer (the
    /// half-made channel is closed).
    ///
    /// # Errors
    ///
    /// As [`Broker::subscribe`].
    pub async fn subscribe_dead_letters(
        &self,
        pattern: &str,
        options: SubscribeOptions,
    ) -> Result<AmqpSubscription, SubscribeError> {
        open(&self.inner, Source::DeadLetters, pattern, options).await
    }
}

impl Broker for AmqpBroker {
    type Subscription = AmqpSubscription;
    type Delivery = AmqpDelivery;

    fn system(&self) -> &'static str {
        "rabbitmq"
    }

    fn guarantees(&self) -> Guarantees {
        Guarantees::NONE
            .with_durable(self.inner.config.durable)
            .with_ordered(true)
            .with_at_least_once(true)
            .with_queue_groups(true)
            .with_headers(true)
            .with_reports_no_responders(true)
    }

    /// Publishes to the topic exchange; `Ok` once the broker confirmed the message.
    /// A nack is [`AmqpError::Nacked`], a field AMQP cannot carry is
    /// [`AmqpError::Encode`] (both inside [`PublishError::Backend`]). Not `mandatory`:
    /// a message no queue is bound for is confirmed and dropped by RabbitMQ.
    async fn publish(&self, msg: Message) -> Result<(), PublishError> {
        self.inner.publish_message(msg, Lane::Plain).await.map(drop)
    }

    /// Publishes with the `mandatory` flag and waits for the confirm: when no queue
    /// binding routes the topic, RabbitMQ returns the message (`basic.return`, reply
    /// code 312 `NO_ROUTE`) before confirming it, and this answers
    /// [`Responders::Absent`]; a message a queue took is [`Responders::Present`] (a
    /// bound subscriber that never answers still makes the request time out). Errors
    /// as [`publish`](Broker::publish).
    ///
    /// Requests go on request channels, one request per channel at a time (a returned
    /// message cannot be told apart from another's otherwise), up to
    /// [`AmqpConfig::request_channels`] of them per connection (default 8) in
    /// parallel: a round trip to the server each. When every channel is busy, a request
    /// waits for one, in turn, within [`AmqpConfig::operation_timeout`]. Plain
    /// publishes are not slowed down.
    /// Right after a reconnection, until subscriptions have bound their queues again,
    /// a request can find no route and answer `Absent`.
    ///
    /// Cancel-safety: as [`publish`](Broker::publish) (the request may still reach
    /// the broker); the request's channel is closed, not reused.
    async fn publish_request(&self, msg: Message) -> Result<Responders, PublishError> {
        let confirmation = self.inner.publish_message(msg, Lane::Request).await?;
        Ok(match confirmation {
            Confirmation::Ack(Some(returned)) => {
                tracing::debug!(
                    reply_code = returned.reply_code,
                    reply_text = %returned.reply_text,
                    routing_key = %returned.delivery.routing_key,
                    "request returned by RabbitMQ: no queue is bound for its topic"
                );
                Responders::Absent
            }
            // A nack is an error before this; `NotRequested` cannot happen on a
            // channel in confirm mode.
            Confirmation::Ack(None) | Confirmation::Nack(_) | Confirmation::NotRequested => {
                Responders::Present
            }
        })
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<AmqpSubscription, SubscribeError> {
        open(&self.inner, Source::Topics, topic, options).await
    }

    /// Stops publishing, waits for publishes in flight, lets every subscription take
    /// what its queue holds (then cancels its consumer, so its `next` returns `None`
    /// after the last message), waits until those deliveries are settled, then closes
    /// the connection. Bounded by [`AmqpConfig::drain_timeout`].
    async fn close(&self) -> Result<(), CloseError> {
        crate::drain::close(&self.inner)
            .await
            .map_err(CloseError::from)
    }
}
