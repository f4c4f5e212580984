//! One bounded queue: a fan-out subscriber's own queue, or the queue a queue group's
//! members compete on. Redeliveries (nacks) go to a separate deque that is served
//! first and does not count against the capacity, so a nack never blocks.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::{Message, Overflow};

/// What happened to an offered message.
#[derive(Debug)]
pub(super) enum Offer {
    /// Queued for delivery.
    Queued,
    /// Queued, but this (older) message was dropped to make room.
    DroppedOldest(Message),
    /// The offered message was dropped (queue full).
    DroppedNewest(Message),
    /// The queue was full and its policy is to fail the publish.
    Rejected,
    /// The subscription went away meanwhile: not for it any more.
    Gone,
    /// The broker closed meanwhile.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    ready: VecDeque<Message>,
    redeliver: VecDeque<Message>,
    in_flight: usize,
    closed: bool,
    detached: bool,
}

impl State {
    fn is_idle(&self) -> bool {
        self.detached || (self.ready.is_empty() && self.redeliver.is_empty() && self.in_flight == 0)
    }
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) topic: String,
    pub(super) group: Option<String>,
    pub(super) overflow: Overflow,
    /// Live subscription handles; changed only under the broker's registry lock.
    pub(super) members: AtomicUsize,
    capacity: usize,
    state: Mutex<State>,
    readable: Notify,
    writable: Notify,
    idle: Notify,
}

impl Queue {
    pub(super) fn new(
        topic: String,
        group: Option<String>,
        capacity: usize,
        overflow: Overflow,
    ) -> Self {
        Self {
            topic,
            group,
            overflow,
            members: AtomicUsize::new(0),
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
            readable: Notify::new(),
            writable: Notify::new(),
            idle: Notify::new(),
        }
    }

    /// The capacity this queue was created with.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Offers `msg`, waiting for room under [`Overflow::Backpressure`].
    /// Cancel-safe: the message is queued only when the future completes.
    pub(super) async fn push(&self, msg: Message) -> Offer {
        loop {
            let writable = self.writable.notified();
            tokio::pin!(writable);
            writable.as_mut().enable();
            {
                let mut st = self.lock();
                if st.detached {
                    return Offer::Gone;
                }
                if st.closed {
                    return Offer::Closed;
                }
                if st.ready.len() < self.capacity {
                    st.ready.push_back(msg);
                    drop(st);
                    self.readable.notify_one();
                    return Offer::Queued;
                }
                match self.overflow {
                    Overflow::Backpressure => {}
                    Overflow::DropNewest => return Offer::DroppedNewest(msg),
                    Overflow::Error => return Offer::Rejected,
                    Overflow::DropOldest => {
                        let oldest = st.ready.pop_front();
                        st.ready.push_back(msg);
                        drop(st);
                        self.readable.notify_one();
                        return oldest.map_or(Offer::Queued, Offer::DroppedOldest);
                    }
                }
            }
            writable.await;
        }
    }

    /// Takes the next message (redeliveries first); `None` once closed and settled or
    /// detached. Cancel-safe: a message is taken only when the future completes.
    pub(super) async fn pop(&self) -> Option<Message> {
        loop {
            let readable = self.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            {
                let mut st = self.lock();
                if st.detached {
                    return None;
                }
                let next = match st.redeliver.pop_front() {
                    Some(msg) => Some(msg),
                    None => st.ready.pop_front(),
                };
                if let Some(msg) = next {
                    st.in_flight += 1;
                    drop(st);
                    self.writable.notify_one();
                    return Some(msg);
                }
                if st.closed && st.in_flight == 0 {
                    return None;
                }
            }
            readable.await;
        }
    }

    /// An in-flight message was acked.
    pub(super) fn ack(&self) {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        self.after_settle(st);
    }

    /// An in-flight message was nacked: queue it for redelivery. Returns `false` when
    /// the subscription is gone (the caller counts the message as dropped).
    pub(super) fn nack(&self, mut msg: Message) -> bool {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if st.detached {
            return false;
        }
        msg.delivery_attempt = msg.delivery_attempt.saturating_add(1);
        st.redeliver.push_back(msg);
        drop(st);
        self.readable.notify_one();
        true
    }

    fn after_settle(&self, st: MutexGuard<'_, State>) {
        let idle = st.is_idle();
        let closed = st.closed;
        drop(st);
        if idle {
            self.idle.notify_waiters();
            if closed {
                self.readable.notify_waiters();
            }
        }
    }

    /// Stops accepting messages; readers drain what is queued, then get `None`.
    pub(super) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        drop(st);
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }

    /// The last member left: returns what was still queued (to be counted as dropped).
    pub(super) fn detach(&self) -> usize {
        let mut st = self.lock();
        st.detached = true;
        let lost = st.ready.len() + st.redeliver.len();
        st.ready.clear();
        st.redeliver.clear();
        drop(st);
        self.readable.notify_waiters();
        self.writable.notify_waiters();
        self.idle.notify_waiters();
        lost
    }

    /// Waits until nothing is queued or in flight (or the queue is detached).
    pub(super) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.lock().is_idle() {
                return;
            }
            idle.await;
        }
    }

    /// Messages queued (ready and redelivery) right now.
    pub(super) fn len(&self) -> usize {
        let st = self.lock();
        st.ready.len() + st.redeliver.len()
    }
}
