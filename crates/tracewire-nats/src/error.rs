//! Errors of this backend.
//!
//! The [`Broker`](tracewire_broker::Broker) operations return the broker crate's error
//! enums; their `Backend` variant carries a [`NatsError`], which a caller can downcast
//! to tell, for example, a PubAck timeout from a missing stream.

use std::time::Duration;

use tracewire_broker::BoxError;

/// Why [`NatsBroker::connect`](crate::NatsBroker::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No connection within [`NatsConfig::connect_timeout`](crate::NatsConfig::connect_timeout).
    #[error("could not connect to NATS at {url} within {timeout:?}")]
    TimedOut {
        /// The server URL (credentials removed).
        url: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// The configuration is unusable (the field is named).
    #[error("invalid NATS configuration: {0}")]
    InvalidConfig(String),
    /// TLS was asked for, but the crate was built without the `tls` feature.
    #[error("TLS requested but tracewire-nats was built without the `tls` feature")]
    TlsUnavailable,
    /// The client failed to connect (server unreachable, authentication, TLS, ...).
    #[error("could not connect to NATS at {url}")]
    Connect {
        /// The server URL (credentials removed).
        url: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
    /// The JetStream stream exists with a configuration that differs from the
    /// [`JetStreamConfig`](crate::JetStreamConfig) in a field that cannot be updated.
    #[error(
        "stream {stream} exists with a different {field}: configured {configured}, found {found}"
    )]
    StreamMismatch {
        /// The stream name.
        stream: String,
        /// The differing field.
        field: &'static str,
        /// What the configuration says.
        configured: String,
        /// What the server has.
        found: String,
    },
    /// A JetStream API call (stream lookup, creation or update) failed.
    #[error("JetStream stream {stream} could not be created or verified")]
    Stream {
        /// The stream name.
        stream: String,
        /// The async-nats error.
        #[source]
        source: BoxError,
    },
}

/// A NATS-specific failure, the source of the broker crate's `Backend` error variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// A network wait (send, PubAck, API call) passed its timeout.
    #[error("{operation} timed out after {timeout:?}")]
    TimedOut {
        /// What was waited for.
        operation: &'static str,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// No JetStream stream stores the subject (the server answered "no responders").
    #[error("no JetStream stream stores subject {0:?}")]
    NoStream(String),
    /// A header name or value cannot travel in NATS headers (name with `:` or
    /// whitespace, value with CR or LF).
    #[error("header {name:?} cannot be carried in NATS headers")]
    InvalidHeader {
        /// The header name.
        name: String,
    },
    /// The payload plus headers exceed the server's `max_payload`.
    #[error("message exceeds the server's max_payload")]
    TooLarge,
    /// A rejected message could not be published to its dead-letter topic (the cause
    /// is logged); JetStream redelivers it.
    #[error("dead-letter publish to {topic:?} failed")]
    DeadLetterFailed {
        /// The dead-letter topic.
        topic: String,
    },
    /// Any other async-nats error.
    #[error("NATS client error")]
    Client(#[source] BoxError),
}

impl NatsError {
    /// Wraps an async-nats error.
    pub(crate) fn client(err: impl Into<BoxError>) -> Self {
        Self::Client(err.into())
    }

    /// The timeout variant.
    pub(crate) const fn timed_out(operation: &'static str, timeout: Duration) -> Self {
        Self::TimedOut { operation, timeout }
    }
}
