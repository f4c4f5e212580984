//! Client side: [`GrpcClientTraceLayer`] around a tonic `Channel`.

mod future;
mod layer;

pub use future::ResponseFuture;
pub use layer::{GrpcClientTrace, GrpcClientTraceLayer};
