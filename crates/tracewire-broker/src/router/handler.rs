//! Handlers, their errors, and the [`Middleware`] trait (a middleware wraps a handler).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::{BoxError, Message};

/// What a handler returns: the messages it produces (published by the router before
/// the consumed message is acked), or an error (the message is nacked).
pub type HandlerResult = Result<Vec<Message>, HandlerError>;

/// A type-erased, shareable handler.
pub type BoxHandler = Arc<dyn Fn(Message) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// Why a handler failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The handler failed; a retry may succeed.
    #[error("handler failed: {0}")]
    Failed(#[source] BoxError),
    /// The message can never be processed (bad format, unknown type): not retried, and
    /// dead-lettered at once by [`DeadLetter`](super::DeadLetter).
    #[error("message rejected: {0}")]
    Permanent(#[source] BoxError),
    /// The handler ran past its [`Timeout`](super::Timeout).
    #[error("handler timed out after {0:?}")]
    TimedOut(Duration),
    /// The handler panicked (caught by [`Recover`](super::Recover)).
    #[error("handler panicked: {0}")]
    Panicked(String),
}

impl HandlerError {
    /// A retryable failure.
    pub fn new(err: impl Into<BoxError>) -> Self {
        Self::Failed(err.into())
    }

    /// A permanent failure (see [`HandlerError::Permanent`]).
    pub fn permanent(err: impl Into<BoxError>) -> Self {
        Self::Permanent(err.into())
    }

    /// Whether retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    /// A short, stable name for the `error.type` span attribute and headers.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Failed(_) => "failed",
            Self::Permanent(_) => "permanent",
            Self::TimedOut(_) => "timeout",
            Self::Panicked(_) => "panic",
        }
    }

    fn from_boxed(err: BoxError) -> Self {
        match err.downcast::<HandlerError>() {
            Ok(own) => *own,
            Err(other) => Self::Failed(other),
        }
    }
}

/// Makes a [`BoxHandler`] from an async function. Any error type convertible to
/// [`BoxError`] works; return a [`HandlerError`] to choose the kind (for example
/// [`HandlerError::permanent`]).
///
/// ```
/// use tracewire_broker::Message;
/// use tracewire_broker::router::handler_fn;
///
/// let handler = handler_fn(|msg: Message| async move {
///     let text = std::str::from_utf8(&msg.payload)?.to_uppercase();
///     Ok::<_, std::str::Utf8Error>(vec![Message::new("shouted", text)])
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F, Fut, E>(f: F) -> BoxHandler
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Message>, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Arc::new(move |msg| {
        let fut = f(msg);
        Box::pin(async move { fut.await.map_err(|e| HandlerError::from_boxed(e.into())) })
    })
}

/// Wraps a handler into another (watermill's `HandlerMiddleware`). Middleware listed
/// first on a route is outermost.
pub trait Middleware: Send + Sync + 'static {
    /// Returns a handler that adds behaviour around `next`.
    fn wrap(&self, next: BoxHandler) -> BoxHandler;
}
