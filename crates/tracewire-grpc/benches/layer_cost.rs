//! The CPU cost of `GrpcServerTraceLayer` and `GrpcClientTraceLayer` per unary call,
//! without sockets: a tonic client calls the tonic server in-process on one thread
//! (the client's `Channel` is replaced by the server stack itself, behind a shim that
//! gives the request the URI a hyper server would build, `http://127.0.0.1:50051/..`).
//! Meant for instruction counts, which a shared machine cannot blur:
//!
//! ```text
//! cargo bench -p tracewire-grpc --bench layer_cost --no-run
//! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cg.%p <bench binary> traced 20000
//! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cg.%p <bench binary> raw 20000
//! ```
//!
//! Modes: `raw` (no layer), `client` (client layer only), `server` (server layer only),
//! `traced` (both). (mode − raw) / calls is the layers' cost; with
//! `--separate-threads=yes` the main thread's count is the call path and the batch
//! processor's thread the export (the run ends with a flush). Without valgrind it
//! prints wall time per call, which is only indicative.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Stream, StreamExt};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use tonic::{Request, Response, Status, Streaming};
use tower::ServiceBuilder;
use tracewire_grpc::demo::v1::stream_service_client::StreamServiceClient;
use tracewire_grpc::demo::v1::stream_service_server::{StreamService, StreamServiceServer};
use tracewire_grpc::demo::v1::{StreamRequest, StreamResponse};
use tracewire_grpc::{GrpcClientTraceLayer, GrpcServerTraceLayer};
use tracewire_testkit::bench::ExportPipeline;

/// The echo service of `grpc_load`.
#[derive(Clone, Copy)]
struct Echo;

type Out = Pin<Box<dyn Stream<Item = Result<StreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl StreamService for Echo {
    type ProcessStreamStream = Out;

    async fn process_stream(
        &self,
        request: Request<Streaming<StreamRequest>>,
    ) -> Result<Response<Out>, Status> {
        let out = request.into_inner().map(|req| {
            req.map(|req| StreamResponse {
                id: req.id,
                result: req.data,
                sequence: 1,
            })
        });
        Ok(Response::new(Box::pin(out)))
    }

    async fn process(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<StreamResponse>, Status> {
        let req = request.into_inner();
        Ok(Response::new(StreamResponse {
            id: req.id,
            result: req.data,
            sequence: 1,
        }))
    }
}

/// What hyper's HTTP/2 server hands a service: an absolute URI (scheme and authority
/// from the pseudo-headers).
fn absolute<B>(mut req: http::Request<B>) -> http::Request<B> {
    let path = req.uri().path().to_owned();
    *req.uri_mut() = format!("http://127.0.0.1:50051{path}").parse().unwrap();
    req
}

macro_rules! run {
    ($client:expr, $calls:expr) => {{
        let mut client = $client;
        for i in 0..$calls {
            let req = StreamRequest {
                id: i.to_string(),
                data: "payload-0123456789".into(),
            };
            client.process(req).await.unwrap();
        }
    }};
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let mode = args.next().unwrap_or_else(|| "traced".to_owned());
    let calls: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Every mode builds the whole pipeline, so only the per-call work differs.
    let pipeline = ExportPipeline::new(262_144, 512);
    let meter = SdkMeterProvider::builder()
        .with_periodic_exporter(InMemoryMetricExporter::default())
        .build();
    let propagator = Arc::new(tracewire_core::TracewirePropagator::default());
    let server_layer = GrpcServerTraceLayer::new()
        .tracer_provider(&pipeline.tracer_provider)
        .meter_provider(&meter)
        .propagator(propagator.clone());
    let client_layer = GrpcClientTraceLayer::new()
        .tracer_provider(&pipeline.tracer_provider)
        .meter_provider(&meter)
        .propagator(propagator)
        .server_address("127.0.0.1", Some(50051));
    let server = StreamServiceServer::new(Echo);
    let started = Instant::now();
    runtime.block_on(async {
        match mode.as_str() {
            "raw" => run!(
                StreamServiceClient::new(
                    ServiceBuilder::new().map_request(absolute).service(server)
                ),
                calls
            ),
            "server" => run!(
                StreamServiceClient::new(
                    ServiceBuilder::new()
                        .map_request(absolute)
                        .layer(server_layer)
                        .service(server)
                ),
                calls
            ),
            "client" => run!(
                StreamServiceClient::new(
                    ServiceBuilder::new()
                        .layer(client_layer)
                        .map_request(absolute)
                        .service(server)
                ),
                calls
            ),
            "traced" => run!(
                StreamServiceClient::new(
                    ServiceBuilder::new()
                        .layer(client_layer)
                        .map_request(absolute)
                        .layer(server_layer)
                        .service(server)
                ),
                calls
            ),
            other => panic!("mode is raw, client, server or traced, not {other:?}"),
        }
    });
    let elapsed = started.elapsed();
    pipeline.tracer_provider.force_flush().unwrap();
    println!(
        "{mode}: {calls} calls, {:.2} us/call (wall), {} spans exported ({} bytes)",
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        pipeline.exporter.spans(),
        pipeline.exporter.bytes(),
    );
}
