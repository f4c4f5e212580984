//! [`MemorySubscription`] and [`MemoryDelivery`].

use std::sync::Arc;

use super::Inner;
use super::queue::Queue;
use crate::{AckError, Delivery, Message, Subscription};

/// A subscription to the [`MemoryBroker`](super::MemoryBroker). Dropping it
/// unsubscribes; when it was the last member of its queue, messages still queued are
/// counted as dropped (reason `unsubscribed`).
#[derive(Debug)]
pub struct MemorySubscription {
    inner: Arc<Inner>,
    queue: Arc<Queue>,
}

impl MemorySubscription {
    pub(super) fn new(inner: Arc<Inner>, queue: Arc<Queue>) -> Self {
        Self { inner, queue }
    }

    /// The queue group this subscription belongs to, if any.
    pub fn queue_group(&self) -> Option<&str> {
        self.queue.group.as_deref()
    }
}

impl Subscription for MemorySubscription {
    type Delivery = MemoryDelivery;

    async fn next(&mut self) -> Option<MemoryDelivery> {
        let message = self.queue.pop().await?;
        Some(MemoryDelivery {
            message,
            inner: Arc::clone(&self.inner),
            queue: Arc::clone(&self.queue),
            settled: false,
        })
    }

    fn topic(&self) -> &str {
        &self.queue.topic
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        self.inner.unsubscribe(&self.queue);
    }
}

/// A message received from the [`MemoryBroker`](super::MemoryBroker). Dropping it
/// without [`ack`](Delivery::ack) or [`nack`](Delivery::nack) nacks it (redelivery).
#[derive(Debug)]
pub struct MemoryDelivery {
    message: Message,
    inner: Arc<Inner>,
    queue: Arc<Queue>,
    settled: bool,
}

impl MemoryDelivery {
    fn settle_nack(&mut self) -> Result<(), AckError> {
        self.settled = true;
        let message = self.message.clone();
        if self.queue.nack(message) {
            Ok(())
        } else {
            self.inner.count_drop(&self.queue, "unsubscribed", 1);
            Err(AckError::Closed)
        }
    }
}

impl Delivery for MemoryDelivery {
    fn message(&self) -> &Message {
        &self.message
    }

    async fn ack(mut self) -> Result<(), AckError> {
        self.settled = true;
        self.queue.ack();
        Ok(())
    }

    async fn nack(mut self) -> Result<(), AckError> {
        self.settle_nack()
    }
}

impl Drop for MemoryDelivery {
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.settle_nack();
        }
    }
}
