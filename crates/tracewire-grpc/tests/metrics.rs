//! `rpc.server.call.duration` and `rpc.client.call.duration`: one measurement per call,
//! in seconds, with the RPC attributes and `error.type` only for failed calls.
#![cfg(feature = "demo-proto")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use tonic::transport::{Endpoint, Server};
use tower::ServiceBuilder;
use tracewire_grpc::demo::v1::stream_service_client::StreamServiceClient;
use tracewire_grpc::demo::v1::stream_service_server::StreamServiceServer;
use tracewire_grpc::{GrpcClientTraceLayer, GrpcServerTraceLayer};

#[tokio::test]
async fn one_measurement_per_call_on_each_side() {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let capture = tracewire_testkit::SpanCapture::new();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = GrpcServerTraceLayer::new()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&meters);
    let server = Server::builder()
        .layer(layer)
        .add_service(StreamServiceServer::new(TestService));
    let handle = tokio::spawn(
        server.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let layer = GrpcClientTraceLayer::new()
        .tracer_provider(&capture.tracer_provider())
        .meter_provider(&meters)
        .propagator(Arc::new(tracewire_core::TracewirePropagator::default()))
        .server_address("127.0.0.1", Some(addr.port()));
    let mut client = StreamServiceClient::new(ServiceBuilder::new().layer(layer).service(channel));
    client.process(request("1", "a")).await.unwrap();
    client.process(request("2", "b")).await.unwrap();
    client.process(request("3", "code:5")).await.unwrap_err(); // NOT_FOUND
    client.process(request("4", "code:13")).await.unwrap_err(); // INTERNAL

    spans(&capture, 8).await; // every call has ended on both sides
    meters.force_flush().unwrap();

    let key = |status: &str| (UNARY.to_owned(), status.to_owned());
    for (name, side_errors) in [
        ("rpc.server.call.duration", vec!["INTERNAL"]),
        ("rpc.client.call.duration", vec!["NOT_FOUND", "INTERNAL"]),
    ] {
        let points = histogram(&exporter, name);
        let mut by_status = BTreeMap::new();
        for (attrs, count, sum) in &points {
            assert_eq!(
                attrs.get("rpc.system.name").map(String::as_str),
                Some("grpc"),
                "{name}"
            );
            assert!(*sum >= 0.0);
            let status = attrs["rpc.response.status_code"].clone();
            let failed = side_errors.contains(&status.as_str());
            assert_eq!(
                attrs.get("error.type"),
                failed.then_some(&status),
                "{name} {status}"
            );
            if name.starts_with("rpc.client") {
                assert_eq!(
                    attrs.get("server.address").map(String::as_str),
                    Some("127.0.0.1")
                );
            }
            *by_status
                .entry((attrs["rpc.method"].clone(), status))
                .or_insert(0) += count;
        }
        assert_eq!(by_status.get(&key("OK")), Some(&2), "{name}: {points:?}");
        assert_eq!(by_status.get(&key("NOT_FOUND")), Some(&1), "{name}");
        assert_eq!(by_status.get(&key("INTERNAL")), Some(&1), "{name}");
    }
    handle.abort();
}
