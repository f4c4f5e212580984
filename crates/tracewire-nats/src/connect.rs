//! Building the async-nats client from a [`NatsConfig`], and connection events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::{Client, ConnectOptions, Event};

use crate::{Auth, ConnectError, NatsConfig};

/// Counters of connection events since connect (also logged through `tracing`:
/// `info` for connects, `warn` for disconnects and slow consumers, `error` for server
/// errors; never with credentials).
#[derive(Debug, Default)]
pub struct ConnectionStats {
    connects: AtomicU64,
    disconnects: AtomicU64,
    slow_consumers: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

impl ConnectionStats {
    /// Connections established after the first (reconnects).
    pub fn reconnects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }
    /// Times the connection was lost.
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Relaxed)
    }
    /// Slow-consumer events: a core subscription's buffer was full and the client
    /// dropped messages (core NATS is at-most-once).
    pub fn slow_consumers(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }
    /// Server and client errors reported on the connection.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    /// Received messages that were not handed out: malformed ones without a dead-letter
    /// topic, and no-responder status messages on reply inboxes.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
    pub(crate) fn count_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, event: &Event, url: &str) {
        match event {
            Event::Connected => {
                self.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "tracewire_nats", url, "NATS connection (re)established");
            }
            Event::Disconnected => {
                self.disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "tracewire_nats", url, "NATS connection lost; reconnecting");
            }
            Event::SlowConsumer(sid) => {
                self.slow_consumers.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "tracewire_nats", sid, "NATS slow consumer: messages dropped");
            }
            Event::ServerError(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(target: "tracewire_nats", error = %err, "NATS server error");
            }
            Event::ClientError(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(target: "tracewire_nats", error = %err, "NATS client error");
            }
            other => {
                tracing::info!(target: "tracewire_nats", event = %other, "NATS connection event")
            }
        }
    }
}

fn tls_wanted(config: &NatsConfig) -> bool {
    config.tls.is_requested()
        || config
            .url
            .split(',')
            .any(|u| u.trim_start().to_ascii_lowercase().starts_with("tls://"))
}

/// Connects with every setting of `config`; the wait is bounded by `connect_timeout`.
pub(crate) async fn connect(
    config: &NatsConfig,
    stats: Arc<ConnectionStats>,
) -> Result<Client, ConnectError> {
    let url = config.redacted_url();
    if tls_wanted(config) && !cfg!(feature = "tls") {
        return Err(ConnectError::TlsUnavailable);
    }
    let connect_error = |source: async_nats::Error| ConnectError::Connect {
        url: url.clone(),
        source,
    };
    let mut options = match &config.auth {
        Auth::None => ConnectOptions::new(),
        Auth::UserPassword { user, password } => {
            ConnectOptions::with_user_and_password(user.clone(), password.expose().to_owned())
        }
        Auth::Token(token) => ConnectOptions::with_token(token.expose().to_owned()),
        Auth::NKey(seed) => ConnectOptions::with_nkey(seed.expose().to_owned()),
        Auth::CredsFile(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| connect_error(Box::new(e)))?,
    };
    if let Some(name) = &config.name {
        options = options.name(name);
    }
    if config.tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &config.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &config.tls.client_cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    if config.tls.tls_first {
        options = options.tls_first();
    }
    let event_url = url.clone();
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    options = options
        .connection_timeout(config.connect_timeout)
        .request_timeout(Some(config.request_timeout))
        .subscription_capacity(config.subscription_capacity)
        .max_reconnects(None)
        .event_callback(move |event| {
            let stats = Arc::clone(&stats);
            let url = event_url.clone();
            let first = Arc::clone(&first);
            async move {
                // The first `Connected` is the initial connect, not a reconnect.
                if matches!(event, Event::Connected) && first.swap(false, Ordering::Relaxed) {
                    return;
                }
                stats.record(&event, &url);
            }
        });
    let servers: Vec<&str> = config.url.split(',').map(str::trim).collect();
    let addrs: Vec<async_nats::ServerAddr> = servers
        .iter()
        .map(|s| s.parse::<async_nats::ServerAddr>())
        .collect::<Result<_, _>>()
        .map_err(|_| ConnectError::InvalidConfig(format!("url {url} does not parse")))?;
    match tokio::time::timeout(config.connect_timeout, options.connect(addrs)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(err)) => Err(connect_error(Box::new(err))),
        Err(_) => Err(ConnectError::TimedOut {
            url,
            timeout: config.connect_timeout,
        }),
    }
}
