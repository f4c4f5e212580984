//! Server side: [`ServerTraceLayer`] for axum, hyper and tonic servers.
//!
//! For each request the layer
//!
//! 1. reads or generates `x-request-id` ([`RequestId`](crate::RequestId) extension,
//!    echoed on the response);
//! 2. extracts the caller's context with the configured propagator (in public-endpoint
//!    mode: starts a new trace and links to it);
//! 3. starts a SERVER span `{METHOD} {route}` with the stable HTTP attributes;
//! 4. polls the handler with that span's context current, so `opentelemetry` spans and
//!    `tracing` spans (through `tracing-opentelemetry`) created by the handler are its
//!    children, and outbound calls through [`ClientTraceLayer`](crate::ClientTraceLayer)
//!    or [`TracingMiddleware`](crate::TracingMiddleware) continue the trace;
//! 5. records the status (5xx is an error, 4xx is not), turns a panic into a 500 with
//!    an `exception` event, and ends the span when the response body ends.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use opentelemetry_sdk::propagation::TraceContextPropagator;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tower::ServiceExt;
//! use tracewire_http::ServerTraceLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let provider = SdkTracerProvider::builder().build();
//! let app = Router::new()
//!     .route("/orders/{id}", get(|| async { "order" }))
//!     .layer(
//!         ServerTraceLayer::new()
//!             .tracer_provider(&provider)
//!             .propagator(Arc::new(TraceContextPropagator::new())),
//!     );
//! let response = app
//!     .oneshot(http::Request::get("/orders/7").body(axum::body::Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert!(response.headers().contains_key("x-request-id"));
//! # }
//! ```

mod attributes;
mod body;
mod future;
mod layer;
mod options;
mod route;
mod service;
pub(crate) mod span;

pub use body::TracedBody;
pub use future::ResponseFuture;
pub use layer::ServerTraceLayer;
pub use options::{DefaultSpanName, MakeSpanName, PublicEndpoint, RequestFilter, SkipPaths};
pub use service::ServerTrace;
