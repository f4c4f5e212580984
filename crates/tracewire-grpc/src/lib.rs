//! Traced gRPC for tracewire (tonic 0.14): every call carries OpenTelemetry context in
//! its metadata, so a unary call or a long bidirectional stream is part of one
//! connected trace.
//!
//! * [`GrpcServerTraceLayer`] (for `tonic::transport::Server::builder().layer(..)`):
//!   extracts the caller's context, opens a SERVER span `package.Service/Method` that
//!   lasts until the trailers are sent, makes it current for the handler and the
//!   response stream, and puts an [`RpcContext`] in the request extensions.
//! * [`GrpcClientTraceLayer`] (around a `Channel` via `tower::ServiceBuilder`): a
//!   CLIENT span per call that lasts until the trailers arrive, its context injected
//!   into the metadata.
//! * RPC semantic conventions v1.39+: `rpc.system.name` = `grpc`, `rpc.method`,
//!   `rpc.response.status_code` (from the trailers, or a trailers-only response),
//!   `server.address`/`server.port`, error status per side ([`status`]), and the
//!   `rpc.server.call.duration`/`rpc.client.call.duration` histograms ([`metrics`]).
//! * A `message` event per message sent and received, counted from the gRPC
//!   length-prefixed frames of the bodies ([`frames`]).
//! * Per-message child spans for streams: [`RpcContext::process_each`] and
//!   [`RpcContext::trace_messages`].
//! * Cancellation and deadlines: a call dropped early ends its spans as `CANCELLED`,
//!   or `DEADLINE_EXCEEDED` once its `grpc-timeout` has passed. Both layers also end a
//!   response stream that outlives its `grpc-timeout` (tonic stops at the response
//!   headers): the server with `DEADLINE_EXCEEDED` trailers after dropping the
//!   handler's stream, the client with a `DEADLINE_EXCEEDED` status and a reset of the
//!   HTTP/2 stream (`enforce_deadlines`, on by default).
//!
//! Every layer takes its propagator and providers per instance and defaults to the
//! global ones, so it works with any OpenTelemetry set-up and tests never touch globals.
//!
//! # Example
//!
//! A traced server and a traced client, one trace (needs the default `demo-proto`
//! feature, and tonic's `transport` feature in the application):
//!
//! ```
//! # #[cfg(feature = "demo-proto")] {
//! use std::sync::Arc;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use tower::ServiceBuilder;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_grpc::demo::DemoStreamService;
//! use tracewire_grpc::demo::v1::StreamRequest;
//! use tracewire_grpc::demo::v1::stream_service_client::StreamServiceClient;
//! use tracewire_grpc::demo::v1::stream_service_server::StreamServiceServer;
//! use tracewire_grpc::{GrpcClientTraceLayer, GrpcServerTraceLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually installed globally by tracewire-telemetry; explicit here.
//! let exporter = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let propagator = Arc::new(TracewirePropagator::default());
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = tonic::transport::Server::builder()
//!     .layer(GrpcServerTraceLayer::new().tracer_provider(&provider).propagator(propagator.clone()))
//!     .add_service(StreamServiceServer::new(DemoStreamService))
//!     .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
//! tokio::spawn(server);
//!
//! let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
//! let channel = ServiceBuilder::new()
//!     .layer(GrpcClientTraceLayer::new().tracer_provider(&provider).propagator(propagator))
//!     .service(channel);
//! let mut client = StreamServiceClient::new(channel);
//! let reply = client.process(StreamRequest { id: "1".into(), data: "hi".into() }).await?;
//! assert_eq!(reply.into_inner().result, "HI");
//!
//! # for _ in 0..200 { if exporter.get_finished_spans()?.len() == 2 { break } tokio::time::sleep(std::time::Duration::from_millis(5)).await; }
//! let spans = exporter.get_finished_spans()?;
//! assert_eq!(spans.len(), 2); // CLIENT and SERVER "tracewire.demo.v1.StreamService/Process"
//! assert_eq!(spans[0].span_context.trace_id(), spans[1].span_context.trace_id());
//! # Ok(()) }
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `demo-proto` | yes | [`demo`]: the `tracewire.demo.v1.StreamService` proto compiled by protox (no system `protoc`) + tonic-prost-build, and [`demo::DemoStreamService`] |
//! | `prost-codec` | with `demo-proto` | [`codec::InvalidArgumentCodec`]: undecodable messages are `INVALID_ARGUMENT` |
//! | `full` | no | all of the above |
//!
//! tonic is used without default features (no TLS, no transport) by the library; the
//! application picks tonic's `transport` (or `server`/`channel`).
//!
//! The guide is `docs/grpc.md`.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod cancel;
pub mod client;
#[cfg(feature = "prost-codec")]
#[cfg_attr(docsrs, doc(cfg(feature = "prost-codec")))]
pub mod codec;
mod context;
mod deadline;
#[cfg(feature = "demo-proto")]
#[cfg_attr(docsrs, doc(cfg(feature = "demo-proto")))]
pub mod demo;
pub mod frames;
pub mod metadata;
mod method;
pub mod metrics;
mod otel;
pub mod server;
mod span;
pub mod status;
pub mod stream;

pub use body::{BoxError, DEFAULT_MESSAGE_EVENT_LIMIT, Direction, TracedBody};
pub use client::GrpcClientTraceLayer;
pub use context::{MessageSpan, RpcContext};
pub use otel::SharedPropagator;
pub use server::GrpcServerTraceLayer;
