//! In-progress keep-alive: while a JetStream delivery is unsettled, `+WPI` is sent
//! every `ack_wait / 3` (well within the `ack_wait / 2` the design asks for) so a slow
//! handler does not get its message redelivered.
//!
//! One task per subscription, not per message: deliveries register a [`Ticket`] in
//! [`Pending`]; the task wakes every `ack_wait / 3`, snapshots the tickets (without
//! holding the lock across a send) and refreshes each. It ends when the
//! subscription and all its deliveries are gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::{Client, Subject};

/// Unsettled deliveries of one subscription.
#[derive(Debug)]
pub(crate) struct Pending {
    entries: Mutex<HashMap<u64, Subject>>,
    next: AtomicU64,
}

impl Pending {
    /// Starts the keep-alive task for `ack_wait` (needs a tokio runtime).
    pub(crate) fn start(client: Client, ack_wait: Duration) -> Arc<Self> {
        let pending = Arc::new(Self {
            entries: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        });
        let every = (ack_wait / 3).max(Duration::from_millis(30));
        tokio::spawn(refresh(Arc::downgrade(&pending), client, every));
        pending
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Subject>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a delivery by its ack subject; dropping the ticket unregisters it.
    pub(crate) fn track(self: &Arc<Self>, reply: Subject) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, reply);
        Ticket {
            pending: Arc::clone(self),
            id,
        }
    }

    /// Unsettled deliveries.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One unsettled delivery; dropping it stops its keep-alive.
#[derive(Debug)]
pub(crate) struct Ticket {
    pending: Arc<Pending>,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.id);
    }
}

async fn refresh(pending: Weak<Pending>, client: Client, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(pending) = pending.upgrade() else {
            return;
        };
        let due: Vec<Subject> = pending.lock().values().cloned().collect();
        drop(pending);
        for reply in due {
            let send = client.publish(reply, AckKind::Progress.into());
            let _ = tokio::time::timeout(every, send).await;
        }
    }
}
