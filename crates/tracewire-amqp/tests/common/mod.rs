//! Shared test support: the local RabbitMQ (never skipped: unreachable = loud failure),
//! unique exchange names, cleanup.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod proxy;

use std::time::Duration;

use lapin::options::ExchangeDeleteOptions;
use lapin::{Connection, ConnectionProperties};
use tracewire_amqp::{AmqpBroker, AmqpConfig};

/// Where the tests expect RabbitMQ.
pub(crate) const ADDR: &str = "127.0.0.1:5672";
pub(crate) const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Panics with a clear message when nothing listens on 127.0.0.1:5672.
pub(crate) async fn require_rabbitmq() {
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(ADDR)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!(
            "RabbitMQ is required at {ADDR} (guest/guest) and is unreachable: {e}. \
             Start it with `rabbitmq-server -detached`; these tests never skip."
        ),
        Err(_) => panic!("RabbitMQ at {ADDR} did not accept a TCP connection within 5 s"),
    }
}

/// A unique exchange name for one test.
pub(crate) fn unique(prefix: &str) -> String {
    format!("tw-test.{prefix}.{}", uuid::Uuid::new_v4().simple())
}

/// A config on the local server with a unique exchange and short timeouts.
pub(crate) fn config(prefix: &str) -> AmqpConfig {
    AmqpConfig::new(URL)
        .exchange(unique(prefix))
        .drain_timeout(Duration::from_secs(10))
        .reconnect_timeout(Duration::from_secs(30))
}

pub(crate) async fn connect(config: AmqpConfig) -> AmqpBroker {
    require_rabbitmq().await;
    AmqpBroker::connect(config)
        .await
        .unwrap_or_else(|e| panic!("connecting to RabbitMQ at {ADDR}: {e}"))
}

/// A raw lapin connection (for junk publishes and cleanup).
pub(crate) async fn raw() -> Connection {
    require_rabbitmq().await;
    Connection::connect(URL, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("raw lapin connection to {ADDR}: {e}"))
}

/// Deletes the exchange and its dead-letter exchange.
pub(crate) async fn delete_exchanges(exchange: &str) {
    let conn = raw().await;
    let ch = conn.create_channel().await.unwrap();
    for name in [exchange.to_owned(), format!("{exchange}.dlx")] {
        let _ = ch
            .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "cleanup".into()).await;
}

/// Points a config at 127.0.0.1:`port` (a proxy in front of RabbitMQ).
pub(crate) trait ViaPort {
    fn url_for_test(self, port: u16) -> AmqpConfig;
}

impl ViaPort for AmqpConfig {
    fn url_for_test(self, port: u16) -> AmqpConfig {
        let exchange = self.exchange_name().to_owned();
        AmqpConfig::new(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"))
            .exchange(exchange)
            .durable(self.is_durable())
            .drain_timeout(Duration::from_secs(10))
            .reconnect_timeout(Duration::from_secs(30))
    }
}
