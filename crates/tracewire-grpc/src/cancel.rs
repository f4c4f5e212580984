//! Propagating a client's walk-away: when the response body of a call is dropped
//! before its trailers, the request body is failed with an h2 `CANCEL` error, so that
//! hyper resets the HTTP/2 stream (`RST_STREAM(CANCEL)`) and the server sees the call
//! cancelled, even while the request stream is still open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Waker};

/// A one-shot flag with a waker, shared by a call's request and response bodies.
#[derive(Debug, Default)]
pub(crate) struct CancelSignal {
    cancelled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl CancelSignal {
    /// Marks the call cancelled and wakes the request body's task.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the call is cancelled; if not, arranges for `cx` to be woken when it is.
    pub(crate) fn poll_cancelled(&self, cx: &Context<'_>) -> bool {
        if self.cancelled.load(Ordering::Acquire) {
            return true;
        }
        {
            let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.as_ref() {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        self.cancelled.load(Ordering::Acquire)
    }

    /// The error the request body fails with: hyper maps an `h2::Error` in a body
    /// error's chain to the RST_STREAM reason.
    pub(crate) fn error() -> crate::BoxError {
        Box::new(h2::Error::from(h2::Reason::CANCEL))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn cancel_wakes_the_registered_task_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let cx = Context::from_waker(&waker);
        let signal = CancelSignal::default();
        assert!(!signal.poll_cancelled(&cx));
        assert!(!signal.poll_cancelled(&cx));
        signal.cancel();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(signal.poll_cancelled(&cx));
        signal.cancel();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "nothing registered any more"
        );
    }
}
