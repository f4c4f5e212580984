//! [`Handler`]: the application code run for every inbound message.

use std::future::Future;

use crate::{Envelope, Responder};

/// An error a handler returns; sent to the peer as an `error` envelope with code
/// `handler_error` and recorded on the message's span.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Application code run once per inbound message, with the message's span context
/// current (so `opentelemetry` and `tracing` spans created inside join the message's
/// trace).
///
/// Implemented for every `Fn(Envelope, Responder) -> impl Future<Output = Result<(), E>>`
/// with `E: Into<BoxError>`. An `Err` becomes an `error` envelope (code
/// `handler_error`, correlated to the message id); the connection stays open.
///
/// Handlers of one connection run one at a time, in arrival order.
///
/// # Example
///
/// ```
/// use tracewire_ws::{BoxError, Envelope, Responder, Session};
///
/// async fn echo(msg: Envelope, reply: Responder) -> Result<(), BoxError> {
///     reply.reply("echo", msg.data).await?;
///     Ok(())
/// }
/// let session = Session::new(echo);
/// # let _ = session;
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handles `message`; `responder` sends replies in the message's trace.
    fn call(
        &self,
        message: Envelope,
        responder: Responder,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

impl<F, Fut, E> Handler for F
where
    F: Fn(Envelope, Responder) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<BoxError>,
{
    async fn call(&self, message: Envelope, responder: Responder) -> Result<(), BoxError> {
        self(message, responder).await.map_err(Into::into)
    }
}
