//! `--broker`: which message broker the services use, and connecting to it.
//!
//! | `--broker` | backend | what a service that is down misses |
//! |---|---|---|
//! | `memory` (default) | the embedded broker, this process only | n/a |
//! | `nats://host:port` | NATS: JetStream stream `{PREFIX}` storing `{prefix}.>`, a durable consumer per queue group and topic; replies over core inboxes | nothing: it resumes where its consumer stopped |
//! | `amqp://user:pass@host:port/vhost` | RabbitMQ: topic exchange `{prefix}`, a durable queue per queue group and topic | nothing (with `serve`) |
//!
//! The prefix (`--broker-prefix`, default `tracewire`) keeps separate systems on one
//! server apart; `tracewire demo` uses a fresh one per run and removes its stream or
//! exchanges at the end.

mod any;

use std::str::FromStr;
#[cfg(feature = "nats")]
use std::time::Duration;

#[cfg(any(feature = "nats", feature = "amqp"))]
use anyhow::Context as _;
use tracewire_broker::memory::MemoryBroker;

pub(crate) use any::AnyBroker;

/// The default `--broker-prefix`.
pub(crate) const DEFAULT_PREFIX: &str = "tracewire";

/// A broker named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BrokerUrl {
    /// The embedded in-memory broker (one process, nothing to install).
    Memory,
    /// A NATS server, `nats://host:port`.
    Nats(String),
    /// A RabbitMQ server, `amqp://user:pass@host:port`.
    Amqp(String),
}

impl FromStr for BrokerUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" || s == "memory://" {
            Ok(Self::Memory)
        } else if s.starts_with("nats://") {
            Ok(Self::Nats(s.to_owned()))
        } else if s.starts_with("amqp://") || s.starts_with("amqps://") {
            Ok(Self::Amqp(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a broker: use memory, nats://host:port or amqp://host:port"
            ))
        }
    }
}

/// Checks a `--broker-prefix`: a NATS subject token, stream name and AMQP exchange
/// name at once.
pub(crate) fn parse_prefix(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?}: use 1 to 64 letters, digits, '-' or '_' (it names a NATS subject prefix and stream, or an AMQP exchange)"
        ))
    }
}

/// Where a run's messages live on a shared server, and how.
#[derive(Clone, Debug)]
pub(crate) struct Namespace {
    /// NATS subject prefix and stream name (upper-cased), or the AMQP exchange.
    pub(crate) prefix: String,
    /// Whether what is stored must survive the server's restart (NATS file storage,
    /// durable AMQP queues and persistent messages). The demo's throwaway runs do not.
    pub(crate) durable: bool,
}

impl Namespace {
    /// The JetStream stream of this namespace.
    #[cfg(feature = "nats")]
    pub(crate) fn stream(&self) -> String {
        self.prefix.to_ascii_uppercase()
    }
}

impl BrokerUrl {
    /// The URL with any `user:password@` replaced by `***@`, for messages.
    pub(crate) fn redacted(&self) -> String {
        let url = match self {
            Self::Memory => return "memory".to_owned(),
            Self::Nats(url) | Self::Amqp(url) => url,
        };
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.clone(),
        }
    }

    /// Connects as `client` (the connection name the server shows). Fails with a
    /// message naming the URL when the server cannot be reached.
    pub(crate) async fn connect(
        &self,
        namespace: &Namespace,
        client: &str,
    ) -> anyhow::Result<AnyBroker> {
        let _ = (namespace.durable, client); // unused without the network backends
        match self {
            Self::Memory => Ok(AnyBroker::Memory(MemoryBroker::new())),
            #[cfg(feature = "nats")]
            Self::Nats(url) => {
                use tracewire_contracts::topics::DEAD_LETTER;
                use tracewire_nats::{JetStreamConfig, NatsBroker, NatsConfig, Storage};
                let storage = if namespace.durable {
                    Storage::File
                } else {
                    Storage::Memory
                };
                let jetstream = JetStreamConfig::new(namespace.stream(), [">"])
                    .with_storage(storage)
                    .with_max_age(Duration::from_secs(24 * 3600))
                    .with_dead_letter_topic(DEAD_LETTER);
                let mut config = NatsConfig::from_env()
                    .with_name(format!("tracewire {client}"))
                    .with_subject_prefix(namespace.prefix.clone())
                    .with_dead_letter_topic(DEAD_LETTER)
                    .with_drain_timeout(Duration::from_secs(10))
                    .with_jetstream(jetstream);
                config.url.clone_from(url);
                NatsBroker::connect(config)
                    .await
                    .map(AnyBroker::Nats)
                    .with_context(|| {
                        format!(
                            "cannot use the NATS server at {} (JetStream on?)",
                            self.redacted()
                        )
                    })
            }
            #[cfg(feature = "amqp")]
            Self::Amqp(url) => {
                use tracewire_amqp::{AmqpBroker, AmqpConfig};
                let config = AmqpConfig::new(url.clone())
                    .exchange(namespace.prefix.clone())
                    .durable(namespace.durable)
                    .connection_name(format!("tracewire {client}"))
                    .connect_timeout(std::time::Duration::from_secs(5))
                    .drain_timeout(std::time::Duration::from_secs(10));
                AmqpBroker::connect(config)
                    .await
                    .map(AnyBroker::Amqp)
                    .with_context(|| {
                        format!("cannot use the RabbitMQ server at {}", self.redacted())
                    })
            }
            #[allow(unreachable_patterns)]
            _ => anyhow::bail!(
                "--broker {}: this build of tracewire has no such backend (cargo features `nats`, `amqp`)",
                self.redacted()
            ),
        }
    }

    /// Removes what [`connect`](Self::connect) created on the server for `namespace`:
    /// the JetStream stream (and with it its consumers), or the AMQP exchanges (the
    /// queues of a non-durable namespace went with their consumers). For throwaway
    /// namespaces only; call it once every broker of the namespace is closed.
    pub(crate) async fn remove(&self, namespace: &Namespace) -> anyhow::Result<()> {
        let _ = namespace;
        match self {
            Self::Memory => Ok(()),
            #[cfg(feature = "nats")]
            Self::Nats(url) => {
                let mut config = tracewire_nats::NatsConfig::from_env();
                config.url.clone_from(url);
                let broker = tracewire_nats::NatsBroker::connect(config)
                    .await
                    .with_context(|| format!("cannot reach {} to clean up", self.redacted()))?;
                let js = async_nats::jetstream::new(broker.client().clone());
                let stream = namespace.stream();
                let deleted = js.delete_stream(&stream).await;
                let _ = tracewire_broker::Broker::close(&broker).await;
                deleted.with_context(|| format!("deleting JetStream stream {stream}"))?;
                Ok(())
            }
            #[cfg(feature = "amqp")]
            Self::Amqp(url) => {
                let connection =
                    lapin::Connection::connect(url, lapin::ConnectionProperties::default())
                        .await
                        .with_context(|| format!("cannot reach {} to clean up", self.redacted()))?;
                let channel = connection.create_channel().await?;
                for exchange in [
                    namespace.prefix.clone(),
                    format!("{}.dlx", namespace.prefix),
                ] {
                    channel
                        .exchange_delete(exchange.as_str().into(), Default::default())
                        .await
                        .with_context(|| format!("deleting exchange {exchange}"))?;
                }
                let _ = connection.close(200, "bye".into()).await;
                Ok(())
            }
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend() {
        assert_eq!("memory".parse(), Ok(BrokerUrl::Memory));
        assert_eq!(
            "nats://127.0.0.1:4222".parse(),
            Ok(BrokerUrl::Nats("nats://127.0.0.1:4222".into()))
        );
        assert!(matches!(
            "amqp://guest:guest@localhost".parse(),
            Ok(BrokerUrl::Amqp(_))
        ));
        assert!("kafka://x".parse::<BrokerUrl>().is_err());
    }

    #[test]
    fn redacted_urls_hide_credentials() {
        let url = BrokerUrl::Amqp("amqp://app:s3cret@rabbit:5672/%2f".into());
        assert_eq!(url.redacted(), "amqp://***@rabbit:5672/%2f");
        let url = BrokerUrl::Nats("nats://127.0.0.1:4222".into());
        assert_eq!(url.redacted(), "nats://127.0.0.1:4222");
    }

    #[test]
    fn prefixes_must_name_a_subject_token_and_an_exchange() {
        assert_eq!(
            parse_prefix("tracewire-demo_1"),
            Ok("tracewire-demo_1".into())
        );
        for bad in ["", "a.b", "a b", "a>", "a/b"] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
