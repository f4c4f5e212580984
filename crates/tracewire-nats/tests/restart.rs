//! Fault test: a test-owned `nats-server -js` (free loopback port, temporary store) is
//! killed and restarted in the middle of 10 000 JetStream messages. Every publish that
//! got its PubAck is processed, none is lost; publishers retry with the same id
//! (`Nats-Msg-Id` deduplication keeps the stream free of copies) and the consumer
//! deduplicates redeliveries by message id. The pull consumer keeps fetching after the
//! server is back. A second test restarts the server under generic core NATS
//! requests: the shared no-responders probe keeps answering afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_nats::{JetStreamConfig, NatsBroker, NatsConfig};

const TOTAL: usize = 10_000;
const PUBLISHERS: usize = 8;
const WAIT: Duration = Duration::from_secs(5);
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// The test's own server; killed when dropped, whatever happens.
struct Server {
    child: Option<Child>,
}

impl Server {
    fn start(port: u16, store: &Path) -> Self {
        let child = Command::new(NATS_SERVER)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test needs {NATS_SERVER}: {e}"));
        // Owned by the guard at once: a panic below still kills the child.
        let server = Self { child: Some(child) };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("{NATS_SERVER} did not listen on 127.0.0.1:{port} within 5 s");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_message_is_lost_across_a_server_restart() {
    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server::start(port, store.path());
    let config = NatsConfig::new(format!("nats://127.0.0.1:{port}"))
        .with_request_timeout(Duration::from_secs(2))
        .with_jetstream(
            JetStreamConfig::new("FAULT", ["fault.>"]).with_ack_wait(Duration::from_secs(5)),
        );
    let broker = NatsBroker::connect(config).await.unwrap();
    let mut sub = broker
        .subscribe(
            "fault.items",
            SubscribeOptions::new().queue_group("workers"),
        )
        .await
        .unwrap();

    // Consumer: dedup by id, count redeliveries.
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let redelivered = Arc::new(AtomicUsize::new(0));
    let consumer = {
        let (seen, redelivered) = (Arc::clone(&seen), Arc::clone(&redelivered));
        tokio::spawn(async move {
            while let Some(d) = sub.next().await {
                if !seen.lock().await.insert(d.message().id.clone()) {
                    redelivered.fetch_add(1, Ordering::Relaxed);
                }
                let _ = d.ack().await;
                if seen.lock().await.len() == TOTAL {
                    break;
                }
            }
        })
    };

    // Publishers: retry each message with the same id until its PubAck arrives.
    let acked = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (broker, acked, retries) = (broker.clone(), Arc::clone(&acked), Arc::clone(&retries));
        publishers.push(tokio::spawn(async move {
            for i in (p..TOTAL).step_by(PUBLISHERS) {
                let msg = Message::new("fault.items", i.to_string()).with_id(format!("m-{i}"));
                while broker.publish(msg.clone()).await.is_err() {
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    // Kill the server a third of the way in, then bring it back on the same store.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::Relaxed) < TOTAL / 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishing stalled before the restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _server = Server::start(port, store.path());

    let finish = async {
        for p in publishers {
            p.await.unwrap();
        }
        consumer.await.unwrap();
    };
    if tokio::time::timeout(Duration::from_secs(120), finish)
        .await
        .is_err()
    {
        panic!(
            "not done within 120 s: {} acked publishes, {} processed",
            acked.load(Ordering::Relaxed),
            seen.lock().await.len()
        );
    }
    let seen = seen.lock().await;
    for i in 0..TOTAL {
        assert!(
            seen.contains(&format!("m-{i}")),
            "acknowledged message m-{i} was lost"
        );
    }
    assert!(broker.stats().disconnects() >= 1, "the restart was noticed");

    let js = async_nats::jetstream::new(broker.client().clone());
    let info = js
        .get_stream("FAULT")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(
        info.state.messages, TOTAL as u64,
        "retried publishes were deduplicated"
    );
    println!(
        "restart: {} publish retries, {} redeliveries suppressed by the consumer",
        retries.load(Ordering::Relaxed),
        redelivered.load(Ordering::Relaxed)
    );
}

/// The generic `Requester` over core NATS across a server restart: before and after,
/// a served topic answers and an unserved one fails at once with `NoResponders` (the
/// probe's wildcard subscription is re-established with the connection), and no probe
/// waiter is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_request_probe_survives_a_server_restart() {
    use tracewire_broker::BoxError;
    use tracewire_broker::request_reply::{RequestError, Requester, serve};

    let store = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server::start(port, store.path());
    let config = NatsConfig::new(format!("nats://127.0.0.1:{port}"))
        .with_request_timeout(Duration::from_secs(2))
        .with_drain_timeout(Duration::from_secs(5));
    let broker = NatsBroker::connect(config).await.unwrap();
    let responder = serve(broker.clone(), "svc.echo", |req: Message| async move {
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    let check = |round: &'static str| {
        let requester = &requester;
        async move {
            for i in 0..20 {
                let reply = requester
                    .request("svc.echo", Message::new("", format!("{round}-{i}")), WAIT)
                    .await
                    .unwrap_or_else(|e| panic!("{round}: served request {i}: {e:?}"));
                assert_eq!(reply.payload, format!("{round}-{i}"));
                let started = std::time::Instant::now();
                let err = requester
                    .request("svc.nobody", Message::new("", "x"), WAIT)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, RequestError::NoResponders(_)),
                    "{round}: unserved request {i}: {err:?}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "{round}: prompt"
                );
            }
        }
    };
    check("before").await;
    assert_eq!(broker.pending_probes(), 0);

    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = Server::start(port, store.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while broker.stats().reconnects() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reconnect within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The resubscriptions (responder, reply topic, probe) reach the server first.
    broker.flush().await.unwrap();
    check("after").await;
    assert_eq!(broker.pending_probes(), 0);
    responder.shutdown().await;
    broker.close().await.unwrap();
}
