//! Export end to end: minimal OTLP receivers (gRPC and HTTP, traces and metrics, gzip
//! accepted) built from the opentelemetry-proto types on 127.0.0.1:0, the OTLP-JSON
//! file read back, and init inside and outside a Tokio runtime.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test loudly"
)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;
use tokio::sync::mpsc;
use tracewire_telemetry::{
    ConfigError, MetricsExporter, OtlpProtocol, SamplerConfig, TelemetryConfig, TelemetryError,
    TelemetryGuard, TracesExporter, init,
};

/// What a receiver saw: request headers (lower-case names) and the decoded request.
type Received = (Vec<(String, String)>, ExportTraceServiceRequest);

/// What a metrics receiver saw: request headers and the names of the metrics.
type MetricsReceived = (Vec<(String, String)>, Vec<String>);

fn metric_names(request: &ExportMetricsServiceRequest) -> Vec<String> {
    request
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| m.name.clone())
        .collect()
}

/// The body as the `content-encoding` header says: gunzipped for `gzip` (a body that is
/// not gzip panics, failing the request), as is without the header.
fn decoded_body(headers: &HeaderMap, body: Bytes) -> Bytes {
    use std::io::Read as _;
    match headers.get("content-encoding") {
        None => body,
        Some(encoding) => {
            assert_eq!(encoding, "gzip", "the only encoding expected");
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            out.into()
        }
    }
}

struct GrpcMetricsReceiver(mpsc::UnboundedSender<MetricsReceived>);

#[tonic::async_trait]
impl MetricsService for GrpcMetricsReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = headers_of(&request.metadata().clone().into_headers());
        let _ = self.0.send((headers, metric_names(request.get_ref())));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

fn headers_of(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect()
}

struct GrpcReceiver(mpsc::UnboundedSender<Received>);

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = headers_of(&request.metadata().clone().into_headers());
        let _ = self.0.send((headers, request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn grpc_receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (addr, traces, _) = grpc_receiver_with_metrics().await;
    (addr, traces)
}

/// Traces and metrics services, both accepting gzip (as the OpenTelemetry collector).
async fn grpc_receiver_with_metrics() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<Received>,
    mpsc::UnboundedReceiver<MetricsReceived>,
) {
    use tonic::codec::CompressionEncoding::Gzip;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (metrics_tx, metrics_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(GrpcReceiver(tx)).accept_compressed(Gzip))
            .add_service(
                MetricsServiceServer::new(GrpcMetricsReceiver(metrics_tx)).accept_compressed(Gzip),
            )
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, rx, metrics_rx)
}

async fn http_receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (addr, traces, _) = http_receiver_with_metrics().await;
    (addr, traces)
}

/// `POST /v1/traces` and `/v1/metrics` accepting protobuf or OTLP/JSON bodies, plain or
/// gzip.
async fn http_receiver_with_metrics() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<Received>,
    mpsc::UnboundedReceiver<MetricsReceived>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (metrics_tx, metrics_rx) = mpsc::unbounded_channel();
    let is_json = |headers: &HeaderMap| {
        headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
    };
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let body = decoded_body(&headers, body);
                    let request = if is_json(&headers) {
                        serde_json::from_slice(&body).unwrap()
                    } else {
                        ExportTraceServiceRequest::decode(body).unwrap()
                    };
                    let _ = tx.send((headers_of(&headers), request));
                    ""
                }
            }),
        )
        .route(
            "/v1/metrics",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = metrics_tx.clone();
                async move {
                    let body = decoded_body(&headers, body);
                    let request: ExportMetricsServiceRequest = if is_json(&headers) {
                        serde_json::from_slice(&body).unwrap()
                    } else {
                        ExportMetricsServiceRequest::decode(body).unwrap()
                    };
                    let _ = tx.send((headers_of(&headers), metric_names(&request)));
                    ""
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx, metrics_rx)
}

fn base_config(name: &str) -> TelemetryConfig {
    TelemetryConfig::new(name)
        .with_service_version("1.2.3")
        .with_resource_attribute(KeyValue::new("deployment.environment.name", "test"))
        .with_metrics_exporter(MetricsExporter::None)
        .with_tracing_subscriber(false)
        .with_install_globals(false)
}

/// The init report is meant to be logged: an endpoint's password never shows in it.
#[tokio::test]
async fn the_init_report_hides_endpoint_passwords() {
    let guard = init(
        base_config("report-svc")
            .with_otlp_protocol(OtlpProtocol::HttpProtobuf)
            .with_otlp_endpoint("http://collector-user:s3cr3t@127.0.0.1:9/")
            .with_metrics_exporter(MetricsExporter::Otlp),
    )
    .unwrap();
    let report = guard.report();
    for described in [&report.traces_exporter, &report.metrics_exporter] {
        assert!(!described.contains("s3cr3t"), "{described}");
        assert!(!described.contains("collector-user"), "{described}");
        assert!(described.contains("***@127.0.0.1:9"), "{described}");
    }
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .unwrap();
}

fn emit_trace(guard: &TelemetryGuard) {
    let tracer = guard.tracer("export-test");
    let server = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    let cx = opentelemetry::Context::current_with_span(server);
    drop(tracer.start_with_context("load order", &cx));
    cx.span().end();
}

fn attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// Checks the spans and resource of everything received, returns the span names.
fn check_received(received: &[Received], service: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (_, request) in received {
        for rs in &request.resource_spans {
            let resource = rs.resource.as_ref().unwrap();
            assert_eq!(attr(&resource.attributes, "service.name"), Some(service));
            assert_eq!(attr(&resource.attributes, "service.version"), Some("1.2.3"));
            assert_eq!(
                attr(&resource.attributes, "deployment.environment.name"),
                Some("test")
            );
            let instance = attr(&resource.attributes, "service.instance.id").unwrap();
            assert_eq!(instance.len(), 36, "a generated uuid: {instance}");
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    assert_eq!(span.trace_id.len(), 16);
                    names.push(span.name.clone());
                }
            }
        }
    }
    names.sort();
    names
}

async fn collect(rx: &mut mpsc::UnboundedReceiver<Received>, spans: usize) -> Vec<Received> {
    let mut got = Vec::new();
    let mut count = 0;
    while count < spans {
        let item = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("receiver got nothing within 10 s")
            .unwrap();
        count += item
            .1
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum::<usize>();
        got.push(item);
    }
    got
}

fn header<'a>(received: &'a [Received], name: &str) -> Option<&'a str> {
    received[0]
        .0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_grpc_reaches_a_receiver_with_resource_and_headers() {
    let (addr, mut rx) = grpc_receiver().await;
    let config = TelemetryConfig::from_lookup("from-code", |k| {
        (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "x-api-key=s3cret%2C1".to_owned())
    })
    .unwrap();
    let guard = init(
        config
            .with_service_name("grpc-svc")
            .with_otlp_protocol(OtlpProtocol::Grpc)
            .with_otlp_endpoint(format!("http://{addr}"))
            .with_service_version("1.2.3")
            .with_resource_attribute(KeyValue::new("deployment.environment.name", "test"))
            .with_metrics_exporter(MetricsExporter::None)
            .with_tracing_subscriber(false)
            .with_install_globals(false),
    )
    .unwrap();
    assert_eq!(
        guard.report().traces_exporter,
        format!("otlp grpc http://{addr}")
    );
    emit_trace(&guard);
    // shutdown blocks until the batch is exported: keep it off the runtime's threads
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .unwrap()
        .unwrap();
    let received = collect(&mut rx, 2).await;
    assert_eq!(
        check_received(&received, "grpc-svc"),
        ["GET /orders/{id}", "load order"]
    );
    assert_eq!(header(&received, "x-api-key"), Some("s3cret,1"));
    assert_eq!(
        header(&received, "grpc-encoding"),
        None,
        "uncompressed by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_protobuf_and_json_reach_a_receiver() {
    for (protocol, content_type) in [
        (OtlpProtocol::HttpProtobuf, "application/x-protobuf"),
        (OtlpProtocol::HttpJson, "application/json"),
    ] {
        let (addr, mut rx) = http_receiver().await;
        let guard = init(
            base_config("http-svc")
                .with_otlp_protocol(protocol)
                .with_otlp_endpoint(format!("http://{addr}"))
                .with_otlp_header("x-api-key", "100%25"),
        )
        .unwrap();
        emit_trace(&guard);
        tokio::task::spawn_blocking(move || guard.shutdown())
            .await
            .unwrap()
            .unwrap();
        let received = collect(&mut rx, 2).await;
        assert_eq!(
            check_received(&received, "http-svc"),
            ["GET /orders/{id}", "load order"]
        );
        assert_eq!(header(&received, "content-type"), Some(content_type));
        assert_eq!(
            header(&received, "x-api-key"),
            Some("100%25"),
            "{protocol:?}"
        );
        assert_eq!(
            header(&received, "content-encoding"),
            None,
            "{protocol:?}: uncompressed by default"
        );
    }
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION=gzip` through `init` reaches every OTLP exporter:
/// traces (tracewire's exporter for grpc and http/protobuf, `opentelemetry-otlp`'s for
/// http/json) and metrics (`opentelemetry-otlp`) arrive gzip-compressed, and decode to
/// the spans and metric sent. `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=none` then turns
/// it off for traces alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_compression_from_the_environment_reaches_traces_and_metrics() {
    let protocols = [
        (OtlpProtocol::Grpc, "grpc"),
        (OtlpProtocol::HttpProtobuf, "http/protobuf"),
        (OtlpProtocol::HttpJson, "http/json"),
    ];
    for (protocol, name) in protocols {
        for traces_compression in [None, Some("none")] {
            let case = format!("{name}, traces compression {traces_compression:?}");
            let (addr, mut traces, mut metrics) = if protocol == OtlpProtocol::Grpc {
                grpc_receiver_with_metrics().await
            } else {
                http_receiver_with_metrics().await
            };
            let endpoint = format!("http://{addr}");
            let config = TelemetryConfig::from_lookup("gzip-svc", |key| match key {
                "OTEL_EXPORTER_OTLP_PROTOCOL" => Some(name.to_owned()),
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
                "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".to_owned()),
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => traces_compression.map(str::to_owned),
                _ => None,
            })
            .unwrap();
            let guard = init(
                config
                    .with_service_version("1.2.3")
                    .with_resource_attribute(KeyValue::new("deployment.environment.name", "test"))
                    .with_tracing_subscriber(false)
                    .with_install_globals(false),
            )
            .unwrap();
            emit_trace(&guard);
            opentelemetry::metrics::MeterProvider::meter(guard.meter_provider(), "export-test")
                .u64_counter("orders.placed")
                .build()
                .add(1, &[]);
            // shutdown exports the last spans and metrics: off the runtime's threads
            tokio::task::spawn_blocking(move || guard.shutdown())
                .await
                .unwrap()
                .unwrap();

            let received = collect(&mut traces, 2).await;
            assert_eq!(
                check_received(&received, "gzip-svc"),
                ["GET /orders/{id}", "load order"],
                "{case}"
            );
            let encoding = if protocol == OtlpProtocol::Grpc {
                "grpc-encoding"
            } else {
                "content-encoding"
            };
            let expected = traces_compression.is_none().then_some("gzip");
            assert_eq!(header(&received, encoding), expected, "{case}: traces");

            let (headers, names) = tokio::time::timeout(Duration::from_secs(10), metrics.recv())
                .await
                .expect("no metrics within 10 s")
                .unwrap();
            assert_eq!(names, ["orders.placed"], "{case}");
            let got = headers
                .iter()
                .find(|(k, _)| k == encoding)
                .map(|(_, v)| v.as_str());
            assert_eq!(got, Some("gzip"), "{case}: metrics {headers:?}");
        }
    }
}

/// The blocking HTTP client needs no runtime: init, export and shutdown from a plain
/// thread (the receiver runs on its own runtime thread).
#[test]
fn otlp_http_works_outside_a_runtime() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, mut rx) = runtime.block_on(http_receiver());
    assert!(tokio::runtime::Handle::try_current().is_err());
    let guard = init(
        base_config("no-runtime")
            .with_otlp_protocol(OtlpProtocol::HttpProtobuf)
            .with_otlp_traces_endpoint(format!("http://{addr}/v1/traces")),
    )
    .unwrap();
    emit_trace(&guard);
    guard.shutdown().unwrap();
    let received = runtime.block_on(collect(&mut rx, 2));
    assert_eq!(
        check_received(&received, "no-runtime"),
        ["GET /orders/{id}", "load order"]
    );
}

#[test]
fn otlp_grpc_outside_a_runtime_is_a_typed_error() {
    let err = init(
        base_config("x")
            .with_otlp_protocol(OtlpProtocol::Grpc)
            .with_otlp_endpoint("http://127.0.0.1:1"),
    )
    .unwrap_err();
    assert!(
        matches!(err, TelemetryError::RuntimeRequired { what: "OTLP gRPC" }),
        "{err}"
    );
}

#[test]
fn file_exporter_writes_valid_otlp_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let guard =
        init(base_config("file-svc").with_traces_exporter(TracesExporter::File(path.clone())))
            .unwrap();
    emit_trace(&guard);
    guard.shutdown().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        // OTLP/JSON: camelCase, hex ids, enums as integers, 64-bit ints as strings
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        let rs = &json["resourceSpans"][0];
        assert!(
            rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| { a["key"] == "service.name" && a["value"]["stringValue"] == "file-svc" })
        );
        for span in rs["scopeSpans"][0]["spans"].as_array().unwrap() {
            let trace_id = span["traceId"].as_str().unwrap();
            assert_eq!(trace_id.len(), 32);
            assert!(
                trace_id
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
            assert!(span["kind"].is_i64(), "kind is an integer: {span}");
            assert!(span["startTimeUnixNano"].is_string());
        }
        let server = rs["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "GET /orders/{id}")
            .unwrap();
        assert_eq!(server["kind"], 2, "SPAN_KIND_SERVER");
    }

    let records =
        tracewire_telemetry::file::read_otlp_json_lines(std::io::BufReader::new(text.as_bytes()))
            .unwrap();
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.service_name.as_deref() == Some("file-svc"))
    );
    let tree = tracewire_telemetry::tree::render_records(&records, &Default::default());
    assert!(
        tree.contains("└─ [file-svc] GET /orders/{id}  server"),
        "{tree}"
    );
    assert!(
        tree.contains("   └─ [file-svc] load order  internal"),
        "{tree}"
    );
}

#[test]
fn unwritable_traces_file_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("traces.jsonl");
    let err = init(base_config("x").with_traces_exporter(TracesExporter::File(path.clone())))
        .unwrap_err();
    assert!(
        matches!(&err, TelemetryError::TracesFile { path: p, .. } if *p == path),
        "{err}"
    );
}

#[test]
fn reading_a_bad_line_names_it() {
    let err = tracewire_telemetry::file::read_otlp_json_lines(
        "\n{\"resourceSpans\":[]}\nnope\n".as_bytes(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            tracewire_telemetry::file::ReadError::Json { line: 3, .. }
        ),
        "{err}"
    );
}

#[test]
fn in_memory_sampler_and_unknown_propagators() {
    let guard = init(
        base_config("mem")
            .with_traces_exporter(TracesExporter::InMemory)
            .with_metrics_exporter(MetricsExporter::InMemory)
            .with_propagators("tracecontext, bogus,b3"),
    )
    .unwrap();
    emit_trace(&guard);
    assert_eq!(guard.finished_spans().len(), 2);
    let report = guard.report();
    assert_eq!(report.unknown_propagators, ["bogus"]);
    assert_eq!(report.propagators, "tracecontext,b3");
    assert!(
        report.warnings[0].contains("bogus"),
        "{:?}",
        report.warnings
    );
    assert!(guard.in_memory_metrics().is_some());
    guard.shutdown().unwrap();

    let off = init(
        base_config("off")
            .with_traces_exporter(TracesExporter::InMemory)
            .with_sampler(SamplerConfig::AlwaysOff),
    )
    .unwrap();
    emit_trace(&off);
    assert!(off.finished_spans().is_empty());

    let err = init(base_config("bad").with_sampler(SamplerConfig::TraceIdRatio(2.0))).unwrap_err();
    assert!(
        matches!(err, TelemetryError::Config(ConfigError::SamplerArg(_))),
        "{err}"
    );
}

#[test]
fn stdout_and_none_work_outside_a_runtime() {
    for exporter in [TracesExporter::Stdout, TracesExporter::None] {
        let guard = init(base_config("plain").with_traces_exporter(exporter.clone())).unwrap();
        emit_trace(&guard);
        assert!(guard.finished_spans().is_empty());
        guard.shutdown().unwrap();
    }
}

#[test]
fn bad_grpc_header_is_a_typed_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _enter = runtime.enter();
    let err = init(
        base_config("x")
            .with_otlp_protocol(OtlpProtocol::Grpc)
            .with_otlp_header("bad key", "s3cret"),
    )
    .unwrap_err();
    assert!(
        matches!(err, TelemetryError::Config(ConfigError::Headers { .. })),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
}
