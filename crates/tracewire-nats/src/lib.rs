//! The NATS backend of [`tracewire_broker::Broker`]: core NATS and JetStream through
//! async-nats, so handlers written for the embedded broker run on NATS unchanged, and
//! every message carries its trace context in NATS headers.
//!
//! # Example
//!
//! ```no_run
//! use tracewire_broker::trace::{Traced, Tracing};
//! use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
//! use tracewire_nats::{JetStreamConfig, NatsBroker, NatsConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // NATS_URL, NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, ... (see NatsConfig::from_env)
//! let config = NatsConfig::from_env()
//!     .with_name("billing")
//!     .with_jetstream(JetStreamConfig::new("ORDERS", ["orders.>"]).with_dead_letter_topic("orders.dead"));
//! let broker = Traced::new(NatsBroker::connect(config).await?, Tracing::global());
//!
//! let mut orders = broker
//!     .subscribe("orders.created", SubscribeOptions::new().queue_group("billing"))
//!     .await?;
//! broker.publish(Message::new("orders.created", r#"{"id":42}"#)).await?; // waits for the PubAck
//! let delivery = orders.next().await.ok_or("closed")?;
//! assert_eq!(delivery.message().delivery_attempt, 1);
//! delivery.ack().await?;
//! broker.close().await?;
//! # Ok(()) }
//! ```
//!
//! # Core NATS or JetStream
//!
//! | | core NATS | JetStream ([`NatsConfig::with_jetstream`]) |
//! |---|---|---|
//! | delivery | at-most-once: `ack`/`nack` are no-ops | at-least-once: explicit ack, nak (with delay), term |
//! | `publish` returns `Ok` | handed to the connection | the stream's PubAck arrived (stored) |
//! | duplicates | — | `Nats-Msg-Id` dedup within the window |
//! | fan-out / queue groups | subscriptions / queue subscriptions | one consumer per subscription / durable consumer per group and topic |
//! | redelivery limit | — | [`JetStreamConfig::max_deliver`], then dead letter and `+TERM` |
//! | slow handlers | — | `+WPI` every `ack_wait / 3` while unsettled |
//! | survives a server restart | client reconnects; messages in between are lost | reconnects, pull consumers resume, file storage keeps messages |
//! | request/reply | [`NatsBroker::request`] (no responders detected) or the generic `Requester` | the generic `Requester` (replies use core inboxes) |
//!
//! Message fields travel in headers named in [`codec`]; malformed ones are
//! dead-lettered ([`NatsConfig::dead_letter_topic`]) with the reason. Credentials never
//! appear in `Debug` output or logs ([`Secret`]).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `tls`   | no      | TLS connections, with the rustls `aws-lc-rs` provider the rest of the workspace uses (one provider per process) |
//! | `full`  | no      | every feature (docs builds) |
//!
//! The guide is the NATS section of `docs/brokers.md` in the repository.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
pub mod codec;
mod config;
mod connect;
mod dead_letter;
mod error;
mod js_config;
mod js_sub;
mod keepalive;
mod probe;
mod request;
mod round_trip;
mod secret;
mod stream;
mod subscription;

pub use broker::NatsBroker;
pub use config::{Auth, DEFAULT_URL, NatsConfig, TlsConfig};
pub use connect::ConnectionStats;
pub use dead_letter::{KIND_DECODE, KIND_MAX_DELIVER, KIND_REJECTED};
pub use error::{ConnectError, NatsError};
pub use js_config::{JetStreamConfig, Retention, StartFrom, Storage};
pub use secret::Secret;
pub use subscription::{NatsDelivery, NatsSubscription};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<NatsBroker>();
        assert_send_sync::<NatsSubscription>();
        assert_send_sync::<NatsDelivery>();
        assert_send_sync::<NatsConfig>();
    }
}
