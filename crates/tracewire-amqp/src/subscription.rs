//! [`AmqpSubscription`]: one channel, one queue, one consumer.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Consumer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracewire_broker::{Overflow, SubscribeError, SubscribeOptions, Subscription};

use crate::AmqpError;
use crate::broker::Inner;
use crate::codec::decode;
use crate::dead_letter;
use crate::error::timed;
use crate::session::Link;

pub use crate::delivery::AmqpDelivery;

/// Which exchange a subscription binds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Topics,
    DeadLetters,
}

/// Pause before consuming again on a connection that is still up (the server
/// cancelled the consumer or closed its channel).
const RESUME_PAUSE: Duration = Duration::from_millis(100);

/// The channel and consumer a subscription reads from now (replaced on reconnection).
#[derive(Clone, Debug)]
pub(crate) struct Consuming {
    pub(crate) channel: Channel,
    pub(crate) tag: ShortString,
}

/// What the broker needs to drain a subscription on close.
#[derive(Debug)]
pub(crate) struct SubState {
    pub(crate) queue: ShortString,
    consuming: Mutex<Option<Consuming>>,
    /// Deliveries handed out and not yet settled.
    pub(crate) outstanding: AtomicUsize,
    /// Deliveries taken from the consumer and waiting in the subscription's buffer.
    pub(crate) buffered: AtomicUsize,
    /// The consumer stream ended (cancelled, or the connection is gone for good).
    pub(crate) pumped: AtomicBool,
    /// `next` returned `None`, or the subscription was dropped.
    pub(crate) finished: AtomicBool,
}

impl SubState {
    pub(crate) fn consuming(&self) -> Option<Consuming> {
        self.consuming
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the new consumer; returns the one it replaces.
    pub(crate) fn set_consuming(&self, next: Option<Consuming>) -> Option<Consuming> {
        let mut consuming = self
            .consuming
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *consuming, next)
    }

    /// Nothing left to hand out or to settle.
    pub(crate) fn idle(&self) -> bool {
        self.finished.load(Ordering::Acquire)
            || (self.pumped.load(Ordering::Acquire)
                && self.buffered.load(Ordering::Acquire) == 0
                && self.outstanding.load(Ordering::Acquire) == 0)
    }
}

/// A subscription: an AMQP queue bound to the exchange with the topic, consumed on a
/// channel of its own with `basic.qos` = capacity (default [`prefetch`]); after a lost
/// connection it declares its queue again and consumes on the new connection. Dropping
/// it closes the channel: unsettled messages go back to the queue, and a fan-out queue is
/// deleted.
///
/// Messages that cannot be decoded (a trace header that is not a string, an
/// unsupported content encoding) are never handed out: they are dead-lettered with the
/// reason and the subscription goes on with the next message.
///
/// [`prefetch`]: crate::AmqpConfig::prefetch
pub struct AmqpSubscription {
    topic: String,
    group: Option<String>,
    rx: mpsc::Receiver<AmqpDelivery>,
    pump: JoinHandle<()>,
    state: Arc<SubState>,
    inner: Arc<Inner>,
}

impl fmt::Debug for AmqpSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpSubscription")
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("queue", &self.state.queue)
            .finish_non_exhaustive()
    }
}

impl AmqpSubscription {
    /// The AMQP queue this subscription consumes from.
    pub fn queue(&self) -> &str {
        self.state.queue.as_str()
    }

    /// The queue group, if any.
    pub fn queue_group(&self) -> Option<&str> {
        self.group.as_deref()
    }
}

/// Declares, binds and consumes; closes the channel again if a step fails.
pub(crate) async fn open(
    inner: &Arc<Inner>,
    source: Source,
    topic: &str,
    options: SubscribeOptions,
) -> Result<AmqpSubscription, SubscribeError> {
    if topic.is_empty() || topic.len() > 255 {
        return Err(SubscribeError::InvalidTopic(topic.to_owned()));
    }
    if inner.closed.load(Ordering::Acquire) {
        return Err(SubscribeError::Closed);
    }
    let capacity = options.capacity.map_or(inner.config.prefetch, |c| {
        u16::try_from(c).unwrap_or(u16::MAX).max(1)
    });
    let mut args = FieldTable::default();
    let exchange = match source {
        Source::Topics => {
            let dlx = AMQPValue::LongString(LongString::from(inner.dead_letter_exchange.as_str()));
            args.insert("x-dead-letter-exchange".into(), dlx);
            inner.exchange.clone()
        }
        Source::DeadLetters => inner.dead_letter_exchange.clone(),
    };
    let overflow = match options.overflow {
        Overflow::Backpressure => None,
        Overflow::DropOldest => Some("drop-head"),
        Overflow::Error => Some("reject-publish"),
        _ => return Err(SubscribeError::Unsupported("overflow policy")),
    };
    if let Some(policy) = overflow {
        args.insert(
            "x-max-length".into(),
            AMQPValue::LongInt(i32::from(capacity)),
        );
        args.insert("x-overflow".into(), AMQPValue::LongString(policy.into()));
    }
    let (name, declare) = queue_for(inner, source, topic, options.queue_group.as_deref());
    let queue =
        ShortString::try_new(name).map_err(|_| SubscribeError::InvalidTopic(topic.to_owned()))?;
    let topic_key =
        ShortString::try_new(topic).map_err(|_| SubscribeError::InvalidTopic(topic.to_owned()))?;
    let plan = Plan {
        queue,
        declare,
        args,
        exchange,
        topic_key,
        capacity,
    };
    let deadline = Instant::now() + inner.config.reconnect_timeout;
    let link = inner
        .session
        .link(0, Some(deadline))
        .await
        .map_err(|why| why.into_error(&inner.config))?;
    let (consuming, consumer) = plan.consume(&link, inner.config.operation_timeout).await?;
    let state = Arc::new(SubState {
        queue: plan.queue.clone(),
        consuming: Mutex::new(Some(consuming)),
        outstanding: AtomicUsize::new(0),
        buffered: AtomicUsize::new(0),
        pumped: AtomicBool::new(false),
        finished: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel(usize::from(capacity));
    let pump = tokio::spawn(pump(
        Pumped {
            consumer,
            generation: link.generation,
        },
        plan,
        tx,
        Arc::clone(&state),
        Arc::clone(inner),
    ));
    let mut subs = inner.subscriptions();
    subs.retain(|s| s.strong_count() > 0);
    subs.push(Arc::downgrade(&state));
    drop(subs);
    Ok(AmqpSubscription {
        topic: topic.to_owned(),
        group: options.queue_group,
        rx,
        pump,
        state,
        inner: Arc::clone(inner),
    })
}

/// How a subscription consumes: what [`open`] declared, done again on a new connection.
struct Plan {
    queue: ShortString,
    declare: QueueDeclareOptions,
    args: FieldTable,
    exchange: ShortString,
    topic_key: ShortString,
    capacity: u16,
}

impl Plan {
    /// A channel with QoS, the queue declared and bound, and a consumer on it; the
    /// channel is closed again if a step fails.
    async fn consume(&self, link: &Link, op: Duration) -> Result<(Consuming, Consumer), AmqpError> {
        let channel = timed("channel.open", op, link.connection.create_channel()).await?;
        let steps = async {
            timed(
                "basic.qos",
                op,
                channel.basic_qos(self.capacity, BasicQosOptions::default()),
            )
            .await?;
            timed(
                "queue.declare",
                op,
                channel.queue_declare(self.queue.clone(), self.declare, self.args.clone()),
            )
            .await?;
            let bind = channel.queue_bind(
                self.queue.clone(),
                self.exchange.clone(),
                self.topic_key.clone(),
                QueueBindOptions::default(),
                FieldTable::default(),
            );
            timed("queue.bind", op, bind).await?;
            let consume = channel.basic_consume(
                self.queue.clone(),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            );
            timed("basic.consume", op, consume).await
        };
        match steps.await {
            Ok(consumer) => {
                let tag = consumer.tag();
                Ok((Consuming { channel, tag }, consumer))
            }
            Err(err) => {
                close_channel(channel);
                Err(err)
            }
        }
    }
}

/// The queue name and declare options. Names are chosen here rather than by the
/// server, so that a reconnection declares the very queue the subscription had.
fn queue_for(
    inner: &Inner,
    source: Source,
    topic: &str,
    group: Option<&str>,
) -> (String, QueueDeclareOptions) {
    let exchange = match source {
        Source::Topics => inner.exchange.as_str(),
        Source::DeadLetters => inner.dead_letter_exchange.as_str(),
    };
    match group {
        Some(group) => {
            let durable = inner.config.durable;
            let options = QueueDeclareOptions {
                durable,
                auto_delete: !durable,
                ..QueueDeclareOptions::default()
            };
            (format!("{exchange}.{topic}.{group}"), options)
        }
        None => {
            let options = QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            };
            // Reply inboxes are queues of the same name, so a plain AMQP client can
            // answer through the default exchange with `routing_key = reply_to`.
            let name = if topic.starts_with(tracewire_broker::trace::REPLY_TOPIC_PREFIX) {
                topic.to_owned()
            } else {
                format!("{exchange}.{topic}.{}", uuid::Uuid::new_v4().simple())
            };
            (name, options)
        }
    }
}

fn close_channel(channel: Channel) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            let _ = channel.close(200, "unsubscribed".into()).await;
        });
    }
}

impl Subscription for AmqpSubscription {
    type Delivery = AmqpDelivery;

    /// The next decodable message. While the connection is being recovered it waits:
    /// for as long as reconnecting goes on ([`ReconnectPolicy`](crate::ReconnectPolicy);
    /// for ever by default), and ends (`None`) if reconnecting gives up.
    ///
    /// Cancel-safety: cancel-safe (a task moves deliveries from the AMQP consumer into a
    /// buffer of `capacity`; this only takes from the buffer).
    async fn next(&mut self) -> Option<AmqpDelivery> {
        match self.rx.recv().await {
            Some(delivery) => {
                self.state.buffered.fetch_sub(1, Ordering::AcqRel);
                Some(delivery)
            }
            None => {
                self.state.finished.store(true, Ordering::Release);
                None
            }
        }
    }

    fn topic(&self) -> &str {
        &self.topic
    }
}

impl Drop for AmqpSubscription {
    /// Stops the pump and lets lapin close the channel once the consumer (held by the
    /// pump) is gone: lapin cancels a consumer dropped while active, then closes a
    /// channel whose last handle is dropped, in that order. A `close` of our own here
    /// would race those two tasks of lapin's, and without automatic recovery lapin
    /// turns the loser's error into an error of the whole connection (a needless
    /// reconnection). While the broker is closing, `close` closes the channel itself.
    fn drop(&mut self) {
        self.pump.abort();
        self.state.finished.store(true, Ordering::Release);
        if !self.inner.closed.load(Ordering::Acquire) {
            drop(self.state.set_consuming(None));
        }
    }
}

/// A consumer and the generation of the link it consumes on.
struct Pumped {
    consumer: Consumer,
    generation: u64,
}

/// Moves deliveries from the AMQP consumer into the subscription's buffer, decoding
/// them; undecodable ones are dead-lettered here and never reach the buffer. When the
/// consumer ends without the broker being closed (connection lost, consumer cancelled
/// by the server), consumes again (on a new connection when the old one is gone).
async fn pump(
    mut pumped: Pumped,
    plan: Plan,
    tx: mpsc::Sender<AmqpDelivery>,
    state: Arc<SubState>,
    inner: Arc<Inner>,
) {
    loop {
        let healthy_end = match forward(&mut pumped.consumer, &tx, &state, &inner).await {
            Forwarded::Receiver => break,
            Forwarded::Ended => true,
            Forwarded::Failed(error) => {
                tracing::debug!(%error, queue = %plan.queue, "consumer failed");
                false
            }
        };
        match resume(&plan, &state, &inner, pumped.generation, healthy_end).await {
            Some(next) => pumped = next,
            None => break,
        }
    }
    state.pumped.store(true, Ordering::Release);
}

enum Forwarded {
    /// The subscription is gone.
    Receiver,
    /// The consumer stream ended.
    Ended,
    /// The consumer failed (connection or channel lost).
    Failed(lapin::Error),
}

async fn forward(
    consumer: &mut Consumer,
    tx: &mpsc::Sender<AmqpDelivery>,
    state: &Arc<SubState>,
    inner: &Arc<Inner>,
) -> Forwarded {
    while let Some(item) = consumer.next().await {
        let delivery = match item {
            Ok(delivery) => delivery,
            Err(error) => return Forwarded::Failed(error),
        };
        let lapin::message::Delivery {
            routing_key,
            redelivered,
            properties,
            data,
            acker,
            ..
        } = delivery;
        let payload = Bytes::from(data);
        match decode(
            routing_key.as_str(),
            redelivered,
            &properties,
            payload.clone(),
        ) {
            Ok(message) => {
                let delivery = AmqpDelivery::new(
                    message,
                    properties,
                    acker,
                    Arc::clone(state),
                    Arc::clone(inner),
                );
                state.buffered.fetch_add(1, Ordering::AcqRel);
                if let Err(mpsc::error::SendError(unsent)) = tx.send(delivery).await {
                    state.buffered.fetch_sub(1, Ordering::AcqRel);
                    drop(unsent);
                    return Forwarded::Receiver;
                }
            }
            Err(reason) => {
                tracing::warn!(topic = %routing_key, %reason, "dead-lettering an undecodable message");
                let undecodable = dead_letter::Undecodable {
                    topic: routing_key.to_string(),
                    properties,
                    payload,
                    acker,
                    reason: reason.to_string(),
                };
                dead_letter::undecodable(inner, undecodable).await;
            }
        }
    }
    Forwarded::Ended
}

/// Consumes again after the consumer of link `generation` ended (`healthy_end`: without
/// an error): on that link if it is still up, else on the next one. Gives up (`None`)
/// when the broker is closing, the subscription is gone, or reconnecting gave up
/// (`ReconnectPolicy::give_up_after`; with no limit, it waits for as long as the session
/// reconnects).
async fn resume(
    plan: &Plan,
    state: &SubState,
    inner: &Inner,
    generation: u64,
    healthy_end: bool,
) -> Option<Pumped> {
    let stopping =
        || inner.closed.load(Ordering::Acquire) || state.finished.load(Ordering::Acquire);
    let deadline = inner
        .config
        .reconnect
        .give_up_after
        .map(|limit| Instant::now() + limit);
    let mut min_generation = generation;
    if healthy_end {
        tokio::time::sleep(RESUME_PAUSE).await;
    }
    loop {
        if stopping() {
            return None;
        }
        // No deadline of its own here: the session's supervisor decides when to give
        // up (after a failed attempt past `give_up_after`), and `link` then fails with
        // `Failed`; a deadline counted from here could end the subscription while the
        // broker still reconnects.
        let link = match inner.session.link(min_generation, None).await {
            Ok(link) => link,
            Err(why) => {
                tracing::warn!(queue = %plan.queue, ?why, "subscription ends: no connection to consume on");
                return None;
            }
        };
        match plan.consume(&link, inner.config.operation_timeout).await {
            Ok((consuming, consumer)) => {
                if let Some(old) = state.set_consuming(Some(consuming.clone())) {
                    close_channel(old.channel);
                }
                if stopping() {
                    // Closed (or dropped) meanwhile: `close` may have cancelled the old
                    // consumer only.
                    if let Some(current) = state.set_consuming(None) {
                        close_channel(current.channel);
                    }
                    return None;
                }
                tracing::debug!(queue = %plan.queue, generation = link.generation, "consuming again");
                return Some(Pumped {
                    consumer,
                    generation: link.generation,
                });
            }
            Err(error) => {
                tracing::debug!(%error, queue = %plan.queue, "consuming again failed");
                if !link.healthy() {
                    min_generation = link.generation + 1;
                }
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    tracing::warn!(queue = %plan.queue, %error, "subscription ends: could not consume again");
                    return None;
                }
                if link.healthy() {
                    tracing::warn!(queue = %plan.queue, %error, "consuming again failed on a live connection; retrying");
                }
                tokio::time::sleep(RESUME_PAUSE).await;
            }
        }
    }
}
