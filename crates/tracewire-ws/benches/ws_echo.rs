//! Loopback WebSocket echo harness: the same echo served plain (axum `WebSocket`,
//! plain JSON, no spans), through an untraced `Session` (no-op tracer, propagator and
//! meter: the framework's own cost) and through a traced `Session`, interleaved, in
//! one process.
//!
//! Traced runs sample every message span and export it through the SDK's batch
//! processor to `tracewire_testkit::bench::OtlpCountingExporter` (the OTLP exporter's
//! encoding work, no network), and record the `tracewire.websocket.*` metrics into an
//! SDK meter provider (a periodic reader with an in-memory exporter). Every traced message carries a valid `traceparent` in
//! its envelope, so the server extracts a parent each time and injects one into each
//! reply.
//!
//! ```text
//! cargo bench -p tracewire-ws --bench ws_echo -- [messages] [connections] [rounds]
//! ```
//!
//! Defaults: 100 000 messages, 32 connections (each sends, awaits the echo, repeats),
//! 3 rounds of (plain, untraced, traced). Prints messages/s per round, the ratios to
//! plain (best-of and median of rounds) and p50/p99 round-trip latencies. Both
//! sessions receive the same envelopes (with a `traceparent`); the untraced one reads
//! and ignores it. `TRACEWIRE_BENCH_ONLY=plain|untraced|traced` runs one mode alone
//! (warm-up and rounds), for profilers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use opentelemetry::metrics::noop::NoopMeterProvider;
use opentelemetry::trace::noop::{NoopTextMapPropagator, NoopTracerProvider};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tracewire_testkit::bench::ExportPipeline;
use tracewire_ws::{BoxError, Envelope, Responder, Session};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The plain server's message: the same JSON shape, no headers, no spans.
#[derive(Serialize, Deserialize)]
struct PlainMsg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: serde_json::Value,
}

async fn plain_echo(mut socket: WebSocket) {
    while let Some(Ok(msg)) = socket.next().await {
        if let AxMessage::Text(text) = msg {
            let Ok(mut m) = serde_json::from_str::<PlainMsg>(&text) else {
                continue;
            };
            m.kind = "echo".into();
            let reply = serde_json::to_string(&m).unwrap();
            if socket.send(AxMessage::Text(reply.into())).await.is_err() {
                break;
            }
        }
    }
}

async fn traced_echo(msg: Envelope, reply: Responder) -> Result<(), BoxError> {
    reply.reply("echo", msg.data).await?;
    Ok(())
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct RunResult {
    completed: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl RunResult {
    fn rate(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> u64 {
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[idx]
    }
}

/// The socket settings of the traced side (`WsConfig` defaults), used by the plain
/// server and the load generator too, so both servers read and write alike (the read
/// buffer size alone changes throughput a lot: tungstenite zero-fills it per read).
fn read_alike() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tracewire_ws::WsConfig::default().tungstenite()
}

/// `messages` echo round trips over `connections` WebSocket connections.
async fn load(addr: SocketAddr, messages: usize, connections: usize, envelope: bool) -> RunResult {
    let mut sockets = Vec::new();
    for _ in 0..connections {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(
            format!("ws://{addr}/ws"),
            Some(read_alike()),
            false,
        )
        .await
        .unwrap();
        sockets.push(socket);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (worker, mut socket) in sockets.into_iter().enumerate() {
        let share = messages / connections + usize::from(worker < messages % connections);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for i in 0..share {
                let text = if envelope {
                    format!(r#"{{"id":"{i}","type":"order.get","headers":{{"traceparent":"{TRACEPARENT}"}},"data":{{"order":{i},"qty":3}}}}"#)
                } else {
                    format!(r#"{{"id":"{i}","type":"order.get","data":{{"order":{i},"qty":3}}}}"#)
                };
                let t = Instant::now();
                socket.send(Message::text(text)).await.unwrap();
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Text(reply))) => {
                            assert!(reply.contains(r#""type":"echo""#));
                            break;
                        }
                        Some(Ok(_)) => continue,
                        other => panic!("connection ended: {other:?}"),
                    }
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            let _ = socket.close(None).await;
            latencies
        }));
    }
    let mut latencies_us = Vec::with_capacity(messages);
    for task in tasks {
        latencies_us.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    RunResult {
        completed: latencies_us.len(),
        elapsed,
        latencies_us,
    }
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let messages = arg(0, 100_000);
    let connections = arg(1, 32);
    let rounds = arg(2, 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let pipeline = ExportPipeline::new(65_536, 512);
        let provider = pipeline.tracer_provider.clone();
        let metric_exporter = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(metric_exporter.clone())
            .build();
        let session = Session::new(traced_echo)
            .tracer_provider(&provider)
            .meter_provider(&meter_provider)
            .propagator(Arc::new(tracewire_core::TracewirePropagator::default()));

        let plain = serve(Router::new().route("/ws", get(|ws: WebSocketUpgrade| async move {
            let config = read_alike();
            ws.read_buffer_size(config.read_buffer_size)
                .max_message_size(config.max_message_size.unwrap_or(usize::MAX))
                .max_frame_size(config.max_frame_size.unwrap_or(usize::MAX))
                .on_upgrade(plain_echo)
        }))).await;
        let traced = serve(Router::new().route("/ws", session.route())).await;
        let untraced_session = Session::new(traced_echo)
            .tracer_provider(&NoopTracerProvider::new())
            .meter_provider(&NoopMeterProvider::new())
            .propagator(Arc::new(NoopTextMapPropagator::new()));
        let untraced = serve(Router::new().route("/ws", untraced_session.route())).await;

        // One mode alone, for profiling (callgrind: instructions per message of one
        // server): `TRACEWIRE_BENCH_ONLY=plain|untraced|traced`.
        if let Ok(only) = std::env::var("TRACEWIRE_BENCH_ONLY") {
            let (addr, envelope) = match only.as_str() {
                "plain" => (plain, false),
                "untraced" => (untraced, true),
                "traced" => (traced, true),
                other => panic!("TRACEWIRE_BENCH_ONLY={other}: plain, untraced or traced"),
            };
            load(addr, messages / 10, connections, envelope).await;
            for round in 0..rounds {
                let r = load(addr, messages, connections, envelope).await;
                println!("round {round}: {only} {:.0} msg/s p50 {} us p99 {} us", r.rate(), r.pct(0.50), r.pct(0.99));
            }
            let _ = provider.force_flush();
            return;
        }

        // Warm-up: connections, allocator, caches.
        load(plain, messages / 10, connections, false).await;
        load(untraced, messages / 10, connections, true).await;
        load(traced, messages / 10, connections, true).await;

        let mut plain_runs = Vec::new();
        let mut untraced_runs = Vec::new();
        let mut traced_runs = Vec::new();
        for round in 0..rounds {
            let p = load(plain, messages, connections, false).await;
            let u = load(untraced, messages, connections, true).await;
            let t = load(traced, messages, connections, true).await;
            println!(
                "round {round}: plain {:>7.0} msg/s p50 {:>4} us p99 {:>5} us | untraced {:>7.0} msg/s p50 {:>4} us p99 {:>5} us | traced {:>7.0} msg/s p50 {:>4} us p99 {:>5} us | u/p {:.3} t/p {:.3} t/u {:.3}",
                p.rate(), p.pct(0.50), p.pct(0.99), u.rate(), u.pct(0.50), u.pct(0.99), t.rate(), t.pct(0.50), t.pct(0.99),
                u.rate() / p.rate(), t.rate() / p.rate(), t.rate() / u.rate()
            );
            plain_runs.push(p);
            untraced_runs.push(u);
            traced_runs.push(t);
        }
        let _ = provider.force_flush();
        let best = |runs: &[RunResult]| {
            runs.iter()
                .max_by(|a, b| a.rate().total_cmp(&b.rate()))
                .map(|r| (r.rate(), r.pct(0.50), r.pct(0.99), r.completed))
                .unwrap()
        };
        let (p_rate, p50, p99, p_n) = best(&plain_runs);
        let (u_rate, u50, u99, u_n) = best(&untraced_runs);
        let (t_rate, t50, t99, t_n) = best(&traced_runs);
        let median = |over: &[RunResult], under: &[RunResult]| {
            let mut ratios: Vec<f64> = over.iter().zip(under).map(|(o, u)| o.rate() / u.rate()).collect();
            let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
            ratios.sort_by(f64::total_cmp);
            (ratios[ratios.len() / 2], per_round.join(", "))
        };
        let (up, up_rounds) = median(&untraced_runs, &plain_runs);
        let (tp, tp_rounds) = median(&traced_runs, &plain_runs);
        let (tu, tu_rounds) = median(&traced_runs, &untraced_runs);
        println!();
        println!("messages/run {messages}, connections {connections}, rounds {rounds}");
        println!("plain   : {p_rate:.0} msg/s, p50 {p50} us, p99 {p99} us ({p_n} completed)");
        println!("untraced: {u_rate:.0} msg/s, p50 {u50} us, p99 {u99} us ({u_n} completed)");
        println!("traced  : {t_rate:.0} msg/s, p50 {t50} us, p99 {t99} us ({t_n} completed)");
        println!(
            "throughput ratio (best / best): untraced/plain {:.3}, traced/plain {:.3}, traced/untraced {:.3}",
            u_rate / p_rate, t_rate / p_rate, t_rate / u_rate
        );
        println!("throughput ratio (median of rounds): untraced/plain {up:.3}, traced/plain {tp:.3}, traced/untraced {tu:.3}");
        println!("per-round untraced/plain: {up_rounds}");
        println!("per-round traced/plain: {tp_rounds}");
        println!("per-round traced/untraced: {tu_rounds}");
        println!(
            "spans exported: {} ({} OTLP protobuf bytes; export {:?})",
            pipeline.exporter.spans(),
            pipeline.exporter.bytes(),
            pipeline.exporter.export_mode()
        );
        meter_provider.force_flush().unwrap();
        println!(
            "messages processed, per {}: {}",
            tracewire_ws::metrics::PROCESS_DURATION,
            processed(&metric_exporter)
        );
    });
}

/// The count of the processing-duration histogram (every point; cumulative).
fn processed(exporter: &InMemoryMetricExporter) -> u64 {
    let exported = exporter.get_finished_metrics().unwrap();
    let Some(last) = exported.last() else {
        return 0;
    };
    let mut count = 0;
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            if metric.name() != tracewire_ws::metrics::PROCESS_DURATION {
                continue;
            }
            if let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() {
                count += h.data_points().map(|p| p.count()).sum::<u64>();
            }
        }
    }
    count
}
