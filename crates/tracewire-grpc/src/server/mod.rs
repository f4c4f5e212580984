//! Server side: [`GrpcServerTraceLayer`] for `tonic::transport::Server::builder().layer(..)`.

mod future;
mod layer;

pub use future::ResponseFuture;
pub use layer::{GrpcServerTrace, GrpcServerTraceLayer};
