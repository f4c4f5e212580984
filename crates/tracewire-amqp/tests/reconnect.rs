//! Fault test: a TCP proxy inside the test severs the connection twice in the middle of
//! a stream of 2 000 publishes (frames cut at arbitrary byte positions, deliveries in
//! flight both ways); the client reconnects each time, consumers resume, every publish
//! that returned `Ok` is consumed, and `close` leaves no lapin IO thread behind.
//!
//! Every wait is on an event (a `watch` of the confirmed count and of the received set),
//! with generous bounds: on a loaded machine the stream is slow, not wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::ViaPort as _;
use common::proxy::Proxy;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};

const N: usize = 2_000;
const PUBLISHERS: usize = 8;

/// The tests count lapin IO threads process-wide, so they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Threads of this process named like lapin's IO loop (Linux: `/proc/self/task/*/comm`),
/// once they have had up to 5 s to end.
fn io_threads_settled() -> usize {
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .expect("/proc/self/task")
            .filter_map(Result::ok)
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|name| name.trim() == "lapin-io-loop")
            })
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = count();
        if n == 0 || std::time::Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn severed_connection_loses_nothing_confirmed() {
    let _serial = SERIAL.lock().await;
    common::require_rabbitmq().await;
    let proxy = Proxy::start().await;
    let config = common::config("fault")
        .durable(true)
        .url_for_test(proxy.port)
        .prefetch(200);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let mut sub = broker
        .subscribe("fault.stream", SubscribeOptions::new().queue_group("g"))
        .await
        .unwrap();
    let queue = sub.queue().to_owned();

    let (got, mut received) = watch::channel(HashSet::<String>::new());
    let consumer = tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let payload = String::from_utf8_lossy(&d.message().payload).into_owned();
            got.send_modify(|got| {
                got.insert(payload);
            });
            let _ = d.ack().await; // an ack lost in the cut means a redelivery, not a loss
        }
    });

    let (confirmed, mut confirmed_rx) = watch::channel(0_usize);
    let confirmed = Arc::new(confirmed);
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (broker, confirmed) = (broker.clone(), Arc::clone(&confirmed));
        publishers.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut failed = 0;
            for i in (p..N).step_by(PUBLISHERS) {
                match broker
                    .publish(Message::new("fault.stream", i.to_string()))
                    .await
                {
                    Ok(()) => {
                        confirmed.send_modify(|n| *n += 1);
                        ok.push(i.to_string());
                    }
                    Err(_) => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    // Cut the connection once a quarter of the stream is confirmed, and the new one
    // once half of it is.
    for (part, share) in [(N / 4, "a quarter"), (N / 2, "half")] {
        tokio::time::timeout(
            Duration::from_secs(120),
            confirmed_rx.wait_for(|n| *n >= part),
        )
        .await
        .unwrap_or_else(|_| panic!("{share} of the publishes confirmed within 120 s"))
        .unwrap();
        proxy.sever();
    }

    let mut ok = HashSet::new();
    let mut failed = 0;
    for p in publishers {
        let (o, f) = tokio::time::timeout(Duration::from_secs(180), p)
            .await
            .unwrap()
            .unwrap();
        ok.extend(o);
        failed += f;
    }
    assert!(
        proxy.accepted.load(Ordering::SeqCst) >= 3,
        "the client reconnected through the proxy after each cut"
    );
    assert_eq!(
        failed, 0,
        "publishes in flight during the cut were retried, not failed"
    );
    let all_received = tokio::time::timeout(
        Duration::from_secs(120),
        received.wait_for(|got| ok.is_subset(got)),
    )
    .await
    .map(|seen| seen.map(drop));
    if all_received.is_err() {
        let missing = ok.difference(&received.borrow()).count();
        panic!("{missing} confirmed messages were never consumed (waited 120 s)");
    }
    consumer.abort();
    broker.close().await.unwrap();
    drop(broker);
    assert_eq!(
        io_threads_settled(),
        0,
        "a lapin IO thread (of a lost or the closed connection) is still running"
    );
    let conn = common::raw().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(queue.as_str().into(), Default::default())
        .await
        .unwrap();
    let _ = conn.close(200, "cleanup".into()).await;
    common::delete_exchanges(&exchange).await;
}

/// Dropping subscriptions (consumers active, deliveries unsettled) on a live broker
/// closes their channels and nothing else: lapin, without automatic recovery, turns a
/// failed channel task into an error of the whole connection, so a close of ours racing
/// lapin's own cancel-and-close of a dropped consumer used to cost a reconnection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_subscriptions_keeps_the_connection() {
    let _serial = SERIAL.lock().await;
    common::require_rabbitmq().await;
    let proxy = Proxy::start().await;
    let config = common::config("dropsub").url_for_test(proxy.port);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    for round in 0..20 {
        let mut sub = broker
            .subscribe("drop.me", SubscribeOptions::new())
            .await
            .unwrap();
        for i in 0..5 {
            broker
                .publish(Message::new("drop.me", format!("{round}-{i}")))
                .await
                .unwrap();
        }
        let held = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .unwrap()
            .unwrap();
        drop(sub); // four deliveries still buffered, one held unsettled
        drop(held);
    }
    // Give a reconnection, if one was triggered, time to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(broker.is_connected());
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "dropping subscriptions made the client reconnect"
    );
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// A broker dropped without `close`, after a reconnection, leaves no lapin IO thread
/// behind (neither the lost connection's nor the live one's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_broker_leaves_no_io_thread() {
    let _serial = SERIAL.lock().await;
    common::require_rabbitmq().await;
    let proxy = Proxy::start().await;
    let config = common::config("dropped").url_for_test(proxy.port);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let sub = broker
        .subscribe("dropped.topic", SubscribeOptions::new())
        .await
        .unwrap();
    proxy.sever();
    // Confirmed on the new connection.
    broker
        .publish(Message::new("dropped.topic", "after the cut"))
        .await
        .unwrap();
    assert!(proxy.accepted.load(Ordering::SeqCst) >= 2);
    drop(sub);
    drop(broker);
    assert_eq!(
        io_threads_settled(),
        0,
        "a lapin IO thread outlived the dropped broker"
    );
    common::delete_exchanges(&exchange).await;
}

/// RabbitMQ unreachable for longer than a publish waits (the old give-up point was that
/// same `reconnect_timeout`): the client keeps reconnecting with backoff, a publish
/// during the outage fails with `TimedOut { operation: "reconnect" }`, and once RabbitMQ
/// is back the subscription resumes and every confirmed message is consumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_longer_than_the_publish_wait_reconnects_for_ever() {
    use tracewire_amqp::{AmqpError, ReconnectPolicy};
    use tracewire_broker::PublishError;

    let _serial = SERIAL.lock().await;
    common::require_rabbitmq().await;
    let proxy = Proxy::start().await;
    let publish_wait = Duration::from_secs(1);
    let config = common::config("outage")
        .durable(true)
        .url_for_test(proxy.port)
        .connect_timeout(Duration::from_secs(2))
        .reconnect_timeout(publish_wait)
        .reconnect_policy(
            ReconnectPolicy::forever()
                .delays(Duration::from_millis(50), Duration::from_millis(400)),
        );
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let mut sub = broker
        .subscribe("outage.stream", SubscribeOptions::new().queue_group("g"))
        .await
        .unwrap();
    let queue = sub.queue().to_owned();
    let (got, mut received) = watch::channel(HashSet::<String>::new());
    let consumer = tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let payload = String::from_utf8_lossy(&d.message().payload).into_owned();
            got.send_modify(|got| {
                got.insert(payload);
            });
            let _ = d.ack().await;
        }
        // Reaching here means the subscription ended: the test below then fails.
    });
    let mut sent = HashSet::new();
    for i in 0..10 {
        let payload = format!("before-{i}");
        broker
            .publish(Message::new("outage.stream", payload.clone()))
            .await
            .unwrap();
        sent.insert(payload);
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        received.wait_for(|got| sent.is_subset(got)),
    )
    .await
    .expect("consumed before the outage")
    .unwrap();

    proxy.outage();
    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), async {
        while broker.is_connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cut is noticed");
    let attempts_before = proxy.accepted.load(Ordering::SeqCst);
    let err = tokio::time::timeout(
        Duration::from_secs(15),
        broker.publish(Message::new("outage.stream", "during")),
    )
    .await
    .expect("a publish during the outage fails after its own wait")
    .unwrap_err();
    let PublishError::Backend(source) = &err else {
        panic!("expected a backend error, got {err:?}");
    };
    assert!(
        matches!(
            source.downcast_ref::<AmqpError>(),
            Some(AmqpError::TimedOut { operation: "reconnect", after }) if *after == publish_wait
        ),
        "{source:?}"
    );
    // Stay down for three publish waits: the old behaviour gave up after one.
    let outage = publish_wait * 3;
    tokio::time::sleep(outage.saturating_sub(started.elapsed())).await;
    assert!(!broker.is_connected());
    let attempts = proxy.accepted.load(Ordering::SeqCst) - attempts_before;
    assert!(
        attempts >= 3,
        "still reconnecting during the outage: {attempts} attempts"
    );
    assert!(
        !consumer.is_finished(),
        "the subscription waits for the connection"
    );

    proxy.restore();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !broker.is_connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("reconnected once RabbitMQ is back");
    for i in 0..10 {
        let payload = format!("after-{i}");
        broker
            .publish(Message::new("outage.stream", payload.clone()))
            .await
            .unwrap();
        sent.insert(payload);
    }
    let all = tokio::time::timeout(
        Duration::from_secs(30),
        received.wait_for(|got| sent.is_subset(got)),
    )
    .await
    .map(|seen| seen.map(drop));
    if all.is_err() {
        let missing: Vec<String> = sent.difference(&received.borrow()).cloned().collect();
        panic!("the subscription did not resume: missing {missing:?}");
    }
    consumer.abort();
    broker.close().await.unwrap();
    drop(broker);
    assert_eq!(
        io_threads_settled(),
        0,
        "a lapin IO thread is still running"
    );
    let conn = common::raw().await;
    let ch = conn.create_channel().await.unwrap();
    ch.queue_delete(queue.as_str().into(), Default::default())
        .await
        .unwrap();
    let _ = conn.close(200, "cleanup".into()).await;
    common::delete_exchanges(&exchange).await;
}

/// Log lines written by the `tracing` subscriber of one test.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// `give_up_after` with RabbitMQ unreachable for longer: the broker gives up for good.
/// The subscription ends (`next` is `None`) and `connection_state()` says why
/// (`GaveUp`); publishes, requests and subscribes fail at once with
/// `AmqpError::Disconnected` (not after `reconnect_timeout`); the give-up is logged at
/// `error`; no lapin IO thread is left. On a current-thread runtime, so that the
/// supervisor's logs reach this test's subscriber.
#[tokio::test]
async fn giving_up_ends_subscriptions_and_fails_publishes() {
    use tracewire_amqp::{AmqpError, ConnectionState, ReconnectPolicy};
    use tracewire_broker::{PublishError, SubscribeError};

    let _serial = SERIAL.lock().await;
    common::require_rabbitmq().await;
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _log_guard = tracing::subscriber::set_default(subscriber);

    let proxy = Proxy::start().await;
    let give_up = Duration::from_millis(1500);
    let reconnect_wait = Duration::from_secs(30);
    let config = common::config("give-up")
        .url_for_test(proxy.port)
        .connect_timeout(Duration::from_millis(500))
        .reconnect_timeout(reconnect_wait)
        .reconnect_policy(
            ReconnectPolicy::forever()
                .give_up_after(give_up)
                .delays(Duration::from_millis(50), Duration::from_millis(200)),
        );
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    assert_eq!(broker.connection_state(), ConnectionState::Connected);
    let mut sub = broker
        .subscribe("give-up.stream", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("give-up.stream", "before"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("delivered before the outage")
        .expect("subscription open");
    first.ack().await.unwrap();

    proxy.outage();
    let started = tokio::time::Instant::now();
    let ended = tokio::time::timeout(give_up + Duration::from_secs(15), sub.next())
        .await
        .expect("the subscription ends once reconnecting gives up");
    assert!(ended.is_none(), "no delivery during the outage");
    assert!(
        started.elapsed() >= give_up,
        "not before the give-up time: {:?}",
        started.elapsed()
    );
    assert_eq!(broker.connection_state(), ConnectionState::GaveUp);
    assert!(!broker.is_connected());

    let disconnected = |source: &tracewire_broker::BoxError| {
        matches!(
            source.downcast_ref::<AmqpError>(),
            Some(AmqpError::Disconnected(_))
        )
    };
    let failing = tokio::time::Instant::now();
    let err = broker
        .publish(Message::new("give-up.stream", "after"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PublishError::Backend(source) if disconnected(source)),
        "{err:?}"
    );
    let err = broker
        .publish_request(Message::new("give-up.stream", "request"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PublishError::Backend(source) if disconnected(source)),
        "{err:?}"
    );
    let err = broker
        .subscribe("give-up.other", SubscribeOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SubscribeError::Backend(source) if disconnected(source)),
        "{err:?}"
    );
    assert!(
        failing.elapsed() < Duration::from_secs(2),
        "at once, not after the {reconnect_wait:?} reconnect wait: {:?}",
        failing.elapsed()
    );

    // Stays given up even once RabbitMQ is reachable again.
    let attempts = proxy.accepted.load(Ordering::SeqCst);
    proxy.restore();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(proxy.accepted.load(Ordering::SeqCst), attempts, "no redial");
    assert_eq!(broker.connection_state(), ConnectionState::GaveUp);

    let text = logs.text();
    assert!(
        text.lines()
            .any(|l| l.contains("ERROR") && l.contains("giving up reconnecting to RabbitMQ")),
        "the give-up is logged at error:\n{text}"
    );
    assert!(
        !text.contains("guest:guest"),
        "no password in logs:\n{text}"
    );

    drop(sub);
    drop(broker);
    assert_eq!(
        io_threads_settled(),
        0,
        "a lapin IO thread is still running"
    );
    common::delete_exchanges(&exchange).await;
}
