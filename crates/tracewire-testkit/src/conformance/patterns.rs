//! Pattern checks: dead letter, request/reply, no leak, graceful shutdown.
//!
//! A failed check panics with its name: that is this module's contract (like
//! `assert!`), so the panic lints are allowed here.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use tracewire_broker::request_reply::{RequestError, Requester, serve};
use tracewire_broker::router::middleware::{DLQ_ATTEMPTS_HEADER, DLQ_TOPIC_HEADER};
use tracewire_broker::router::{DeadLetter, HandlerError, Router, handler_fn};
use tracewire_broker::{BoxError, Broker, Delivery, Message, SubscribeOptions, Subscription};

use super::WAIT;
use super::pubsub::{publish, recv};

pub(super) async fn dead_letter<B: Broker>(broker: B) {
    let mut dlq = broker
        .subscribe("conf.dlq", SubscribeOptions::new())
        .await
        .expect("dead_letter: subscribe");
    let router = Router::new(broker.clone())
        .with_middleware(DeadLetter::new(broker.clone(), "conf.dlq", 2))
        .route(
            "conf.failing",
            handler_fn(|_m: Message| async {
                Err::<Vec<Message>, _>(HandlerError::new("always fails"))
            }),
        )
        .run()
        .await
        .expect("dead_letter: router");
    publish(&broker, "conf.failing", "poison".into(), "dead_letter").await;
    let dead = recv(&mut dlq, "dead_letter").await;
    assert_eq!(dead.payload, "poison", "dead_letter: original payload");
    assert_eq!(
        dead.headers.get(DLQ_ATTEMPTS_HEADER),
        Some("2"),
        "dead_letter: attempts in headers"
    );
    assert_eq!(
        dead.headers.get(DLQ_TOPIC_HEADER),
        Some("conf.failing"),
        "dead_letter: original topic in headers"
    );
    router.shutdown().await;
}

pub(super) async fn request_reply<B: Broker>(broker: B) {
    let server = serve(broker.clone(), "conf.echo", |req: Message| async move {
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .expect("request_reply: serve");
    let requester = Requester::new(broker.clone())
        .await
        .expect("request_reply: requester");
    for i in 0..20 {
        let reply = requester
            .request("conf.echo", Message::new("", i.to_string()), WAIT)
            .await
            .expect("request_reply: reply");
        assert_eq!(
            reply.payload,
            i.to_string(),
            "request_reply: the matching reply"
        );
    }
    assert_eq!(requester.pending_len(), 0, "request_reply: nothing pending");
    server.shutdown().await;
}

pub(super) async fn request_timeout_no_leak<B: Broker>(broker: B) {
    let _silent = broker
        .subscribe("conf.silent", SubscribeOptions::new().capacity(1000))
        .await
        .expect("timeout: subscribe");
    let requester = Requester::new(broker.clone())
        .await
        .expect("timeout: requester");
    for _ in 0..50 {
        let err = requester
            .request(
                "conf.silent",
                Message::new("", "x"),
                Duration::from_millis(5),
            )
            .await
            .expect_err("timeout: nobody answers");
        assert!(
            matches!(err, RequestError::TimedOut(_)),
            "timeout: TimedOut, got {err:?}"
        );
    }
    assert_eq!(
        requester.pending_len(),
        0,
        "timeout: no pending entry leaked"
    );
}

pub(super) async fn no_responders<B: Broker>(broker: B) {
    let requester = Requester::new(broker)
        .await
        .expect("no_responders: requester");
    let err = requester
        .request("conf.nobody", Message::new("", "x"), WAIT)
        .await
        .expect_err("no_responders: nobody listens");
    assert!(
        matches!(err, RequestError::NoResponders(_)),
        "no_responders: got {err:?}"
    );
}

pub(super) async fn graceful_shutdown<B: Broker>(broker: B) {
    let mut sub = broker
        .subscribe("conf.drain", SubscribeOptions::new())
        .await
        .expect("drain: subscribe");
    for i in 0..50 {
        publish(&broker, "conf.drain", i.to_string(), "drain").await;
    }
    let closing = broker.close();
    let consume = async {
        let mut got = 0;
        while let Some(d) = sub.next().await {
            d.ack()
                .await
                .unwrap_or_else(|e| panic!("drain: ack failed: {e}"));
            got += 1;
        }
        got
    };
    let (closed, got) = tokio::time::timeout(WAIT, async { tokio::join!(closing, consume) })
        .await
        .expect("drain: close did not finish");
    closed.expect("drain: close failed");
    assert_eq!(
        got, 50,
        "drain: every accepted message delivered before the end"
    );
}
