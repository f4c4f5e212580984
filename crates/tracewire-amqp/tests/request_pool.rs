//! The request channels of `publish_request`: a pool per connection, one request per
//! channel at a time. Requests await their confirms in parallel (proved with a proxy
//! that holds confirms back, not with timings), the pool stays bounded, a channel the
//! server closed is replaced, and a new connection starts with a pool of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::ViaPort as _;
use common::proxy::{ConfirmGate, Proxy};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::ExchangeKind;
use lapin::options::{ExchangeDeclareOptions, ExchangeDeleteOptions};
use lapin::types::FieldTable;
use tracewire_amqp::{AmqpBroker, AmqpError};
use tracewire_broker::{Broker, Message, PublishError, Responders, SubscribeOptions};

const WAIT: Duration = Duration::from_secs(30);
const POOL: u16 = 4;

/// Publishes `n` requests at once, alternately to `bound` (answer `Present`) and to
/// `unbound` (answer `Absent`), and checks each answer.
async fn mixed_requests(broker: &AmqpBroker, n: usize) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let broker = broker.clone();
        let (topic, expected) = if i % 2 == 0 {
            ("bound", Responders::Present)
        } else {
            ("unbound", Responders::Absent)
        };
        tasks.push(tokio::spawn(async move {
            let got = broker
                .publish_request(Message::new(topic, i.to_string()))
                .await
                .unwrap();
            (i, got, expected)
        }));
    }
    for task in tasks {
        let (i, got, expected) = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
        assert_eq!(got, expected, "request {i}");
    }
}

/// Requests wait for their confirms at the same time: the proxy holds every confirm
/// back until confirms are pending on `POOL` channels at once (one request awaiting its
/// confirm at a time never gets there), then lets them go; each request, bound or
/// not, gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_await_their_confirms_in_parallel() {
    common::require_rabbitmq().await;
    let gate = ConfirmGate::new(usize::from(POOL));
    let proxy = Proxy::start_gated(Arc::clone(&gate)).await;
    let config = common::config("pool-par")
        .url_for_test(proxy.port)
        .operation_timeout(Duration::from_secs(120))
        .request_channels(POOL);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let bound = broker
        .subscribe("bound", SubscribeOptions::new())
        .await
        .unwrap();
    let round = {
        let broker = broker.clone();
        tokio::spawn(async move { mixed_requests(&broker, usize::from(POOL)).await })
    };
    let mut max_held = gate.max_held();
    let reached = tokio::time::timeout(WAIT, max_held.wait_for(|n| *n >= usize::from(POOL)))
        .await
        .is_ok();
    let held = *max_held.borrow();
    gate.open();
    assert!(
        reached,
        "{POOL} requests awaited their confirms at once: at most {held} did (waited {WAIT:?})"
    );
    tokio::time::timeout(WAIT, round).await.unwrap().unwrap();
    assert_eq!(broker.open_request_channels(), usize::from(POOL));
    // Confirms flow freely now: many more requests than channels reuse them and wait
    // their turn instead of failing or opening more.
    mixed_requests(&broker, 10 * usize::from(POOL)).await;
    assert_eq!(broker.open_request_channels(), usize::from(POOL));
    drop(bound);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// A channel the server closed (a channel error: the exchange was deleted under the
/// broker) fails its request and is dropped from the pool, not handed to the next
/// request; the connection stays up (no reconnection through the proxy).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_closed_by_the_server_is_replaced() {
    common::require_rabbitmq().await;
    let proxy = Proxy::start().await;
    let config = common::config("pool-err")
        .url_for_test(proxy.port)
        .request_channels(POOL);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let bound = broker
        .subscribe("bound", SubscribeOptions::new())
        .await
        .unwrap();
    mixed_requests(&broker, usize::from(POOL)).await;
    let open = broker.open_request_channels();
    assert!((1..=usize::from(POOL)).contains(&open), "{open} channels");

    let conn = common::raw().await;
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
    let err = broker
        .publish_request(Message::new("bound", "no exchange"))
        .await
        .unwrap_err();
    let PublishError::Backend(source) = &err else {
        panic!("expected a backend error, got {err:?}");
    };
    assert!(
        matches!(
            source.downcast_ref::<AmqpError>(),
            Some(AmqpError::Amqp { operation: "basic.publish", source }) if source.is_amqp_soft_error()
        ),
        "{source:?}"
    );
    assert_eq!(
        broker.open_request_channels(),
        open - 1,
        "the closed channel left the pool"
    );

    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let _ = conn.close(200, "done".into()).await;
    // Every channel of the pool serves again (the exchange is back, its bindings are
    // not: every topic is unbound now).
    for round in 0..3 {
        let mut tasks = Vec::new();
        for i in 0..2 * usize::from(POOL) {
            let broker = broker.clone();
            tasks.push(tokio::spawn(async move {
                broker
                    .publish_request(Message::new("bound", i.to_string()))
                    .await
            }));
        }
        for task in tasks {
            let got = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
            assert_eq!(got.unwrap(), Responders::Absent, "round {round}");
        }
    }
    assert!(broker.open_request_channels() <= usize::from(POOL));
    assert!(broker.is_connected());
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "the channel error cost a reconnection"
    );
    drop(bound);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// After a reconnection the new connection starts with no request channel (the old
/// connection's went with it) and requests work again on channels of their own, each
/// with the right answer, without a further reconnection (a stale channel would fail
/// and cost one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_work_again_after_a_reconnection() {
    common::require_rabbitmq().await;
    let proxy = Proxy::start().await;
    let config = common::config("pool-reconnect")
        .url_for_test(proxy.port)
        .request_channels(POOL);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let bound = broker
        .subscribe("bound", SubscribeOptions::new())
        .await
        .unwrap();
    mixed_requests(&broker, 3 * usize::from(POOL)).await;
    assert!(broker.open_request_channels() >= 1);

    proxy.sever();
    tokio::time::timeout(WAIT, async {
        while proxy.accepted.load(Ordering::SeqCst) < 2 || !broker.is_connected() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("reconnected through the proxy");
    assert_eq!(
        broker.open_request_channels(),
        0,
        "the new connection starts with an empty pool"
    );
    // The subscription binds its queue again on the new connection, on its own time.
    tokio::time::timeout(WAIT, async {
        while broker
            .publish_request(Message::new("bound", "probe"))
            .await
            .unwrap()
            != Responders::Present
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the subscription is bound again");

    mixed_requests(&broker, 3 * usize::from(POOL)).await;
    let open = broker.open_request_channels();
    assert!((1..=usize::from(POOL)).contains(&open), "{open} channels");
    assert!(broker.is_connected());
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        2,
        "one reconnection, no more"
    );
    drop(bound);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}
