//! The embedded in-memory broker: one process, nothing to install (feature `memory`).
//!
//! Topics match exactly (no wildcards). Every subscription has a bounded queue with an
//! [`Overflow`](crate::Overflow) policy; backpressure is the default, and every drop under the other
//! policies is counted ([`MemoryBroker::dropped`]), recorded as a `message dropped`
//! event on the current (publish) span and added to the metric
//! `tracewire.messaging.dropped_messages`. Nacked messages are redelivered at once,
//! with their attempt counted and without limit: bounding redeliveries is the router's
//! job ([`DeadLetter`](crate::router::DeadLetter) with [`Retry`](crate::router::Retry),
//! see `docs/messaging.md`). Messages from one publisher keep their order.
//!
//! The members of a queue group share one queue, created by the first member with its
//! capacity and overflow policy; a later member that asks for another capacity or
//! policy is refused with [`SubscribeError::QueueGroupMismatch`].
//!
//! # Example
//!
//! ```
//! use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
//! use tracewire_broker::memory::MemoryBroker;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = MemoryBroker::new();
//! let mut sub = broker.subscribe("orders.created", SubscribeOptions::new()).await?;
//! broker.publish(Message::new("orders.created", "42")).await?;
//! let delivery = sub.next().await.ok_or("closed")?;
//! assert_eq!(delivery.message().payload, "42");
//! delivery.ack().await?;
//! # Ok(()) }
//! ```

mod queue;
mod subscription;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::trace::get_active_span;
use opentelemetry::{InstrumentationScope, KeyValue, global};
use opentelemetry_semantic_conventions::attribute as semconv;

pub use subscription::{MemoryDelivery, MemorySubscription};

use crate::{
    Broker, CloseError, Guarantees, Message, PublishError, SubscribeError, SubscribeOptions,
};
use queue::{Offer, Queue};

/// Default per-subscription queue capacity.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Name of the drop counter metric.
pub const DROPPED_METRIC: &str = "tracewire.messaging.dropped_messages";

/// The in-memory broker. Clones share one set of topics.
#[derive(Clone, Debug)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    topics: Mutex<HashMap<String, Arc<[Arc<Queue>]>>>,
    closed: AtomicBool,
    capacity: usize,
    dropped: AtomicU64,
    drop_counter: Counter<u64>,
}

/// Builds a [`MemoryBroker`].
#[derive(Debug)]
pub struct MemoryBrokerBuilder {
    capacity: usize,
    meter: Option<Meter>,
}

impl MemoryBrokerBuilder {
    /// Default queue capacity for subscriptions that do not set one.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The meter for the drop counter (default: the global meter provider's).
    #[must_use]
    pub fn meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Builds the broker.
    pub fn build(self) -> MemoryBroker {
        let meter = self.meter.unwrap_or_else(|| {
            global::meter_with_scope(InstrumentationScope::builder("tracewire-broker").build())
        });
        let drop_counter = meter
            .u64_counter(DROPPED_METRIC)
            .with_description("Messages dropped by a full subscription queue or an unsubscribe")
            .with_unit("{message}")
            .build();
        MemoryBroker {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
                capacity: self.capacity,
                dropped: AtomicU64::new(0),
                drop_counter,
            }),
        }
    }
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBroker {
    /// A broker with the default capacity and the global meter.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for capacity and meter.
    pub fn builder() -> MemoryBrokerBuilder {
        MemoryBrokerBuilder {
            capacity: DEFAULT_CAPACITY,
            meter: None,
        }
    }

    /// How many messages have been dropped so far (overflow, rejection, or still queued
    /// when their subscription was dropped).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// How many messages are queued, over all subscriptions of `topic`.
    pub fn queued(&self, topic: &str) -> usize {
        let queues = self.inner.lock().get(topic).cloned();
        queues.map_or(0, |qs| qs.iter().map(|q| q.len()).sum())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<[Arc<Queue>]>>> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count_drop(&self, queue: &Queue, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        self.dropped.fetch_add(n, Ordering::Relaxed);
        let mut attrs = vec![
            KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, queue.topic.clone()),
            KeyValue::new("tracewire.drop.reason", reason),
        ];
        if let Some(group) = &queue.group {
            attrs.push(KeyValue::new(
                semconv::MESSAGING_CONSUMER_GROUP_NAME,
                group.clone(),
            ));
        }
        self.drop_counter.add(n, &attrs);
    }

    /// Counts a drop caused by a publish and records it on the current (publish) span.
    fn record_publish_drop(&self, queue: &Queue, dropped: &Message, reason: &'static str) {
        self.count_drop(queue, reason, 1);
        get_active_span(|span| {
            let mut attrs = vec![
                KeyValue::new(semconv::MESSAGING_MESSAGE_ID, dropped.id.clone()),
                KeyValue::new("tracewire.drop.reason", reason),
            ];
            if let Some(group) = &queue.group {
                attrs.push(KeyValue::new(
                    semconv::MESSAGING_CONSUMER_GROUP_NAME,
                    group.clone(),
                ));
            }
            span.add_event("message dropped", attrs);
        });
    }

    /// A subscription handle went away: detach its queue once no member is left.
    fn unsubscribe(&self, queue: &Arc<Queue>) {
        let mut topics = self.lock();
        if queue.members.fetch_sub(1, Ordering::AcqRel) > 1 {
            return;
        }
        if let Some(queues) = topics.get(&queue.topic) {
            let rest: Vec<Arc<Queue>> = queues
                .iter()
                .filter(|q| !Arc::ptr_eq(q, queue))
                .cloned()
                .collect();
            if rest.is_empty() {
                topics.remove(&queue.topic);
            } else {
                topics.insert(queue.topic.clone(), rest.into());
            }
        }
        drop(topics);
        let lost = queue.detach();
        self.count_drop(queue, "unsubscribed", lost as u64);
    }
}

impl Broker for MemoryBroker {
    type Subscription = MemorySubscription;
    type Delivery = MemoryDelivery;

    fn system(&self) -> &'static str {
        "tracewire_memory"
    }

    fn guarantees(&self) -> Guarantees {
        Guarantees::NONE
            .with_ordered(true)
            .with_at_least_once(true)
            .with_queue_groups(true)
            .with_headers(true)
            .with_overflow_policies(true)
            .with_reports_no_responders(true)
    }

    async fn publish(&self, msg: Message) -> Result<(), PublishError> {
        if msg.topic.is_empty() {
            return Err(PublishError::InvalidTopic(msg.topic));
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(PublishError::Closed);
        }
        let Some(queues) = self.inner.lock().get(&msg.topic).cloned() else {
            return Ok(());
        };
        let mut rejected = 0;
        let mut msg = Some(msg);
        for (i, queue) in queues.iter().enumerate() {
            let copy = if i + 1 == queues.len() {
                msg.take()
            } else {
                msg.clone()
            };
            let Some(copy) = copy else { break };
            match queue.push(copy).await {
                Offer::Queued | Offer::Gone => {}
                Offer::DroppedNewest(m) => self.inner.record_publish_drop(queue, &m, "drop_newest"),
                Offer::DroppedOldest(m) => self.inner.record_publish_drop(queue, &m, "drop_oldest"),
                Offer::Rejected => rejected += 1,
                Offer::Closed => return Err(PublishError::Closed),
            }
        }
        if rejected > 0 {
            return Err(PublishError::QueueFull {
                topic: queues.first().map(|q| q.topic.clone()).unwrap_or_default(),
                rejected,
            });
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<MemorySubscription, SubscribeError> {
        if topic.is_empty() {
            return Err(SubscribeError::InvalidTopic(topic.to_owned()));
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::Closed);
        }
        let mut topics = self.inner.lock();
        let existing = topics.get(topic).cloned().unwrap_or_else(|| Arc::from([]));
        let shared = options.queue_group.as_ref().and_then(|group| {
            existing
                .iter()
                .find(|q| q.group.as_ref() == Some(group))
                .cloned()
        });
        let queue = match shared {
            Some(queue) => {
                let capacity = options.capacity.unwrap_or(self.inner.capacity).max(1);
                let setting = if queue.capacity() != capacity {
                    Some("capacity")
                } else if queue.overflow != options.overflow {
                    Some("overflow")
                } else {
                    None
                };
                if let Some(setting) = setting {
                    return Err(SubscribeError::QueueGroupMismatch {
                        topic: topic.to_owned(),
                        group: queue.group.clone().unwrap_or_default(),
                        setting,
                    });
                }
                queue
            }
            None => {
                let queue = Arc::new(Queue::new(
                    topic.to_owned(),
                    options.queue_group.clone(),
                    options.capacity.unwrap_or(self.inner.capacity),
                    options.overflow,
                ));
                let mut all: Vec<Arc<Queue>> = existing.to_vec();
                all.push(Arc::clone(&queue));
                topics.insert(topic.to_owned(), all.into());
                queue
            }
        };
        queue.members.fetch_add(1, Ordering::AcqRel);
        drop(topics);
        Ok(MemorySubscription::new(Arc::clone(&self.inner), queue))
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.inner.closed.store(true, Ordering::Release);
        let queues: Vec<Arc<Queue>> = self
            .inner
            .lock()
            .values()
            .flat_map(|qs| qs.iter().cloned())
            .collect();
        for queue in &queues {
            queue.close();
        }
        for queue in &queues {
            queue.wait_idle().await;
        }
        Ok(())
    }

    fn has_subscribers(&self, topic: &str) -> Option<bool> {
        Some(self.inner.lock().contains_key(topic))
    }
}

#[cfg(test)]
mod tests;
