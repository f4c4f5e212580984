use std::collections::HashSet;

use futures_util::FutureExt;
use opentelemetry::Context;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{FutureExt as _, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

use super::*;
use crate::{Delivery, Overflow, Subscription};

fn opts() -> SubscribeOptions {
    SubscribeOptions::new()
}

async fn take<S: Subscription>(sub: &mut S) -> Message {
    let d = sub.next().await.expect("subscription open");
    let msg = d.message().clone();
    d.ack().await.expect("ack");
    msg
}

async fn publish_n(broker: &MemoryBroker, topic: &str, n: usize) {
    for i in 0..n {
        broker
            .publish(Message::new(topic, i.to_string()))
            .await
            .expect("publish");
    }
}

#[tokio::test]
async fn fan_out_reaches_every_subscriber() {
    let broker = MemoryBroker::new();
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(broker.subscribe("t", opts()).await.unwrap());
    }
    publish_n(&broker, "t", 5).await;
    for sub in &mut subs {
        for i in 0..5 {
            assert_eq!(take(sub).await.payload, i.to_string());
        }
    }
}

#[tokio::test]
async fn queue_group_delivers_each_message_once() {
    let broker = MemoryBroker::new();
    let mut a = broker
        .subscribe("t", opts().queue_group("g"))
        .await
        .unwrap();
    let mut b = broker
        .subscribe("t", opts().queue_group("g"))
        .await
        .unwrap();
    let mut solo = broker.subscribe("t", opts()).await.unwrap();
    publish_n(&broker, "t", 10).await;
    let mut seen = HashSet::new();
    for _ in 0..5 {
        assert!(seen.insert(take(&mut a).await.id));
        assert!(seen.insert(take(&mut b).await.id));
    }
    assert_eq!(
        broker.queued("t"),
        10,
        "only the fan-out subscriber's copies remain"
    );
    for i in 0..10 {
        assert_eq!(take(&mut solo).await.payload, i.to_string());
    }
}

#[tokio::test]
async fn nack_and_drop_redeliver_with_attempt_counted() {
    let broker = MemoryBroker::new();
    let mut sub = broker.subscribe("t", opts()).await.unwrap();
    publish_n(&broker, "t", 2).await;
    let first = sub.next().await.unwrap();
    assert_eq!(first.message().delivery_attempt, 1);
    first.nack().await.unwrap();
    let again = sub.next().await.unwrap();
    assert_eq!(
        (
            again.message().payload.as_ref(),
            again.message().delivery_attempt
        ),
        (&b"0"[..], 2)
    );
    drop(again); // neither acked nor nacked
    let third = sub.next().await.unwrap();
    assert_eq!(
        (
            third.message().payload.as_ref(),
            third.message().delivery_attempt
        ),
        (&b"0"[..], 3)
    );
    third.ack().await.unwrap();
    assert_eq!(take(&mut sub).await.payload, "1");
}

#[tokio::test]
async fn order_is_kept_per_publisher() {
    let broker = MemoryBroker::builder().capacity(8).build();
    let mut sub = broker.subscribe("t", opts()).await.unwrap();
    let publisher = tokio::spawn({
        let broker = broker.clone();
        async move { publish_n(&broker, "t", 500).await }
    });
    for i in 0..500 {
        assert_eq!(take(&mut sub).await.payload, i.to_string());
    }
    publisher.await.unwrap();
}

#[tokio::test]
async fn backpressure_makes_the_publisher_wait() {
    let broker = MemoryBroker::new();
    let mut sub = broker.subscribe("t", opts().capacity(1)).await.unwrap();
    publish_n(&broker, "t", 1).await;
    let mut blocked = Box::pin(broker.publish(Message::new("t", "1")));
    assert!(
        (&mut blocked).now_or_never().is_none(),
        "queue full: publish waits"
    );
    assert_eq!(take(&mut sub).await.payload, "0");
    blocked.await.unwrap();
    assert_eq!(take(&mut sub).await.payload, "1");
    assert_eq!(broker.dropped(), 0);
}

#[tokio::test]
async fn drop_policies_count_every_drop() {
    for (policy, want, dropped) in [
        (Overflow::DropNewest, ["0", "1"], 3),
        (Overflow::DropOldest, ["3", "4"], 3),
    ] {
        let broker = MemoryBroker::new();
        let mut sub = broker
            .subscribe("t", opts().capacity(2).overflow(policy))
            .await
            .unwrap();
        publish_n(&broker, "t", 5).await;
        assert_eq!(broker.dropped(), dropped, "{policy:?}");
        for payload in want {
            assert_eq!(take(&mut sub).await.payload, payload, "{policy:?}");
        }
    }
}

#[tokio::test]
async fn error_policy_fails_the_publish_but_serves_the_others() {
    let broker = MemoryBroker::new();
    let _full = broker
        .subscribe("t", opts().capacity(1).overflow(Overflow::Error))
        .await
        .unwrap();
    let mut other = broker.subscribe("t", opts()).await.unwrap();
    publish_n(&broker, "t", 1).await;
    let err = broker.publish(Message::new("t", "1")).await.unwrap_err();
    assert!(
        matches!(err, PublishError::QueueFull { rejected: 1, .. }),
        "{err:?}"
    );
    assert_eq!(take(&mut other).await.payload, "0");
    assert_eq!(take(&mut other).await.payload, "1");
}

#[tokio::test]
async fn drops_are_span_events_and_metrics() {
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    let broker = MemoryBroker::builder()
        .meter(meter_provider.meter("test"))
        .build();
    let _sub = broker
        .subscribe("t", opts().capacity(1).overflow(Overflow::DropNewest))
        .await
        .unwrap();
    let tracer = tracer_provider.tracer("test");
    let cx = Context::current_with_span(tracer.start("publisher"));
    publish_n(&broker, "t", 3).with_context(cx.clone()).await;
    cx.span().end();

    let finished = spans.get_finished_spans().unwrap();
    let events: Vec<_> = finished[0]
        .events
        .iter()
        .filter(|e| e.name == "message dropped")
        .collect();
    assert_eq!(events.len(), 2);

    meter_provider.force_flush().unwrap();
    let total: u64 = metrics
        .get_finished_metrics()
        .unwrap()
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .filter(|m| m.name() == DROPPED_METRIC)
        .map(|m| match m.data() {
            AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                sum.data_points().map(|p| p.value()).sum::<u64>()
            }
            other => panic!("unexpected aggregation {other:?}"),
        })
        .sum();
    assert_eq!(total, 2);
}

#[tokio::test]
async fn dropping_the_last_member_unsubscribes_and_counts_the_backlog() {
    let broker = MemoryBroker::new();
    let a = broker
        .subscribe("t", opts().queue_group("g"))
        .await
        .unwrap();
    let mut b = broker
        .subscribe("t", opts().queue_group("g"))
        .await
        .unwrap();
    publish_n(&broker, "t", 2).await;
    drop(a);
    assert_eq!(broker.dropped(), 0, "b still consumes the group's queue");
    assert_eq!(take(&mut b).await.payload, "0");
    drop(b);
    assert_eq!(broker.dropped(), 1);
    assert_eq!(broker.has_subscribers("t"), Some(false));
}

#[tokio::test]
async fn close_drains_what_was_accepted() {
    let broker = MemoryBroker::new();
    let mut sub = broker.subscribe("t", opts()).await.unwrap();
    publish_n(&broker, "t", 20).await;
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut nacked_once = false;
        while let Some(d) = sub.next().await {
            if !nacked_once {
                nacked_once = true;
                d.nack().await.unwrap();
                continue;
            }
            got.push(d.message().payload.clone());
            d.ack().await.unwrap();
        }
        got
    });
    broker.close().await.unwrap();
    assert!(matches!(
        broker.publish(Message::new("t", "late")).await,
        Err(PublishError::Closed)
    ));
    let got = consumer.await.unwrap();
    assert_eq!(
        got.len(),
        20,
        "every accepted message was delivered before close returned"
    );
    assert_eq!(broker.dropped(), 0);
}

#[tokio::test]
async fn rejects_empty_topics() {
    let broker = MemoryBroker::new();
    assert!(matches!(
        broker.publish(Message::new("", "x")).await,
        Err(PublishError::InvalidTopic(_))
    ));
    assert!(matches!(
        broker.subscribe("", opts()).await,
        Err(SubscribeError::InvalidTopic(_))
    ));
}

#[test]
fn public_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_send<T: Send + 'static>() {}
    assert_send_sync::<MemoryBroker>();
    assert_send_sync::<crate::trace::Traced<MemoryBroker>>();
    assert_send_sync::<crate::request_reply::Requester<MemoryBroker>>();
    assert_send_sync::<crate::events::EventBus<MemoryBroker>>();
    assert_send_sync::<crate::router::RouterHandle>();
    assert_send::<MemorySubscription>();
    assert_send::<MemoryDelivery>();
}

#[tokio::test]
async fn a_queue_group_member_with_other_settings_is_refused() {
    let broker = MemoryBroker::builder().capacity(8).build();
    let group = || opts().queue_group("g");
    let _first = broker.subscribe("t", group().capacity(4)).await.unwrap();
    for (options, want) in [
        (group(), "capacity"),
        (group().capacity(16), "capacity"),
        (
            group().capacity(4).overflow(Overflow::DropOldest),
            "overflow",
        ),
    ] {
        let err = broker.subscribe("t", options).await.unwrap_err();
        assert!(
            matches!(err, SubscribeError::QueueGroupMismatch { setting, .. } if setting == want),
            "{err:?}"
        );
    }
    // The same settings join; a refused member left nothing behind.
    let mut second = broker.subscribe("t", group().capacity(4)).await.unwrap();
    publish_n(&broker, "t", 1).await;
    assert_eq!(take(&mut second).await.payload, "0");
    // Defaults resolve to the broker's capacity, so two default members agree.
    let _a = broker.subscribe("u", group()).await.unwrap();
    let _b = broker.subscribe("u", group().capacity(8)).await.unwrap();
}
