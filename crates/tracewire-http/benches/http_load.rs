//! Loopback HTTP/1.1 keep-alive load harness: the same axum handler served plain and
//! behind `ServerTraceLayer`, alternately, in one process.
//!
//! Traced runs sample every span and export it through the SDK's batch processor to an
//! exporter that serialises each span to JSON (real export work, no network); metrics
//! go to an SDK meter provider with a manual reader. Every request carries a valid
//! `traceparent`, so the traced server extracts a parent each time.
//!
//! ```text
//! cargo bench -p tracewire-http --bench http_load -- [requests] [concurrency] [rounds]
//! ```
//!
//! Defaults: 40 000 requests, 32 connections, 3 rounds of (plain, traced). Each run
//! stops at a 60 s deadline. Prints throughput ratio and p50/p99 latencies (best round
//! of each mode, by throughput).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tokio::net::{TcpListener, TcpStream};
use tracewire_http::ServerTraceLayer;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const DEADLINE: Duration = Duration::from_secs(60);

/// Serialises every batch to newline-delimited JSON (ids, name, times, attributes)
/// and counts spans and bytes: the CPU work of an exporter, without a network.
#[derive(Debug, Clone, Default)]
struct JsonCountingExporter {
    spans: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

/// The fields an OTLP/JSON exporter writes, borrowed from the span.
#[derive(serde::Serialize)]
struct JsonSpan<'a> {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: &'a str,
    kind: &'static str,
    start_unix_nano: u128,
    end_unix_nano: u128,
    attributes: Vec<(&'a str, String)>,
}

impl SpanExporter for JsonCountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut buffer = Vec::with_capacity(batch.len() * 700);
        for span in &batch {
            let nanos = |t: std::time::SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            };
            let json = JsonSpan {
                trace_id: span.span_context.trace_id().to_string(),
                span_id: span.span_context.span_id().to_string(),
                parent_span_id: span.parent_span_id.to_string(),
                name: &span.name,
                kind: "SERVER",
                start_unix_nano: nanos(span.start_time),
                end_unix_nano: nanos(span.end_time),
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.as_str(), kv.value.to_string()))
                    .collect(),
            };
            serde_json::to_writer(&mut buffer, &json).unwrap_or_default();
            buffer.push(b'\n');
        }
        self.bytes.fetch_add(buffer.len() as u64, Ordering::Relaxed);
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn app() -> Router {
    Router::new().route(
        "/orders/{id}",
        get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"id":7,"status":"ok"}"#,
            )
        }),
    )
}

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

struct RunResult {
    completed: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl RunResult {
    fn rps(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> u64 {
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[idx]
    }
}

/// `requests` requests over `concurrency` keep-alive HTTP/1.1 connections.
async fn load(addr: SocketAddr, requests: usize, concurrency: usize) -> RunResult {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let share = requests / concurrency + usize::from(worker < requests % concurrency);
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            let mut latencies = Vec::with_capacity(share);
            for i in 0..share {
                if Instant::now() > deadline {
                    break;
                }
                let req = http::Request::get(format!("/orders/{i}"))
                    .header("host", "bench.local")
                    .header("traceparent", TRACEPARENT)
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let t = Instant::now();
                sender.ready().await.unwrap();
                let response = sender.send_request(req).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().collect().await.unwrap();
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies_us = Vec::with_capacity(requests);
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
    let requests = arg(0, 40_000);
    let concurrency = arg(1, 32);
    let rounds = arg(2, 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let exporter = JsonCountingExporter::default();
        let processor = BatchSpanProcessor::builder(exporter.clone())
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(65_536)
                    .with_max_export_batch_size(512)
                    .with_scheduled_delay(Duration::from_millis(200))
                    .build(),
            )
            .build();
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let meter_provider = SdkMeterProvider::builder()
            .with_periodic_exporter(InMemoryMetricExporter::default())
            .build();
        let traced_layer = ServerTraceLayer::new()
            .tracer_provider(&tracer_provider)
            .meter_provider(&meter_provider)
            .propagator(Arc::new(tracewire_core::TracewirePropagator::default()));

        let plain = serve(app()).await;
        let traced = serve(app().layer(traced_layer)).await;

        // Warm-up: connections, allocator, caches.
        load(plain, requests / 10, concurrency).await;
        load(traced, requests / 10, concurrency).await;

        let mut plain_runs = Vec::new();
        let mut traced_runs = Vec::new();
        for round in 0..rounds {
            let p = load(plain, requests, concurrency).await;
            let t = load(traced, requests, concurrency).await;
            println!(
                "round {round}: plain {:>9.0} req/s p50 {:>5} us p99 {:>6} us | traced {:>9.0} req/s p50 {:>5} us p99 {:>6} us | ratio {:.3}",
                p.rps(), p.pct(0.50), p.pct(0.99), t.rps(), t.pct(0.50), t.pct(0.99), t.rps() / p.rps()
            );
            plain_runs.push(p);
            traced_runs.push(t);
        }
        let _ = tracer_provider.force_flush();
        let best = |runs: &[RunResult]| {
            runs.iter()
                .max_by(|a, b| a.rps().total_cmp(&b.rps()))
                .map(|r| (r.rps(), r.pct(0.50), r.pct(0.99), r.completed))
                .unwrap()
        };
        let (p_rps, p50, p99, p_n) = best(&plain_runs);
        let (t_rps, t50, t99, t_n) = best(&traced_runs);
        let ratios: Vec<String> = plain_runs
            .iter()
            .zip(&traced_runs)
            .map(|(p, t)| format!("{:.3}", t.rps() / p.rps()))
            .collect();
        println!();
        println!("requests/run {requests}, concurrency {concurrency}, rounds {rounds}");
        println!("plain : {p_rps:.0} req/s, p50 {p50} us, p99 {p99} us ({p_n} completed)");
        println!("traced: {t_rps:.0} req/s, p50 {t50} us, p99 {t99} us ({t_n} completed)");
        let mut sorted: Vec<f64> = plain_runs
            .iter()
            .zip(&traced_runs)
            .map(|(p, t)| t.rps() / p.rps())
            .collect();
        sorted.sort_by(f64::total_cmp);
        println!("throughput ratio (best traced / best plain): {:.3}", t_rps / p_rps);
        println!("throughput ratio (median of rounds): {:.3}", sorted[sorted.len() / 2]);
        println!("per-round ratios: {}", ratios.join(", "));
        println!(
            "p50 +{} us, p99 +{} us",
            t50 as i64 - p50 as i64,
            t99 as i64 - p99 as i64
        );
        println!(
            "spans exported: {} ({} JSON bytes)",
            exporter.spans.load(Ordering::Relaxed),
            exporter.bytes.load(Ordering::Relaxed)
        );
    });
}
