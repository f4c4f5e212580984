//! Loopback gRPC load harness: the same tonic service served and called raw, and
//! behind `GrpcServerTraceLayer` + `GrpcClientTraceLayer`, alternately, in one process.
//!
//! Modes, each measured every round:
//! * `raw`: plain tonic, no layers;
//! * `traced`: both layers (SERVER and CLIENT spans, message events, metrics);
//! * `traced-no-events`: both layers with `.message_events(false)`;
//! * `traced+msg`: as `traced`, plus a child span per stream message
//!   (`RpcContext::process_each`).
//!
//! Traced modes sample every span and export through the SDK's batch processor to
//! `tracewire_testkit::bench::OtlpCountingExporter` (the OTLP exporter's encoding work,
//! events included, no network); metrics go to an SDK meter provider with a periodic
//! in-memory exporter.
//!
//! ```text
//! cargo bench -p tracewire-grpc --bench grpc_load -- [stream_messages] [streams] [unary_calls] [concurrency] [rounds]
//! ```
//!
//! Defaults: 20 000 messages on each of 4 concurrent bidirectional streams, 20 000 unary
//! calls from 32 tasks over one HTTP/2 connection, 5 rounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::net::TcpListener;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};
use tower::ServiceBuilder;
use tracewire_grpc::client::GrpcClientTrace;
use tracewire_grpc::demo::v1::stream_service_client::StreamServiceClient;
use tracewire_grpc::demo::v1::stream_service_server::{StreamService, StreamServiceServer};
use tracewire_grpc::demo::v1::{StreamRequest, StreamResponse};
use tracewire_grpc::{GrpcClientTraceLayer, GrpcServerTraceLayer, RpcContext};
use tracewire_testkit::bench::ExportPipeline;

/// Echo service; with `per_message_spans`, each stream message is processed in its own
/// child span.
#[derive(Clone, Copy)]
struct Echo {
    per_message_spans: bool,
}

type Out = Pin<Box<dyn Stream<Item = Result<StreamResponse, Status>> + Send>>;

fn answer(req: StreamRequest, sequence: u64) -> StreamResponse {
    StreamResponse {
        id: req.id,
        result: req.data,
        sequence,
    }
}

#[tonic::async_trait]
impl StreamService for Echo {
    type ProcessStreamStream = Out;

    async fn process_stream(
        &self,
        request: Request<Streaming<StreamRequest>>,
    ) -> Result<Response<Out>, Status> {
        if self.per_message_spans {
            let rpc = RpcContext::of(&request);
            let mut n = 0;
            let out = rpc.process_each(request.into_inner(), "process message", move |req, _cx| {
                n += 1;
                std::future::ready(Ok(answer(req, n)))
            });
            Ok(Response::new(Box::pin(out)))
        } else {
            let mut n = 0;
            let out = request.into_inner().map(move |req| {
                n += 1;
                req.map(|req| answer(req, n))
            });
            Ok(Response::new(Box::pin(out)))
        }
    }

    async fn process(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<StreamResponse>, Status> {
        Ok(Response::new(answer(request.into_inner(), 1)))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Raw,
    Traced,
    TracedNoEvents,
    TracedPerMessage,
}

struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

async fn serve(mode: Mode, providers: &Providers) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let echo = StreamServiceServer::new(Echo {
        per_message_spans: mode == Mode::TracedPerMessage,
    });
    if mode == Mode::Raw {
        tokio::spawn(
            Server::builder()
                .add_service(echo)
                .serve_with_incoming(incoming),
        );
    } else {
        let layer = GrpcServerTraceLayer::new()
            .message_events(mode != Mode::TracedNoEvents)
            .tracer_provider(&providers.tracer)
            .meter_provider(&providers.meter)
            .propagator(Arc::new(tracewire_core::TracewirePropagator::default()));
        tokio::spawn(
            Server::builder()
                .layer(layer)
                .add_service(echo)
                .serve_with_incoming(incoming),
        );
    }
    addr
}

/// A raw or a traced client (two concrete types: no boxing in the measured path).
#[derive(Clone)]
enum Client {
    Raw(StreamServiceClient<Channel>),
    Traced(StreamServiceClient<GrpcClientTrace<Channel>>),
}

async fn client(mode: Mode, addr: SocketAddr, providers: &Providers) -> Client {
    let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    if mode == Mode::Raw {
        return Client::Raw(StreamServiceClient::new(channel));
    }
    let layer = GrpcClientTraceLayer::new()
        .message_events(mode != Mode::TracedNoEvents)
        .tracer_provider(&providers.tracer)
        .meter_provider(&providers.meter)
        .propagator(Arc::new(tracewire_core::TracewirePropagator::default()))
        .server_address("127.0.0.1", Some(addr.port()));
    Client::Traced(StreamServiceClient::new(
        ServiceBuilder::new().layer(layer).service(channel),
    ))
}

/// Runs `$body` with `$c` bound to the concrete client inside a spawned task.
macro_rules! spawn_with {
    ($client:expr, $c:ident => $body:expr) => {
        match $client.clone() {
            Client::Raw(mut $c) => tokio::spawn(async move { $body }),
            Client::Traced(mut $c) => tokio::spawn(async move { $body }),
        }
    };
}

/// Messages per second over `streams` concurrent bidirectional streams.
async fn stream_load(client: &Client, messages: usize, streams: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams {
        tasks.push(spawn_with!(client, c => {
            let outbound = tokio_stream::iter((0..messages).map(move |i| StreamRequest {
                id: format!("{s}-{i}"),
                data: "payload-0123456789".into(),
            }));
            let mut inbound = c.process_stream(outbound).await.unwrap().into_inner();
            let mut n = 0;
            while let Some(reply) = inbound.next().await {
                reply.unwrap();
                n += 1;
            }
            assert_eq!(n, messages);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (messages * streams) as f64 / started.elapsed().as_secs_f64()
}

/// Unary calls per second from `concurrency` tasks.
async fn unary_load(client: &Client, calls: usize, concurrency: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let share = calls / concurrency + usize::from(worker < calls % concurrency);
        tasks.push(spawn_with!(client, c => {
            for i in 0..share {
                let req = StreamRequest { id: i.to_string(), data: "payload-0123456789".into() };
                c.process(req).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let messages = arg(0, 20_000);
    let streams = arg(1, 4);
    let calls = arg(2, 20_000);
    let concurrency = arg(3, 32);
    let rounds = arg(4, 5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let pipeline = ExportPipeline::new(262_144, 512);
        let providers = Providers {
            tracer: pipeline.tracer_provider.clone(),
            meter: SdkMeterProvider::builder()
                .with_periodic_exporter(InMemoryMetricExporter::default())
                .build(),
        };
        let modes = [Mode::Raw, Mode::Traced, Mode::TracedNoEvents, Mode::TracedPerMessage];
        let mut clients = Vec::new();
        for mode in modes {
            let addr = serve(mode, &providers).await;
            clients.push((mode, client(mode, addr, &providers).await));
        }
        // Warm-up.
        for (_, client) in &clients {
            stream_load(client, messages / 10, streams).await;
            unary_load(client, calls / 10, concurrency).await;
        }
        let mut stream_rates = vec![Vec::new(); modes.len()];
        let mut unary_rates = vec![Vec::new(); modes.len()];
        for round in 0..rounds {
            let mut line = format!("round {round}:");
            for (i, (mode, client)) in clients.iter().enumerate() {
                let s = stream_load(client, messages, streams).await;
                let u = unary_load(client, calls, concurrency).await;
                line.push_str(&format!(" {mode:?} stream {s:>8.0} msg/s unary {u:>7.0} rpc/s |"));
                stream_rates[i].push(s);
                unary_rates[i].push(u);
            }
            println!("{line}");
        }
        let _ = providers.tracer.force_flush();
        println!();
        println!("stream: {streams} x {messages} messages; unary: {calls} calls from {concurrency} tasks; {rounds} rounds");
        for (i, mode) in modes.iter().enumerate() {
            let stream_ratios: Vec<f64> = stream_rates[i].iter().zip(&stream_rates[0]).map(|(t, r)| t / r).collect();
            let unary_ratios: Vec<f64> = unary_rates[i].iter().zip(&unary_rates[0]).map(|(t, r)| t / r).collect();
            println!(
                "{mode:?}: stream median {:.0} msg/s (ratio {:.3}), unary median {:.0} rpc/s (ratio {:.3})",
                median(stream_rates[i].clone()),
                median(stream_ratios),
                median(unary_rates[i].clone()),
                median(unary_ratios),
            );
        }
        println!(
            "spans exported: {} ({} OTLP protobuf bytes)",
            pipeline.exporter.spans(),
            pipeline.exporter.bytes()
        );
    });
}
