//! [`Recover`]: a panicking handler becomes an error, the service keeps running.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt as _;

use crate::router::{BoxHandler, HandlerError, Middleware};

/// Catches a panic in the handler (when it is called and while its future runs) and
/// returns [`HandlerError::Panicked`], so the message is nacked like any failure.
///
/// Add it *after* (inside) [`DeadLetter`](super::DeadLetter) and
/// [`Retry`](super::Retry): they only see the panic as an error when `Recover` sits
/// between them and the handler. Outside them, a panicking message is redelivered
/// forever.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recover;

fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl Middleware for Recover {
    fn wrap(&self, next: BoxHandler) -> BoxHandler {
        Arc::new(move |msg| {
            let next = Arc::clone(&next);
            Box::pin(async move {
                let fut = match catch_unwind(AssertUnwindSafe(|| next(msg))) {
                    Ok(fut) => fut,
                    Err(payload) => return Err(HandlerError::Panicked(describe(payload.as_ref()))),
                };
                match AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(result) => result,
                    Err(payload) => Err(HandlerError::Panicked(describe(payload.as_ref()))),
                }
            })
        })
    }
}
