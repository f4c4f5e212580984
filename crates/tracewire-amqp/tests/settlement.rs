//! Ack, nack with counted attempts, reject and delivery limits go where they should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use tracewire_amqp::{AmqpDelivery, AmqpSubscription};
use tracewire_broker::router::middleware::{
    DLQ_ATTEMPTS_HEADER, DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};

const WAIT: Duration = Duration::from_secs(10);

async fn next(sub: &mut AmqpSubscription) -> AmqpDelivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("nothing delivered in time")
        .expect("subscription ended")
}

#[tokio::test]
async fn nack_counts_attempts_and_keeps_the_message() {
    let config = common::config("nack");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let group = SubscribeOptions::new().queue_group("workers");
    let mut sub = broker.subscribe("jobs.run", group).await.unwrap();
    let sent = Message::new("jobs.run", "job-1")
        .with_header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .with_correlation_id("c-9");
    broker.publish(sent.clone()).await.unwrap();
    for attempt in 1..=3 {
        let d = next(&mut sub).await;
        assert_eq!(d.message().delivery_attempt, attempt);
        assert_eq!(
            d.message().topic,
            "jobs.run",
            "original topic after a republish"
        );
        assert_eq!(d.message().id, sent.id);
        assert_eq!(
            d.message().headers,
            sent.headers,
            "headers survive redelivery"
        );
        d.nack().await.unwrap();
    }
    let d = next(&mut sub).await;
    assert_eq!(d.message().delivery_attempt, 4);
    d.ack().await.unwrap();
    broker
        .publish(Message::new("jobs.run", "job-2"))
        .await
        .unwrap();
    let d = next(&mut sub).await;
    assert_eq!(d.message().payload, "job-2", "the acked message is gone");
    d.ack().await.unwrap();
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

#[tokio::test]
async fn reject_dead_letters_with_the_reason() {
    let config = common::config("reject");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let mut dlq = broker
        .subscribe_dead_letters("#", SubscribeOptions::new())
        .await
        .unwrap();
    let mut sub = broker
        .subscribe("pay.charge", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("pay.charge", "card-expired"))
        .await
        .unwrap();
    next(&mut sub).await.reject("card expired").await.unwrap();
    let dead = next(&mut dlq).await;
    let h = &dead.message().headers;
    assert_eq!(dead.message().payload, "card-expired");
    assert_eq!(h.get(DLQ_ERROR_HEADER), Some("card expired"));
    assert_eq!(h.get(DLQ_ERROR_KIND_HEADER), Some("rejected"));
    assert_eq!(h.get(DLQ_ATTEMPTS_HEADER), Some("1"));
    assert_eq!(h.get(DLQ_TOPIC_HEADER), Some("pay.charge"));
    assert_eq!(dead.message().delivery_attempt, 1);
    dead.ack().await.unwrap();
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

#[tokio::test]
async fn max_deliveries_dead_letters_the_last_nack() {
    let config = common::config("maxdel").max_deliveries(Some(2));
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let mut dlq = broker
        .subscribe_dead_letters("mail.#", SubscribeOptions::new())
        .await
        .unwrap();
    let mut sub = broker
        .subscribe("mail.send", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("mail.send", "m"))
        .await
        .unwrap();
    next(&mut sub).await.nack().await.unwrap();
    let second = next(&mut sub).await;
    assert_eq!(second.message().delivery_attempt, 2);
    second.nack().await.unwrap();
    let dead = next(&mut dlq).await;
    assert_eq!(
        dead.message().headers.get(DLQ_ERROR_KIND_HEADER),
        Some("max_deliveries")
    );
    assert_eq!(dead.message().headers.get(DLQ_ATTEMPTS_HEADER), Some("2"));
    dead.ack().await.unwrap();
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

#[tokio::test]
async fn dropped_delivery_is_redelivered_and_prefetch_bounds_the_consumer() {
    let config = common::config("drop");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let mut sub = broker
        .subscribe("t.drop", SubscribeOptions::new().capacity(1))
        .await
        .unwrap();
    for i in 0..2 {
        broker
            .publish(Message::new("t.drop", i.to_string()))
            .await
            .unwrap();
    }
    let first = next(&mut sub).await;
    // Prefetch 1: while `first` is unsettled the broker sends nothing else.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.next())
            .await
            .is_err(),
        "prefetch 1 lets one unacked message out"
    );
    drop(first);
    // The nack republishes to the back of the queue, behind "1".
    let second = next(&mut sub).await;
    assert_eq!(second.message().payload, "1");
    second.ack().await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(again.message().payload, "0");
    assert_eq!(again.message().delivery_attempt, 2);
    again.ack().await.unwrap();
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

#[tokio::test]
async fn durable_config_declares_durable_group_queues_and_persistent_messages() {
    let config = common::config("durable").durable(true);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    assert!(broker.guarantees().durable);
    let sub = broker
        .subscribe("d.t", SubscribeOptions::new().queue_group("g"))
        .await
        .unwrap();
    let queue = sub.queue().to_owned();
    drop(sub);
    broker.publish(Message::new("d.t", "kept")).await.unwrap();
    broker.close().await.unwrap();
    // The durable queue outlived its consumer and connection, with the message in it.
    let conn = common::raw().await;
    let ch = conn.create_channel().await.unwrap();
    let got = ch
        .basic_get(
            queue.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
        .expect("the message waits in the durable queue");
    assert_eq!(got.delivery.data, b"kept");
    assert_eq!(
        got.delivery.properties.delivery_mode(),
        &Some(2),
        "persistent"
    );
    ch.queue_delete(queue.as_str().into(), Default::default())
        .await
        .unwrap();
    common::delete_exchanges(&exchange).await;
}
