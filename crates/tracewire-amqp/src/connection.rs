//! Connecting (one plain connection, dialled through [`Dialer`]) and publishing with
//! confirms, retried on the next connection when one is lost (see [`crate::session`]).

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
use crate::session::Session;
use crate::{AmqpConfig, AmqpError};

/// How many times in a row lapin's IO loop asks [`Dialer`] again after a failed dial or
/// handshake of the first connection; the dialer paces the attempts (lapin's own
/// backoff is zero) and `connect_timeout` bounds them, so this is only a safety net.
const LAPIN_REDIALS: usize = 64;
/// How long a failed `connect` waits for lapin's IO loop to end (it does in
/// milliseconds once the dialer is aborted).
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// An open connection and its publisher channel (confirm mode), with both exchanges
/// declared.
pub(crate) struct Connected {
    pub(crate) connection: Connection,
    pub(crate) publisher: Channel,
    pub(crate) dialer: Arc<Dialer>,
    /// Completes when lapin's IO loop for this connection has ended.
    pub(crate) exited: oneshot::Receiver<()>,
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
/// `connect` (and the session's supervisor) knows the loop has ended.
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

/// Connects, without lapin's automatic recovery: when this connection is lost, lapin
/// fails what is pending on it and its IO loop ends (`exited` completes); the session
/// then connects again.
///
/// A connect that fails or times out (or whose future is dropped) stops the dialer and
/// cuts a handshake in progress, so lapin's IO thread ends: nothing keeps dialling, no
/// socket stays open, and the runtime may be shut down. On failure this returns once
/// that thread has ended (bounded by [`EXIT_WAIT`]).
pub(crate) async fn connect(config: &AmqpConfig) -> Result<Connected, AmqpError> {
    let uri = config.uri()?;
    let runtime = lapin::runtime::default_runtime().map_err(AmqpError::amqp("connect"))?;
    let dialer = Arc::new(Dialer::new());
    let (exited_tx, exited) = oneshot::channel::<()>();
    let dial = Dial {
        dialer: Arc::clone(&dialer),
        _exited: exited_tx,
    };
    let properties = ConnectionProperties::default()
        .with_connection_name(config.connection_name.clone().into())
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
            Ok(Connected {
                connection,
                publisher,
                dialer,
                exited,
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

/// Which channel of the link a publish goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The shared publisher channel: publishes in parallel, not `mandatory` (an
    /// unroutable message is confirmed and dropped by the server).
    Plain,
    /// A request channel of the link ([`RequestPool`](crate::request_pool::RequestPool)):
    /// `mandatory`, one publish at a time per channel, so an unroutable message comes
    /// back as [`Confirmation::Ack`] carrying that very message.
    Request,
}

/// Publishes and waits for the broker's confirm. A publish that fails because the
/// connection dropped is published again on the next connection (the broker may then
/// hold it twice: consumers deduplicate on the message id). A nack is
/// [`AmqpError::Nacked`]; otherwise the confirmation is returned (on
/// [`Lane::Request`], `Ack(Some(returned))` for a message no queue took).
///
/// Each attempt may take `operation_timeout` (on [`Lane::Request`], waiting for a free
/// request channel included); waiting for a connection, at most
/// `reconnect_timeout` in all (reconnecting goes on after that, for the next publish).
pub(crate) async fn publish_confirmed(
    session: &Session,
    config: &AmqpConfig,
    out: Outgoing<'_>,
    lane: Lane,
) -> Result<Confirmation, AmqpError> {
    let deadline = Instant::now() + config.reconnect_timeout;
    let mut min_generation = 0;
    loop {
        let link = session
            .link(min_generation, Some(deadline))
            .await
            .map_err(|why| why.into_error(config))?;
        let publish = |channel: Channel, mandatory: bool| {
            let out = &out;
            async move {
                channel
                    .basic_publish(
                        out.exchange.clone(),
                        out.routing_key.clone(),
                        BasicPublishOptions {
                            mandatory,
                            ..BasicPublishOptions::default()
                        },
                        out.payload,
                        out.properties.clone(),
                    )
                    .await?
                    .await
            }
        };
        let attempt = async {
            match lane {
                Lane::Plain => publish(link.publisher.clone(), false).await,
                Lane::Request => {
                    let mut lease = link.requests.acquire(&link.connection).await?;
                    let confirmation = publish(lease.channel().clone(), true).await?;
                    lease.confirmed();
                    Ok(confirmation)
                }
            }
        };
        match tokio::time::timeout(config.operation_timeout, attempt).await {
            Ok(Ok(Confirmation::Nack(_))) => {
                return Err(AmqpError::Nacked {
                    routing_key: out.routing_key.to_string(),
                });
            }
            Ok(Ok(confirmation)) => return Ok(confirmation),
            // The server closed the publisher channel over this message (an access or
            // a precondition error): publishing it again would fail again.
            Ok(Err(error)) if error.is_amqp_soft_error() => {
                return Err(AmqpError::amqp("basic.publish")(error));
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, generation = link.generation, routing_key = %out.routing_key, "publish failed with its connection; republishing on the next one");
            }
            Err(_) if link.healthy() || Instant::now() >= deadline => {
                return Err(AmqpError::timed_out(
                    "publish confirm",
                    config.operation_timeout,
                ));
            }
            Err(_) => {
                tracing::debug!(generation = link.generation, routing_key = %out.routing_key, "publish confirm timed out on a dead connection; republishing on the next one");
            }
        }
        // Whatever failed on this link, it is not used again: cut it (a dead one is
        // already cut) and wait for the next.
        link.cut();
        min_generation = link.generation + 1;
    }
}
