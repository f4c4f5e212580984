//! In-memory pub/sub and request/reply throughput, traced (every message, batch
//! processor, `tracewire_testkit::bench::OtlpCountingExporter`) against untraced, in one run.
//!
//! `cargo bench -p tracewire-broker --bench pubsub` (release). Prints msg/s and ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::request_reply::{Requester, serve};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::bench::ExportPipeline;

const MESSAGES: u64 = 200_000;
const REQUESTS: u64 = 20_000;
const PAYLOAD: [u8; 256] = [b'x'; 256];

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

/// Watermill's method (watermill-benchmark: "produce a big number of messages on a
/// topic, then subscribe and consume all of them"), so that its published figures
/// compare like for like: every subscription holds every message, the publisher runs
/// alone, then the consumers run alone (one task each). Each phase's time includes
/// `flush`, which on the traced side waits until the phase's spans are exported: the
/// export is charged to the phase that made the spans. Returns (messages published/s,
/// deliveries consumed/s).
async fn phases<B: Broker>(broker: B, subscribers: usize, flush: impl Fn()) -> (f64, f64) {
    let mut subs = Vec::new();
    for _ in 0..subscribers {
        let options = SubscribeOptions::new().capacity(MESSAGES as usize);
        subs.push(broker.subscribe("bench.phases", options).await.unwrap());
    }
    let start = Instant::now();
    for _ in 0..MESSAGES {
        broker
            .publish(Message::new("bench.phases", &PAYLOAD[..]))
            .await
            .unwrap();
    }
    flush();
    let published = MESSAGES as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let consumers: Vec<_> = subs
        .into_iter()
        .map(|mut sub| {
            tokio::spawn(async move {
                for _ in 0..MESSAGES {
                    let d = sub.next().await.unwrap();
                    d.ack().await.unwrap();
                }
            })
        })
        .collect();
    for c in consumers {
        c.await.unwrap();
    }
    flush();
    let consumed = (MESSAGES * subscribers as u64) as f64 / start.elapsed().as_secs_f64();
    (published, consumed)
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
        // Queue sized for the whole run: no span may be dropped.
        let pipeline = ExportPipeline::new(1 << 21, 2048);
        let provider = pipeline.tracer_provider.clone();
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
        for subscribers in [1, 4] {
            let (plain_pub, plain_con) = phases(MemoryBroker::new(), subscribers, || ()).await;
            let (with_pub, with_con) = phases(traced(&provider), subscribers, || {
                provider.force_flush().unwrap();
            })
            .await;
            println!(
                "publish all, then consume all, 1->{subscribers} (Watermill's method; traced phases include their export): \
                 untraced {plain_pub:>9.0} published/s, {plain_con:>9.0} deliveries consumed/s | \
                 traced {with_pub:>9.0} published/s, {with_con:>9.0} deliveries consumed/s | \
                 traced/untraced {:.2} / {:.2}",
                with_pub / plain_pub,
                with_con / plain_con
            );
        }
        let plain = round_trips(MemoryBroker::new()).await;
        let with = round_trips(traced(&provider)).await;
        println!(
            "request/reply: untraced {plain:>8.0} round trips/s | traced {with:>8.0} round trips/s | traced/untraced {:.2}",
            with / plain
        );
        provider.force_flush().unwrap();
        let expected = 2 * (MESSAGES * (1 + 1) + MESSAGES * (1 + 4)) + REQUESTS * 4;
        println!(
            "spans exported: {} of {expected} expected ({} OTLP protobuf bytes; export {:?})",
            pipeline.exporter.spans(),
            pipeline.exporter.bytes(),
            pipeline.exporter.export_mode()
        );
        provider.shutdown().unwrap();
    });
}
