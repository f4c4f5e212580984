//! The recommended set-up against poison messages. A broker nack redelivers at once and
//! without limit; the router bounds it: `DeadLetter` (outer) counts deliveries and
//! parks the message with the reason after the last one, `Retry` backs off between
//! in-process attempts, and `Recover` (innermost) turns a panic into an error that the
//! other two see. With `Recover` outside them, a panic unwinds past both and the
//! message is redelivered forever.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::router::middleware::{
    DLQ_ATTEMPTS_HEADER, DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};
use tracewire_broker::router::{DeadLetter, Recover, Retry, Router, handler_fn};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};

#[tokio::test(start_paused = true)]
async fn the_recommended_stack_parks_a_poison_message_and_keeps_going() {
    let broker = MemoryBroker::new();
    let mut dlq = broker
        .subscribe("orders.dlq", SubscribeOptions::new())
        .await
        .unwrap();
    let poison_calls = Arc::new(AtomicUsize::new(0));
    let calls = Arc::clone(&poison_calls);
    let (done, mut handled) = mpsc::unbounded_channel();
    let retry = Retry {
        max_retries: 2,
        ..Retry::default()
    };
    let router = Router::new(broker.clone())
        .with_middleware(DeadLetter::new(broker.clone(), "orders.dlq", 3))
        .with_middleware(retry)
        .with_middleware(Recover)
        .route(
            "orders",
            handler_fn(move |m: Message| {
                let calls = Arc::clone(&calls);
                let done = done.clone();
                async move {
                    if m.payload == "poison" {
                        calls.fetch_add(1, Ordering::SeqCst);
                        panic!("cannot parse order");
                    }
                    done.send(m.payload).unwrap();
                    Ok::<_, std::convert::Infallible>(Vec::new())
                }
            }),
        )
        .run()
        .await
        .unwrap();
    broker
        .publish(Message::new("orders", "poison"))
        .await
        .unwrap();
    broker
        .publish(Message::new("orders", "good"))
        .await
        .unwrap();

    let dead = dlq.next().await.unwrap();
    let headers = &dead.message().headers;
    assert_eq!(dead.message().payload, "poison");
    assert_eq!(headers.get(DLQ_ATTEMPTS_HEADER), Some("3"));
    assert_eq!(headers.get(DLQ_ERROR_KIND_HEADER), Some("panic"));
    assert_eq!(headers.get(DLQ_TOPIC_HEADER), Some("orders"));
    assert!(
        headers
            .get(DLQ_ERROR_HEADER)
            .unwrap()
            .contains("cannot parse order")
    );
    dead.ack().await.unwrap();
    assert_eq!(
        handled.recv().await.unwrap(),
        "good",
        "the route kept going"
    );
    router.shutdown().await;

    // 3 deliveries × (1 call + 2 retries): bounded, then parked, never dropped.
    assert_eq!(poison_calls.load(Ordering::SeqCst), 9);
    assert_eq!(broker.queued("orders"), 0);
    assert_eq!(broker.dropped(), 0);
}
