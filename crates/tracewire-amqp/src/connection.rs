//! Connecting (with lapin's automatic recovery, dialled through [`Dialer`]) and
//! publishing with confirms, retried across a reconnection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{FieldTable, ShortString};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{
    AsyncTcpStream, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties,
    ExchangeKind,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::dial::Dialer;
use crate::error::timed;
use crate::{AmqpConfig, AmqpError};

/// How many times in a row lapin's IO loop asks [`Dialer`] again after a failed dial or
/// handshake; the dialer paces the attempts (lapin's own backoff is zero) and bounds a
/// recovery by `reconnect_timeout`, so this is only a safety net.
const LAPIN_REDIALS: usize = 64;
/// How long a failed `connect` waits for lapin's IO loop to end (it does in
/// milliseconds once the dialer is aborted).
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// An open connection and its publisher channel (confirm mode), with both exchanges
/// declared.
pub(crate) struct Link {
    pub(crate) connection: Connection,
    pub(crate) publisher: Channel,
    pub(crate) dialer: Arc<Dialer>,
}

/// Aborts the dialer when `connect` is dropped before it finished.
struct AbortOnDrop(Option<Arc<Dialer>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(dialer) = self.0.take() {
            dialer.abort();
        }
    }
}

/// What lapin's dial closure owns: dropped with lapin's IO loop, which is how a failed
/// `connect` knows the loop has ended.
struct Dial {
    dialer: Arc<Dialer>,
    _exited: oneshot::Sender<()>,
}

/// A duplicate of `socket`'s descriptor (to shut the connection down from outside).
#[cfg(unix)]
fn duplicate(socket: &impl std::os::fd::AsFd) -> Option<std::net::TcpStream> {
    let fd = socket.as_fd().try_clone_to_owned().ok()?;
    Some(std::net::TcpStream::from(fd))
}

#[cfg(not(unix))]
fn duplicate<T>(_socket: &T) -> Option<std::net::TcpStream> {
    None
}

/// Connects with automatic recovery: on a lost connection lapin reconnects (the dialer
/// waits 100 ms doubling to 2 s between attempts, for at most `reconnect_timeout`) and
/// replays channels, confirm mode, QoS, exchanges, queues, bindings and consumers.
///
/// A connect that fails or times out (or whose future is dropped) stops the dialer and
/// cuts a handshake in progress, so lapin's IO thread ends: nothing keeps dialling, no
/// socket stays open, and the runtime may be shut down. On failure this returns once
/// that thread has ended (bounded by [`EXIT_WAIT`]).
pub(crate) async fn connect(config: &AmqpConfig) -> Result<Link, AmqpError> {
    let uri = config.uri()?;
    let runtime = lapin::runtime::default_runtime().map_err(AmqpError::amqp("connect"))?;
    let dialer = Arc::new(Dialer::new(config.reconnect_timeout));
    let (exited_tx, exited) = oneshot::channel::<()>();
    let dial = Dial {
        dialer: Arc::clone(&dialer),
        _exited: exited_tx,
    };
    let properties = ConnectionProperties::default()
        .with_connection_name(config.connection_name.clone().into())
        .enable_auto_recover()
        .configure_backoff(|b| {
            b.with_min_delay(Duration::ZERO)
                .with_max_delay(Duration::ZERO)
                .with_max_times(LAPIN_REDIALS)
        });
    let mut abort_on_drop = AbortOnDrop(Some(Arc::clone(&dialer)));
    tracing::debug!(url = %config.redacted_url(), "connecting to RabbitMQ");
    let connecting = Connection::connector(
        uri,
        runtime,
        async move |uri: AMQPUri, runtime| {
            let Dial { dialer, .. } = &dial;
            let host = uri.authority.host.as_str();
            let port = uri.authority.port;
            let attempt = || async {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
                let stream = AsyncTcpStream::connect(&runtime, addrs).await?;
                let socket = match &stream {
                    AsyncTcpStream::Plain(plain) => duplicate(plain.get_ref()),
                    _ => None,
                };
                let stream = match uri.scheme {
                    AMQPScheme::AMQPS => {
                        let tls = OwnedTLSConfig::default();
                        stream.into_tls(host, tls.as_ref()).await?
                    }
                    AMQPScheme::AMQP => stream,
                };
                Ok((stream, socket))
            };
            dialer.dial(attempt).await.map_err(lapin::Error::from)
        },
        properties,
    );
    let op = config.operation_timeout;
    let outcome = async {
        let connection = timed("connect", config.connect_timeout, connecting).await?;
        match setup(&connection, config).await {
            Ok(publisher) => Ok((connection, publisher)),
            Err(err) => {
                let _ = timed(
                    "connection.close",
                    op,
                    connection.close(200, "failed".into()),
                )
                .await;
                Err(err)
            }
        }
    }
    .await;
    abort_on_drop.0 = None;
    match outcome {
        Ok((connection, publisher)) => {
            dialer.established();
            Ok(Link {
                connection,
                publisher,
                dialer,
            })
        }
        Err(err) => {
            dialer.abort();
            if tokio::time::timeout(EXIT_WAIT, exited).await.is_err() {
                tracing::warn!(after = ?EXIT_WAIT, "lapin's IO loop still running after a failed connect");
            }
            Err(err)
        }
    }
}

/// The publisher channel in confirm mode, and both exchanges.
async fn setup(connection: &Connection, config: &AmqpConfig) -> Result<Channel, AmqpError> {
    let op = config.operation_timeout;
    let publisher = timed("channel.open", op, connection.create_channel()).await?;
    timed(
        "confirm.select",
        op,
        publisher.confirm_select(ConfirmSelectOptions::default()),
    )
    .await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for name in [config.exchange.clone(), config.dead_letter_exchange()] {
        let name = crate::codec::encode_short("exchange", &name)?;
        timed(
            "exchange.declare",
            op,
            publisher.exchange_declare(name, ExchangeKind::Topic, durable, FieldTable::default()),
        )
        .await?;
    }
    Ok(publisher)
}

/// What to publish: everything `basic.publish` needs, kept for a retry.
pub(crate) struct Outgoing<'a> {
    pub(crate) exchange: ShortString,
    pub(crate) routing_key: ShortString,
    pub(crate) payload: &'a [u8],
    pub(crate) properties: BasicProperties,
}

/// Publishes and waits for the broker's confirm. A publish that fails because the
/// connection dropped is published again once lapin has recovered the channel (the
/// broker may then hold it twice: consumers deduplicate on the message id).
///
/// Each attempt may take `operation_timeout`; recovery may take `reconnect_timeout`.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    config: &AmqpConfig,
    out: Outgoing<'_>,
) -> Result<(), AmqpError> {
    let deadline = Instant::now() + config.reconnect_timeout;
    loop {
        let attempt = async {
            channel
                .basic_publish(
                    out.exchange.clone(),
                    out.routing_key.clone(),
                    BasicPublishOptions::default(),
                    out.payload,
                    out.properties.clone(),
                )
                .await?
                .await
        };
        let error = match tokio::time::timeout(config.operation_timeout, attempt).await {
            Ok(Ok(Confirmation::Nack(_))) => {
                return Err(AmqpError::Nacked {
                    routing_key: out.routing_key.to_string(),
                });
            }
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) => error,
            Err(_) => {
                return Err(AmqpError::timed_out(
                    "publish confirm",
                    config.operation_timeout,
                ));
            }
        };
        match recovered(channel, error, deadline).await {
            Ok(()) => {
                tracing::debug!(routing_key = %out.routing_key, "republishing after reconnection");
            }
            Err(Unrecovered::Failed(error)) => return Err(AmqpError::amqp("basic.publish")(error)),
            Err(Unrecovered::TimedOut) => {
                return Err(AmqpError::timed_out("reconnect", config.reconnect_timeout));
            }
        }
    }
}

/// Why [`recovered`] gave up.
pub(crate) enum Unrecovered {
    /// The channel is closed for good (or the error is not one of a lost connection).
    Failed(lapin::Error),
    TimedOut,
}

/// How often [`recovered`] looks at the channel when lapin gave no notifier.
const RECOVERY_POLL: Duration = Duration::from_millis(20);

/// Waits, until `deadline`, for `channel` to be usable again after `error`.
///
/// `Channel::wait_for_recovery` needs the notifier lapin attaches to the errors of a
/// channel it is recovering. Not every error of a cut carries one: frames already
/// serialized when the socket died are failed with the bare I/O error, possibly before
/// the channel is even marked as reconnecting. `wait_for_recovery` returns such an error
/// at once, which failed publishes "retried across a reconnection" and ended
/// subscriptions, depending on timing (more often under load). So an error that lapin
/// deems recoverable, on a channel that is not closed for good, waits for the channel's
/// state to be `Connected` again.
pub(crate) async fn recovered(
    channel: &Channel,
    error: lapin::Error,
    deadline: Instant,
) -> Result<(), Unrecovered> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let error = match tokio::time::timeout(remaining, channel.wait_for_recovery(error)).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(error)) => error,
        Err(_) => return Err(Unrecovered::TimedOut),
    };
    if !error.can_be_recovered() {
        return Err(Unrecovered::Failed(error));
    }
    loop {
        if Instant::now() + RECOVERY_POLL > deadline {
            return Err(Unrecovered::TimedOut);
        }
        // Also when still `Connected`: lapin may not have seen the cut yet.
        tokio::time::sleep(RECOVERY_POLL).await;
        let status = channel.status();
        if status.connected() {
            return Ok(());
        }
        if !status.reconnecting() && !status.initializing() {
            // Closing, closed, or failed for good.
            return Err(Unrecovered::Failed(error));
        }
    }
}
