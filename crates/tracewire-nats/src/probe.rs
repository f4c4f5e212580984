//! The no-responders probe behind
//! [`Broker::publish_request`](tracewire_broker::Broker::publish_request) on core NATS,
//! multiplexed as async-nats multiplexes its own requests: one wildcard subscription
//! per broker (`<inbox>.*`), one token subject under it per request, and a router task
//! that hands the first message on each token to that request's waiter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_nats::{Client, StatusCode, Subject, Subscriber};
use futures_util::StreamExt as _;
use tokio::sync::{oneshot, watch};
use tracewire_broker::Responders;

use crate::NatsError;

/// A broker's probe: opened on the first request, and again if its router ended (the
/// runtime it was spawned on shut down, or the connection was closed).
#[derive(Debug, Default)]
pub(crate) struct Probes {
    current: Mutex<Option<Arc<Probe>>>,
    /// Held while a probe is opened, so concurrent first requests open one.
    opening: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Probe {
    /// `<inbox>.`: a request's probe subject is this followed by its token.
    prefix: String,
    next: AtomicU64,
    waiters: Mutex<Waiters>,
}

#[derive(Debug)]
struct Waiters {
    /// False once the router ended: nobody would answer a new waiter.
    open: bool,
    map: HashMap<u64, oneshot::Sender<Responders>>,
}

/// One request's place on the probe: its subject, and the answer the router sends.
/// Dropping it (answered, cancelled, timed out) removes its entry.
#[derive(Debug)]
pub(crate) struct Waiter {
    probe: Arc<Probe>,
    token: u64,
    pub(crate) subject: Subject,
    answer: oneshot::Receiver<Responders>,
}

impl Probes {
    /// Registers a waiter on the broker's probe (opening it if needed). Register
    /// before publishing: the answer may arrive before the publish returns.
    /// `broker_alive` is any sender the broker owns: the router ends when it drops.
    pub(crate) async fn register(
        &self,
        client: &Client,
        broker_alive: &watch::Sender<bool>,
    ) -> Result<Waiter, NatsError> {
        if let Some(waiter) = self.current().and_then(|p| Probe::register(&p)) {
            return Ok(waiter);
        }
        let _opening = self.opening.lock().await;
        if let Some(waiter) = self.current().and_then(|p| Probe::register(&p)) {
            return Ok(waiter);
        }
        let probe = Probe::open(client, broker_alive.subscribe()).await?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&probe));
        Probe::register(&probe).ok_or_else(|| NatsError::client("the request probe closed"))
    }

    /// Requests waiting for their probe answer (zero when none is in flight).
    pub(crate) fn pending(&self) -> usize {
        self.current().map_or(0, |p| p.waiters().map.len())
    }

    fn current(&self) -> Option<Arc<Probe>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Probe {
    async fn open(client: &Client, dropped: watch::Receiver<bool>) -> Result<Arc<Self>, NatsError> {
        let inbox = client.new_inbox();
        let answers = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(NatsError::client)?;
        let probe = Arc::new(Self {
            prefix: format!("{inbox}."),
            next: AtomicU64::new(0),
            waiters: Mutex::new(Waiters {
                open: true,
                map: HashMap::new(),
            }),
        });
        tokio::spawn(route(answers, Arc::clone(&probe), dropped));
        Ok(probe)
    }

    /// `None` once the router ended.
    fn register(probe: &Arc<Self>) -> Option<Waiter> {
        let token = probe.next.fetch_add(1, Ordering::Relaxed);
        let (tx, answer) = oneshot::channel();
        {
            let mut waiters = probe.waiters();
            if !waiters.open {
                return None;
            }
            waiters.map.insert(token, tx);
        }
        Some(Waiter {
            probe: Arc::clone(probe),
            token,
            subject: Subject::from(format!("{}{token}", probe.prefix)),
            answer,
        })
    }

    fn waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands the first message on each token to its waiter: the server's "no responders"
/// status is [`Responders::Absent`], anything else (our own marker, or a plain NATS
/// responder's reply) [`Responders::Present`]. Later messages on a token find no
/// waiter and are dropped. Ends when the subscription ends (`close` drains the
/// connection) or the broker is dropped; then, and if the runtime drops the task,
/// every waiter is told (its sender dropped) and the probe admits no new one.
async fn route(mut answers: Subscriber, probe: Arc<Probe>, mut dropped: watch::Receiver<bool>) {
    let probe = Ended(probe);
    loop {
        let msg = tokio::select! {
            msg = answers.next() => msg,
            // Resolves only when the sender, owned by the broker, is dropped.
            _ = dropped.wait_for(|_| false) => None,
        };
        let Some(msg) = msg else { break };
        let Some(token) = msg
            .subject
            .strip_prefix(probe.0.prefix.as_str())
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let responders = if msg.status == Some(StatusCode::NO_RESPONDERS) {
            Responders::Absent
        } else {
            Responders::Present
        };
        let waiter = probe.0.waiters().map.remove(&token);
        if let Some(tx) = waiter {
            let _ = tx.send(responders);
        }
    }
}

/// Closes the probe when its router ends, however it ends.
struct Ended(Arc<Probe>);

impl Drop for Ended {
    fn drop(&mut self) {
        let mut waiters = self.0.waiters();
        waiters.open = false;
        waiters.map.clear();
    }
}

impl Waiter {
    /// The first message on this request's subject; `None` when the probe ended first.
    pub(crate) async fn answer(&mut self) -> Option<Responders> {
        (&mut self.answer).await.ok()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.probe.waiters().map.remove(&self.token);
    }
}
