//! Connecting (with lapin's automatic recovery) and publishing with confirms, retried
//! across a reconnection.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use tokio::time::Instant;

use crate::error::timed;
use crate::{AmqpConfig, AmqpError};

/// An open connection and its publisher channel (confirm mode), with both exchanges
/// declared.
pub(crate) struct Link {
    pub(crate) connection: Connection,
    pub(crate) publisher: Channel,
}

/// Connects with automatic recovery: on a lost connection lapin reconnects with
/// exponential backoff (100 ms to 2 s) and replays channels, confirm mode, QoS,
/// exchanges, queues, bindings and consumers.
pub(crate) async fn connect(config: &AmqpConfig) -> Result<Link, AmqpError> {
    let uri = config.uri()?;
    // Retry the TCP connection long enough to cover `reconnect_timeout`.
    let attempts = usize::try_from(config.reconnect_timeout.as_secs() / 2 + 10).unwrap_or(64);
    let properties = ConnectionProperties::default()
        .with_connection_name(config.connection_name.clone().into())
        .enable_auto_recover()
        .configure_backoff(move |b| {
            b.with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(2))
                .with_max_times(attempts)
        });
    tracing::debug!(url = %config.redacted_url(), "connecting to RabbitMQ");
    let connection = timed(
        "connect",
        config.connect_timeout,
        Connection::connect_uri(uri, properties),
    )
    .await?;
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
    Ok(Link {
        connection,
        publisher,
    })
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
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, channel.wait_for_recovery(error)).await {
            Ok(Ok(())) => {
                tracing::debug!(routing_key = %out.routing_key, "republishing after reconnection");
            }
            Ok(Err(error)) => return Err(AmqpError::amqp("basic.publish")(error)),
            Err(_) => {
                return Err(AmqpError::timed_out("reconnect", config.reconnect_timeout));
            }
        }
    }
}
