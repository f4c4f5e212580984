//! [`RequestPool`]: the channels of
//! [`Broker::publish_request`](tracewire_broker::Broker::publish_request) on one
//! connection.
//!
//! Each channel carries **one request at a time**: lapin hands a returned message
//! (`basic.return`) to whichever confirm of the channel completes next, and completes
//! the confirms of a multiple ack in no particular order, so with two requests pending
//! on one channel a routed request could be given the other's returned message. With
//! one, the returned message lapin attaches to the confirm is that request's own
//! (RabbitMQ sends the return before the confirm). Requests run in parallel on up to
//! [`AmqpConfig::request_channels`](crate::AmqpConfig::request_channels) channels,
//! opened on demand; beyond that they wait, first come first served.
//!
//! A channel goes back to the pool only once its request's confirm is in and the
//! channel is still open. A request abandoned half-way (cancelled, timed out, failed)
//! leaves its confirm and maybe its return pending, and a channel the server closed
//! (a channel error) is of no further use: either way the channel is dropped (which
//! closes it) and a later request opens a new one. The pool belongs to one connection:
//! a new connection starts with an empty pool, and the supervisor
//! [`retire`](RequestPool::retire)s the pool of a lost one.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Up to `size` request channels of one connection.
pub(crate) struct RequestPool {
    /// One permit per channel that may be in use; FIFO, so waiters are served in turn.
    permits: Semaphore,
    /// Open channels with no request on them.
    idle: Mutex<Vec<Channel>>,
    /// Channels opened and not yet dropped (idle and in use).
    open: AtomicUsize,
}

impl fmt::Debug for RequestPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestPool")
            .field("open", &self.open())
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

impl RequestPool {
    /// An empty pool of at most `size` channels (at least one).
    pub(crate) fn new(size: usize) -> Self {
        Self {
            permits: Semaphore::new(size.clamp(1, Semaphore::MAX_PERMITS)),
            idle: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Channel>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Request channels open on this connection (idle and in use).
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Waits for a free slot (in turn), then takes an idle open channel, or opens one on
    /// `connection` in confirm mode. Call [`RequestChannel::confirmed`] once the
    /// publish's confirm is in; otherwise the channel is dropped with the lease.
    ///
    /// Cancel-safety: dropping the future gives the slot back; a channel being opened
    /// is dropped (closed).
    ///
    /// # Errors
    ///
    /// lapin's, when the channel cannot be opened; `InvalidConnectionState(Closed)`
    /// once the pool is [`retire`](Self::retire)d.
    pub(crate) async fn acquire(
        &self,
        connection: &Connection,
    ) -> lapin::Result<RequestChannel<'_>> {
        let permit = self.permits.acquire().await.map_err(|_closed| {
            lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
                lapin::ConnectionState::Closed,
            ))
        })?;
        loop {
            let Some(channel) = self.idle().pop() else {
                break;
            };
            if channel.status().connected() {
                return Ok(RequestChannel::new(self, channel, permit));
            }
            // Closed by the server while idle (or its connection is gone).
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
        let channel = connection.create_channel().await?;
        self.open.fetch_add(1, Ordering::AcqRel);
        // From here on the lease accounts for the channel (and drops it on failure).
        let lease = RequestChannel::new(self, channel, permit);
        lease
            .channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(lease)
    }

    /// The connection is lost: drops the idle channels, fails the waiters and every
    /// later [`acquire`](Self::acquire), and keeps the channels still in use from
    /// coming back.
    pub(crate) fn retire(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle());
        self.open.fetch_sub(idle.len(), Ordering::AcqRel);
    }
}

/// A request channel leased from a [`RequestPool`], for one publish.
pub(crate) struct RequestChannel<'a> {
    pool: &'a RequestPool,
    channel: Channel,
    confirmed: bool,
    /// Released after `drop` has put the channel back, so the next waiter finds it.
    _permit: SemaphorePermit<'a>,
}

impl fmt::Debug for RequestChannel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestChannel")
            .field("id", &self.channel.id())
            .field("confirmed", &self.confirmed)
            .finish()
    }
}

impl<'a> RequestChannel<'a> {
    fn new(pool: &'a RequestPool, channel: Channel, permit: SemaphorePermit<'a>) -> Self {
        Self {
            pool,
            channel,
            confirmed: false,
            _permit: permit,
        }
    }

    /// The channel to publish on.
    pub(crate) fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The publish's confirm is in: nothing is pending on the channel, it may serve the
    /// next request.
    pub(crate) fn confirmed(&mut self) {
        self.confirmed = true;
    }
}

impl Drop for RequestChannel<'_> {
    fn drop(&mut self) {
        let pool = self.pool;
        if self.confirmed && self.channel.status().connected() {
            // Checked under the lock that `retire` takes after closing the permits.
            let mut idle = pool.idle();
            if !pool.permits.is_closed() {
                idle.push(self.channel.clone());
                return;
            }
        }
        // This is the last handle: dropped with the lease, it closes the channel.
        pool.open.fetch_sub(1, Ordering::AcqRel);
    }
}
