//! [`Dialer`]: the TCP connection lapin's IO loop makes, dialled by us so that a
//! connect that fails or times out can be called off, and a live connection cut.
//!
//! lapin runs its IO loop on a thread of its own and dials through the closure given to
//! `Connection::connector`, retrying on the runtime's timers with the backoff of the
//! connection properties. Nothing stops that thread when the `connect` future is
//! dropped: it went on dialling a closed port for a minute, kept a silent server's socket
//! open, and panicked once the runtime was shut down under it. So lapin's backoff is
//! zero (it only re-calls the closure), and this module paces the dials and can be
//! stopped: once stopped every dial fails at once, so the IO loop ends, and
//! [`Dialer::abort`] also shuts the socket down (a handshake in progress, or a live
//! connection the session gave up on), so the IO loop ends now.
//!
//! A dialer serves one connection: once it is established, lapin may not dial again
//! (its automatic recovery is off; the session reconnects with a new dialer).

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

/// First delay between dials after a failure (or a lost connection); doubled each time.
const MIN_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Shared by the broker and lapin's IO loop (inside its dial closure).
#[derive(Debug)]
pub(crate) struct Dialer {
    stop: watch::Sender<bool>,
    /// `connect` succeeded: no more dials.
    established: AtomicBool,
    /// A duplicate of the connection's socket, so that [`abort`](Self::abort) can cut a
    /// handshake that never completes, or a live connection.
    socket: Mutex<Option<TcpStream>>,
    pace: Mutex<Pace>,
}

#[derive(Debug, Default)]
struct Pace {
    /// A dial succeeded.
    dialled: bool,
    /// Dials so far.
    streak: u32,
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
    pub(crate) fn new() -> Self {
        Self {
            stop: watch::Sender::new(false),
            established: AtomicBool::new(false),
            socket: Mutex::new(None),
            pace: Mutex::new(Pace::default()),
        }
    }

    /// `connect` succeeded: lapin may not dial again.
    pub(crate) fn established(&self) {
        self.established.store(true, Ordering::Release);
    }

    /// No more dials: lapin's IO loop ends at its next connection attempt. A live
    /// connection is not touched.
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// [`stop`](Self::stop), and shut the socket down (handshaking or live), so that
    /// the IO loop ends now. Idempotent.
    pub(crate) fn abort(&self) {
        self.stop();
        if let Some(socket) = lock(&self.socket).take() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow() || self.established.load(Ordering::Acquire)
    }

    async fn until_stopped(&self) {
        let mut stop = self.stop.subscribe();
        let _ = stop.wait_for(|stopped| *stopped).await;
    }

    /// Dials with `attempt` (which returns the stream and a duplicate of its socket)
    /// until it succeeds, pacing the attempts; fails at once when stopped or once the
    /// connection was established (lapin's automatic recovery must not dial).
    pub(crate) async fn dial<S, F>(&self, attempt: impl Fn() -> F) -> io::Result<S>
    where
        F: Future<Output = io::Result<(S, Option<TcpStream>)>>,
    {
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
                    lock(&self.pace).dialled = true;
                    let mut kept = lock(&self.socket);
                    if self.stopped() {
                        // Aborted while this dial completed.
                        if let Some(socket) = socket {
                            let _ = socket.shutdown(Shutdown::Both);
                        }
                        return Err(stopped_error());
                    }
                    *kept = socket;
                    return Ok(stream);
                }
                Err(error) => {
                    tracing::debug!(%error, "dialling RabbitMQ failed; retrying");
                }
            }
        }
    }
}

impl Pace {
    /// No delay for the very first dial, then 100 ms doubling to 2 s.
    fn next_delay(&mut self) -> Duration {
        let first = !self.dialled && self.streak == 0;
        // Before the first successful dial, the immediate attempt does not count.
        let n = if self.dialled {
            self.streak
        } else {
            self.streak.saturating_sub(1)
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
        let delays: Vec<_> = (0..8).map(|_| pace.next_delay().as_millis()).collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[tokio::test]
    async fn a_stopped_dialer_fails_at_once() {
        let dialer = Dialer::new();
        dialer.stop();
        let err = dialer
            .dial(|| async { Ok::<_, io::Error>(((), None)) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[tokio::test]
    async fn an_established_dialer_does_not_dial_again() {
        let dialer = Dialer::new();
        dialer
            .dial(|| async { Ok::<_, io::Error>(((), None)) })
            .await
            .unwrap();
        dialer.established();
        let err = dialer
            .dial(|| async { Ok::<_, io::Error>(((), None)) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }
}
