//! [`Deduplicate`]: a message id processed successfully within the window is skipped.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::router::{BoxHandler, Middleware};

/// Skips (acks without calling the handler) a message whose id was processed
/// successfully less than `window` ago. Failed attempts are not remembered, so a
/// redelivery after a failure is processed.
#[derive(Clone, Debug)]
pub struct Deduplicate {
    window: Duration,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Debug, Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.ids.remove(&id);
            }
        }
    }
}

impl Deduplicate {
    /// Remembers processed ids for `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            seen: Arc::default(),
        }
    }

    fn is_duplicate(&self, id: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.expire(Instant::now(), self.window);
        seen.ids.contains(id)
    }

    fn remember(&self, id: String) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.ids.insert(id.clone()) {
            seen.order.push_back((Instant::now(), id));
        }
    }
}

impl Middleware for Deduplicate {
    fn wrap(&self, next: BoxHandler) -> BoxHandler {
        let this = self.clone();
        Arc::new(move |msg| {
            let this = this.clone();
            let next = Arc::clone(&next);
            Box::pin(async move {
                if this.is_duplicate(&msg.id) {
                    return Ok(Vec::new());
                }
                let id = msg.id.clone();
                let produced = next(msg).await?;
                this.remember(id);
                Ok(produced)
            })
        })
    }
}
