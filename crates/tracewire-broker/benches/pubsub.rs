//! In-memory pub/sub and request/reply throughput, traced (every message, batch
//! processor, an exporter that walks every span) against untraced, in one run.
//!
//! `cargo bench -p tracewire-broker --bench pubsub` (release). Prints msg/s and ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::request_reply::{Requester, serve};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;

const MESSAGES: u64 = 200_000;
const REQUESTS: u64 = 20_000;
const PAYLOAD: [u8; 256] = [b'x'; 256];

/// Exports by walking every span (names and attributes), counting them.
#[derive(Clone, Debug, Default)]
struct CountingExporter {
    spans: Arc<AtomicU64>,
    work: Arc<AtomicU64>,
}

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut work = 0u64;
        for span in &batch {
            work += span.name.len() as u64 + span.attributes.len() as u64 + span.links.len() as u64;
        }
        self.work.fetch_add(work, Ordering::Relaxed);
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn tracer_provider(exporter: CountingExporter) -> SdkTracerProvider {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(1 << 20)
        .with_max_export_batch_size(2048)
        .with_scheduled_delay(Duration::from_millis(50))
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build()
}

async fn pubsub<B: Broker>(broker: B, subscribers: usize) -> f64 {
    let mut consumers = Vec::new();
    for _ in 0..subscribers {
        let mut sub = broker
            .subscribe("bench", SubscribeOptions::new().capacity(4096))
            .await
            .unwrap();
        consumers.push(tokio::spawn(async move {
            for _ in 0..MESSAGES {
                let d = sub.next().await.unwrap();
                d.ack().await.unwrap();
            }
        }));
    }
    let start = Instant::now();
    for _ in 0..MESSAGES {
        broker
            .publish(Message::new("bench", &PAYLOAD[..]))
            .await
            .unwrap();
    }
    for c in consumers {
        c.await.unwrap();
    }
    MESSAGES as f64 / start.elapsed().as_secs_f64()
}

async fn round_trips<B: Broker>(broker: B) -> f64 {
    let server = serve(broker.clone(), "bench.echo", |req: Message| async move {
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .unwrap();
    let requester = Requester::new(broker).await.unwrap();
    let start = Instant::now();
    for _ in 0..REQUESTS {
        requester
            .request(
                "bench.echo",
                Message::new("", &PAYLOAD[..]),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let rate = REQUESTS as f64 / start.elapsed().as_secs_f64();
    server.shutdown().await;
    rate
}

fn traced(provider: &SdkTracerProvider) -> Traced<MemoryBroker> {
    let tracing = Tracing::new(provider).with_propagator(Arc::new(TracewirePropagator::default()));
    Traced::new(MemoryBroker::new(), tracing)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let exporter = CountingExporter::default();
        let provider = tracer_provider(exporter.clone());
        println!("messaging benchmark: {MESSAGES} messages of {} bytes, {REQUESTS} round trips", PAYLOAD.len());
        for subscribers in [1, 4] {
            let plain = pubsub(MemoryBroker::new(), subscribers).await;
            let with = pubsub(traced(&provider), subscribers).await;
            let n = subscribers as f64;
            println!(
                "pubsub 1->{subscribers}: untraced {plain:>9.0} msg/s published ({:>9.0} delivered) | traced {with:>9.0} published ({:>9.0} delivered) | traced/untraced {:.2}",
                plain * n,
                with * n,
                with / plain
            );
        }
        let plain = round_trips(MemoryBroker::new()).await;
        let with = round_trips(traced(&provider)).await;
        println!(
            "request/reply: untraced {plain:>8.0} round trips/s | traced {with:>8.0} round trips/s | traced/untraced {:.2}",
            with / plain
        );
        provider.force_flush().unwrap();
        let expected = MESSAGES * (1 + 1) + MESSAGES * (1 + 4) + REQUESTS * 4;
        println!(
            "spans exported: {} of {expected} expected (batch processor; exporter work units {})",
            exporter.spans.load(Ordering::Relaxed),
            exporter.work.load(Ordering::Relaxed)
        );
        provider.shutdown().unwrap();
    });
}
