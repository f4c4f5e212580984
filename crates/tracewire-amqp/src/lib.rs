//! RabbitMQ (AMQP 0-9-1) backend of the tracewire [`Broker`](tracewire_broker::Broker)
//! trait, on lapin 4. Move from the embedded memory broker to RabbitMQ without changing
//! handler code: wrap it in [`Traced`](tracewire_broker::trace::Traced) and every hop
//! carries its trace context in the AMQP headers table.
//!
//! # Example
//!
//! ```no_run
//! use tracewire_amqp::{AmqpBroker, AmqpConfig};
//! use tracewire_broker::trace::{Traced, Tracing};
//! use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // AMQP_URL / RABBITMQ_URL, else amqp://guest:guest@127.0.0.1:5672/%2f;
//! // TRACEWIRE_AMQP_RECONNECT_* for the reconnect policy, TRACEWIRE_AMQP_REQUEST_CHANNELS
//! // (see AmqpConfig::from_env_with)
//! let config = AmqpConfig::from_env()?.exchange("shop").durable(true);
//! let broker = Traced::new(AmqpBroker::connect(config).await?, Tracing::global());
//!
//! let group = SubscribeOptions::new().queue_group("billing");
//! let mut orders = broker.subscribe("orders.created", group).await?;
//! broker.publish(Message::new("orders.created", r#"{"id":42}"#)).await?; // confirmed
//!
//! let delivery = orders.next().await.ok_or("closed")?;
//! println!("{:?}", delivery.message().payload);
//! delivery.ack().await?;
//! broker.close().await?; // drains subscriptions, then closes the connection
//! # Ok(()) }
//! ```
//!
//! # What maps to what
//!
//! | tracewire                          | RabbitMQ                                                    |
//! |------------------------------------|-------------------------------------------------------------|
//! | topic                              | routing key on one topic exchange (durable)                 |
//! | fan-out subscription               | exclusive, auto-delete queue per subscriber                 |
//! | queue group                        | one shared queue `{exchange}.{topic}.{group}`               |
//! | `publish` → `Ok`                   | publisher confirm (ack); a nack is [`AmqpError::Nacked`]    |
//! | capacity                           | `basic.qos` prefetch                                        |
//! | `nack`                             | republish with `x-tracewire-attempt` + 1, then ack          |
//! | [`AmqpDelivery::reject`], bad input | dead-letter exchange `{exchange}.dlx`, reason in headers   |
//! | request/reply inbox `_INBOX.*`     | an exclusive queue of that very name                        |
//! | no responders (`publish_request`)  | `mandatory` publish; `basic.return` before the confirm; one request per channel, up to [`AmqpConfig::request_channels`] channels in parallel |
//! | reconnection                       | a new connection (ours, not lapin's recovery), for ever by default ([`ReconnectPolicy`]); in-flight publishes retried, consumers re-created |
//!
//! Header mapping: see [`codec`]. The guide is `docs/brokers.md` (section RabbitMQ).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `tls`   | no      | `amqps://` URLs through rustls with the *aws-lc-rs* provider (the one the `tls` features of tracewire-nats and tracewire-telemetry use, so one binary has one provider) and the native root certificates |
//! | `full`  | no      | every feature (docs builds) |
//!
//! Without `tls`, lapin is built without any TLS stack (its default would bring rustls
//! with *aws-lc-rs*, and two rustls providers in one process make the first TLS client
//! panic).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
pub mod codec;
mod config;
mod connection;
mod dead_letter;
mod delivery;
mod dial;
mod drain;
mod env;
mod error;
mod request_pool;
mod session;
mod subscription;

pub use broker::{AmqpBroker, ConnectionState};
pub use config::{
    AmqpConfig, ConfigError, DEFAULT_REQUEST_CHANNELS, DEFAULT_URL, MAX_REQUEST_CHANNELS,
    ReconnectPolicy, URL_ENV_VARS,
};
pub use env::{
    EnvError, RECONNECT_GIVE_UP_ENV, RECONNECT_MAX_DELAY_ENV, RECONNECT_MIN_DELAY_ENV,
    REQUEST_CHANNELS_ENV,
};
pub use error::AmqpError;
pub use subscription::{AmqpDelivery, AmqpSubscription};
