//! Errors of request/reply.

use std::time::Duration;

use crate::{PublishError, SubscribeError};

/// Why [`Requester::request`](super::Requester::request) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No reply arrived within the deadline (the pending entry is gone; a reply that
    /// arrives later is counted as late and discarded).
    #[error("no reply within {0:?}")]
    TimedOut(Duration),
    /// Nobody subscribes to the request topic (only where the backend can tell).
    #[error("no responders on {0:?}")]
    NoResponders(String),
    /// The responder's handler failed; its error text.
    #[error("responder failed: {0}")]
    Remote(String),
    /// Publishing the request failed.
    #[error("failed to publish the request")]
    Publish(#[from] PublishError),
    /// The requester's reply subscription ended (broker closed).
    #[error("reply subscription closed")]
    Closed,
}

/// Why [`serve`](super::serve) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Subscribing to the request topic failed.
    #[error("failed to subscribe to the request topic")]
    Subscribe(#[from] SubscribeError),
}
