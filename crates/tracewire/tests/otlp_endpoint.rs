//! `tracewire demo --otlp-endpoint URL` against an OTLP/gRPC receiver in the test on
//! 127.0.0.1:0: every span the demo printed arrives, under its service's resource, with
//! no parent missing; a collector that refuses or never answers is a warning, not a
//! hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use serde_json::Value;
use tokio::sync::mpsc;

/// The demo's five services.
const SERVICES: [&str; 5] = [
    "demo-client",
    "inventory",
    "order",
    "order-sidecar",
    "payment",
];

/// Long enough for a debug-build demo on a busy machine; a hang is far longer.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Hands every export request to the test.
struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn receiver() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, rx)
}

/// `tracewire demo --json --otlp-endpoint {endpoint}` (with `env`), bounded; returns
/// (succeeded, stdout, stderr).
async fn demo(endpoint: String, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = common::tracewire();
    cmd.args(["demo", "--json", "--otlp-endpoint", &endpoint]);
    for var in [
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    // The receiver runs on this runtime while the process runs.
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || common::run_bounded(cmd, RUN_LIMIT))
            .await
            .unwrap();
    (status.success(), stdout, stderr)
}

/// A span as the demo printed it or the receiver got it (ids in lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    service: String,
    name: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn printed(report: &Value) -> Vec<Span> {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    report["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Span {
            trace_id: text(&s["trace_id"]),
            span_id: text(&s["span_id"]),
            parent_span_id: s["parent_span_id"].as_str().map(str::to_owned),
            service: text(&s["service"]),
            name: text(&s["name"]),
        })
        .collect()
}

fn received(requests: &[ExportTraceServiceRequest]) -> Vec<Span> {
    let mut spans = Vec::new();
    for rs in requests.iter().flat_map(|r| &r.resource_spans) {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .expect("every resource has a service.name");
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            spans.push(Span {
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: (!span.parent_span_id.is_empty())
                    .then(|| hex(&span.parent_span_id)),
                service: service.clone(),
                name: span.name.clone(),
            });
        }
    }
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_endpoint_receives_every_span_of_every_order() {
    let (addr, mut rx) = receiver().await;
    let (ok, stdout, stderr) = demo(format!("http://{addr}"), &[]).await;
    assert!(ok, "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true, "{stdout}");

    // The demo exports before it exits: everything has arrived by now.
    let mut requests = Vec::new();
    while let Ok(request) = rx.try_recv() {
        requests.push(request);
    }
    assert!(!requests.is_empty(), "the receiver got nothing\n{stderr}");
    let mut got = received(&requests);
    let mut want = printed(&report);
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "each span exported once");
    assert_eq!(got, want, "the spans the demo printed");

    // One trace per order, from all five services, no parent missing.
    let traces: BTreeSet<&str> = got.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traces.len(), report["orders"].as_array().unwrap().len());
    let services: BTreeSet<&str> = got.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(services, SERVICES.into_iter().collect());
    let ids: BTreeMap<(&str, &str), &Span> = got
        .iter()
        .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), s))
        .collect();
    for span in &got {
        if let Some(parent) = &span.parent_span_id {
            assert!(
                ids.contains_key(&(span.trace_id.as_str(), parent.as_str())),
                "orphan: {span:?}"
            );
        }
    }
    for trace in traces {
        let roots: Vec<&Span> = got
            .iter()
            .filter(|s| s.trace_id == trace && s.parent_span_id.is_none())
            .collect();
        assert_eq!(roots.len(), 1, "one root per trace: {roots:?}");
        assert_eq!(roots[0].service, "demo-client", "{roots:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_endpoint_is_a_warning_and_the_run_stands() {
    // A port that was just free: nothing listens there.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("http://{addr}");
    let (ok, stdout, stderr) = demo(endpoint.clone(), &[]).await;
    assert!(ok, "exit status 0\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true, "the run's output is whole: {stdout}");
    assert!(
        stderr.contains(&format!("warning: traces not exported to {endpoint}")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_times_out_with_a_warning() {
    // Accepts connections and never speaks: the export waits for its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let endpoint = format!("http://{addr}");
    let started = tokio::time::Instant::now();
    let (ok, stdout, stderr) =
        demo(endpoint.clone(), &[("OTEL_EXPORTER_OTLP_TIMEOUT", "500")]).await;
    let took = started.elapsed();
    silent.abort();
    assert!(ok, "exit status 0\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true, "{stdout}");
    assert!(
        stderr.contains(&format!("warning: traces not exported to {endpoint}")),
        "{stderr}"
    );
    // Ended by the export timeout (OTEL_EXPORTER_OTLP_TIMEOUT), not by the test's kill.
    assert!(took < RUN_LIMIT / 2, "took {took:?}");
}
