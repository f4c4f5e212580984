//! Request/reply metrics through a configured meter (late replies, expired requests) and
//! the deadline that travels to the responder in `tracewire-deadline`.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::request_reply::{
    DEADLINE_HEADER, EXPIRED_REQUESTS_METRIC, LATE_REPLIES_METRIC, RequestError, Requester,
    ServeOptions, deadline, serve, serve_with,
};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;

struct Metrics {
    exporter: InMemoryMetricExporter,
    provider: SdkMeterProvider,
}

impl Metrics {
    fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Self { exporter, provider }
    }

    /// The sum of every data point of the counter `name`, after a flush.
    fn total(&self, name: &str) -> u64 {
        self.provider.force_flush().unwrap();
        self.exporter
            .get_finished_metrics()
            .unwrap()
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .filter(|m| m.name() == name)
            .map(|m| match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    sum.data_points().map(|p| p.value()).sum::<u64>()
                }
                other => panic!("unexpected aggregation {other:?}"),
            })
            .max()
            .unwrap_or(0)
    }
}

#[tokio::test(start_paused = true)]
async fn late_replies_are_counted_on_the_configured_meter() {
    let metrics = Metrics::new();
    let broker = MemoryBroker::new();
    let server = serve(broker.clone(), "slow.echo", |req: Message| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .unwrap();
    let requester = Requester::builder(broker.clone())
        .meter(metrics.provider.meter("test"))
        .build()
        .await
        .unwrap();
    let err = requester
        .request("slow.echo", Message::new("", "1"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::TimedOut(_)), "{err:?}");
    while requester.late_replies() == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metrics.total(LATE_REPLIES_METRIC), 1);
    assert_eq!(requester.pending_len(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn the_deadline_travels_to_the_responder() {
    let broker = MemoryBroker::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let server = serve(broker.clone(), "svc.deadline", move |req: Message| {
        s.lock().unwrap().push(deadline(&req));
        async move { Ok::<_, BoxError>(Message::new("", "ok")) }
    })
    .await
    .unwrap();
    let requester = Requester::new(broker.clone()).await.unwrap();
    let timeout = Duration::from_secs(60);

    let before = SystemTime::now();
    requester
        .request("svc.deadline", Message::new("", ""), timeout)
        .await
        .unwrap();
    let after = SystemTime::now();
    // An earlier deadline from upstream is kept, not extended.
    let upstream = Message::new("", "").with_header(DEADLINE_HEADER, "4102444800000");
    let upstream_due = deadline(&upstream);
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    requester
        .request("svc.deadline", upstream, far)
        .await
        .unwrap();
    server.shutdown().await;

    let seen = seen.lock().unwrap().clone();
    let own = seen[0].expect("the first request carries a deadline");
    assert!(own >= before + timeout, "{own:?} is now + timeout");
    assert!(own <= after + timeout + Duration::from_millis(1), "{own:?}");
    assert_eq!(seen[1], upstream_due, "the earlier upstream deadline wins");
}

#[tokio::test]
async fn expired_requests_are_skipped_counted_and_not_answered() {
    let metrics = Metrics::new();
    let capture = SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(TracewirePropagator::default()));
    let broker = Traced::new(MemoryBroker::new(), tracing);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let options = ServeOptions::new()
        .queue_group(Some("svc.work".into()))
        .concurrency(1)
        .meter(metrics.provider.meter("test"));
    let server = serve_with(broker.clone(), "svc.work", options, move |req: Message| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, BoxError>(Message::new("", req.payload)) }
    })
    .await
    .unwrap();
    // A hand-made requester, so that the deadline can lie in the past.
    let inbox = "_INBOX.deadline-test";
    let mut replies = broker
        .inner()
        .subscribe(inbox, SubscribeOptions::new())
        .await
        .unwrap();
    let request = |id: &str| {
        Message::new("svc.work", id.to_owned())
            .with_reply_to(inbox)
            .with_correlation_id(id)
    };
    broker
        .publish(request("expired").with_header(DEADLINE_HEADER, "1000"))
        .await
        .unwrap();
    broker.publish(request("fresh")).await.unwrap();

    // Concurrency 1 and ordered delivery: once "fresh" is answered, "expired" was taken.
    let reply = replies.next().await.unwrap();
    assert_eq!(reply.message().correlation_id.as_deref(), Some("fresh"));
    server.shutdown().await;
    assert_eq!(
        broker.inner().queued(inbox),
        0,
        "no reply to the expired one"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "its handler never ran");
    assert_eq!(metrics.total(EXPIRED_REQUESTS_METRIC), 1);

    let spans = capture.spans();
    let expired: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "process svc.work")
        .filter(|s| {
            s.events
                .iter()
                .any(|e| e.name == "request deadline expired")
        })
        .collect();
    assert_eq!(expired.len(), 1, "{}", capture.tree());
    let conversation = expired[0]
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "messaging.message.conversation_id")
        .map(|kv| kv.value.to_string());
    assert_eq!(conversation.as_deref(), Some("expired"));
}
