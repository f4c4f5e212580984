//! Bad input does not stop a consumer: a message with malformed tracewire headers is
//! dead-lettered by the backend (kind `decode`), an undecodable payload by the
//! router's `DeadLetter` (permanent handler error), and the good messages around them
//! are processed. Junk is published with a raw async-nats client. Needs nats-server
//! with JetStream on 127.0.0.1:4222.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracewire_broker::router::middleware::{DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER};
use tracewire_broker::router::{DeadLetter, HandlerError, RouteOptions, Router, handler_fn};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_nats::codec::ATTEMPT_HEADER;
use tracewire_nats::{KIND_DECODE, NatsConfig};

use common::{Streams, connect, core_config, js_config, raw_client};

const WAIT: Duration = Duration::from_secs(10);

async fn junk_between_good_messages(config: NatsConfig) {
    let config = config.with_dead_letter_topic("dead");
    let subject = format!("{}.orders", config.subject_prefix.clone().unwrap());
    let jetstream = config.jetstream.is_some();
    let broker = connect(config).await;
    let mut dead = broker
        .subscribe("dead", SubscribeOptions::new())
        .await
        .unwrap();
    let (done, mut processed) = mpsc::unbounded_channel();
    let router = Router::new(broker.clone())
        .with_middleware(DeadLetter::new(broker.clone(), "dead", 3))
        .route_with(
            "orders",
            RouteOptions::new().queue_group("proc"),
            handler_fn(move |m: Message| {
                let done = done.clone();
                async move {
                    let order: serde_json::Value =
                        serde_json::from_slice(&m.payload).map_err(HandlerError::permanent)?;
                    let _ = done.send(order["n"].as_u64().unwrap_or(0));
                    Ok::<_, HandlerError>(Vec::new())
                }
            }),
        )
        .run()
        .await
        .unwrap();

    broker
        .publish(Message::new("orders", r#"{"n":1}"#))
        .await
        .unwrap();
    let raw = raw_client().await;
    let mut bad_headers = async_nats::HeaderMap::new();
    bad_headers.insert(ATTEMPT_HEADER, "banana");
    let junk_payload = Bytes::from_static(b"\xff\xfe not json");
    if jetstream {
        let js = async_nats::jetstream::new(raw.clone());
        let ack = js
            .publish_with_headers(
                subject.clone(),
                bad_headers,
                Bytes::from_static(br#"{"n":99}"#),
            )
            .await
            .unwrap();
        ack.await.unwrap();
        js.publish(subject.clone(), junk_payload)
            .await
            .unwrap()
            .await
            .unwrap();
    } else {
        raw.publish_with_headers(
            subject.clone(),
            bad_headers,
            Bytes::from_static(br#"{"n":99}"#),
        )
        .await
        .unwrap();
        raw.publish(subject.clone(), junk_payload).await.unwrap();
        raw.flush().await.unwrap();
    }
    broker
        .publish(Message::new("orders", r#"{"n":2}"#))
        .await
        .unwrap();

    let mut kinds = BTreeSet::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(WAIT, dead.next())
            .await
            .unwrap()
            .unwrap();
        let m = d.message();
        let kind = m.headers.get(DLQ_ERROR_KIND_HEADER).unwrap().to_owned();
        if kind == KIND_DECODE {
            assert!(
                m.headers
                    .get(DLQ_ERROR_HEADER)
                    .unwrap()
                    .contains(ATTEMPT_HEADER)
            );
            assert_eq!(m.payload, r#"{"n":99}"#, "the payload is kept");
        } else {
            assert_eq!(m.payload, b"\xff\xfe not json"[..]);
        }
        kinds.insert(kind);
        d.ack().await.unwrap();
    }
    assert_eq!(
        kinds,
        BTreeSet::from([KIND_DECODE.to_owned(), "permanent".to_owned()])
    );
    let mut good = Vec::new();
    for _ in 0..2 {
        good.push(
            tokio::time::timeout(WAIT, processed.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    good.sort_unstable();
    assert_eq!(good, [1, 2], "the consumer kept going");
    router.shutdown().await;
}

#[tokio::test]
async fn jetstream_consumer_survives_junk() {
    let streams = Streams::default();
    let config = js_config(|js| js);
    streams.add(&config);
    junk_between_good_messages(config).await;
}

#[tokio::test]
async fn core_consumer_survives_junk() {
    junk_between_good_messages(core_config()).await;
}
