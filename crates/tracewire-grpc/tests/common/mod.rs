//! Shared test fixtures: a loopback server with the traced layer, traced clients, and
//! a test service whose behaviour each request chooses.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::needless_pass_by_value,
    reason = "test fixtures: failing loudly is the point"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry_sdk::metrics::InMemoryMetricExporter;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::trace::SpanData;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status, Streaming};
use tower::ServiceBuilder;
use tracewire_core::TracewirePropagator;
use tracewire_grpc::client::GrpcClientTrace;
use tracewire_grpc::demo::v1::stream_service_client::StreamServiceClient;
use tracewire_grpc::demo::v1::stream_service_server::{StreamService, StreamServiceServer};
use tracewire_grpc::demo::v1::{StreamRequest, StreamResponse};
use tracewire_grpc::{GrpcClientTraceLayer, GrpcServerTraceLayer, RpcContext, SharedPropagator};
use tracewire_testkit::SpanCapture;

pub const UNARY: &str = "tracewire.demo.v1.StreamService/Process";
pub const STREAM: &str = "tracewire.demo.v1.StreamService/ProcessStream";

/// Behaviour picked by `data`:
/// * `code:N` fails with gRPC code N;
/// * `sleep:MS` sleeps MS milliseconds, then echoes;
/// * `context` answers with what the handler's context holds (trace id, tracestate,
///   baggage) and the raw propagation metadata it received;
/// * anything else is echoed upper-cased.
///
/// A `ProcessStream` call with the metadata `x-test-drip: MS` (and `x-test-id: ID`)
/// instead streams a response every MS milliseconds, forever, while it keeps the
/// request stream open; when the handler's stream is dropped, ID is recorded (see
/// [`handler_dropped`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct TestService;

/// The `x-test-id` of every drip stream whose handler stream has been dropped.
static DROPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records its id in [`DROPPED`] when dropped (with the handler's stream).
struct DropGuard(String);

impl Drop for DropGuard {
    fn drop(&mut self) {
        DROPPED.lock().unwrap().push(std::mem::take(&mut self.0));
    }
}

/// Whether the handler stream of the drip call `id` has been dropped.
pub fn handler_dropped(id: &str) -> bool {
    DROPPED.lock().unwrap().iter().any(|d| d == id)
}

/// Waits up to `within` for the handler stream of drip call `id` to be dropped.
pub async fn wait_handler_dropped(id: &str, within: Duration) -> bool {
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        if handler_dropped(id) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handler_dropped(id)
}

/// An endless response stream: a response every `every`, holding `guard` and the
/// request stream until it is dropped.
fn drip(
    every: Duration,
    guard: DropGuard,
    requests: Streaming<StreamRequest>,
) -> Pin<Box<dyn Stream<Item = Result<StreamResponse, Status>> + Send>> {
    let state = (0_u64, guard, requests);
    Box::pin(futures_util::stream::unfold(
        state,
        move |(sequence, guard, requests)| async move {
            tokio::time::sleep(every).await;
            let response = StreamResponse {
                id: guard.0.clone(),
                result: "DRIP".into(),
                sequence: sequence + 1,
            };
            Some((Ok(response), (sequence + 1, guard, requests)))
        },
    ))
}

pub fn respond(request: StreamRequest, sequence: u64) -> Result<StreamResponse, Status> {
    Ok(StreamResponse {
        result: request.data.to_uppercase(),
        id: request.id,
        sequence,
    })
}

#[tonic::async_trait]
impl StreamService for TestService {
    type ProcessStreamStream = Pin<Box<dyn Stream<Item = Result<StreamResponse, Status>> + Send>>;

    async fn process_stream(
        &self,
        request: Request<Streaming<StreamRequest>>,
    ) -> Result<Response<Self::ProcessStreamStream>, Status> {
        if let Some(ms) = request.metadata().get("x-test-drip") {
            let every = Duration::from_millis(ms.to_str().unwrap().parse().unwrap());
            let id = request.metadata().get("x-test-id").unwrap();
            let guard = DropGuard(id.to_str().unwrap().to_owned());
            return Ok(Response::new(drip(every, guard, request.into_inner())));
        }
        let rpc = RpcContext::of(&request);
        let mut sequence = 0;
        let out = rpc.process_each(
            request.into_inner(),
            "process message",
            move |req: StreamRequest, _cx| {
                sequence += 1;
                let seq = sequence;
                async move {
                    if let Some(ms) = req.data.strip_prefix("sleep:") {
                        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                    }
                    respond(req, seq)
                }
            },
        );
        Ok(Response::new(Box::pin(out)))
    }

    async fn process(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<StreamResponse>, Status> {
        let metadata: Vec<String> = [
            "traceparent",
            "tracestate",
            "baggage",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-sampled",
        ]
        .iter()
        .filter_map(|k| {
            request
                .metadata()
                .get(*k)
                .map(|v| format!("{k}={}", v.to_str().unwrap()))
        })
        .collect();
        let cx = RpcContext::of(&request).context().clone();
        let req = request.into_inner();
        if let Some(code) = req.data.strip_prefix("code:") {
            return Err(Status::new(
                Code::from_i32(code.parse().unwrap()),
                "chosen failure",
            ));
        }
        if let Some(ms) = req.data.strip_prefix("sleep:") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
        }
        if req.data == "context" {
            // The handler's current context must be the SERVER span's.
            let current = opentelemetry::Context::current();
            assert_eq!(current.span().span_context(), cx.span().span_context());
            let sc = cx.span().span_context().clone();
            let baggage: Vec<String> = cx
                .baggage()
                .iter()
                .map(|(k, (v, _))| format!("{k}={v}"))
                .collect();
            let result = format!(
                "trace={};state={};baggage={};metadata={}",
                sc.trace_id(),
                sc.trace_state().header(),
                baggage.join(","),
                metadata.join("|")
            );
            return Ok(Response::new(StreamResponse {
                id: req.id,
                result,
                sequence: 1,
            }));
        }
        respond(req, 1).map(Response::new)
    }
}

pub struct Fixture {
    pub capture: SpanCapture,
    pub addr: SocketAddr,
    pub server: JoinHandle<()>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn w3c() -> SharedPropagator {
    Arc::new(TracewirePropagator::default())
}

/// A loopback server on 127.0.0.1:0 running `TestService` under the traced layer.
pub async fn serve(propagator: SharedPropagator) -> Fixture {
    serve_with(propagator, Server::builder()).await
}

pub async fn serve_with(propagator: SharedPropagator, builder: Server) -> Fixture {
    serve_service(propagator, builder, TestService).await
}

/// `TestService` under the traced layer as `configure` sets it up.
pub async fn serve_configured(
    configure: impl FnOnce(GrpcServerTraceLayer) -> GrpcServerTraceLayer,
) -> Fixture {
    serve_layer(w3c(), Server::builder(), TestService, configure).await
}

/// Serves any `StreamService` implementation (for example the crate's demo service).
pub async fn serve_service<S: StreamService>(
    propagator: SharedPropagator,
    builder: Server,
    service: S,
) -> Fixture {
    serve_layer(propagator, builder, service, |layer| layer).await
}

async fn serve_layer<S: StreamService>(
    propagator: SharedPropagator,
    builder: Server,
    service: S,
    configure: impl FnOnce(GrpcServerTraceLayer) -> GrpcServerTraceLayer,
) -> Fixture {
    let capture = SpanCapture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = configure(
        GrpcServerTraceLayer::new()
            .tracer_provider(&capture.tracer_provider())
            .propagator(propagator),
    );
    let router = builder
        .layer(layer)
        .add_service(StreamServiceServer::new(service));
    let server = tokio::spawn(async move {
        router
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    Fixture {
        capture,
        addr,
        server,
    }
}

pub type TracedClient = StreamServiceClient<GrpcClientTrace<Channel>>;

pub async fn client(fixture: &Fixture, propagator: SharedPropagator) -> TracedClient {
    client_with(
        fixture,
        propagator,
        Endpoint::from_shared(format!("http://{}", fixture.addr)).unwrap(),
    )
    .await
}

pub async fn client_with(
    fixture: &Fixture,
    propagator: SharedPropagator,
    endpoint: Endpoint,
) -> TracedClient {
    StreamServiceClient::new(traced_channel(fixture, propagator, endpoint).await)
}

/// A channel to the fixture under the traced client layer.
pub async fn traced_channel(
    fixture: &Fixture,
    propagator: SharedPropagator,
    endpoint: Endpoint,
) -> GrpcClientTrace<Channel> {
    configured_channel(fixture, propagator, endpoint, |layer| layer).await
}

/// A traced client to the fixture, its layer set up by `configure`.
pub async fn client_configured(
    fixture: &Fixture,
    configure: impl FnOnce(GrpcClientTraceLayer) -> GrpcClientTraceLayer,
) -> TracedClient {
    let channel = configured_channel(fixture, w3c(), endpoint(fixture), configure).await;
    StreamServiceClient::new(channel)
}

async fn configured_channel(
    fixture: &Fixture,
    propagator: SharedPropagator,
    endpoint: Endpoint,
    configure: impl FnOnce(GrpcClientTraceLayer) -> GrpcClientTraceLayer,
) -> GrpcClientTrace<Channel> {
    let channel = endpoint.connect().await.unwrap();
    let layer = configure(
        GrpcClientTraceLayer::new()
            .tracer_provider(&fixture.capture.tracer_provider())
            .propagator(propagator)
            .server_address("127.0.0.1", Some(fixture.addr.port())),
    );
    ServiceBuilder::new().layer(layer).service(channel)
}

pub fn endpoint(fixture: &Fixture) -> Endpoint {
    Endpoint::from_shared(format!("http://{}", fixture.addr)).unwrap()
}

pub fn request(id: &str, data: &str) -> StreamRequest {
    StreamRequest {
        id: id.into(),
        data: data.into(),
    }
}

/// The only span named `name` with kind `kind`.
pub fn find<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> &'a SpanData {
    let found: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == name && s.span_kind == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind:?} span {name:?} in {:#?}",
        spans
            .iter()
            .map(|s| (&s.name, &s.span_kind))
            .collect::<Vec<_>>()
    );
    found[0]
}

pub fn attr(span: &SpanData, key: &str) -> Option<opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

pub fn attr_str(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

pub fn is_error(span: &SpanData) -> bool {
    matches!(span.status, opentelemetry::trace::Status::Error { .. })
}

/// Waits until `n` spans have finished (or 10 s), then returns them all.
pub async fn spans(capture: &SpanCapture, n: usize) -> Vec<SpanData> {
    capture.wait_for_spans(n, Duration::from_secs(10)).await
}

/// The integer attribute `key` of `span`.
pub fn i64_attr(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(opentelemetry::Value::I64(i)) => i,
        other => panic!("{key} {other:?}"),
    }
}

/// (type, id) of every `message` event of `span`.
pub fn message_events(span: &SpanData) -> Vec<(String, i64)> {
    span.events
        .iter()
        .filter(|e| e.name == "message")
        .map(|e| {
            let get = |k: &str| {
                e.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == k)
                    .map(|kv| kv.value.clone())
            };
            let kind = get("rpc.message.type").unwrap().as_str().into_owned();
            let id = match get("rpc.message.id").unwrap() {
                opentelemetry::Value::I64(i) => i,
                other => panic!("rpc.message.id {other:?}"),
            };
            (kind, id)
        })
        .collect()
}

/// Opens a drip stream (see `TestService`) named `id`, with `timeout`; the returned
/// sender keeps the request stream open.
pub async fn open_drip(
    client: &mut TracedClient,
    id: &str,
    timeout: Option<Duration>,
) -> (
    Streaming<StreamResponse>,
    tokio::sync::mpsc::Sender<StreamRequest>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut req = Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    req.metadata_mut()
        .insert("x-test-drip", "20".parse().unwrap());
    req.metadata_mut().insert("x-test-id", id.parse().unwrap());
    if let Some(timeout) = timeout {
        req.set_timeout(timeout);
    }
    let inbound = client.process_stream(req).await.unwrap().into_inner();
    (inbound, tx)
}

/// Reads `inbound` until it fails: the status and how many responses came first.
/// Panics when it still streams after `within`.
pub async fn read_until_error(
    inbound: &mut Streaming<StreamResponse>,
    within: Duration,
) -> (Status, u64) {
    let until = tokio::time::Instant::now() + within;
    let mut received = 0;
    loop {
        let Ok(next) = tokio::time::timeout_at(until, inbound.message()).await else {
            panic!("the stream is still running after {within:?} ({received} responses)");
        };
        match next {
            Ok(Some(_)) => received += 1,
            Ok(None) => unreachable!("the drip stream never ends by itself"),
            Err(status) => return (status, received),
        }
    }
}

pub type Points = Vec<(BTreeMap<String, String>, u64, f64)>;

/// (attributes, count, sum) of every data point of the histogram `name`.
pub fn histogram(exporter: &InMemoryMetricExporter, name: &str) -> Points {
    let mut points = Vec::new();
    for rm in exporter.get_finished_metrics().unwrap() {
        for metric in rm
            .scope_metrics()
            .flat_map(|sm| sm.metrics())
            .filter(|m| m.name() == name)
        {
            assert_eq!(metric.unit(), "s");
            let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else {
                panic!("{name} is not an f64 histogram");
            };
            for dp in h.data_points() {
                let attrs = dp
                    .attributes()
                    .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
                    .collect();
                points.push((attrs, dp.count(), dp.sum()));
            }
        }
    }
    points
}
