//! Pub/sub checks: fan-out, queue groups, headers, trace, redelivery, order.
//!
//! A failed check panics with its name: that is this module's contract (like
//! `assert!`), so the panic lints are allowed here.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::trace::{FutureExt as _, SpanKind, TraceContextExt, Tracer};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;

use super::WAIT;
use crate::SpanCapture;

pub(super) async fn next<S: Subscription>(sub: &mut S, what: &str) -> S::Delivery {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Some(d)) => d,
        Ok(None) => panic!("{what}: subscription ended"),
        Err(_) => panic!("{what}: nothing delivered within {WAIT:?}"),
    }
}

pub(super) async fn recv<S: Subscription>(sub: &mut S, what: &str) -> Message {
    let d = next(sub, what).await;
    let msg = d.message().clone();
    d.ack()
        .await
        .unwrap_or_else(|e| panic!("{what}: ack failed: {e}"));
    msg
}

pub(super) async fn publish<B: Broker>(broker: &B, topic: &str, payload: String, what: &str) {
    broker
        .publish(Message::new(topic, payload))
        .await
        .unwrap_or_else(|e| panic!("{what}: publish failed: {e}"));
}

pub(super) async fn fan_out<B: Broker>(broker: B) {
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(
            broker
                .subscribe("conf.fanout", SubscribeOptions::new())
                .await
                .expect("fan_out: subscribe"),
        );
    }
    for i in 0..5 {
        publish(&broker, "conf.fanout", i.to_string(), "fan_out").await;
    }
    for sub in &mut subs {
        for i in 0..5 {
            assert_eq!(
                recv(sub, "fan_out").await.payload,
                i.to_string(),
                "fan_out: every subscriber gets every message"
            );
        }
    }
}

pub(super) async fn queue_groups<B: Broker>(broker: B) {
    let opts = SubscribeOptions::new().queue_group("workers");
    let mut a = broker
        .subscribe("conf.queue", opts.clone())
        .await
        .expect("queue_groups: subscribe");
    let mut b = broker
        .subscribe("conf.queue", opts)
        .await
        .expect("queue_groups: subscribe");
    for i in 0..10 {
        publish(&broker, "conf.queue", i.to_string(), "queue_groups").await;
    }
    let mut seen = HashSet::new();
    for _ in 0..10 {
        // Members may get uneven shares (NATS picks a member at random, a JetStream
        // pull batch may go to one member): take from whichever delivers. `next` is
        // cancel-safe, so the losing branch loses nothing.
        let (mut from_a, mut from_b) = (std::pin::pin!(a.next()), std::pin::pin!(b.next()));
        let either = std::future::poll_fn(|cx| match from_a.as_mut().poll(cx) {
            std::task::Poll::Ready(d) => std::task::Poll::Ready(d),
            std::task::Poll::Pending => from_b.as_mut().poll(cx),
        });
        let d = tokio::time::timeout(WAIT, either)
            .await
            .expect("queue_groups: nothing delivered within WAIT")
            .expect("queue_groups: subscription ended");
        let msg = d.message().clone();
        d.ack().await.expect("queue_groups: ack");
        assert!(
            seen.insert(msg.id),
            "queue_groups: a message was delivered twice"
        );
    }
    assert_eq!(seen.len(), 10, "queue_groups: each message once");
}

pub(super) async fn headers_survive<B: Broker>(broker: B) {
    let mut sub = broker
        .subscribe("conf.headers", SubscribeOptions::new())
        .await
        .expect("headers: subscribe");
    let mut msg = Message::new("conf.headers", "x")
        .with_correlation_id("corr-1")
        .with_content_type("text/plain");
    msg.headers.append("tracestate", "a=1");
    msg.headers.append("TraceState", "b=2");
    msg.headers.insert("x-tenant", "acme");
    let sent = msg.clone();
    broker.publish(msg).await.expect("headers: publish");
    let got = recv(&mut sub, "headers").await;
    assert_eq!(
        got.headers.get_all("tracestate").collect::<Vec<_>>(),
        ["a=1", "b=2"],
        "headers: multi-valued header kept in order"
    );
    assert_eq!(
        got.headers.get("X-TENANT"),
        Some("acme"),
        "headers: case-insensitive read"
    );
    assert_eq!(
        (got.id, got.correlation_id, got.content_type),
        (sent.id, sent.correlation_id, sent.content_type),
        "headers: message fields survive"
    );
}

pub(super) async fn trace_continues<B: Broker>(broker: B) {
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()));
    let broker = Traced::new(broker, tracing);
    let mut sub = broker
        .subscribe("conf.trace", SubscribeOptions::new())
        .await
        .expect("trace: subscribe");
    let root = Context::current_with_span(capture.tracer("conformance").start("origin"));
    broker
        .publish(Message::new("conf.trace", "x"))
        .with_context(root.clone())
        .await
        .expect("trace: publish");
    root.span().end();
    let d = next(&mut sub, "trace").await;
    d.ack().await.expect("trace: ack");
    capture
        .trace()
        .assert_no_orphans()
        .assert_child_of("send conf.trace", "origin")
        .assert_child_of("process conf.trace", "send conf.trace")
        .assert_link("process conf.trace", "send conf.trace")
        .assert_kind("process conf.trace", SpanKind::Consumer);
}

pub(super) async fn nack_redelivers<B: Broker>(broker: B) {
    let mut sub = broker
        .subscribe("conf.nack", SubscribeOptions::new())
        .await
        .expect("nack: subscribe");
    publish(&broker, "conf.nack", "x".into(), "nack").await;
    let first = next(&mut sub, "nack").await;
    assert_eq!(
        first.message().delivery_attempt,
        1,
        "nack: first attempt is 1"
    );
    first.nack().await.expect("nack: nack");
    let again = next(&mut sub, "nack").await;
    assert_eq!(
        again.message().payload,
        "x",
        "nack: same message redelivered"
    );
    assert_eq!(again.message().delivery_attempt, 2, "nack: attempt counted");
    again.ack().await.expect("nack: ack");
}

pub(super) async fn ordered<B: Broker>(broker: B) {
    let mut sub = broker
        .subscribe("conf.order", SubscribeOptions::new())
        .await
        .expect("order: subscribe");
    for i in 0..200 {
        publish(&broker, "conf.order", i.to_string(), "order").await;
    }
    for i in 0..200 {
        assert_eq!(
            recv(&mut sub, "order").await.payload,
            i.to_string(),
            "order: publish order kept"
        );
    }
}
