//! WebSocket sessions in which **every message** carries OpenTelemetry trace context,
//! so one business operation stays one trace across a long-lived connection.
//!
//! Browsers cannot set headers on the WebSocket handshake, so context travels in a
//! per-message JSON [`Envelope`]: `{"id", "type", "headers": {"traceparent",
//! "tracestate", "baggage"}, "data"}`. The handshake's headers (when a non-browser
//! client sends them) are the *connection's* context; a message's own headers win.
//!
//! * [`Session`]: your [`Handler`] plus limits ([`WsConfig`]) and telemetry. Served by
//!   axum ([`Session::route`], [`Session::upgrade`]), connected with tokio-tungstenite
//!   ([`Session::connect`]), or run on any `Sink + Stream` ([`Session::run`]; channel
//!   sockets for unit tests in [`testing`]).
//! * Spans: `WS {route}` per connection (SERVER on the server, CLIENT on the client:
//!   `network.protocol.name`, `url.path`, `server.address`, `server.port`, the close code,
//!   error status for abnormal codes) and a CONSUMER span `process {type}` per message,
//!   in the message's own trace (linked to the connection span) or, without one, a child
//!   of the connection span. The handler runs with that span current; replies sent
//!   through its [`Responder`] carry its context.
//! * Metrics ([`metrics`]): open connections, connection and per-message processing
//!   durations, messages received, sent, rejected (by reason) and left unhandled, under
//!   `tracewire.websocket.*`; the meter provider is the global one or
//!   [`Session::meter_provider`].
//! * Bad input never drops the connection: malformed JSON or an invalid envelope gets an
//!   `error` envelope (`{"code", "reason"}`, correlated by `id`); a binary frame is
//!   closed with 1003, an oversized message with 1009.
//! * Limits: message and frame size, idle timeout, ping/pong keep-alive, a bounded send
//!   queue (senders wait; nothing grows without bound).
//!
//! # Example
//!
//! An echo server and a client over loopback, with spans in an in-memory exporter:
//!
//! ```
//! use std::sync::Arc;
//! use axum::Router;
//! use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
//! use opentelemetry::Context;
//! use opentelemetry::context::FutureExt as _;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use serde_json::json;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_ws::{BoxError, Envelope, Responder, Session, close_code};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually installed globally by tracewire-telemetry; explicit here.
//! let exporter = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let propagator = Arc::new(TracewirePropagator::default());
//!
//! // Server: a handler per message, served on an axum route.
//! let server = Session::new(|msg: Envelope, reply: Responder| async move {
//!     reply.reply("echo", msg.data).await?; // carries this message's trace context
//!     Ok::<_, BoxError>(())
//! })
//! .tracer_provider(&provider)
//! .propagator(propagator.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move { axum::serve(listener, Router::new().route("/ws", server.route())).await });
//!
//! // Client: replies arrive in its own handler, in the trace of the message they answer.
//! let (tx, mut replies) = tokio::sync::mpsc::unbounded_channel();
//! let client = Session::new(move |msg: Envelope, _reply: Responder| {
//!     let tx = tx.clone();
//!     async move { tx.send(msg).map_err(|_| "test ended")?; Ok::<_, BoxError>(()) }
//! })
//! .tracer_provider(&provider)
//! .propagator(propagator);
//! let conn = client.connect(&format!("ws://{addr}/ws")).await?;
//!
//! // A message sent inside an operation's span travels in that operation's trace.
//! let op = Context::new().with_span(provider.tracer("app").start("checkout"));
//! conn.send(Envelope::new("order.place", json!({"sku": "A1"})).with_id("1"))
//!     .with_context(op.clone())
//!     .await?;
//! let reply = replies.recv().await.ok_or("no reply")?;
//! assert_eq!((reply.id.as_deref(), reply.kind.as_str()), (Some("1"), "echo"));
//! let traceparent = reply.headers.get("traceparent").ok_or("no context")?;
//! assert!(traceparent.contains(&op.span().span_context().trace_id().to_string()));
//! op.span().end();
//! conn.close(close_code::NORMAL, "done").await;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `axum` | yes | [`Session::route`] and [`Session::upgrade`] (axum `ws`), `WireMessage` for axum's `Message` |
//! | `client` | yes | [`Session::connect`], [`WsConnection`] (tokio-tungstenite `connect`, plain `ws://`: no TLS stack) |
//! | `full` | no | all of the above |
//!
//! Without features the crate still provides [`Session::run`] over any socket whose
//! messages implement [`WireMessage`] (tungstenite's `Message` always does).
//!
//! The guide is `docs/websocket.md`: the envelope format, context rules, a browser
//! client, limits and error handling.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
mod client;
mod config;
mod envelope;
mod frame;
mod handler;
mod headers;
pub mod metrics;
mod otel;
mod sender;
#[cfg(feature = "axum")]
mod server;
mod session;
pub mod testing;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{CONNECT_TIMEOUT, ConnectError, WsConnection};
pub use config::WsConfig;
pub use envelope::{ERROR_TYPE, Envelope, ErrorCode, MAX_TYPE_LEN, Rejection};
pub use frame::{CloseFrame, Frame, WireMessage, close_code};
pub use handler::{BoxError, Handler};
pub use headers::Headers;
pub use otel::SharedPropagator;
pub use sender::{Responder, SendError, WsSender};
pub use session::{CloseInfo, CloseInitiator, ConnectionMeta, Session};
