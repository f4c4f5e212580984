//! Client side: [`ClientTraceLayer`] for tower clients (hyper-util, tonic), and with
//! the `reqwest` feature [`TracingMiddleware`] for reqwest-middleware and the typed
//! [`JsonClient`].
//!
//! Both instrumentations start a CLIENT span named `{METHOD}` as a child of the current
//! context (inside a handler traced by [`ServerTraceLayer`](crate::ServerTraceLayer)
//! that is the SERVER span) or of an `opentelemetry::Context` placed in the request
//! extensions, inject that span's context with the configured propagator, and end the
//! span when the response headers arrive.
//!
//! `url.full` is recorded with credentials replaced by `REDACTED:REDACTED` and the
//! values of the query parameters the semantic conventions list (`AWSAccessKeyId`,
//! `Signature`, `sig`, `X-Goog-Signature`) replaced by `REDACTED`.

#[cfg(feature = "reqwest")]
mod json;
mod layer;
#[cfg(feature = "reqwest")]
mod middleware;
pub(crate) mod redact;
mod span;

#[cfg(feature = "reqwest")]
pub use json::{DEFAULT_TIMEOUT, JsonClient, JsonClientError};
pub use layer::{ClientTrace, ClientTraceLayer, ResponseFuture};
#[cfg(feature = "reqwest")]
pub use middleware::TracingMiddleware;
