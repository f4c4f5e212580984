//! [`AmqpConfig`]: connection settings and topology choices, from code or the
//! environment. The URL's password never appears in `Debug` output, errors or logs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lapin::uri::{AMQPScheme, AMQPUri};

/// Default URL: the local RabbitMQ with the `guest` account and the `/` vhost.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Environment variables of the URL read by [`AmqpConfig::from_env`], first match wins.
pub const URL_ENV_VARS: [&str; 2] = ["AMQP_URL", "RABBITMQ_URL"];

/// The default of [`AmqpConfig::request_channels`].
pub const DEFAULT_REQUEST_CHANNELS: u16 = 8;
/// The most [`AmqpConfig::request_channels`] accepts.
pub const MAX_REQUEST_CHANNELS: u16 = 256;

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
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) drain_timeout: Duration,
    pub(crate) max_deliveries: Option<u32>,
    pub(crate) request_channels: u16,
}

/// How a lost connection is recovered: how long to keep trying, and the pause between
/// two failed attempts (capped exponential backoff with jitter).
///
/// The default reconnects **for as long as the process runs**
/// ([`give_up_after`](Self::give_up_after) `None`). A service outlives RabbitMQ restarts,
/// upgrades and network partitions of any length: giving up would end every
/// subscription for good (`next` returns `None`) and leave a process that looks alive
/// but consumes nothing until someone restarts it. Publishes never wait for ever,
/// whatever the policy: each waits at most [`AmqpConfig::reconnect_timeout`] for the
/// connection, then fails with [`AmqpError::TimedOut`](crate::AmqpError::TimedOut).
///
/// From the environment ([`AmqpConfig::from_env`]): `TRACEWIRE_AMQP_RECONNECT_GIVE_UP`
/// (a duration such as `5m`, or `never`), `TRACEWIRE_AMQP_RECONNECT_MIN_DELAY`,
/// `TRACEWIRE_AMQP_RECONNECT_MAX_DELAY`.
///
/// Each failed attempt is logged at `warn` (attempt number, error, the pause before the
/// next one, the URL without its password); [`AmqpBroker::is_connected`](crate::AmqpBroker::is_connected)
/// tells the state.
///
/// ```
/// use std::time::Duration;
/// use tracewire_amqp::{AmqpConfig, ReconnectPolicy};
///
/// // Give up after five minutes without a connection, pausing 0.5 s to 30 s.
/// let policy = ReconnectPolicy::forever()
///     .give_up_after(Duration::from_secs(300))
///     .delays(Duration::from_millis(500), Duration::from_secs(30));
/// let config = AmqpConfig::default().reconnect_policy(policy);
/// assert_eq!(policy.give_up_after, Some(Duration::from_secs(300)));
/// # config.validate()?;
/// # Ok::<(), tracewire_amqp::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Stop reconnecting after this long without a connection (`None`: never). Then
    /// publishes fail with [`AmqpError::Disconnected`](crate::AmqpError::Disconnected)
    /// and subscriptions end.
    pub give_up_after: Option<Duration>,
    /// The pause after the first failed attempt (default 100 ms); it doubles with each
    /// failure in a row.
    pub min_delay: Duration,
    /// The longest pause (default 10 s).
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self::forever()
    }
}

impl ReconnectPolicy {
    /// Reconnect for ever, pausing 100 ms doubling to 10 s (the default).
    pub const fn forever() -> Self {
        Self {
            give_up_after: None,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }

    /// Give up after `after` without a connection.
    #[must_use]
    pub const fn give_up_after(mut self, after: Duration) -> Self {
        self.give_up_after = Some(after);
        self
    }

    /// The first and the longest pause between two failed attempts.
    #[must_use]
    pub const fn delays(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max;
        self
    }

    /// The pause after `failures` failed attempts in a row (1 or more): the capped
    /// exponential delay `d`, "equal jitter": `d / 2` plus a random part of `d / 2`
    /// (`unit` in `[0, 1)`), so that many clients cut at once do not redial in step.
    pub(crate) fn delay(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let capped = self
            .min_delay
            .saturating_mul(1_u32 << doublings)
            .min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }
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
    /// operation timeouts 10 s, reconnect wait 60 s (per publish), reconnecting for ever
    /// ([`ReconnectPolicy::forever`]), drain 30 s, no delivery limit, up to 8 request
    /// channels.
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
            reconnect: ReconnectPolicy::forever(),
            drain_timeout: Duration::from_secs(30),
            max_deliveries: None,
            request_channels: DEFAULT_REQUEST_CHANNELS,
        }
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

    /// How long a publish (or a `subscribe` call) waits for the connection to come back
    /// before failing with [`AmqpError::TimedOut`](crate::AmqpError::TimedOut)
    /// (operation `reconnect`). Reconnecting itself goes on after that, as the
    /// [`reconnect_policy`](Self::reconnect_policy) says.
    #[must_use]
    pub fn reconnect_timeout(mut self, timeout: Duration) -> Self {
        self.reconnect_timeout = timeout;
        self
    }

    /// How a lost connection is recovered (default: for ever, see [`ReconnectPolicy`]).
    #[must_use]
    pub fn reconnect_policy(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
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

    /// How many [`publish_request`](tracewire_broker::Broker::publish_request)s may
    /// await their confirms at the same time on one connection: each runs on a channel
    /// of its own, and this is the most channels opened for requests (default
    /// [`DEFAULT_REQUEST_CHANNELS`], 8; 1 to [`MAX_REQUEST_CHANNELS`], 256).
    ///
    /// One request per channel at a time, because a returned message (`basic.return`,
    /// how RabbitMQ says "no queue for this topic") can only be told apart from another
    /// request's by its channel. The channels are opened when concurrent requests need
    /// them, kept open for the next requests, and dropped with their connection (a
    /// reconnection starts with none); a channel the server closed, or one a request was
    /// abandoned on, is closed and replaced. Once all are busy, further requests wait
    /// their turn (first come, first served; the wait counts towards
    /// [`operation_timeout`](Self::operation_timeout)). Plain publishes use a channel of
    /// their own and never wait for requests.
    ///
    /// More channels, more requests in flight; each costs the server a channel
    /// process and counts against its `channel_max` (2047 by default), which
    /// subscriptions share (one channel each). From the environment:
    /// `TRACEWIRE_AMQP_REQUEST_CHANNELS` ([`AmqpConfig::from_env`]).
    ///
    /// ```
    /// use tracewire_amqp::AmqpConfig;
    ///
    /// let config = AmqpConfig::default().request_channels(32);
    /// assert_eq!(config.request_channel_limit(), 32);
    /// assert!(AmqpConfig::default().request_channels(0).validate().is_err());
    /// ```
    #[must_use]
    pub fn request_channels(mut self, n: u16) -> Self {
        self.request_channels = n;
        self
    }

    /// The most request channels per connection
    /// (set with [`request_channels`](Self::request_channels)).
    pub fn request_channel_limit(&self) -> u16 {
        self.request_channels
    }

    /// The exchange name.
    pub fn exchange_name(&self) -> &str {
        &self.exchange
    }

    /// The dead-letter exchange name: `{exchange}.dlx`.
    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.exchange)
    }

    /// The reconnect policy (set with [`reconnect_policy`](Self::reconnect_policy)).
    pub fn reconnect_settings(&self) -> ReconnectPolicy {
        self.reconnect
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
        if !(1..=MAX_REQUEST_CHANNELS).contains(&self.request_channels) {
            problems.push(format!(
                "request_channels: must be 1 to {MAX_REQUEST_CHANNELS}"
            ));
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
        let policy = &self.reconnect;
        if policy.give_up_after.is_some_and(|d| d.is_zero()) {
            problems.push("reconnect_policy.give_up_after: must be more than zero".to_owned());
        }
        if policy.min_delay.is_zero() || policy.max_delay < policy.min_delay {
            problems.push(
                "reconnect_policy: min_delay must be more than zero and at most max_delay"
                    .to_owned(),
            );
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
            .field("reconnect", &self.reconnect)
            .field("drain_timeout", &self.drain_timeout)
            .field("max_deliveries", &self.max_deliveries)
            .field("request_channels", &self.request_channels)
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
            .operation_timeout(Duration::ZERO)
            .request_channels(0);
        let err = config.validate().unwrap_err();
        assert_eq!(err.problems.len(), 5, "{err}");
        for (n, ok) in [
            (1, true),
            (MAX_REQUEST_CHANNELS, true),
            (MAX_REQUEST_CHANNELS + 1, false),
        ] {
            let result = AmqpConfig::default().request_channels(n).validate();
            assert_eq!(result.is_ok(), ok, "request_channels({n}): {result:?}");
        }
        assert!(AmqpConfig::default().validate().is_ok());
    }

    #[test]
    fn reconnect_delays_back_off_with_jitter_up_to_the_cap() {
        let policy =
            ReconnectPolicy::forever().delays(Duration::from_millis(100), Duration::from_secs(2));
        let low: Vec<u128> = (1..=7).map(|n| policy.delay(n, 0.0).as_millis()).collect();
        let high: Vec<u128> = (1..=7).map(|n| policy.delay(n, 1.0).as_millis()).collect();
        assert_eq!(low, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(high, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(policy.delay(u32::MAX, 0.5), Duration::from_millis(1500));
        assert_eq!(
            AmqpConfig::default().reconnect.give_up_after,
            None,
            "for ever"
        );
        let bad = AmqpConfig::default().reconnect_policy(
            ReconnectPolicy::forever()
                .give_up_after(Duration::ZERO)
                .delays(Duration::from_secs(2), Duration::from_secs(1)),
        );
        assert_eq!(bad.validate().unwrap_err().problems.len(), 2);
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
