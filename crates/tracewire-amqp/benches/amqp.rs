//! RabbitMQ publish + consume throughput: `Traced<AmqpBroker>` (every message traced,
//! batch processor, the OTLP-protobuf counting exporter of `tracewire_testkit::bench`),
//! untraced `AmqpBroker` (the
//! backend alone, so the cost splits into backend and tracing) and raw lapin (publisher
//! confirms, manual acks), same payloads, same concurrency, alternating rounds in one run.
//!
//! `cargo bench -p tracewire-amqp --bench amqp -- [messages] [rounds]` (release; needs
//! RabbitMQ on 127.0.0.1:5672, guest/guest). Prints msg/s per round and the ratios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use tracewire_amqp::{AmqpBroker, AmqpConfig};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::bench::ExportPipeline;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const PAYLOAD: [u8; 256] = [b'x'; 256];
/// Publishes in flight at once (each waits for its confirm), both sides.
const IN_FLIGHT: usize = 64;
const PREFETCH: u16 = 256;

/// tracewire: a queue-group subscription, `IN_FLIGHT` concurrent publishers. A macro
/// rather than a generic function: the spawned publish futures must be `Send`, which a
/// generic `Broker` bound cannot state.
macro_rules! tracewire_round {
    ($broker:expr, $prefix:literal, $n:expr, $round:expr) => {{
        let (broker, n) = ($broker, $n);
        let topic = format!("bench.{}.{}", $prefix, $round);
        let mut sub = broker
            .subscribe(
                &topic,
                SubscribeOptions::new()
                    .queue_group("b")
                    .capacity(PREFETCH.into()),
            )
            .await
            .unwrap();
        let consumer = tokio::spawn(async move {
            for _ in 0..n {
                sub.next().await.unwrap().ack().await.unwrap();
            }
        });
        let start = Instant::now();
        let mut publishers = Vec::new();
        for p in 0..IN_FLIGHT {
            let (broker, topic) = (broker.clone(), topic.clone());
            publishers.push(tokio::spawn(async move {
                for _ in (p..n).step_by(IN_FLIGHT) {
                    let msg = Message::new(topic.as_str(), &PAYLOAD[..])
                        .with_content_type("application/octet-stream");
                    broker.publish(msg).await.unwrap();
                }
            }));
        }
        for p in publishers {
            p.await.unwrap();
        }
        consumer.await.unwrap();
        n as f64 / start.elapsed().as_secs_f64()
    }};
}

/// `Traced<AmqpBroker>`: every message traced (send + process spans, exported).
async fn traced(broker: Traced<AmqpBroker>, n: usize, round: usize) -> f64 {
    tracewire_round!(broker, "tw", n, round)
}

/// `AmqpBroker` alone: the backend's cost without tracing.
async fn untraced(broker: AmqpBroker, n: usize, round: usize) -> f64 {
    tracewire_round!(broker, "plain", n, round)
}

/// Raw lapin: same exchange kind, queue, confirms, prefetch, acks and a comparable
/// properties set (message id, timestamp, content type, a `traceparent`-sized header).
async fn raw(conn: &Connection, exchange: &str, n: usize, round: usize) -> f64 {
    let topic = format!("bench.raw.{round}");
    let cch = conn.create_channel().await.unwrap();
    cch.basic_qos(PREFETCH, BasicQosOptions::default())
        .await
        .unwrap();
    let queue = format!("{exchange}.{topic}.b");
    let opts = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    cch.queue_declare(queue.as_str().into(), opts, FieldTable::default())
        .await
        .unwrap();
    cch.queue_bind(
        queue.as_str().into(),
        exchange.into(),
        topic.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = cch
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let consume = tokio::spawn(async move {
        for _ in 0..n {
            let d = consumer.next().await.unwrap().unwrap();
            d.ack(BasicAckOptions::default()).await.unwrap();
        }
        cch
    });
    let pch = conn.create_channel().await.unwrap();
    pch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let start = Instant::now();
    let mut publishers = Vec::new();
    for p in 0..IN_FLIGHT {
        let (pch, exchange, topic) = (pch.clone(), exchange.to_owned(), topic.clone());
        publishers.push(tokio::spawn(async move {
            for _ in (p..n).step_by(IN_FLIGHT) {
                let mut headers = FieldTable::default();
                let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
                headers.insert(
                    "traceparent".into(),
                    AMQPValue::LongString(LongString::from(tp)),
                );
                let props = BasicProperties::default()
                    .with_message_id(uuid::Uuid::new_v4().to_string().into())
                    .with_timestamp(0)
                    .with_content_type("application/octet-stream".into())
                    .with_headers(headers);
                pch.basic_publish(
                    exchange.as_str().into(),
                    topic.as_str().into(),
                    BasicPublishOptions::default(),
                    &PAYLOAD,
                    props,
                )
                .await
                .unwrap()
                .await
                .unwrap();
            }
        }));
    }
    for p in publishers {
        p.await.unwrap();
    }
    let cch = consume.await.unwrap();
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = cch.close(200, "done".into()).await;
    let _ = pch.close(200, "done".into()).await;
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(20_000);
    let rounds = args.get(1).copied().unwrap_or(5);
    let exchange = format!("tw-bench.{}", uuid::Uuid::new_v4().simple());
    let conn = Connection::connect(URL, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ at 127.0.0.1:5672 is required: {e}"));
    let admin = conn.create_channel().await.unwrap();
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    admin
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();

    let pipeline = ExportPipeline::new(1 << 20, 2048);
    let provider = pipeline.tracer_provider.clone();
    let tracing = Tracing::new(&provider).with_propagator(Arc::new(TracewirePropagator::default()));
    let config = AmqpConfig::new(URL)
        .exchange(exchange.as_str())
        .prefetch(PREFETCH);
    let plain = AmqpBroker::connect(config).await.unwrap();
    let broker = Traced::new(plain.clone(), tracing);

    // Warm-up, every side.
    traced(broker.clone(), n / 10, 1000).await;
    untraced(plain.clone(), n / 10, 1000).await;
    raw(&conn, &exchange, n / 10, 1000).await;
    let (mut tw, mut un, mut lp) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ratios, mut backend, mut tracing_cost) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let t = traced(broker.clone(), n, round).await;
        let u = untraced(plain.clone(), n, round).await;
        let r = raw(&conn, &exchange, n, round).await;
        println!(
            "round {round}: traced {t:>9.0} msg/s   untraced {u:>9.0} msg/s   raw lapin {r:>9.0} msg/s   traced/raw {:.3}   untraced/raw {:.3}   traced/untraced {:.3}",
            t / r,
            u / r,
            t / u,
        );
        tw.push(t);
        un.push(u);
        lp.push(r);
        ratios.push(t / r);
        backend.push(u / r);
        tracing_cost.push(t / u);
    }
    let _ = provider.force_flush();
    println!(
        "median: traced {:.0} msg/s, untraced {:.0} msg/s, raw {:.0} msg/s; median per-round ratios: traced/raw {:.3} = untraced/raw (backend) {:.3} x traced/untraced (tracing) {:.3}; best/best traced/raw {:.3}; spans exported {} ({} OTLP protobuf bytes; export {:?})",
        median(tw.clone()),
        median(un.clone()),
        median(lp.clone()),
        median(ratios),
        median(backend),
        median(tracing_cost),
        tw.iter().copied().fold(0.0, f64::max) / lp.iter().copied().fold(0.0, f64::max),
        pipeline.exporter.spans(),
        pipeline.exporter.bytes(),
        pipeline.exporter.export_mode(),
    );
    broker.close().await.unwrap();
    let _ = admin
        .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await;
    let _ = admin
        .exchange_delete(
            format!("{exchange}.dlx").as_str().into(),
            ExchangeDeleteOptions::default(),
        )
        .await;
    let _ = conn.close(200, "done".into()).await;
}
