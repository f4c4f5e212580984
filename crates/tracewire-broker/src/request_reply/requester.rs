//! [`Requester`]: one shared reply subscription per instance and a pending map.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::trace::FutureExt as _;
use opentelemetry::{InstrumentationScope, KeyValue, global};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::deadline::format_deadline;
use super::{DEADLINE_HEADER, ERROR_HEADER, RequestError, deadline};
use crate::trace::REPLY_TOPIC_PREFIX;
use crate::{
    Broker, Delivery, Message, Responders, SubscribeError, SubscribeOptions, Subscription,
};

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Message>>>>;

/// Name of the late-reply counter metric.
pub const LATE_REPLIES_METRIC: &str = "tracewire.messaging.late_replies";

/// Sends requests and matches replies by correlation id.
///
/// Each instance subscribes once to its own reply topic (`_INBOX.<uuid>`) and keeps a
/// map of correlation id → waiting caller. An entry is removed when its reply arrives,
/// when its deadline passes, and when the caller drops the request future, so nothing
/// leaks ([`Self::pending_len`]). Replies that find no entry are counted as late
/// ([`Self::late_replies`], metric `tracewire.messaging.late_replies`) and discarded.
/// Cheap to clone; the reply subscription ends when the last clone is dropped.
#[derive(Debug)]
pub struct Requester<B: Broker> {
    shared: Arc<Shared<B>>,
}

impl<B: Broker> Clone for Requester<B> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug)]
struct Shared<B> {
    broker: B,
    reply_topic: String,
    pending: Pending,
    late: Arc<AtomicU64>,
    listener: JoinHandle<()>,
}

impl<B> Drop for Shared<B> {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn lock(pending: &Pending) -> MutexGuard<'_, HashMap<String, oneshot::Sender<Message>>> {
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes the pending entry however the request ends (reply, deadline, drop).
struct PendingGuard<'a> {
    pending: &'a Pending,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.id);
    }
}

/// Builds a [`Requester`]: [`Requester::builder`].
#[derive(Debug)]
pub struct RequesterBuilder<B> {
    broker: B,
    meter: Option<Meter>,
}

impl<B: Broker> RequesterBuilder<B> {
    /// The meter for the late-reply counter (default: the global meter provider's, as
    /// for [`MemoryBroker`](crate::memory::MemoryBroker)).
    #[must_use]
    pub fn meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Subscribes to a fresh reply topic and starts the reply listener (a tokio task).
    ///
    /// Cancel-safety: dropping the future leaves no subscription behind.
    pub async fn build(self) -> Result<Requester<B>, SubscribeError> {
        let broker = self.broker;
        let reply_topic = format!("{REPLY_TOPIC_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let subscription = broker
            .subscribe(&reply_topic, SubscribeOptions::new())
            .await?;
        let pending: Pending = Arc::default();
        let late = Arc::new(AtomicU64::new(0));
        let meter = self.meter.unwrap_or_else(|| {
            global::meter_with_scope(InstrumentationScope::builder("tracewire-broker").build())
        });
        let counter = meter
            .u64_counter(LATE_REPLIES_METRIC)
            .with_description("Replies that arrived after their request ended")
            .with_unit("{message}")
            .build();
        let listener = tokio::spawn(listen(
            subscription,
            Arc::clone(&pending),
            Arc::clone(&late),
            counter,
        ));
        Ok(Requester {
            shared: Arc::new(Shared {
                broker,
                reply_topic,
                pending,
                late,
                listener,
            }),
        })
    }
}

impl<B: Broker> Requester<B> {
    /// Subscribes to a fresh reply topic and starts the reply listener (a tokio task),
    /// with the global meter. See [`Self::builder`] to choose the meter.
    ///
    /// Cancel-safety: dropping the future leaves no subscription behind.
    pub async fn new(broker: B) -> Result<Self, SubscribeError> {
        Self::builder(broker).build().await
    }

    /// A builder, to set the meter of the late-reply counter.
    pub fn builder(broker: B) -> RequesterBuilder<B> {
        RequesterBuilder {
            broker,
            meter: None,
        }
    }

    /// Publishes `msg` to `topic` and waits up to `timeout` for the reply.
    ///
    /// The request gets a fresh correlation id and this requester's reply topic. The
    /// timeout covers publishing too (a backpressured publish counts against it). It is
    /// published with [`Broker::publish_request`], so a backend that declares
    /// [`reports_no_responders`](crate::Guarantees::reports_no_responders) makes a
    /// request nobody serves fail at once with [`RequestError::NoResponders`] instead
    /// of [`RequestError::TimedOut`].
    ///
    /// The deadline (now + `timeout`, wall clock) travels in the [`DEADLINE_HEADER`]
    /// header, so a responder skips a request nobody waits for any more. When `msg`
    /// already carries an earlier deadline (one propagated from upstream), the earlier
    /// one is kept.
    ///
    /// Cancel-safety: dropping the future removes the pending entry; a reply that
    /// arrives afterwards is counted as late.
    pub async fn request(
        &self,
        topic: &str,
        mut msg: Message,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let shared = &self.shared;
        let id = uuid::Uuid::new_v4().to_string();
        topic.clone_into(&mut msg.topic);
        msg.reply_to = Some(shared.reply_topic.clone());
        msg.correlation_id = Some(id.clone());
        // A timeout too large for the clock means no deadline of our own.
        let own = SystemTime::now().checked_add(timeout);
        let due = match (own, deadline(&msg)) {
            (Some(own), Some(upstream)) => Some(own.min(upstream)),
            (own, upstream) => own.or(upstream),
        };
        if let Some(due) = due {
            msg.headers.insert(DEADLINE_HEADER, format_deadline(due));
        }
        let (tx, rx) = oneshot::channel();
        lock(&shared.pending).insert(id.clone(), tx);
        let _guard = PendingGuard {
            pending: &shared.pending,
            id,
        };
        let exchange = async {
            // Backends that can tell say so here (the memory broker at once, core NATS
            // after a server round trip): no waiting for a reply that cannot come.
            if shared.broker.publish_request(msg).await? == Responders::Absent {
                return Err(RequestError::NoResponders(topic.to_owned()));
            }
            rx.await.map_err(|_| RequestError::Closed)
        };
        let reply = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| RequestError::TimedOut(timeout))??;
        match reply.headers.get(ERROR_HEADER) {
            Some(error) => Err(RequestError::Remote(error.to_owned())),
            None => Ok(reply),
        }
    }

    /// Requests waiting for a reply right now.
    pub fn pending_len(&self) -> usize {
        lock(&self.shared.pending).len()
    }

    /// Replies that arrived with no request waiting (late or unknown), so far.
    pub fn late_replies(&self) -> u64 {
        self.shared.late.load(Ordering::Relaxed)
    }

    /// This requester's reply topic.
    pub fn reply_topic(&self) -> &str {
        &self.shared.reply_topic
    }
}

async fn listen<S: Subscription>(
    mut subscription: S,
    pending: Pending,
    late: Arc<AtomicU64>,
    counter: Counter<u64>,
) {
    while let Some(delivery) = subscription.next().await {
        let cx = delivery.context();
        let msg = delivery.message().clone();
        let waiter = msg
            .correlation_id
            .as_ref()
            .and_then(|id| lock(&pending).remove(id));
        let delivered = match waiter {
            Some(tx) => tx.send(msg).is_ok(),
            None => false,
        };
        if !delivered {
            late.fetch_add(1, Ordering::Relaxed);
            counter.add(1, &[KeyValue::new("tracewire.reply.outcome", "late")]);
        }
        // The reply is consumed either way: a late reply is discarded, not redelivered.
        let _ = delivery.ack().with_context(cx).await;
    }
}
