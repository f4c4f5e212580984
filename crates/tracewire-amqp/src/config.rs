//! [`AmqpConfig`]: connection settings and topology choices, from code or the
//! environment. The URL's password never appears in `Debug` output, errors or logs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lapin::uri::{AMQPScheme, AMQPUri};

/// Default URL: the local RabbitMQ with the `guest` account and the `/` vhost.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Environment variables read by [`AmqpConfig::from_env`], first match wins.
pub const URL_ENV_VARS: [&str; 2] = ["AMQP_URL", "RABBITMQ_URL"];

/// Settings of an [`AmqpBroker`](crate::AmqpBroker).
///
/// Every field has a default ([`AmqpConfig::new`]); set fields with the builder methods.
/// `Debug` prints the URL with its password replaced by `***`.
///
/// ```
/// use std::time::Duration;
/// use tracewire_amqp::AmqpConfig;
///
/// let config = AmqpConfig::new("amqp://app:s3cret@rabbit.internal:5672/orders")
///     .exchange("shop")
///     .durable(true)
///     .prefetch(128)
///     .heartbeat(Duration::from_secs(15));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// assert_eq!(config.redacted_url(), "amqp://app:***@rabbit.internal:5672/orders");
/// config.validate()?;
/// # Ok::<(), tracewire_amqp::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct AmqpConfig {
    pub(crate) url: String,
    pub(crate) exchange: String,
    pub(crate) durable: bool,
    pub(crate) prefetch: u16,
    pub(crate) heartbeat: Duration,
    pub(crate) connection_name: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) reconnect_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) max_deliveries: Option<u32>,
}

/// Why an [`AmqpConfig`] is unusable: every problem found, joined.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid AMQP configuration: {}", problems.join("; "))]
pub struct ConfigError {
    /// One line per problem (never containing the password).
    pub problems: Vec<String>,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self::new(DEFAULT_URL)
    }
}

impl AmqpConfig {
    /// Settings for `url` (`amqp://user:pass@host:port/vhost`, `amqps://` with the `tls`
    /// feature; the vhost `/` is written `%2f`) with the defaults: exchange `tracewire`,
    /// not durable, prefetch 64, heartbeat 30 s, connection name `tracewire`, connect and
    /// operation timeouts 10 s, reconnect wait 60 s, drain 30 s, no delivery limit.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            exchange: "tracewire".to_owned(),
            durable: false,
            prefetch: 64,
            heartbeat: Duration::from_secs(30),
            connection_name: "tracewire".to_owned(),
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(10),
            reconnect_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            max_deliveries: None,
        }
    }

    /// Settings from the environment: the URL from `AMQP_URL`, else `RABBITMQ_URL`, else
    /// [`DEFAULT_URL`]; every other field at its default.
    pub fn from_env() -> Self {
        let url = URL_ENV_VARS
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
        Self::new(url.unwrap_or_else(|| DEFAULT_URL.to_owned()))
    }

    /// The topic exchange messages are published to (declared durable). Dead letters go
    /// to `{exchange}.dlx`.
    #[must_use]
    pub fn exchange(mut self, name: impl Into<String>) -> Self {
        self.exchange = name.into();
        self
    }

    /// Durability: queue-group queues are durable (and not auto-deleted) and messages are
    /// persistent (delivery mode 2). Fan-out queues stay exclusive to their subscriber.
    #[must_use]
    pub fn durable(mut self, yes: bool) -> Self {
        self.durable = yes;
        self
    }

    /// Unacknowledged deliveries per subscription (`basic.qos`) unless the subscription
    /// sets [`SubscribeOptions::capacity`](tracewire_broker::SubscribeOptions::capacity).
    #[must_use]
    pub fn prefetch(mut self, n: u16) -> Self {
        self.prefetch = n;
        self
    }

    /// AMQP heartbeat interval (whole seconds; zero disables it).
    #[must_use]
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval;
        self
    }

    /// The connection name shown in the RabbitMQ management UI.
    #[must_use]
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = name.into();
        self
    }

    /// How long [`AmqpBroker::connect`](crate::AmqpBroker::connect) may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one AMQP operation (a declare, a publish until its confirm, an ack) may take.
    #[must_use]
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// How long a publish waits for the connection to come back before failing.
    #[must_use]
    pub fn reconnect_timeout(mut self, timeout: Duration) -> Self {
        self.reconnect_timeout = timeout;
        self
    }

    /// How long [`close`](tracewire_broker::Broker::close) waits for subscribers to drain.
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Dead-letter a message instead of redelivering it once a nack would start delivery
    /// number `n + 1` (`None`: no limit; the router's `DeadLetter` middleware is the
    /// portable alternative).
    #[must_use]
    pub fn max_deliveries(mut self, n: Option<u32>) -> Self {
        self.max_deliveries = n.map(|n| n.max(1));
        self
    }

    /// The exchange name.
    pub fn exchange_name(&self) -> &str {
        &self.exchange
    }

    /// The dead-letter exchange name: `{exchange}.dlx`.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.exchange)
    }

    /// Whether durability is on.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// The URL with its password replaced by `***` (for logs and diagnostics).
    pub fn redacted_url(&self) -> String {
        match AMQPUri::from_str(&self.url) {
            Ok(uri) => {
                let scheme = match uri.scheme {
                    AMQPScheme::AMQP => "amqp",
                    AMQPScheme::AMQPS => "amqps",
                };
                let vhost = if uri.vhost == "/" { "%2f" } else { &uri.vhost };
                let auth = &uri.authority;
                format!(
                    "{scheme}://{}:***@{}:{}/{vhost}",
                    auth.userinfo.username, auth.host, auth.port
                )
            }
            Err(_) => "<unparsable AMQP URL>".to_owned(),
        }
    }

    /// Checks every setting and reports every problem at once.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] listing what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        match AMQPUri::from_str(&self.url) {
            Err(_) => problems.push("url: not a valid amqp:// or amqps:// URL".to_owned()),
            Ok(uri) if uri.scheme == AMQPScheme::AMQPS && !cfg!(feature = "tls") => {
                problems.push("url: amqps:// needs the `tls` feature".to_owned());
            }
            Ok(_) => {}
        }
        // Queue names are `{exchange}.{topic}.{suffix}` and must fit 255 bytes.
        if self.exchange.is_empty() || self.exchange.len() > 120 {
            problems.push("exchange: must be 1 to 120 bytes".to_owned());
        }
        if self.exchange.starts_with("amq.") {
            problems.push("exchange: the amq. prefix is reserved by RabbitMQ".to_owned());
        }
        if self.prefetch == 0 {
            problems.push("prefetch: must be at least 1".to_owned());
        }
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("operation_timeout", self.operation_timeout),
            ("reconnect_timeout", self.reconnect_timeout),
            ("drain_timeout", self.drain_timeout),
        ] {
            if value.is_zero() {
                problems.push(format!("{name}: must be more than zero"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The parsed URL with heartbeat and connect timeout applied.
    pub(crate) fn uri(&self) -> Result<AMQPUri, ConfigError> {
        self.validate()?;
        let mut uri = AMQPUri::from_str(&self.url).map_err(|_| ConfigError {
            problems: vec!["url: not a valid amqp:// or amqps:// URL".to_owned()],
        })?;
        uri.query.heartbeat = Some(u16::try_from(self.heartbeat.as_secs()).unwrap_or(u16::MAX));
        uri.query.connection_timeout =
            Some(u64::try_from(self.connect_timeout.as_millis()).unwrap_or(u64::MAX));
        Ok(uri)
    }
}

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &self.redacted_url())
            .field("exchange", &self.exchange)
            .field("durable", &self.durable)
            .field("prefetch", &self.prefetch)
            .field("heartbeat", &self.heartbeat)
            .field("connection_name", &self.connection_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("reconnect_timeout", &self.reconnect_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("max_deliveries", &self.max_deliveries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redacted_url_hide_the_password() {
        let config = AmqpConfig::new("amqp://svc:p%40ss-w0rd-42@broker:5673/prod");
        let debug = format!("{config:?}");
        assert!(!debug.contains("w0rd"), "{debug}");
        assert_eq!(config.redacted_url(), "amqp://svc:***@broker:5673/prod");
        let bad = AmqpConfig::new("not a url with secret-pw");
        assert!(!format!("{bad:?}").contains("secret-pw"));
        let err = bad.validate().unwrap_err();
        assert!(!err.to_string().contains("secret-pw"));
    }

    #[test]
    fn validate_reports_every_problem() {
        let config = AmqpConfig::new("http://x")
            .exchange("")
            .prefetch(0)
            .operation_timeout(Duration::ZERO);
        let err = config.validate().unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        assert!(AmqpConfig::default().validate().is_ok());
    }

    #[test]
    fn uri_carries_heartbeat_and_timeout() {
        let uri = AmqpConfig::default()
            .heartbeat(Duration::from_secs(7))
            .connect_timeout(Duration::from_millis(1500))
            .uri()
            .unwrap();
        assert_eq!(uri.query.heartbeat, Some(7));
        assert_eq!(uri.query.connection_timeout, Some(1500));
        assert_eq!(uri.vhost, "/");
    }
}
