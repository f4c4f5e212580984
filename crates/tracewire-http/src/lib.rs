//! tracewire-http
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod metrics;
mod otel;
pub mod request_id;
pub mod server;

pub use otel::SharedPropagator;
pub use request_id::RequestId;
pub use server::ServerTraceLayer;
