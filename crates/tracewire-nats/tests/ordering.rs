//! The ordering promises core NATS needs a round trip for (async-nats alone gives
//! neither): `subscribe` returns only once the server holds the SUB, and `close` delivers
//! everything published before it, also from other connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};

use common::{connect, core_config};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_right_after_subscribe_returns_is_delivered() {
    let config = core_config();
    let subscriber = connect(config.clone()).await;
    let publisher = connect(config).await;
    // Repeated: before the fix the SUB raced the other connection's PUB and lost often.
    for round in 0..20 {
        let topic = format!("ready.{round}");
        let mut sub = subscriber
            .subscribe(&topic, SubscribeOptions::new())
            .await
            .unwrap();
        publisher
            .publish(Message::new(&topic, round.to_string()))
            .await
            .unwrap();
        let delivery = tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| {
                panic!("round {round}: the message published after subscribe returned was lost")
            })
            .expect("subscription ended");
        assert_eq!(delivery.message().payload, round.to_string().as_bytes());
    }
    subscriber.close().await.unwrap();
    publisher.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_what_other_connections_published_before_it() {
    let config = core_config();
    let subscriber = connect(config.clone()).await;
    let publisher = connect(config).await;
    let mut sub = subscriber
        .subscribe("drain.cross", SubscribeOptions::new())
        .await
        .unwrap();
    for i in 0..200 {
        publisher
            .publish(Message::new("drain.cross", i.to_string()))
            .await
            .unwrap();
    }
    // The server has routed all 200 to the subscriber's connection once this returns.
    publisher.flush().await.unwrap();
    let closing = subscriber.close();
    let consume = async {
        let mut got = Vec::new();
        while let Some(d) = sub.next().await {
            got.push(String::from_utf8(d.message().payload.to_vec()).unwrap());
            d.ack().await.unwrap();
        }
        got
    };
    let (closed, got) = tokio::time::timeout(WAIT, async { tokio::join!(closing, consume) })
        .await
        .expect("close did not finish");
    closed.unwrap();
    let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(got, expected, "every message, in order, then the end");
    publisher.close().await.unwrap();
}
