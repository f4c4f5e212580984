//! Junk published with raw lapin between two good messages is dead-lettered with the
//! reason, and the consumer goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use tracewire_broker::router::middleware::{
    DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn malformed_messages_are_dead_lettered_and_the_consumer_keeps_going() {
    let config = common::config("bad");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let mut dlq = broker
        .subscribe_dead_letters("#", SubscribeOptions::new())
        .await
        .unwrap();
    let mut sub = broker
        .subscribe("in.orders", SubscribeOptions::new())
        .await
        .unwrap();
    broker
        .publish(Message::new("in.orders", "good-1"))
        .await
        .unwrap();

    let conn = common::raw().await;
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let junk = |name: &str, value: AMQPValue| {
        let mut t = FieldTable::default();
        t.insert(name.into(), value);
        BasicProperties::default().with_headers(t)
    };
    let cases = [
        (junk("traceparent", AMQPValue::LongInt(42)), "traceparent"),
        (
            junk("tracestate", AMQPValue::FieldTable(FieldTable::default())),
            "tracestate",
        ),
        (
            BasicProperties::default().with_content_encoding("x-unknown".into()),
            "content-encoding",
        ),
    ];
    for (props, _) in &cases {
        ch.basic_publish(
            exchange.as_str().into(),
            "in.orders".into(),
            BasicPublishOptions::default(),
            &[0xff, 0x00, 0xfe],
            props.clone(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    broker
        .publish(Message::new("in.orders", "good-2"))
        .await
        .unwrap();

    for expected in ["good-1", "good-2"] {
        let d = tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            d.message().payload,
            expected,
            "junk never reaches the consumer"
        );
        d.ack().await.unwrap();
    }
    for (_, what) in &cases {
        let dead = tokio::time::timeout(WAIT, dlq.next())
            .await
            .unwrap()
            .unwrap();
        let h = &dead.message().headers;
        assert_eq!(h.get(DLQ_ERROR_KIND_HEADER), Some("decode"));
        assert_eq!(h.get(DLQ_TOPIC_HEADER), Some("in.orders"));
        let reason = h.get(DLQ_ERROR_HEADER).unwrap();
        assert!(reason.contains(what), "reason {reason:?} names {what}");
        assert_eq!(
            &dead.message().payload[..],
            &[0xff, 0x00, 0xfe],
            "payload kept"
        );
        dead.ack().await.unwrap();
    }
    let _ = conn.close(200, "done".into()).await;
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}
