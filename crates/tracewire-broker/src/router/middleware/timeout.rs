//! [`Timeout`]: a deadline per message.

use std::sync::Arc;
use std::time::Duration;

use crate::router::{BoxHandler, HandlerError, Middleware};

/// Fails a handler that runs longer than the duration with [`HandlerError::TimedOut`]
/// (the handler future is dropped, so the work is cancelled).
#[derive(Clone, Copy, Debug)]
pub struct Timeout(pub Duration);

impl Middleware for Timeout {
    fn wrap(&self, next: BoxHandler) -> BoxHandler {
        let limit = self.0;
        Arc::new(move |msg| {
            let fut = next(msg);
            Box::pin(async move {
                tokio::time::timeout(limit, fut)
                    .await
                    .unwrap_or(Err(HandlerError::TimedOut(limit)))
            })
        })
    }
}
