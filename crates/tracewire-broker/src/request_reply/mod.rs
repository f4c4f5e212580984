//! Asynchronous request/response over any [`Broker`](crate::Broker).
//!
//! A [`Requester`] publishes a request with a correlation id and its own reply topic,
//! and waits for the matching reply until a deadline; [`serve`] answers requests on a
//! topic with the same correlation id. With a [`Traced`](crate::trace::Traced) broker the
//! whole exchange is one trace: request `send` → responder `process` → `send (reply)` →
//! requester `process (reply)`.
//!
//! The requester's deadline travels with the request in the [`DEADLINE_HEADER`] header
//! (Unix milliseconds); `serve` does not run, and does not answer, a request whose
//! deadline has passed: it records a `request deadline expired` event on the `process`
//! span and counts it ([`EXPIRED_REQUESTS_METRIC`]).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tracewire_broker::Message;
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_broker::request_reply::{Requester, serve};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = MemoryBroker::new();
//! let server = serve(broker.clone(), "math.double", |req: Message| async move {
//!     let n: u64 = std::str::from_utf8(&req.payload)?.parse()?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Message::new("", (n * 2).to_string()))
//! })
//! .await?;
//! let requester = Requester::new(broker.clone()).await?;
//! let reply = requester.request("math.double", Message::new("", "21"), Duration::from_secs(1)).await?;
//! assert_eq!(reply.payload, "42");
//! assert_eq!(requester.pending_len(), 0);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod deadline;
mod error;
mod requester;
mod serve;

pub use deadline::{DEADLINE_HEADER, deadline};
pub use error::{RequestError, ServeError};
pub use requester::{LATE_REPLIES_METRIC, Requester, RequesterBuilder};
pub use serve::{EXPIRED_REQUESTS_METRIC, ServeOptions, serve, serve_with};

/// Header set on a reply whose handler failed; its value is the error text, and the
/// requester turns it into [`RequestError::Remote`].
pub const ERROR_HEADER: &str = "tracewire-reply-error";
