//! Traced HTTP for tracewire: every synchronous hop carries OpenTelemetry context, so
//! one business operation is one connected trace.
//!
//! * [`ServerTraceLayer`]: a tower layer for axum, hyper and tonic servers. It extracts
//!   the caller's context, opens a SERVER span `{METHOD} {route}` that stays open until
//!   the response body ends, makes it current while the handler runs, records the
//!   stable HTTP semantic conventions and the `http.server.*` metrics, handles
//!   `x-request-id`, and turns panics into 500s.
//! * [`TracingMiddleware`] (reqwest-middleware) and [`ClientTraceLayer`] (tower clients:
//!   hyper-util, tonic `Channel`): CLIENT spans, context injection, `url.full`
//!   redaction, `http.client.request.duration`.
//! * [`JsonClient`]: typed JSON calls with a timeout and a typed error
//!   ([`JsonClientError`]); [`JsonBody`] and [`ApiError`]: typed JSON on the server,
//!   with 400/413/415 (never 500) for bad input and one error body shape
//!   `{"error": {"code", "message"}}`.
//! * [`mesh`] and [`proxy::ForwardProxy`]: W3C + B3 for Istio/Envoy and a traced,
//!   mesh-aware forwarding hop.
//!
//! Every piece takes its propagator and providers per instance and defaults to the
//! global ones, so it works with any OpenTelemetry set-up and tests never touch globals.
//!
//! # Example
//!
//! A server with the layer, and a traced client call to it:
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::post};
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use serde::{Deserialize, Serialize};
//! use tracewire_core::TracewirePropagator;
//! use tracewire_http::{JsonBody, JsonClient, ServerTraceLayer, TracingMiddleware};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Greet { name: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually installed globally by tracewire-telemetry; explicit here.
//! let exporter = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let propagator = Arc::new(TracewirePropagator::default());
//!
//! // Server: one line of tracing.
//! let app = Router::new()
//!     .route("/greet", post(|JsonBody(g): JsonBody<Greet>| async move {
//!         JsonBody(Greet { name: format!("hello {}", g.name) })
//!     }))
//!     .layer(ServerTraceLayer::new().tracer_provider(&provider).propagator(propagator.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! // Client: one line too (`JsonClient::new(url)` with the global providers).
//! let client = JsonClient::with_middleware(
//!     format!("http://{addr}"),
//!     TracingMiddleware::new().tracer_provider(&provider).propagator(propagator),
//! );
//! let reply: Greet = client.post_json("/greet", &Greet { name: "ada".into() }).await?;
//! assert_eq!(reply.name, "hello ada");
//!
//! // Both spans of the call: CLIENT "POST" and SERVER "POST /greet", one trace.
//! # for _ in 0..200 { if exporter.get_finished_spans()?.len() == 2 { break } tokio::time::sleep(std::time::Duration::from_millis(5)).await; }
//! let spans = exporter.get_finished_spans()?;
//! assert_eq!(spans.len(), 2);
//! assert_eq!(spans[0].span_context.trace_id(), spans[1].span_context.trace_id());
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `axum` | yes | `MatchedPath` routes and `ConnectInfo` peers in server spans, [`JsonBody`], `IntoResponse` for [`ApiError`] |
//! | `reqwest` | yes | [`TracingMiddleware`], [`JsonClient`] (reqwest without default features: no TLS stack) |
//! | `proxy` | yes | [`proxy::ForwardProxy`] (hyper-util client, plain HTTP: TLS is the sidecar's job) |
//! | `full` | no | all of the above |
//!
//! Without features the crate still provides [`ServerTraceLayer`] (spans named
//! `{METHOD}`, peers from a `SocketAddr` extension), [`ClientTraceLayer`], [`ApiError`]
//! and [`mesh`].
//!
//! The guide is `docs/http.md`; the mesh side is `docs/mesh.md`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod json;
pub mod mesh;
pub mod metrics;
mod otel;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;
pub mod request_id;
pub mod server;

pub use client::ClientTraceLayer;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use client::{JsonClient, JsonClientError, TracingMiddleware};
pub use json::ApiError;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use json::JsonBody;
pub use otel::SharedPropagator;
pub use request_id::RequestId;
pub use server::ServerTraceLayer;
