//! Request/reply over RabbitMQ: tracewire on both sides, and a plain AMQP responder
//! answering through the default exchange with `routing_key = reply_to`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::BasicProperties;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use tracewire_broker::request_reply::{RequestError, Requester, serve};
use tracewire_broker::{BoxError, Broker, Message, SubscribeOptions};

#[tokio::test]
async fn requests_are_answered_and_time_out_without_leaks() {
    let config = common::config("rr");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let server = serve(broker.clone(), "math.double", |req: Message| async move {
        let n: u64 = std::str::from_utf8(&req.payload)?.parse()?;
        Ok::<_, BoxError>(Message::new("", (n * 2).to_string()))
    })
    .await
    .unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    let reply = requester
        .request(
            "math.double",
            Message::new("", "21"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(reply.payload, "42");
    let bad = requester
        .request(
            "math.double",
            Message::new("", "x"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(bad, RequestError::Remote(_)), "{bad:?}");
    // A bound subscriber that never answers: the request times out.
    let silent = broker
        .subscribe("nobody.answers", SubscribeOptions::new())
        .await
        .unwrap();
    let err = requester
        .request(
            "nobody.answers",
            Message::new("", "1"),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::TimedOut(_)), "{err:?}");
    drop(silent);
    assert_eq!(requester.pending_len(), 0);
    server.shutdown().await;
    drop(requester);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

#[tokio::test]
async fn a_plain_amqp_responder_can_answer_through_the_default_exchange() {
    let config = common::config("rr-raw");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let conn = common::raw().await;
    let ch = conn.create_channel().await.unwrap();
    let queue = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        queue.name().clone(),
        exchange.as_str().into(),
        "svc.echo".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.name().clone(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let responder = tokio::spawn(async move {
        let req = consumer.next().await.unwrap().unwrap();
        let props = &req.properties;
        let reply_to = props.reply_to().clone().expect("reply_to property set");
        let reply = BasicProperties::default()
            .with_correlation_id(props.correlation_id().clone().expect("correlation_id set"));
        ch.basic_publish(
            "".into(),
            reply_to,
            BasicPublishOptions::default(),
            b"pong",
            reply,
        )
        .await
        .unwrap();
        req.ack(BasicAckOptions::default()).await.unwrap();
        conn
    });
    let requester = Requester::new(broker.clone()).await.unwrap();
    let reply = requester
        .request(
            "svc.echo",
            Message::new("", "ping"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(reply.payload, "pong");
    let conn = responder.await.unwrap();
    let _ = conn.close(200, "done".into()).await;
    drop(requester);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}
