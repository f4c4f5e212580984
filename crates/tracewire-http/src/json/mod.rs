//! Typed JSON on the server: [`ApiError`] (always) and, with the `axum` feature, the
//! [`JsonBody`] extractor/response. The client half is
//! [`JsonClient`](crate::JsonClient).

#[cfg(feature = "axum")]
mod body;
mod error;

#[cfg(feature = "axum")]
pub use body::JsonBody;
pub use error::{ApiError, ErrorBody, ErrorDetail};
