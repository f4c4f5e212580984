//! tracewire-http
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod json;
pub mod mesh;
pub mod metrics;
mod otel;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod request_id;
pub mod server;

pub use client::ClientTraceLayer;
#[cfg(feature = "reqwest")]
pub use client::{JsonClient, JsonClientError, TracingMiddleware};
pub use json::ApiError;
#[cfg(feature = "axum")]
pub use json::JsonBody;
pub use otel::SharedPropagator;
pub use request_id::RequestId;
pub use server::ServerTraceLayer;
