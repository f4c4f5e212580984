//! Helpers shared by the integration tests: connecting to the local server (failing
//! loudly when it is missing), unique names, and stream clean-up.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracewire_nats::{JetStreamConfig, NatsBroker, NatsConfig, Storage};

/// The shared local server every test needs.
pub const URL: &str = "nats://127.0.0.1:4222";

/// A short unique name: `{base}{8 hex}`.
pub fn unique(base: &str) -> String {
    format!("{base}{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Core NATS on the local server, under a unique subject prefix.
pub fn core_config() -> NatsConfig {
    NatsConfig::new(URL)
        .with_subject_prefix(unique("tw"))
        .with_connect_timeout(Duration::from_secs(3))
        .with_drain_timeout(Duration::from_secs(10))
}

/// JetStream on the local server: a unique stream storing every topic under a unique
/// subject prefix.
pub fn js_config(js: impl FnOnce(JetStreamConfig) -> JetStreamConfig) -> NatsConfig {
    let stream = unique("TWTEST_");
    core_config().with_jetstream(js(
        JetStreamConfig::new(stream, [">"]).with_storage(Storage::Memory)
    ))
}

/// Connects, or panics naming the server that is missing.
pub async fn connect(config: NatsConfig) -> NatsBroker {
    match NatsBroker::connect(config).await {
        Ok(broker) => broker,
        Err(err) => panic!(
            "this test needs nats-server with JetStream on 127.0.0.1:4222 and could not use it: {err:?}"
        ),
    }
}

/// A raw async-nats client on the local server.
pub async fn raw_client() -> async_nats::Client {
    match async_nats::connect(URL).await {
        Ok(client) => client,
        Err(err) => panic!("this test needs nats-server on 127.0.0.1:4222: {err:?}"),
    }
}

/// Deletes the streams it collected when dropped, even when the test panicked.
#[derive(Clone, Default)]
pub struct Streams(Arc<Mutex<Vec<String>>>);

impl Streams {
    pub fn add(&self, config: &NatsConfig) {
        if let Some(js) = &config.jetstream {
            self.0.lock().unwrap().push(js.stream.clone());
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        if Arc::strong_count(&self.0) > 1 {
            return;
        }
        let names = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        // A fresh runtime on its own thread: Drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(client) = async_nats::connect(URL).await {
                    let js = async_nats::jetstream::new(client);
                    for name in names {
                        let _ = js.delete_stream(&name).await;
                    }
                }
            });
        })
        .join();
    }
}
