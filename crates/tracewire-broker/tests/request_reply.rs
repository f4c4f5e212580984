//! Request/reply: one connected trace, typed errors, and no pending-entry leak.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, TraceContextExt, Tracer};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::request_reply::{RequestError, Requester, serve};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Message, SubscribeOptions};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

async fn double(req: Message) -> Result<Message, BoxError> {
    let n: u64 = std::str::from_utf8(&req.payload)?.parse()?;
    if n == 13 {
        panic!("unlucky");
    }
    Ok(Message::new("ignored", (n * 2).to_string()))
}

#[tokio::test]
async fn one_trace_from_requester_to_responder_and_back() {
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()));
    let broker = Traced::new(MemoryBroker::new(), tracing);
    let server = serve(broker.clone(), "math.double", double).await.unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();

    let root = Context::current_with_span(capture.tracer("app").start("checkout"));
    let reply = requester
        .request(
            "math.double",
            Message::new("", "21"),
            Duration::from_secs(5),
        )
        .with_context(root.clone())
        .await
        .unwrap();
    root.span().end();
    assert_eq!(reply.payload, "42");
    server.shutdown().await;
    // checkout, send, process, send (reply), process (reply): the last ends when the
    // requester's listener acks, which may be just after the caller got the reply.
    capture.wait_for_spans(5, Duration::from_secs(10)).await;
    drop(requester);

    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("send math.double", "checkout")
        .assert_child_of("process math.double", "send math.double")
        .assert_child_of("send (reply)", "process math.double")
        .assert_child_of("process (reply)", "send (reply)")
        .assert_attr(
            "process math.double",
            "messaging.consumer.group.name",
            "math.double",
        );
}

#[tokio::test]
async fn handler_errors_and_panics_become_remote_errors() {
    let broker = MemoryBroker::new();
    let server = serve(broker.clone(), "math.double", double).await.unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    let wait = Duration::from_secs(5);
    let err = requester
        .request("math.double", Message::new("", "x"), wait)
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::Remote(_)), "{err:?}");
    let err = requester
        .request("math.double", Message::new("", "13"), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Remote(ref text) if text.contains("unlucky")),
        "{err:?}"
    );
    let ok = requester
        .request("math.double", Message::new("", "4"), wait)
        .await
        .unwrap();
    assert_eq!(ok.payload, "8", "the responder survived the panic");
    server.shutdown().await;
}

#[tokio::test]
async fn no_responders_fails_fast() {
    let broker = MemoryBroker::new();
    let requester = Requester::new(broker).await.unwrap();
    let err = requester
        .request("nobody.home", Message::new("", ""), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::NoResponders(_)), "{err:?}");
    assert_eq!(requester.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_timeouts_and_cancellations_leave_nothing_pending() {
    let broker = MemoryBroker::new();
    // A silent responder: it takes requests and never answers.
    let _silent = broker
        .subscribe("slow.service", SubscribeOptions::new().capacity(20_000))
        .await
        .unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    for i in 0..10_000 {
        let request = requester.request(
            "slow.service",
            Message::new("", "x"),
            Duration::from_secs(1),
        );
        if i % 2 == 0 {
            let err = request.await.unwrap_err();
            assert!(matches!(err, RequestError::TimedOut(_)), "{err:?}");
        } else {
            // The caller gives up first: the request future is dropped mid-wait.
            let outer = tokio::time::timeout(Duration::from_millis(10), request).await;
            assert!(outer.is_err(), "cancelled by the caller");
        }
    }
    assert_eq!(requester.pending_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn late_replies_are_counted_and_discarded() {
    let broker = MemoryBroker::new();
    let server = serve(broker.clone(), "slow.double", |req: Message| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        double(req).await
    })
    .await
    .unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    let err = requester
        .request("slow.double", Message::new("", "1"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::TimedOut(_)));
    assert_eq!(requester.pending_len(), 0);
    while requester.late_replies() == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(requester.late_replies(), 1);
    assert_eq!(requester.pending_len(), 0);
    server.shutdown().await;
}
