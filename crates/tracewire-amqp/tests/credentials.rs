//! Credentials never show up in logs (lapin's included), `Debug` output or errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracewire_amqp::{AmqpBroker, AmqpConfig, AmqpError};
use tracewire_broker::Broker;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn passwords_stay_out_of_logs_debug_and_errors() {
    common::require_rabbitmq().await;
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A wrong password: the server refuses; the error must not echo it.
    let wrong = AmqpConfig::new("amqp://guest:Wr0ng-Secret-Pw@127.0.0.1:5672/%2f")
        .exchange(common::unique("creds"))
        .connect_timeout(std::time::Duration::from_secs(5));
    let err = AmqpBroker::connect(wrong.clone()).await.unwrap_err();
    assert!(
        matches!(err, AmqpError::Amqp { .. } | AmqpError::TimedOut { .. }),
        "{err:?}"
    );
    let mut texts = vec![format!("{err}"), format!("{err:?}"), format!("{wrong:?}")];

    // A good connection: Debug of the config and the broker.
    let config = common::config("creds2");
    let exchange = config.exchange_name().to_owned();
    let broker = AmqpBroker::connect(config.clone()).await.unwrap();
    texts.push(format!("{config:?}"));
    texts.push(format!("{broker:?}"));
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;

    texts.push(String::from_utf8(logs.0.lock().unwrap().clone()).unwrap());
    for text in &texts {
        assert!(!text.contains("Wr0ng-Secret-Pw"), "password leaked: {text}");
        assert!(!text.contains("guest:guest@"), "password leaked: {text}");
    }
    assert!(
        texts.last().unwrap().contains("guest:***@"),
        "the redacted URL is what gets logged"
    );
}
