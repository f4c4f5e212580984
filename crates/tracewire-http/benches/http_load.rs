//! Loopback HTTP/1.1 keep-alive load harness: the same axum handler served plain and
//! behind `ServerTraceLayer`, alternately, in one process.
//!
//! Traced runs sample every span and export it through the SDK's batch processor to an
//! exporter that does what the OTLP exporter does to a batch (convert and encode to
//! protobuf) but counts the bytes instead of posting them; metrics go to an SDK meter
//! provider. Every request carries a valid `traceparent`, so the traced server extracts
//! a parent each time. A traced round ends when its spans are exported (a flush inside
//! the timed region), so no export work spills into the next plain round.
//!
//! ```text
//! cargo bench -p tracewire-http --bench http_load -- [requests] [concurrency] [rounds]
//! ```
//!
//! Defaults: 40 000 requests, 32 connections, 3 rounds of (plain, traced), the order
//! alternating from round to round. Each run stops at a 60 s deadline. Prints per-round
//! and median throughput ratios, p50/p99 latencies, and on Linux the process CPU time
//! per request of each mode (load generator included), which other work on a shared
//! machine blurs less than wall-clock throughput.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use support::{Pipeline, TRACEPARENT, app};
use tokio::net::{TcpListener, TcpStream};

mod support;

const DEADLINE: Duration = Duration::from_secs(60);

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

/// CPU time of the whole process so far (every thread, user and system), from
/// `/proc/self/task/*/schedstat` (nanoseconds); `None` off Linux.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

struct RunResult {
    completed: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    cpu_ns: Option<u64>,
}

impl RunResult {
    fn rps(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }
    /// CPU microseconds per request (threads that ended during the run are missed,
    /// but the runtime's workers and the batch processor live throughout).
    fn cpu_us(&self) -> f64 {
        self.cpu_ns
            .map_or(f64::NAN, |ns| ns as f64 / 1e3 / self.completed as f64)
    }
    fn pct(&self, p: f64) -> u64 {
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[idx]
    }
}

/// `requests` requests over `concurrency` keep-alive HTTP/1.1 connections.
async fn load(addr: SocketAddr, requests: usize, concurrency: usize) -> RunResult {
    let cpu_before = process_cpu_ns();
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
        cpu_ns: cpu_before.zip(process_cpu_ns()).map(|(a, b)| b - a),
    }
}

/// A traced round: the load, then the export of its spans, both timed.
async fn traced_load(
    addr: SocketAddr,
    requests: usize,
    concurrency: usize,
    pipeline: &Pipeline,
) -> RunResult {
    let cpu_before = process_cpu_ns();
    let mut run = load(addr, requests, concurrency).await;
    let flush_started = Instant::now();
    pipeline.tracer_provider.force_flush().unwrap();
    run.elapsed += flush_started.elapsed();
    run.cpu_ns = cpu_before.zip(process_cpu_ns()).map(|(a, b)| b - a);
    run
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
        let pipeline = Pipeline::new();
        let traced_layer = pipeline.layer();

        let plain = serve(app()).await;
        let traced = serve(app().layer(traced_layer)).await;

        // Warm-up: connections, allocator, caches.
        load(plain, requests / 10, concurrency).await;
        traced_load(traced, requests / 10, concurrency, &pipeline).await;

        let mut plain_runs = Vec::new();
        let mut traced_runs = Vec::new();
        for round in 0..rounds {
            // Alternate which mode goes first, so neither always runs in the other's
            // wake (scheduler state, caches, frequency).
            let (p, t) = if round % 2 == 0 {
                let p = load(plain, requests, concurrency).await;
                (p, traced_load(traced, requests, concurrency, &pipeline).await)
            } else {
                let t = traced_load(traced, requests, concurrency, &pipeline).await;
                (load(plain, requests, concurrency).await, t)
            };
            println!(
                "round {round}: plain {:>7.0} req/s p50 {:>4} us p99 {:>5} us cpu {:>5.1} us/req | traced {:>7.0} req/s p50 {:>4} us p99 {:>5} us cpu {:>5.1} us/req | ratio {:.3} (cpu {:.3})",
                p.rps(), p.pct(0.50), p.pct(0.99), p.cpu_us(), t.rps(), t.pct(0.50), t.pct(0.99), t.cpu_us(), t.rps() / p.rps(), p.cpu_us() / t.cpu_us()
            );
            plain_runs.push(p);
            traced_runs.push(t);
        }
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
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let p_cpu = median(plain_runs.iter().map(RunResult::cpu_us).collect());
        let t_cpu = median(traced_runs.iter().map(RunResult::cpu_us).collect());
        let p50s = |runs: &[RunResult], p| median(runs.iter().map(|r| r.pct(p) as f64).collect());
        println!(
            "median CPU per request: plain {p_cpu:.1} us, traced {t_cpu:.1} us (+{:.1} us; plain/traced {:.3})",
            t_cpu - p_cpu,
            p_cpu / t_cpu
        );
        println!(
            "median of rounds: p50 plain {:.0} us traced {:.0} us; p99 plain {:.0} us traced {:.0} us",
            p50s(&plain_runs, 0.50),
            p50s(&traced_runs, 0.50),
            p50s(&plain_runs, 0.99),
            p50s(&traced_runs, 0.99)
        );
        println!(
            "p50 +{} us, p99 +{} us",
            t50 as i64 - p50 as i64,
            t99 as i64 - p99 as i64
        );
        println!(
            "spans exported: {} ({} bytes encoded)",
            pipeline.exporter.spans(),
            pipeline.exporter.bytes()
        );
    });
}
