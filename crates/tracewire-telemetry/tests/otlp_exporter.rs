//! `otlp::OtlpTraceExporter` against in-test collectors on 127.0.0.1:0: every span
//! arrives and decodes to what upstream's conversion gives, headers arrive, gzip
//! compression is applied when asked for (and only then), partial success and HTTP
//! errors are reported, and a refusing or silent collector gives a bounded error instead
//! of a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use prost::Message as _;
use tracewire_telemetry::OtlpCompression;
use tracewire_telemetry::otlp::OtlpTraceExporter;

/// Headers (lower-case names) and the decoded request, per export call.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, ExportTraceServiceRequest)>>>;

const SECRET: &str = "Bearer s3cr3t-token";

fn headers_of(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One instance: a resource's attribute order is its hash map's, which differs
/// between two maps built alike.
fn resource() -> &'static Resource {
    static RESOURCE: std::sync::LazyLock<Resource> = std::sync::LazyLock::new(|| {
        Resource::builder()
            .with_service_name("exporter-test")
            .with_attribute(KeyValue::new("service.version", "9.9.9"))
            .build()
    });
    &RESOURCE
}

fn batch(n: usize) -> Vec<SpanData> {
    let scopes = [
        InstrumentationScope::builder("tracewire-http")
            .with_version("0.1.0")
            .build(),
        InstrumentationScope::builder("tracewire-broker").build(),
    ];
    (0..n)
        .map(|i| {
            let mut links = SpanLinks::default();
            if i % 3 == 0 {
                links.links.push(Link::with_context(SpanContext::new(
                    TraceId::from(7),
                    SpanId::from(8),
                    TraceFlags::SAMPLED,
                    true,
                    TraceState::NONE,
                )));
            }
            SpanData {
                span_context: SpanContext::new(
                    TraceId::from(1_000 + i as u128),
                    SpanId::from(1 + i as u64),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::NONE,
                ),
                parent_span_id: SpanId::from(if i % 2 == 0 { 0 } else { 99 }),
                parent_span_is_remote: i % 4 == 1,
                span_kind: SpanKind::Server,
                name: format!("span {i}").into(),
                start_time: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                end_time: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_001),
                attributes: vec![
                    KeyValue::new("i", i as i64),
                    KeyValue::new("http.route", "/orders/{id}"),
                ],
                dropped_attributes_count: 0,
                events: SpanEvents::default(),
                links,
                status: if i % 5 == 0 {
                    Status::error("boom")
                } else {
                    Status::Unset
                },
                instrumentation_scope: scopes[i % 2].clone(),
            }
        })
        .collect()
}

fn upstream(batch: &[SpanData]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            batch.to_vec(),
            &ResourceAttributesWithSchema::from(resource()),
        ),
    }
}

fn spans_in(received: &Received) -> usize {
    received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, r)| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// The error's text, checked never to contain the secret header value.
fn error_text(result: Result<(), OTelSdkError>) -> String {
    let text = result.expect_err("export must fail").to_string();
    assert!(
        !text.contains("s3cr3t"),
        "the error leaks a header value: {text}"
    );
    eprintln!("export error: {text}");
    text
}

// ---- gRPC ----

struct GrpcCollector {
    received: Received,
    partial: Option<ExportTracePartialSuccess>,
}

#[tonic::async_trait]
impl TraceService for GrpcCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = headers_of(&request.metadata().clone().into_headers());
        self.received
            .lock()
            .unwrap()
            .push((headers, request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: self.partial.clone(),
        }))
    }
}

async fn grpc_collector(partial: Option<ExportTracePartialSuccess>) -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Received::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(GrpcCollector {
                    received: received.clone(),
                    partial,
                })
                // as the OpenTelemetry collector does; tonic decompresses before decoding
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, received)
}

fn grpc_exporter(addr: SocketAddr, timeout: Duration) -> OtlpTraceExporter {
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert("authorization", SECRET.parse().unwrap());
    metadata.insert("x-tenant", "acme".parse().unwrap());
    let mut exporter =
        OtlpTraceExporter::grpc(&format!("http://{addr}"), metadata, timeout).unwrap();
    exporter.set_resource(resource());
    exporter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_every_span_arrives_with_headers() {
    let (addr, received) = grpc_collector(None).await;
    let exporter = grpc_exporter(addr, Duration::from_secs(5));
    let first = batch(300);
    let second = batch(7);
    exporter.export(first.clone()).await.unwrap();
    exporter.export(second.clone()).await.unwrap();

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2);
    assert!(
        received[0].1 == upstream(&first),
        "first request differs from upstream's"
    );
    assert!(
        received[1].1 == upstream(&second),
        "second request differs from upstream's"
    );
    let headers = &received[0].0;
    assert_eq!(header(headers, "authorization"), Some(SECRET));
    assert_eq!(header(headers, "x-tenant"), Some("acme"));
    assert_eq!(header(headers, "content-type"), Some("application/grpc"));
    assert!(header(headers, "grpc-timeout").is_some(), "{headers:?}");
}

/// A TCP relay in front of a collector on 127.0.0.1, counting the bytes clients send
/// through it (before forwarding them, so once the collector has answered a request,
/// its bytes are counted).
struct CountingRelay {
    addr: SocketAddr,
    sent: Arc<AtomicUsize>,
}

impl CountingRelay {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Self {
            addr: listener.local_addr().unwrap(),
            sent: Arc::default(),
        };
        let sent = relay.sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay_connection(client, upstream, sent.clone()));
            }
        });
        relay
    }

    fn bytes_sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

async fn relay_connection(
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    sent: Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return server_write.shutdown().await;
            }
            sent.fetch_add(n, Ordering::SeqCst);
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let down = tokio::io::copy(&mut server_read, &mut client_write);
    let _ = tokio::join!(up, down);
}

/// With gzip, each request carries `grpc-encoding: gzip`, decompresses to exactly the
/// request upstream's conversion gives, and puts far fewer bytes on the wire than the
/// same export without compression (the bytes are counted by a TCP relay, so a header
/// without compressed messages would fail too); with `none`, no `grpc-encoding`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_gzip_compresses_requests_and_none_does_not() {
    let (collector, received) = grpc_collector(None).await;
    let spans = batch(300);
    let mut wire_bytes = Vec::new();
    for compression in [OtlpCompression::Gzip, OtlpCompression::None] {
        // a relay (and so a connection) per run, counting only this run's bytes
        let relay = CountingRelay::start(collector).await;
        let exporter =
            grpc_exporter(relay.addr, Duration::from_secs(5)).with_compression(compression);
        assert_eq!(exporter.compression(), compression);
        exporter.export(spans.clone()).await.unwrap();
        wire_bytes.push(relay.bytes_sent());

        let (headers, request) = received.lock().unwrap().pop().unwrap();
        assert!(
            request == upstream(&spans),
            "{compression:?}: request differs from upstream's"
        );
        let expected = (compression == OtlpCompression::Gzip).then_some("gzip");
        assert_eq!(
            header(&headers, "grpc-encoding"),
            expected,
            "{compression:?}: {headers:?}"
        );
    }
    let [gzip, plain] = wire_bytes[..] else {
        unreachable!()
    };
    eprintln!("300 spans on the wire: gzip {gzip} bytes, none {plain} bytes");
    assert!(gzip * 3 < plain, "gzip {gzip} bytes vs none {plain} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_partial_success_is_an_error() {
    let (addr, received) = grpc_collector(Some(ExportTracePartialSuccess {
        rejected_spans: 3,
        error_message: "span quota exceeded".into(),
    }))
    .await;
    let exporter = grpc_exporter(addr, Duration::from_secs(5));
    let text = error_text(exporter.export(batch(10)).await);
    assert!(
        text.contains("3 of 10 spans rejected: span quota exceeded"),
        "{text}"
    );
    assert_eq!(spans_in(&received), 10, "sent once, not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_refused_collector_is_a_bounded_error() {
    // a port nobody listens on
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let exporter = grpc_exporter(addr, Duration::from_secs(2));
    let started = Instant::now();
    let text = error_text(exporter.export(batch(5)).await);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(text.contains("OTLP grpc export of 5 spans"), "{text}");
    assert!(text.contains("Unavailable"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_silent_collector_is_a_bounded_error() {
    let (addr, _connections) = silent_collector().await;
    let exporter = grpc_exporter(addr, Duration::from_millis(800));
    let started = Instant::now();
    let text = error_text(exporter.export(batch(5)).await);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}: {text}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_after_shutdown_fails() {
    let (addr, received) = grpc_collector(None).await;
    let exporter = grpc_exporter(addr, Duration::from_secs(5));
    exporter.shutdown().unwrap();
    assert!(matches!(
        exporter.export(batch(1)).await,
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        exporter.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert_eq!(spans_in(&received), 0);
}

/// Accepts connections and never answers; keeps them open while the handle lives.
async fn silent_collector() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    (addr, handle)
}

#[test]
fn grpc_https_endpoint_without_tls_feature_or_bad_endpoint_is_a_build_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _enter = runtime.enter();
    let bad = OtlpTraceExporter::grpc(
        "not a uri",
        tonic::metadata::MetadataMap::new(),
        Duration::from_secs(1),
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("invalid OTLP gRPC endpoint")
    );
    let https = OtlpTraceExporter::grpc(
        "https://collector.example:4317",
        tonic::metadata::MetadataMap::new(),
        Duration::from_secs(1),
    );
    if cfg!(feature = "tls") {
        assert!(https.is_ok());
    } else {
        assert!(https.unwrap_err().to_string().contains("`tls` feature"));
    }
}

// ---- HTTP/protobuf ----

/// Polls an export future on this thread, outside any runtime (the HTTP exporter
/// blocks inside, as it does on the batch processor's thread).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `POST /v1/traces` answering `status` with `response` (protobuf).
fn http_collector(
    runtime: &tokio::runtime::Runtime,
    status: StatusCode,
    response: &ExportTraceServiceResponse,
) -> (SocketAddr, Received) {
    let received = Received::default();
    let sink = received.clone();
    let body = response.encode_to_vec();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, request: Bytes| {
            let sink = sink.clone();
            let body = body.clone();
            async move {
                let request = match headers.get("content-encoding") {
                    Some(encoding) => {
                        assert_eq!(encoding, "gzip", "the only encoding expected");
                        Bytes::from(gunzip(&request))
                    }
                    None => request,
                };
                let request = ExportTraceServiceRequest::decode(request).unwrap();
                sink.lock().unwrap().push((headers_of(&headers), request));
                (status, body)
            }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// A gzip body's bytes (panics, failing the request, on anything else).
fn gunzip(body: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    assert_eq!(body.get(..2), Some(&[0x1f, 0x8b][..]), "gzip magic");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn http_exporter(addr: SocketAddr, timeout: Duration) -> OtlpTraceExporter {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", SECRET.parse().unwrap());
    headers.insert("x-tenant", "acme%20corp".parse().unwrap());
    let mut exporter =
        OtlpTraceExporter::http(&format!("http://{addr}/v1/traces"), headers, timeout).unwrap();
    exporter.set_resource(resource());
    exporter
}

#[test]
fn http_every_span_arrives_with_headers() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, received) = http_collector(
        &runtime,
        StatusCode::OK,
        &ExportTraceServiceResponse::default(),
    );
    let exporter = http_exporter(addr, Duration::from_secs(5));
    let first = batch(500);
    let second = batch(1);
    block_on(exporter.export(first.clone())).unwrap();
    block_on(exporter.export(second.clone())).unwrap();

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2);
    assert!(
        received[0].1 == upstream(&first),
        "first request differs from upstream's"
    );
    assert!(
        received[1].1 == upstream(&second),
        "second request differs from upstream's"
    );
    let headers = &received[0].0;
    assert_eq!(
        header(headers, "content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(header(headers, "authorization"), Some(SECRET));
    assert_eq!(header(headers, "x-tenant"), Some("acme%20corp"), "verbatim");
}

/// With gzip, the body is gzip with `Content-Encoding: gzip` and decompresses to exactly
/// the request upstream's conversion gives (the collector decodes it as the encoding
/// header says, so a header without a gzip body fails, and the reverse too); with
/// `none`, no `Content-Encoding` and a plain protobuf body.
#[test]
fn http_gzip_compresses_the_body_and_none_does_not() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, received) = http_collector(
        &runtime,
        StatusCode::OK,
        &ExportTraceServiceResponse::default(),
    );
    let spans = batch(300);
    for compression in [OtlpCompression::Gzip, OtlpCompression::None] {
        let exporter = http_exporter(addr, Duration::from_secs(5)).with_compression(compression);
        block_on(exporter.export(spans.clone())).unwrap();
        let (headers, request) = received.lock().unwrap().pop().unwrap();
        assert!(
            request == upstream(&spans),
            "{compression:?}: request differs from upstream's"
        );
        let expected = (compression == OtlpCompression::Gzip).then_some("gzip");
        assert_eq!(
            header(&headers, "content-encoding"),
            expected,
            "{compression:?}: {headers:?}"
        );
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/x-protobuf")
        );
    }
    // a retried export sends the same gzip body again
    let (addr, received) = http_collector(
        &runtime,
        StatusCode::SERVICE_UNAVAILABLE,
        &ExportTraceServiceResponse::default(),
    );
    let exporter =
        http_exporter(addr, Duration::from_secs(5)).with_compression(OtlpCompression::Gzip);
    let _ = error_text(block_on(exporter.export(spans.clone())));
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 4, "503 is retried 3 times");
    assert!(
        received
            .iter()
            .all(|(_, request)| *request == upstream(&spans))
    );
}

#[test]
fn http_partial_success_is_an_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, _received) = http_collector(
        &runtime,
        StatusCode::OK,
        &ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 0,
                error_message: "attribute values truncated".into(),
            }),
        },
    );
    let exporter = http_exporter(addr, Duration::from_secs(5));
    let text = error_text(block_on(exporter.export(batch(4))));
    assert!(
        text.contains("0 of 4 spans rejected: attribute values truncated"),
        "{text}"
    );
}

#[test]
fn http_error_statuses_are_reported_and_retried_only_when_retryable() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, received) = http_collector(
        &runtime,
        StatusCode::UNAUTHORIZED,
        &ExportTraceServiceResponse::default(),
    );
    let text = error_text(block_on(
        http_exporter(addr, Duration::from_secs(5)).export(batch(2)),
    ));
    assert!(text.contains("HTTP status 401 Unauthorized"), "{text}");
    assert_eq!(received.lock().unwrap().len(), 1, "401 is not retried");

    let (addr, received) = http_collector(
        &runtime,
        StatusCode::SERVICE_UNAVAILABLE,
        &ExportTraceServiceResponse::default(),
    );
    let text = error_text(block_on(
        http_exporter(addr, Duration::from_secs(5)).export(batch(2)),
    ));
    assert!(
        text.contains("HTTP status 503 Service Unavailable"),
        "{text}"
    );
    assert!(text.contains("after 4 attempts"), "{text}");
    assert_eq!(received.lock().unwrap().len(), 4, "503 is retried 3 times");
}

#[test]
fn http_refused_and_silent_collectors_are_bounded_errors() {
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let started = Instant::now();
    let text = error_text(block_on(
        http_exporter(refused, Duration::from_secs(2)).export(batch(3)),
    ));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        text.contains("OTLP http/protobuf export of 3 spans"),
        "{text}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (silent, _connections) = runtime.block_on(silent_collector());
    let started = Instant::now();
    let text = error_text(block_on(
        http_exporter(silent, Duration::from_millis(800)).export(batch(3)),
    ));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}: {text}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}: {text}");
    assert!(
        text.contains("timed out") || text.contains("timeout"),
        "{text}"
    );
}

#[test]
fn http_bad_endpoints_are_build_errors() {
    let none = reqwest::header::HeaderMap::new;
    let err = OtlpTraceExporter::http("nope", none(), Duration::from_secs(1)).unwrap_err();
    assert!(
        err.to_string().contains("invalid OTLP HTTP endpoint"),
        "{err}"
    );
    let err =
        OtlpTraceExporter::http("ftp://x/v1/traces", none(), Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("not http or https"), "{err}");
    let err = OtlpTraceExporter::http(
        "http://user:pw@[::1/v1/traces",
        none(),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("pw"), "{err}");
}
