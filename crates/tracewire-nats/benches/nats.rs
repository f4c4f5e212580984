//! NATS throughput and latency, traced (`Traced<NatsBroker>`: a `send` and a `process`
//! span per message through the SDK batch processor to the OTLP-protobuf counting
//! exporter of `tracewire_testkit::bench`) against raw async-nats, in one run, same
//! 256-byte payloads, on the local server (127.0.0.1:4222). Prints absolute figures and
//! ratios.
//!
//! `cargo bench -p tracewire-nats --bench nats`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracewire_broker::request_reply::{Requester, serve};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_nats::{JetStreamConfig, NatsBroker, NatsConfig, Storage};
use tracewire_testkit::bench::ExportPipeline;

const URL: &str = "nats://127.0.0.1:4222";
const CORE_MESSAGES: usize = 100_000;
const JS_MESSAGES: usize = 10_000;
const REQUESTS: usize = 5_000;
const PAYLOAD: [u8; 256] = [b'x'; 256];

fn prefix() -> String {
    format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// The header lines a traced `NatsBroker` message carries (values of the same length).
fn same_headers() -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    headers.insert(
        "tracewire-message-id",
        "9a0c1f5e-7b7e-4f61-a1b6-1d2f0c7e9a11",
    );
    headers.insert("tracewire-timestamp", "1764089000000000000");
    headers
}

/// Raw async-nats, each message with the header lines a traced message carries: what
/// the header wire format alone costs.
async fn raw_core_with_headers(client: &async_nats::Client, subject: &str) -> f64 {
    let mut sub = client.subscribe(subject.to_owned()).await.unwrap();
    client.flush().await.unwrap();
    let start = Instant::now();
    let consumer = tokio::spawn(async move {
        for _ in 0..CORE_MESSAGES {
            let msg = sub.next().await.unwrap();
            assert!(msg.headers.is_some());
        }
    });
    for _ in 0..CORE_MESSAGES {
        client
            .publish_with_headers(
                subject.to_owned(),
                same_headers(),
                Bytes::from_static(&PAYLOAD),
            )
            .await
            .unwrap();
    }
    consumer.await.unwrap();
    CORE_MESSAGES as f64 / start.elapsed().as_secs_f64()
}

async fn raw_core(client: &async_nats::Client, subject: &str) -> f64 {
    let mut sub = client.subscribe(subject.to_owned()).await.unwrap();
    client.flush().await.unwrap();
    let start = Instant::now();
    let consumer = tokio::spawn(async move {
        for _ in 0..CORE_MESSAGES {
            sub.next().await.unwrap();
        }
    });
    for _ in 0..CORE_MESSAGES {
        client
            .publish(subject.to_owned(), Bytes::from_static(&PAYLOAD))
            .await
            .unwrap();
    }
    consumer.await.unwrap();
    CORE_MESSAGES as f64 / start.elapsed().as_secs_f64()
}

async fn traced_pubsub<B: Broker>(broker: &B, n: usize, group: Option<&str>) -> f64 {
    let mut options = SubscribeOptions::new();
    if let Some(g) = group {
        options = options.queue_group(g);
    }
    let mut sub = broker.subscribe("bench", options).await.unwrap();
    let start = Instant::now();
    let consumer = tokio::spawn(async move {
        for _ in 0..n {
            let d = sub.next().await.unwrap();
            d.ack().await.unwrap();
        }
    });
    for _ in 0..n {
        broker
            .publish(Message::new("bench", &PAYLOAD[..]))
            .await
            .unwrap();
    }
    consumer.await.unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

async fn raw_jetstream(client: &async_nats::Client, stream: &str, subject: &str) -> f64 {
    use async_nats::jetstream::consumer::{AckPolicy, pull};
    let js = async_nats::jetstream::new(client.clone());
    let consumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(256)
        .messages()
        .await
        .unwrap();
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        for _ in 0..JS_MESSAGES {
            messages.next().await.unwrap().unwrap().ack().await.unwrap();
        }
    });
    for i in 0..JS_MESSAGES {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("raw-{i}").as_str());
        js.publish_with_headers(subject.to_owned(), headers, Bytes::from_static(&PAYLOAD))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    reader.await.unwrap();
    JS_MESSAGES as f64 / start.elapsed().as_secs_f64()
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99))
}

async fn raw_request(client: &async_nats::Client, subject: &str) -> (Duration, Duration) {
    let mut sub = client.subscribe(subject.to_owned()).await.unwrap();
    let responder = client.clone();
    let server = tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            if let Some(reply) = m.reply {
                responder.publish(reply, m.payload).await.unwrap();
            }
        }
    });
    client.flush().await.unwrap();
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        client
            .request(subject.to_owned(), Bytes::from_static(&PAYLOAD))
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
    server.abort();
    percentiles(samples)
}

async fn traced_request<B: Broker>(broker: B) -> (Duration, Duration) {
    let server = serve(broker.clone(), "rpc", |req: Message| async move {
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .unwrap();
    let requester = Requester::new(broker).await.unwrap();
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        requester
            .request(
                "rpc",
                Message::new("", &PAYLOAD[..]),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
    server.shutdown().await;
    percentiles(samples)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    // Queue sized for the whole run: no span may be dropped.
    let pipeline = ExportPipeline::new(1 << 21, 2048);
    let provider = pipeline.tracer_provider.clone();
    let tracing = Tracing::new(&provider).with_propagator(Arc::new(TraceContextPropagator::new()));
    let capacity = CORE_MESSAGES * 2;
    let raw = async_nats::ConnectOptions::new()
        .subscription_capacity(capacity)
        .connect(URL)
        .await
        .expect("the benchmark needs nats-server on 127.0.0.1:4222");
    let core = NatsConfig::new(URL)
        .with_subject_prefix(prefix())
        .with_subscription_capacity(capacity);
    let traced_core = Traced::new(NatsBroker::connect(core).await.unwrap(), tracing.clone());

    let stream = format!(
        "TWBENCH_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let js_prefix = prefix();
    let js_config = NatsConfig::new(URL)
        .with_subject_prefix(js_prefix.clone())
        .with_jetstream(JetStreamConfig::new(stream.clone(), [">"]).with_storage(Storage::Memory));
    let traced_js = Traced::new(
        NatsBroker::connect(js_config).await.unwrap(),
        tracing.clone(),
    );

    let raw_core_rate = raw_core(&raw, &format!("{}.raw", prefix())).await;
    let raw_headers_rate = raw_core_with_headers(&raw, &format!("{}.rawh", prefix())).await;
    let traced_core_rate = traced_pubsub(&traced_core, CORE_MESSAGES, None).await;
    // The backend alone (no spans), to split the cost between headers and tracing.
    let plain = NatsConfig::new(URL)
        .with_subject_prefix(prefix())
        .with_subscription_capacity(capacity);
    let untraced_core_rate = traced_pubsub(
        &NatsBroker::connect(plain).await.unwrap(),
        CORE_MESSAGES,
        None,
    )
    .await;
    let raw_js_rate = raw_jetstream(&raw, &stream, &format!("{js_prefix}.raw")).await;
    let traced_js_rate = traced_pubsub(&traced_js, JS_MESSAGES, Some("bench")).await;
    let (raw_p50, raw_p99) = raw_request(&raw, &format!("{}.rpc", prefix())).await;
    let (traced_p50, traced_p99) = traced_request(traced_core.clone()).await;

    provider.force_flush().unwrap();
    let _ = async_nats::jetstream::new(raw.clone())
        .delete_stream(&stream)
        .await;

    println!("scenario | raw async-nats | traced tracewire | traced / raw");
    println!(
        "core pub/sub {CORE_MESSAGES} msgs | {raw_core_rate:.0} msg/s | {traced_core_rate:.0} msg/s | {:.2}",
        traced_core_rate / raw_core_rate
    );
    println!(
        "core pub/sub, raw async-nats with the same header lines | {raw_core_rate:.0} msg/s | {raw_headers_rate:.0} msg/s | {:.2}",
        raw_headers_rate / raw_core_rate
    );
    println!(
        "core pub/sub, untraced NatsBroker (headers, no spans) | {raw_core_rate:.0} msg/s | {untraced_core_rate:.0} msg/s | {:.2}",
        untraced_core_rate / raw_core_rate
    );
    println!(
        "JetStream publish (PubAck awaited) + pull consume + ack {JS_MESSAGES} msgs | {raw_js_rate:.0} msg/s | {traced_js_rate:.0} msg/s | {:.2}",
        traced_js_rate / raw_js_rate
    );
    println!(
        "request/reply p50 {REQUESTS} sequential | {raw_p50:?} | {traced_p50:?} | {:.2}",
        traced_p50.as_secs_f64() / raw_p50.as_secs_f64()
    );
    println!(
        "request/reply p99 | {raw_p99:?} | {traced_p99:?} | {:.2}",
        traced_p99.as_secs_f64() / raw_p99.as_secs_f64()
    );
    println!(
        "spans exported: {} ({} OTLP protobuf bytes; export {:?})",
        pipeline.exporter.spans(),
        pipeline.exporter.bytes(),
        pipeline.exporter.export_mode()
    );
}
