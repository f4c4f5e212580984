//! [`Session`]: the connection to RabbitMQ, recovered by us when it is lost.
//!
//! lapin 4's automatic recovery is not used (see `docs/brokers.md`, "Reconnection"): on
//! a cut in the middle of a delivery it could reset a channel's receive state while
//! frames read from the old socket were still being parsed, fail with its own
//! `UNEXPECTED_FRAME`, mark the connection closing and end its IO loop with no reconnect
//! at all, leaving every channel "reconnecting" for ever. Instead each connection is
//! plain: when it dies, lapin fails everything pending on it and its IO loop ends. A
//! supervisor task then dials a fresh [`Link`] (new connection, publisher channel in
//! confirm mode, exchanges declared, an empty pool of request channels) and publishes
//! it; publishes in flight retry on it, and every subscription re-declares its queue
//! and re-creates its consumer on it.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connection::{Connected, connect};
use crate::dial::Dialer;
use crate::request_pool::RequestPool;
use crate::{AmqpConfig, AmqpError};

/// How often a waiter or the supervisor looks at a link's health (lapin has no event
/// for every change of state).
const POLL: Duration = Duration::from_millis(20);
/// A number in `[0, 1)`, different at each call (the jitter of the backoff; no need for
/// a cryptographic source).
fn jitter_unit() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // 53 bits: exactly representable.
    (bits >> 11) as f64 / (1_u64 << 53) as f64
}

/// One connection and its publisher channel. A new link gets the next generation.
pub(crate) struct Link {
    pub(crate) generation: u64,
    pub(crate) connection: Connection,
    pub(crate) publisher: Channel,
    /// The channels of [`Broker::publish_request`](tracewire_broker::Broker::publish_request)
    /// on this connection (opened on demand; see [`RequestPool`]).
    pub(crate) requests: RequestPool,
    dialer: Arc<Dialer>,
}

impl Link {
    fn new(
        generation: u64,
        connected: Connected,
        config: &AmqpConfig,
    ) -> (Self, oneshot::Receiver<()>) {
        let Connected {
            connection,
            publisher,
            dialer,
            exited,
        } = connected;
        let link = Self {
            generation,
            connection,
            publisher,
            requests: RequestPool::new(usize::from(config.request_channels)),
            dialer,
        };
        (link, exited)
    }

    /// The connection and the publisher channel are both open.
    pub(crate) fn healthy(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }

    /// Cuts the socket: lapin fails everything pending on this link and its IO loop
    /// ends (the supervisor then dials a new link). Idempotent.
    pub(crate) fn cut(&self) {
        self.dialer.abort();
    }
}

enum State {
    Up(Arc<Link>),
    /// Reconnecting.
    Down,
    /// Reconnection gave up (`ReconnectPolicy::give_up_after`).
    Failed,
    /// Closed or dropped.
    Closed,
}

/// Why no link is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    Closed,
    Failed,
    TimedOut,
}

impl Unavailable {
    pub(crate) fn into_error(self, config: &AmqpConfig) -> AmqpError {
        match self {
            Self::Closed => AmqpError::Disconnected("the broker was closed"),
            Self::Failed => AmqpError::Disconnected("reconnecting to RabbitMQ gave up"),
            Self::TimedOut => AmqpError::timed_out("reconnect", config.reconnect_timeout),
        }
    }
}

/// The current link, shared by the broker, its subscriptions and the supervisor.
pub(crate) struct Session {
    config: AmqpConfig,
    state: watch::Sender<State>,
}

impl Session {
    /// Starts supervising `first`; the handle is the supervisor task (abort it on drop).
    pub(crate) fn start(config: AmqpConfig, first: Connected) -> (Arc<Self>, JoinHandle<()>) {
        let (link, exited) = Link::new(1, first, &config);
        let link = Arc::new(link);
        let session = Arc::new(Self {
            config,
            state: watch::Sender::new(State::Up(Arc::clone(&link))),
        });
        let supervisor = tokio::spawn(supervise(Arc::clone(&session), link, exited));
        (session, supervisor)
    }

    /// The current link if it is healthy.
    pub(crate) fn current(&self) -> Option<Arc<Link>> {
        match &*self.state.borrow() {
            State::Up(link) if link.healthy() => Some(Arc::clone(link)),
            _ => None,
        }
    }

    pub(crate) fn connected(&self) -> bool {
        self.current().is_some()
    }

    pub(crate) fn state(&self) -> crate::ConnectionState {
        use crate::ConnectionState as S;
        match &*self.state.borrow() {
            State::Up(link) if link.healthy() => S::Connected,
            State::Up(_) | State::Down => S::Reconnecting,
            State::Failed => S::GaveUp,
            State::Closed => S::Closed,
        }
    }

    /// Waits, until `deadline` (`None`: as long as the session reconnects), for a
    /// healthy link of generation `min_generation` or later (a caller that failed on
    /// generation `g` asks for `g + 1`).
    pub(crate) async fn link(
        &self,
        min_generation: u64,
        deadline: Option<Instant>,
    ) -> Result<Arc<Link>, Unavailable> {
        let mut changes = self.state.subscribe();
        loop {
            match &*changes.borrow_and_update() {
                State::Up(link) if link.generation >= min_generation && link.healthy() => {
                    return Ok(Arc::clone(link));
                }
                State::Closed => return Err(Unavailable::Closed),
                State::Failed => return Err(Unavailable::Failed),
                State::Up(_) | State::Down => {}
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(deadline) if now >= deadline => return Err(Unavailable::TimedOut),
                Some(deadline) => POLL.min(deadline - now),
                None => POLL,
            };
            // A new state, or a look at the link's health again.
            let _ = tokio::time::timeout(wait, changes.changed()).await;
        }
    }

    /// No more links: the supervisor stops (a reconnection in progress is abandoned).
    /// Returns the link that was up, for the caller to close.
    pub(crate) fn shut(&self) -> Option<Arc<Link>> {
        match self.state.send_replace(State::Closed) {
            State::Up(link) => Some(link),
            State::Down | State::Failed | State::Closed => None,
        }
    }

    fn closed(&self) -> bool {
        matches!(*self.state.borrow(), State::Closed)
    }

    /// Publishes `state` unless the session was shut meanwhile; `false` then.
    fn set(&self, state: State) -> bool {
        let mut state = Some(state);
        self.state.send_if_modified(|current| {
            if matches!(current, State::Closed) {
                return false;
            }
            if let Some(state) = state.take() {
                *current = state;
            }
            true
        })
    }
}

/// Watches the link; when it dies (its IO loop ended, the connection or the publisher
/// channel is no longer open), dials a new one, with the backoff of the
/// [`ReconnectPolicy`](crate::ReconnectPolicy), for ever or until it gives up.
async fn supervise(session: Arc<Session>, mut link: Arc<Link>, mut exited: oneshot::Receiver<()>) {
    let mut changes = session.state.subscribe();
    loop {
        // Wait for the link to die, or for the session to be shut.
        loop {
            tokio::select! {
                _ = &mut exited => break,
                () = tokio::time::sleep(POLL * 5) => {
                    if !link.healthy() {
                        break;
                    }
                }
                _ = changes.changed() => {}
            }
            if session.closed() {
                return;
            }
        }
        if session.closed() {
            return;
        }
        tracing::warn!(
            generation = link.generation,
            "connection to RabbitMQ lost; reconnecting"
        );
        // The IO loop may still be running (the publisher channel was closed, a
        // heartbeat was missed): make sure it ends. Its request channels go with it:
        // requests waiting for one move on to the next link.
        link.cut();
        link.requests.retire();
        if !session.set(State::Down) {
            return;
        }
        let generation = link.generation + 1;
        let since = Instant::now();
        let policy = session.config.reconnect;
        let mut failures: u32 = 0;
        let next = loop {
            match connect(&session.config).await {
                Ok(next) => break next,
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let down_for = since.elapsed();
                    if policy.give_up_after.is_some_and(|limit| down_for >= limit) {
                        tracing::error!(
                            %error, attempts = failures, ?down_for,
                            url = %session.config.redacted_url(),
                            "giving up reconnecting to RabbitMQ: publishes fail and subscriptions end from now on"
                        );
                        session.set(State::Failed);
                        return;
                    }
                    let delay = policy.delay(failures, jitter_unit());
                    tracing::warn!(
                        %error, attempt = failures, ?delay, ?down_for,
                        url = %session.config.redacted_url(),
                        "reconnecting to RabbitMQ failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    if session.closed() {
                        return;
                    }
                }
            }
        };
        let (next, next_exited) = Link::new(generation, next, &session.config);
        link = Arc::new(next);
        exited = next_exited;
        if !session.set(State::Up(Arc::clone(&link))) {
            // Shut while dialling: this link is nobody's.
            let _ = close_link(&link, session.config.operation_timeout).await;
            return;
        }
        tracing::info!(
            generation, attempts = failures + 1, down_for = ?since.elapsed(),
            "reconnected to RabbitMQ"
        );
    }
}

/// Closes `link` gracefully (bounded by `op`), then cuts its socket so that its IO
/// loop ends in any case.
///
/// A close that lapin fails with an error of its own making while the connection is
/// going anyway (without automatic recovery, lapin turns a failed internal task, such
/// as the auto-close of a dropped channel racing this close, into a connection error)
/// is not reported: the connection is closed all the same.
pub(crate) async fn close_link(link: &Link, op: Duration) -> Result<(), AmqpError> {
    let result = if link.connection.status().connected() {
        crate::error::timed(
            "connection.close",
            op,
            link.connection.close(200, "closed".into()),
        )
        .await
    } else {
        Ok(())
    };
    link.cut();
    match result {
        Err(AmqpError::Amqp { source, .. }) if !link.connection.status().connected() => {
            tracing::debug!(error = %source, "connection closed with an error");
            Ok(())
        }
        other => other,
    }
}
