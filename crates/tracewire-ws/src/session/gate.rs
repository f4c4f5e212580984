//! [`ReadGate`]: polls the socket's stream only after it has woken the task.
//!
//! A connection's task is woken by its socket, by its send queue (every envelope a
//! handler queues wakes the loop) and by its timers. Polling the socket on a wake that
//! was not the socket's is not free: tungstenite zero-fills its read buffer (8 KiB by
//! default) before tokio finds the socket not ready (no syscall: tokio tracks
//! readiness). In an echo, the handler's reply wakes the loop once per message after
//! it has already drained the queue, which cost one such empty read per message (a
//! third more socket polls than the plain echo, about 4.6k instructions).
//!
//! The gate hands the socket a waker of its own that records the wake and forwards it
//! to the task; the stream is polled again only after that (or after it returned an
//! item: more may be buffered). The `Stream` contract (after `Pending`, the waker of
//! that poll is woken when there is progress to make) guarantees nothing is missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::{ArcWake, AtomicWaker, waker_ref};
use futures_util::{Stream, StreamExt};

/// The socket's waker, and whether it has woken since the stream last returned `Pending`.
#[derive(Debug)]
pub(super) struct ReadGate {
    /// True until the stream returns `Pending`, then again once it wakes.
    ready: AtomicBool,
    /// The connection task's waker, as of the last poll of [`Self::poll_next`].
    task: AtomicWaker,
}

impl ArcWake for ReadGate {
    fn wake_by_ref(gate: &Arc<Self>) {
        gate.ready.store(true, Ordering::Release);
        gate.task.wake();
    }
}

impl ReadGate {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            ready: AtomicBool::new(true),
            task: AtomicWaker::new(),
        })
    }

    /// Polls `stream` if it may make progress; else `Pending` (the task is woken when
    /// the stream wakes).
    pub(super) fn poll_next<S: Stream + Unpin>(
        self: &Arc<Self>,
        stream: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Option<S::Item>> {
        // Register before reading the flag: a wake in between then wakes this task.
        self.task.register(cx.waker());
        if !self.ready.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = waker_ref(self);
        let item = stream.poll_next_unpin(&mut Context::from_waker(&waker));
        if item.is_ready() {
            // It may hold more (tungstenite reads several frames at once).
            self.ready.store(true, Ordering::Release);
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_channel::mpsc::Receiver;
    use futures_util::SinkExt;

    #[tokio::test]
    async fn polls_again_only_after_the_stream_wakes() {
        let (mut tx, mut rx) = futures_channel::mpsc::channel::<u8>(4);
        let gate = ReadGate::new();
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let next = |rx: &mut Receiver<u8>| {
            let gate = Arc::clone(&gate);
            // One poll: the item, or `Pending` as the gate answered it.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            std::future::ready(gate.poll_next(rx, &mut cx))
        };
        assert_eq!(next(&mut rx).await, Poll::Ready(Some(1)));
        assert_eq!(next(&mut rx).await, Poll::Ready(Some(2)));
        assert_eq!(next(&mut rx).await, Poll::Pending);
        assert!(
            !gate.ready.load(Ordering::Acquire),
            "pending: not polled again"
        );
        assert_eq!(next(&mut rx).await, Poll::Pending);
        tx.send(3).await.unwrap(); // wakes the gate
        assert!(gate.ready.load(Ordering::Acquire));
        assert_eq!(next(&mut rx).await, Poll::Ready(Some(3)));
        drop(tx);
        assert_eq!(next(&mut rx).await, Poll::Ready(None));
    }
}
