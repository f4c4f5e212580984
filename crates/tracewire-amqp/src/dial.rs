//! [`Dialer`]: the TCP connections lapin's IO loop makes, dialled by us so that a
//! connect that fails or times out can be called off.
//!
//! lapin runs its IO loop on a thread of its own and dials through the closure given to
//! `Connection::connector`, retrying on the runtime's timers with the backoff of the
//! connection properties. Nothing stops that thread when the `connect` future is
//! dropped: it went on dialling a closed port for a minute, kept a silent server's socket
//! open, and panicked once the runtime was shut down under it. So lapin's backoff is
//! zero (it only re-calls the closure), and this module paces the dials, gives up on a
//! recovery after `reconnect_timeout`, and can be stopped: once stopped every dial fails
//! at once, so the IO loop ends, and [`Dialer::abort`] also cuts the socket of a
//! handshake in progress.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// First delay between dials after a failure (or a lost connection); doubled each time.
const MIN_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// A connection that lived this long was up: the next loss starts a new recovery.
const STABLE: Duration = Duration::from_secs(10);

/// Shared by the broker and lapin's IO loop (inside its dial closure).
#[derive(Debug)]
pub(crate) struct Dialer {
    stop: watch::Sender<bool>,
    /// `connect` succeeded: later dials are recoveries, which give up after a while.
    established: AtomicBool,
    give_up_after: Duration,
    /// A duplicate of the socket of the first connection until `connect` succeeded, so
    /// that [`abort`](Self::abort) can cut a handshake that never completes.
    handshaking: Mutex<Option<TcpStream>>,
    pace: Mutex<Pace>,
}

#[derive(Debug, Default)]
struct Pace {
    /// When the last dial succeeded.
    dialled: Option<Instant>,
    /// Dials since the connection was last up for [`STABLE`].
    streak: u32,
    /// When the current recovery started.
    down_since: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stopped_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection abandoned (connect failed, timed out or the broker was closed)",
    )
}

impl Dialer {
    pub(crate) fn new(give_up_after: Duration) -> Self {
        Self {
            stop: watch::Sender::new(false),
            established: AtomicBool::new(false),
            give_up_after,
            handshaking: Mutex::new(None),
            pace: Mutex::new(Pace::default()),
        }
    }

    /// `connect` succeeded: forget the duplicate socket; later dials are recoveries.
    pub(crate) fn established(&self) {
        self.established.store(true, Ordering::Release);
        drop(lock(&self.handshaking).take());
    }

    /// No more dials: lapin's IO loop ends at its next reconnection attempt. A live
    /// connection is not touched.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// [`stop`](Self::stop), and cut the socket of a first connection still
    /// handshaking, so that the IO loop ends now.
    pub(crate) fn abort(&self) {
        self.stop();
        if let Some(socket) = lock(&self.handshaking).take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn until_stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// Dials with `attempt` (which returns the stream and a duplicate of its socket)
    /// until it succeeds, pacing the attempts; fails at once when stopped, and after
    /// `give_up_after` of failures when recovering (then stops for good).
    pub(crate) async fn dial<S, F>(&self, attempt: impl Fn() -> F) -> io::Result<S>
    where
        F: Future<Output = io::Result<(S, Option<TcpStream>)>>,
    {
        let recovering = self.established.load(Ordering::Acquire);
        lock(&self.pace).new_call(recovering);
        loop {
            if self.stopped() {
                return Err(stopped_error());
            }
            let delay = lock(&self.pace).next_delay();
            let paced = async {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                attempt().await
            };
            let outcome = tokio::select! {
                biased;
                () = self.until_stopped() => return Err(stopped_error()),
                outcome = paced => outcome,
            };
            match outcome {
                Ok((stream, socket)) => {
                    lock(&self.pace).dialled = Some(Instant::now());
                    if recovering {
                        return Ok(stream);
                    }
                    let mut handshaking = lock(&self.handshaking);
                    if self.stopped() {
                        // Aborted while this dial completed.
                        if let Some(socket) = socket {
                            let _ = socket.shutdown(Shutdown::Both);
                        }
                        return Err(stopped_error());
                    }
                    *handshaking = socket;
                    return Ok(stream);
                }
                Err(error) => {
                    let down_since = lock(&self.pace).down_since;
                    if recovering && down_since.is_some_and(|t| t.elapsed() >= self.give_up_after) {
                        tracing::warn!(%error, after = ?self.give_up_after, "giving up reconnecting to RabbitMQ");
                        self.stop();
                        return Err(error);
                    }
                    tracing::debug!(%error, "dialling RabbitMQ failed; retrying");
                }
            }
        }
    }
}

impl Pace {
    /// lapin asks for a connection: a new recovery unless the last one is recent.
    fn new_call(&mut self, recovering: bool) {
        let was_up = self.dialled.is_some_and(|t| t.elapsed() >= STABLE);
        if was_up || (recovering && self.down_since.is_none()) {
            self.streak = 0;
            self.down_since = Some(Instant::now());
        }
    }

    /// No delay for the very first dial, then 100 ms doubling to 2 s.
    fn next_delay(&mut self) -> Duration {
        let first = self.dialled.is_none() && self.streak == 0;
        // Before the first successful dial, the immediate attempt does not count.
        let n = if self.dialled.is_none() {
            self.streak.saturating_sub(1)
        } else {
            self.streak
        };
        self.streak = self.streak.saturating_add(1);
        if first {
            Duration::ZERO
        } else {
            MIN_DELAY.saturating_mul(1 << n.min(5)).min(MAX_DELAY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dial_is_immediate_then_backs_off_to_two_seconds() {
        let mut pace = Pace::default();
        pace.new_call(false);
        let delays: Vec<_> = (0..8).map(|_| pace.next_delay().as_millis()).collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn a_recovery_after_a_stable_connection_starts_at_100_ms() {
        let mut pace = Pace {
            dialled: Instant::now().checked_sub(STABLE),
            streak: 7,
            down_since: None,
        };
        pace.new_call(true);
        assert_eq!(pace.next_delay(), MIN_DELAY);
        assert_eq!(pace.next_delay(), MIN_DELAY * 2);
    }

    #[tokio::test]
    async fn a_stopped_dialer_fails_at_once() {
        let dialer = Dialer::new(Duration::from_secs(60));
        dialer.stop();
        let err = dialer
            .dial(|| async { Ok::<_, io::Error>(((), None)) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }
}
