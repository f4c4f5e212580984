//! [`Retry`]: in-process retries with exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;

use crate::router::{BoxHandler, Middleware};

/// Retries a failed handler up to `max_retries` times, waiting `initial`, then
/// `initial × multiplier`, ... (at most `max_interval`), each wait randomised by
/// ±`jitter` (a fraction, 0.0–1.0). Permanent errors are not retried.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Retries after the first call.
    pub max_retries: u32,
    /// First wait.
    pub initial: Duration,
    /// Growth factor of the wait.
    pub multiplier: f64,
    /// Upper bound of one wait.
    pub max_interval: Duration,
    /// Random spread of each wait, as a fraction of it.
    pub jitter: f64,
}

impl Default for Retry {
    /// 3 retries: 100 ms, 200 ms, 400 ms (±20 %), at most 10 s each.
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max_interval: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl Retry {
    /// The wait before retry number `retry` (0-based), jitter included.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exp);
        let capped = base.min(self.max_interval.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = if jitter > 0.0 {
            rand::rng().random_range(1.0 - jitter..=1.0 + jitter)
        } else {
            1.0
        };
        Duration::try_from_secs_f64(capped * factor).unwrap_or(self.max_interval)
    }
}

impl Middleware for Retry {
    fn wrap(&self, next: BoxHandler) -> BoxHandler {
        let policy = *self;
        Arc::new(move |msg| {
            let next = Arc::clone(&next);
            Box::pin(async move {
                let mut retry = 0;
                loop {
                    match next(msg.clone()).await {
                        Err(err) if !err.is_permanent() && retry < policy.max_retries => {
                            tokio::time::sleep(policy.backoff(retry)).await;
                            retry += 1;
                        }
                        other => return other,
                    }
                }
            })
        })
    }
}
