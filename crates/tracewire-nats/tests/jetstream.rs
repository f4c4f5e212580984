//! JetStream behaviour beyond the conformance suite: stream verification,
//! deduplication, max-deliver dead letters, term, nak delay and the in-progress
//! keep-alive. Needs nats-server with JetStream on 127.0.0.1:4222.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use tracewire_broker::router::middleware::{
    DLQ_ATTEMPTS_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_nats::{ConnectError, KIND_MAX_DELIVER, NatsBroker, Storage};

use common::{Streams, connect, js_config};

const WAIT: Duration = Duration::from_secs(10);

async fn next<S: Subscription>(sub: &mut S) -> S::Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("nothing delivered")
        .expect("ended")
}

async fn consumer_info(broker: &NatsBroker, name: &str) -> async_nats::jetstream::consumer::Info {
    let js = async_nats::jetstream::new(broker.client().clone());
    let stream = &broker.config().jetstream.as_ref().unwrap().stream;
    js.get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(name, stream)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
}

#[tokio::test]
async fn stream_is_created_then_verified() {
    let streams = Streams::default();
    let config = js_config(|js| js.with_duplicate_window(Duration::from_secs(30)));
    streams.add(&config);
    let first = connect(config.clone()).await;
    let js = async_nats::jetstream::new(first.client().clone());
    let stream_name = config.jetstream.as_ref().unwrap().stream.clone();
    let found = js
        .get_stream(&stream_name)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(found.config.duplicate_window, Duration::from_secs(30));

    // Same stream, a different storage: refused, nothing silently changed.
    let mut other = config.clone();
    other.jetstream = other.jetstream.map(|js| js.with_storage(Storage::File));
    let err = NatsBroker::connect(other).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::StreamMismatch {
                field: "storage",
                ..
            }
        ),
        "{err:?}"
    );

    // A changed duplicate window is applied to the existing stream.
    let mut wider = config;
    wider.jetstream = wider
        .jetstream
        .map(|js| js.with_duplicate_window(Duration::from_secs(90)));
    connect(wider).await;
    let found = js
        .get_stream(&stream_name)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(found.config.duplicate_window, Duration::from_secs(90));
}

#[tokio::test]
async fn a_republished_message_id_is_stored_once() {
    let streams = Streams::default();
    let config = js_config(|js| js);
    streams.add(&config);
    let broker = connect(config).await;
    let mut sub = broker
        .subscribe("orders", SubscribeOptions::new().queue_group("g"))
        .await
        .unwrap();
    let msg = Message::new("orders", "once");
    for _ in 0..3 {
        broker.publish(msg.clone()).await.unwrap(); // a publisher retrying
    }
    broker
        .publish(Message::new("orders", "next"))
        .await
        .unwrap();
    let first = next(&mut sub).await;
    assert_eq!(
        (first.message().id.as_str(), &first.message().payload[..]),
        (msg.id.as_str(), &b"once"[..])
    );
    first.ack().await.unwrap();
    let second = next(&mut sub).await;
    assert_eq!(
        second.message().payload,
        "next",
        "the retries were deduplicated"
    );
    second.ack().await.unwrap();
}

#[tokio::test]
async fn max_deliver_dead_letters_with_the_reason_then_terminates() {
    let streams = Streams::default();
    let config = js_config(|js| js.with_max_deliver(2).with_dead_letter_topic("dead"));
    streams.add(&config);
    let broker = connect(config).await;
    let mut dead = broker
        .subscribe("dead", SubscribeOptions::new())
        .await
        .unwrap();
    let mut work = broker
        .subscribe("work", SubscribeOptions::new().queue_group("workers"))
        .await
        .unwrap();
    broker
        .publish(Message::new("work", "poison"))
        .await
        .unwrap();
    for attempt in 1..=2 {
        let d = next(&mut work).await;
        assert_eq!(d.message().delivery_attempt, attempt);
        d.nack().await.unwrap();
    }
    let letter = next(&mut dead).await;
    let m = letter.message();
    assert_eq!(m.payload, "poison");
    assert_eq!(m.headers.get(DLQ_ERROR_KIND_HEADER), Some(KIND_MAX_DELIVER));
    assert_eq!(m.headers.get(DLQ_ATTEMPTS_HEADER), Some("2"));
    assert_eq!(m.headers.get(DLQ_TOPIC_HEADER), Some("work"));
    letter.ack().await.unwrap();
    broker.flush().await.unwrap();
    let info = consumer_info(&broker, "workers-work").await;
    assert_eq!(
        (info.num_ack_pending, info.num_pending),
        (0, 0),
        "terminated, not pending"
    );
}

#[tokio::test]
async fn a_slow_handler_is_kept_in_progress() {
    let streams = Streams::default();
    let config = js_config(|js| js.with_ack_wait(Duration::from_secs(2)));
    streams.add(&config);
    let broker = connect(config).await;
    let mut sub = broker
        .subscribe("slow", SubscribeOptions::new().queue_group("slow"))
        .await
        .unwrap();
    broker.publish(Message::new("slow", "x")).await.unwrap();
    let d = next(&mut sub).await;
    // Four times ack_wait: without +WPI the server would have redelivered it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let info = consumer_info(&broker, "slow-slow").await;
    assert_eq!(info.num_redelivered, 0, "kept in progress");
    d.ack().await.unwrap();
}

#[tokio::test]
async fn a_dropped_delivery_is_redelivered() {
    let streams = Streams::default();
    let config = js_config(|js| js);
    streams.add(&config);
    let broker = connect(config).await;
    let mut sub = broker
        .subscribe("drop", SubscribeOptions::new())
        .await
        .unwrap();
    broker.publish(Message::new("drop", "x")).await.unwrap();
    drop(next(&mut sub).await);
    let again = next(&mut sub).await;
    assert_eq!(again.message().delivery_attempt, 2);
    again.ack().await.unwrap();
}

#[tokio::test]
async fn one_queue_group_on_two_topics_gets_each_topics_messages() {
    let streams = Streams::default();
    let config = js_config(|js| js);
    streams.add(&config);
    let broker = connect(config).await;
    let group = SubscribeOptions::new().queue_group("/services/inventory");
    let mut created = broker
        .subscribe("order.created", group.clone())
        .await
        .unwrap();
    let mut cancelled = broker.subscribe("order.cancelled", group).await.unwrap();
    broker
        .publish(Message::new("order.created", "c"))
        .await
        .unwrap();
    broker
        .publish(Message::new("order.cancelled", "x"))
        .await
        .unwrap();
    let d = next(&mut created).await;
    assert_eq!(d.message().topic, "order.created");
    d.ack().await.unwrap();
    let d = next(&mut cancelled).await;
    assert_eq!(
        (d.message().topic.as_str(), &d.message().payload[..]),
        ("order.cancelled", &b"x"[..]),
        "the second topic's subscriber got the first topic's message"
    );
    d.ack().await.unwrap();
}
