//! [`NatsConfig`]: connection settings, from code or from the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::redact_url;
use crate::{JetStreamConfig, Secret};

/// The default server URL.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// How the client authenticates. Secrets are [`Secret`]s: never printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials (or credentials inside the URL, which are redacted in `Debug`).
    #[default]
    None,
    /// User and password.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// A token.
    Token(Secret),
    /// An nkey seed (`SU...`).
    NKey(Secret),
    /// A `.creds` file (JWT and nkey seed), read at connect time.
    CredsFile(PathBuf),
}

/// TLS settings (feature `tls`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Require TLS even when the URL says `nats://`.
    pub required: bool,
    /// Extra root certificates (PEM file), for a private CA.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM files), for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// TLS before the NATS `INFO` (server option `handshake_first`).
    pub tls_first: bool,
}

impl TlsConfig {
    /// Whether anything here asks for TLS.
    pub fn is_requested(&self) -> bool {
        self.required || self.ca_file.is_some() || self.client_cert.is_some() || self.tls_first
    }
}

/// Everything [`NatsBroker::connect`](crate::NatsBroker::connect) needs.
///
/// `Debug` never shows a credential: passwords, tokens and seeds are [`Secret`]s and the
/// URL's `user:password@` part is redacted.
///
/// ```
/// use std::time::Duration;
/// use tracewire_nats::{Auth, JetStreamConfig, NatsConfig};
///
/// let config = NatsConfig::new("nats://127.0.0.1:4222")
///     .with_name("billing")
///     .with_auth(Auth::UserPassword { user: "svc".into(), password: "s3cret".into() })
///     .with_request_timeout(Duration::from_secs(2))
///     .with_jetstream(JetStreamConfig::new("ORDERS", ["orders.>"]));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsConfig {
    /// Server URL, or several separated by commas (`nats://`, `tls://`).
    pub url: String,
    /// Credentials.
    pub auth: Auth,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Connection name, shown by the server (`connz`).
    pub name: Option<String>,
    /// Time allowed to establish the first connection (default 5 s).
    pub connect_timeout: Duration,
    /// Time allowed for any other network wait: a publish handed to the connection, a
    /// JetStream PubAck, an API call, a native request without its own timeout
    /// (default 10 s).
    pub request_timeout: Duration,
    /// Time [`close`](tracewire_broker::Broker::close) waits for subscriptions to drain
    /// (default 30 s).
    pub drain_timeout: Duration,
    /// Prepended (with a `.`) to every topic to form the NATS subject, except reply
    /// inboxes (`_INBOX.`). Lets several environments or tests share one server.
    pub subject_prefix: Option<String>,
    /// Topic that messages with malformed tracewire headers are dead-lettered to, with
    /// the reason. `None`: they are logged, counted and (JetStream) terminated.
    pub dead_letter_topic: Option<String>,
    /// Messages buffered per core subscription (default 1024); past that the server
    /// marks the client a slow consumer (logged and counted).
    pub subscription_capacity: usize,
    /// JetStream settings; `None` means core NATS (at-most-once).
    pub jetstream: Option<JetStreamConfig>,
}

impl fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &redact_url(&self.url))
            .field("auth", &self.auth)
            .field("tls", &self.tls)
            .field("name", &self.name)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("subject_prefix", &self.subject_prefix)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("subscription_capacity", &self.subscription_capacity)
            .field("jetstream", &self.jetstream)
            .finish()
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self::new(DEFAULT_URL)
    }
}

impl NatsConfig {
    /// Core NATS at `url`, no credentials, default timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: Auth::None,
            tls: TlsConfig::default(),
            name: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            subject_prefix: None,
            dead_letter_topic: None,
            subscription_capacity: 1024,
            jetstream: None,
        }
    }

    /// Reads the process environment; see [`Self::from_env_with`].
    pub fn from_env() -> Self {
        Self::from_env_with(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup` (the environment, in [`Self::from_env`]):
    ///
    /// | variable | field |
    /// |---|---|
    /// | `NATS_URL` | [`url`](Self::url) (default `nats://127.0.0.1:4222`) |
    /// | `NATS_USER`, `NATS_PASSWORD` | [`Auth::UserPassword`] |
    /// | `NATS_TOKEN` | [`Auth::Token`] |
    /// | `NATS_NKEY` | [`Auth::NKey`] (the seed) |
    /// | `NATS_CREDS` | [`Auth::CredsFile`] (a path) |
    /// | `NATS_NAME` | [`name`](Self::name) |
    /// | `NATS_CA`, `NATS_CERT`, `NATS_KEY`, `NATS_TLS_REQUIRED` | [`tls`](Self::tls) |
    /// | `NATS_CONNECT_TIMEOUT_MS`, `NATS_REQUEST_TIMEOUT_MS` | timeouts |
    /// | `NATS_SUBJECT_PREFIX` | [`subject_prefix`](Self::subject_prefix) |
    ///
    /// The first credential found wins, in the order creds file, nkey, token, user.
    /// Values that do not parse are ignored (the default stays).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let mut config = Self::new(get("NATS_URL").unwrap_or_else(|| DEFAULT_URL.to_owned()));
        config.auth = if let Some(path) = get("NATS_CREDS") {
            Auth::CredsFile(path.into())
        } else if let Some(seed) = get("NATS_NKEY") {
            Auth::NKey(seed.into())
        } else if let Some(token) = get("NATS_TOKEN") {
            Auth::Token(token.into())
        } else if let Some(user) = get("NATS_USER") {
            let password = get("NATS_PASSWORD").unwrap_or_default();
            Auth::UserPassword {
                user,
                password: password.into(),
            }
        } else {
            Auth::None
        };
        config.name = get("NATS_NAME");
        config.tls.ca_file = get("NATS_CA").map(PathBuf::from);
        if let (Some(cert), Some(key)) = (get("NATS_CERT"), get("NATS_KEY")) {
            config.tls.client_cert = Some((cert.into(), key.into()));
        }
        config.tls.required =
            get("NATS_TLS_REQUIRED").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        let millis = |key: &str| {
            get(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        if let Some(t) = millis("NATS_CONNECT_TIMEOUT_MS") {
            config.connect_timeout = t;
        }
        if let Some(t) = millis("NATS_REQUEST_TIMEOUT_MS") {
            config.request_timeout = t;
        }
        config.subject_prefix = get("NATS_SUBJECT_PREFIX");
        config
    }

    /// Sets [`Self::auth`].
    #[must_use]
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    /// Sets [`Self::tls`].
    #[must_use]
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }
    /// Sets [`Self::name`].
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets [`Self::connect_timeout`].
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Sets [`Self::request_timeout`].
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
    /// Sets [`Self::drain_timeout`].
    #[must_use]
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }
    /// Sets [`Self::subject_prefix`].
    #[must_use]
    pub fn with_subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = Some(prefix.into());
        self
    }
    /// Sets [`Self::dead_letter_topic`].
    #[must_use]
    pub fn with_dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }
    /// Sets [`Self::subscription_capacity`] (at least 1).
    #[must_use]
    pub fn with_subscription_capacity(mut self, capacity: usize) -> Self {
        self.subscription_capacity = capacity.max(1);
        self
    }
    /// Uses JetStream (at-least-once) with `config`.
    #[must_use]
    pub fn with_jetstream(mut self, config: JetStreamConfig) -> Self {
        self.jetstream = Some(config);
        self
    }

    /// [`Self::url`] with credentials removed, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn reads_the_environment() {
        let config = NatsConfig::from_env_with(env(&[
            ("NATS_URL", "nats://10.0.0.1:4222"),
            ("NATS_USER", "svc"),
            ("NATS_PASSWORD", "pw-123"),
            ("NATS_NAME", "orders"),
            ("NATS_REQUEST_TIMEOUT_MS", "250"),
            ("NATS_SUBJECT_PREFIX", "staging"),
        ]));
        assert_eq!(config.url, "nats://10.0.0.1:4222");
        assert_eq!(
            config.auth,
            Auth::UserPassword {
                user: "svc".into(),
                password: "pw-123".into()
            }
        );
        assert_eq!(config.name.as_deref(), Some("orders"));
        assert_eq!(config.request_timeout, Duration::from_millis(250));
        assert_eq!(config.subject_prefix.as_deref(), Some("staging"));
        assert_eq!(NatsConfig::from_env_with(env(&[])).url, DEFAULT_URL);
    }

    #[test]
    fn credentials_never_show_in_debug() {
        for (config, secret) in [
            (
                NatsConfig::from_env_with(env(&[("NATS_USER", "u"), ("NATS_PASSWORD", "pw-1")])),
                "pw-1",
            ),
            (
                NatsConfig::from_env_with(env(&[("NATS_TOKEN", "tok-2")])),
                "tok-2",
            ),
            (
                NatsConfig::from_env_with(env(&[("NATS_NKEY", "SUAKEYSEED3")])),
                "SUAKEYSEED3",
            ),
            (NatsConfig::new("nats://u:pw-4@127.0.0.1:4222"), "pw-4"),
        ] {
            let shown = format!("{config:?} {config:#?}");
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
            assert!(!config.redacted_url().contains(secret));
        }
    }

    #[test]
    fn credential_precedence() {
        let config = NatsConfig::from_env_with(env(&[
            ("NATS_TOKEN", "t"),
            ("NATS_CREDS", "/etc/nats/app.creds"),
        ]));
        assert_eq!(config.auth, Auth::CredsFile("/etc/nats/app.creds".into()));
    }
}
