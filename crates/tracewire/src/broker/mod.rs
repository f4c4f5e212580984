//! `--broker`: which message broker the services use.

use std::str::FromStr;

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

impl BrokerUrl {
    /// Fails for the backends this build does not have yet.
    pub(crate) fn require_built(&self) -> anyhow::Result<()> {
        match self {
            Self::Memory => Ok(()),
            Self::Nats(url) => anyhow::bail!(
                "--broker {url}: the NATS backend (tracewire-nats) is not built yet; use --broker memory"
            ),
            Self::Amqp(url) => anyhow::bail!(
                "--broker {url}: the RabbitMQ backend (tracewire-amqp) is not built yet; use --broker memory"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend_and_unbuilt_ones_say_so() {
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
        assert!(BrokerUrl::Memory.require_built().is_ok());
        let err = BrokerUrl::Nats("nats://x".into())
            .require_built()
            .unwrap_err();
        assert!(err.to_string().contains("not built yet"), "{err}");
    }
}
