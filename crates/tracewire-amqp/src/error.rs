//! [`AmqpError`]: what the RabbitMQ backend adds to the broker errors.
//!
//! The [`Broker`](tracewire_broker::Broker) operations return the broker crate's error
//! enums; their `Backend` variant carries an `AmqpError`, which a caller can downcast:
//!
//! ```
//! use tracewire_amqp::AmqpError;
//! use tracewire_broker::PublishError;
//!
//! fn was_nacked(err: &PublishError) -> bool {
//!     match err {
//!         PublishError::Backend(source) => {
//!             matches!(source.downcast_ref::<AmqpError>(), Some(AmqpError::Nacked { .. }))
//!         }
//!         _ => false,
//!     }
//! }
//! # let _ = was_nacked;
//! ```

use std::time::Duration;

use tracewire_broker::{AckError, CloseError, PublishError, SubscribeError};

use crate::{ConfigError, EnvError};

/// A failure of the RabbitMQ backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AmqpError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An environment variable read by [`AmqpConfig::from_env`](crate::AmqpConfig::from_env)
    /// holds a value that cannot be used.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A network wait exceeded its timeout.
    #[error("{operation} timed out after {after:?}")]
    TimedOut {
        /// What was waited for (`connect`, `publish confirm`, `queue.declare`, ...).
        operation: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// The broker negatively acknowledged a publish (publisher confirms): it did not
    /// take responsibility for the message.
    #[error("the broker nacked the message published to {routing_key:?}")]
    Nacked {
        /// The routing key (topic) published to.
        routing_key: String,
    },
    /// A field of the message cannot be represented in AMQP 0-9-1.
    #[error("cannot encode the message: {0}")]
    Encode(String),
    /// The connection is gone and will not come back: the broker was closed, or
    /// reconnecting gave up
    /// ([`ReconnectPolicy::give_up_after`](crate::ReconnectPolicy::give_up_after)).
    #[error("not connected to RabbitMQ: {0}")]
    Disconnected(&'static str),
    /// An AMQP operation failed (connection lost without recovery, channel closed by
    /// the server, access refused, ...).
    #[error("AMQP {operation} failed")]
    Amqp {
        /// The operation.
        operation: &'static str,
        /// lapin's error.
        #[source]
        source: lapin::Error,
    },
}

impl AmqpError {
    pub(crate) fn amqp(operation: &'static str) -> impl FnOnce(lapin::Error) -> Self {
        move |source| Self::Amqp { operation, source }
    }

    pub(crate) fn timed_out(operation: &'static str, after: Duration) -> Self {
        Self::TimedOut { operation, after }
    }
}

/// Runs `fut` with `after` as its deadline, mapping both failure modes to [`AmqpError`].
pub(crate) async fn timed<T>(
    operation: &'static str,
    after: Duration,
    fut: impl Future<Output = lapin::Result<T>>,
) -> Result<T, AmqpError> {
    match tokio::time::timeout(after, fut).await {
        Ok(result) => result.map_err(AmqpError::amqp(operation)),
        Err(_) => Err(AmqpError::timed_out(operation, after)),
    }
}

impl From<AmqpError> for PublishError {
    fn from(err: AmqpError) -> Self {
        PublishError::Backend(Box::new(err))
    }
}

impl From<AmqpError> for SubscribeError {
    fn from(err: AmqpError) -> Self {
        SubscribeError::Backend(Box::new(err))
    }
}

impl From<AmqpError> for AckError {
    fn from(err: AmqpError) -> Self {
        match err {
            // The channel the delivery came on is gone (connection lost; a new
            // connection has new channels): the broker requeues the message, as
            // `AckError::Closed` promises.
            AmqpError::Amqp { source, .. }
                if matches!(
                    source.kind(),
                    lapin::ErrorKind::InvalidChannelState(..)
                        | lapin::ErrorKind::InvalidConnectionState(..)
                        | lapin::ErrorKind::IOError(..)
                        | lapin::ErrorKind::MissingHeartbeatError
                ) =>
            {
                AckError::Closed
            }
            other => AckError::Backend(Box::new(other)),
        }
    }
}

impl From<AmqpError> for CloseError {
    fn from(err: AmqpError) -> Self {
        CloseError::Backend(Box::new(err))
    }
}
