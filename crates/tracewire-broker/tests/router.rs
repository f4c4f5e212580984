//! Router and middleware: retry, timeout, panic recovery, dead letter, deduplication,
//! correlation, error status on the span, graceful shutdown.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::router::middleware::{
    DLQ_ATTEMPTS_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER,
};
use tracewire_broker::router::{
    CorrelationId, DeadLetter, Deduplicate, HandlerError, Recover, Retry, RouteOptions, Router,
    Timeout, handler_fn,
};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

async fn recv<S: Subscription>(sub: &mut S) -> Message {
    let d = sub.next().await.expect("open");
    let m = d.message().clone();
    d.ack().await.unwrap();
    m
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[tokio::test(start_paused = true)]
async fn retry_then_success_publishes_once() {
    let broker = MemoryBroker::new();
    let mut out = broker
        .subscribe("out", SubscribeOptions::new())
        .await
        .unwrap();
    let calls = counter();
    let c = Arc::clone(&calls);
    let router = Router::new(broker.clone())
        .with_middleware(Retry::default())
        .route(
            "in",
            handler_fn(move |m: Message| {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        return Err(HandlerError::new("flaky"));
                    }
                    Ok(vec![Message::new("out", m.payload)])
                }
            }),
        )
        .run()
        .await
        .unwrap();
    broker.publish(Message::new("in", "p")).await.unwrap();
    assert_eq!(recv(&mut out).await.payload, "p");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    router.shutdown().await;
}

#[tokio::test]
async fn panics_are_recovered_then_dead_lettered_and_the_service_keeps_running() {
    let broker = MemoryBroker::new();
    let mut dlq = broker
        .subscribe("in.dlq", SubscribeOptions::new())
        .await
        .unwrap();
    let mut out = broker
        .subscribe("out", SubscribeOptions::new())
        .await
        .unwrap();
    let router = Router::new(broker.clone())
        .with_middleware(DeadLetter::new(broker.clone(), "in.dlq", 3))
        .with_middleware(Recover)
        .route(
            "in",
            handler_fn(|m: Message| async move {
                if m.payload == "boom" {
                    panic!("poison message");
                }
                Ok::<_, HandlerError>(vec![Message::new("out", m.payload)])
            }),
        )
        .run()
        .await
        .unwrap();
    broker.publish(Message::new("in", "boom")).await.unwrap();
    broker.publish(Message::new("in", "fine")).await.unwrap();
    let dead = recv(&mut dlq).await;
    assert_eq!(dead.payload, "boom");
    assert_eq!(dead.headers.get(DLQ_ERROR_KIND_HEADER), Some("panic"));
    assert_eq!(dead.headers.get(DLQ_ATTEMPTS_HEADER), Some("3"));
    assert_eq!(dead.headers.get(DLQ_TOPIC_HEADER), Some("in"));
    assert_eq!(recv(&mut out).await.payload, "fine");
    router.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn timeouts_fail_the_handler() {
    let broker = MemoryBroker::new();
    let mut dlq = broker
        .subscribe("dlq", SubscribeOptions::new())
        .await
        .unwrap();
    let router = Router::new(broker.clone())
        .with_middleware(DeadLetter::new(broker.clone(), "dlq", 1))
        .with_middleware(Timeout(Duration::from_secs(1)))
        .route(
            "in",
            handler_fn(|_m: Message| async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok::<_, HandlerError>(Vec::new())
            }),
        )
        .run()
        .await
        .unwrap();
    broker.publish(Message::new("in", "slow")).await.unwrap();
    assert_eq!(
        recv(&mut dlq).await.headers.get(DLQ_ERROR_KIND_HEADER),
        Some("timeout")
    );
    router.shutdown().await;
}

#[tokio::test]
async fn duplicates_are_skipped_and_correlation_is_carried() {
    let broker = MemoryBroker::new();
    let mut out = broker
        .subscribe("out", SubscribeOptions::new())
        .await
        .unwrap();
    let calls = counter();
    let c = Arc::clone(&calls);
    let router = Router::new(broker.clone())
        .with_middleware(CorrelationId)
        .with_middleware(Deduplicate::new(Duration::from_secs(60)))
        .route(
            "in",
            handler_fn(move |m: Message| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, HandlerError>(vec![Message::new("out", m.payload)]) }
            }),
        )
        .run()
        .await
        .unwrap();
    let original = Message::new("in", "a")
        .with_id("same")
        .with_correlation_id("conv-9");
    broker.publish(original.clone()).await.unwrap();
    broker.publish(original).await.unwrap();
    broker.publish(Message::new("in", "b")).await.unwrap();
    let first = recv(&mut out).await;
    assert_eq!(
        (first.payload.as_ref(), first.correlation_id.as_deref()),
        (&b"a"[..], Some("conv-9"))
    );
    assert_eq!(
        recv(&mut out).await.payload,
        "b",
        "the duplicate produced nothing"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    router.shutdown().await;
}

#[tokio::test]
async fn handler_error_sets_error_status_on_the_process_span() {
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()));
    let broker = Traced::new(MemoryBroker::new(), tracing);
    let mut dlq = broker
        .inner()
        .subscribe("dlq", SubscribeOptions::new())
        .await
        .unwrap();
    let router = Router::new(broker.clone())
        .with_middleware(DeadLetter::new(broker.clone(), "dlq", 1))
        .route(
            "in",
            handler_fn(|_m: Message| async move {
                Err::<Vec<Message>, _>(HandlerError::new("no stock"))
            }),
        )
        .run()
        .await
        .unwrap();
    broker.publish(Message::new("in", "x")).await.unwrap();
    recv(&mut dlq).await;
    router.shutdown().await;
    capture.wait_for_spans(3, Duration::from_secs(10)).await;
    capture
        .trace()
        .assert_child_of("process in", "send in")
        .assert_child_of("send dlq", "process in")
        .assert_status_error("process in")
        .assert_attr("process in", "error.type", "failed");
}

#[tokio::test]
async fn close_then_shutdown_loses_nothing_accepted() {
    let broker = MemoryBroker::builder().capacity(4).build();
    let handled = counter();
    let h = Arc::clone(&handled);
    let router = Router::new(broker.clone())
        .route_with(
            "in",
            RouteOptions::new().concurrency(3),
            handler_fn(move |_m: Message| {
                let h = Arc::clone(&h);
                async move {
                    tokio::task::yield_now().await;
                    h.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, HandlerError>(Vec::new())
                }
            }),
        )
        .run()
        .await
        .unwrap();
    for i in 0..50 {
        broker
            .publish(Message::new("in", i.to_string()))
            .await
            .unwrap();
    }
    broker.close().await.unwrap();
    router.wait().await;
    assert_eq!(handled.load(Ordering::SeqCst), 50);
    assert_eq!(broker.dropped(), 0);
}
