//! Errors of the [`Broker`](crate::Broker) operations, one enum per operation.
//!
//! Every enum is `#[non_exhaustive]` (backends add failure modes) and keeps a backend's
//! own error as a [`BoxError`] source, so a caller can downcast it.

/// A backend's error, boxed so that it can be downcast.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`Broker::publish`](crate::Broker::publish) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The broker is closed (or draining) and accepts no new messages.
    #[error("broker is closed")]
    Closed,
    /// The topic is empty or otherwise unusable.
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    /// A subscription with the [`Overflow::Error`](crate::Overflow::Error) policy was
    /// full: it did not get the message (every other subscriber did).
    #[error("{rejected} subscription(s) on {topic:?} were full and rejected the message")]
    QueueFull {
        /// The topic published to.
        topic: String,
        /// How many subscriptions rejected the message.
        rejected: usize,
    },
    /// The backend failed.
    #[error("backend failed to publish")]
    Backend(#[source] BoxError),
}

/// Why [`Broker::subscribe`](crate::Broker::subscribe) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The broker is closed.
    #[error("broker is closed")]
    Closed,
    /// The topic is empty or otherwise unusable.
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    /// The backend cannot honour an option (named) of [`SubscribeOptions`](crate::SubscribeOptions).
    #[error("subscribe option not supported by this backend: {0}")]
    Unsupported(&'static str),
    /// A new member of an existing queue group asked for a different queue setting
    /// (named: `capacity` or `overflow`) than the group was created with. The members
    /// of a group share one queue, so its settings are the first member's; a member
    /// that asks for others is refused rather than silently given them.
    #[error("queue group {group:?} on {topic:?} already exists with another {setting}")]
    QueueGroupMismatch {
        /// The topic.
        topic: String,
        /// The queue group.
        group: String,
        /// The setting that differs.
        setting: &'static str,
    },
    /// The backend failed.
    #[error("backend failed to subscribe")]
    Backend(#[source] BoxError),
}

/// Why acknowledging (ack or nack) a delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The subscription is gone; the backend will redeliver or has counted the message.
    #[error("subscription is closed")]
    Closed,
    /// The backend failed.
    #[error("backend failed to acknowledge")]
    Backend(#[source] BoxError),
}

/// Why [`Broker::close`](crate::Broker::close) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The backend failed while draining or closing.
    #[error("backend failed to close")]
    Backend(#[source] BoxError),
}
