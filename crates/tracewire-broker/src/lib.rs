//! Traced messaging for tracewire: every message carries its OpenTelemetry trace
//! context in its headers, so a business operation that crosses a broker stays one
//! connected trace.
//!
//! - [`Message`] and [`Headers`] (multi-valued, case-insensitive, an OpenTelemetry
//!   `Extractor` and `Injector`), with a binary [wire] encoding;
//! - the [`Broker`] trait (publish, fan-out and queue-group subscribe, ack/nack, close
//!   and drain, declared [`Guarantees`]) and the embedded [`memory`] broker with bounded
//!   queues and [`Overflow`] policies that never drop silently;
//! - [`trace`]: `send {topic}` PRODUCER and `process {topic}` CONSUMER spans per the
//!   messaging semantic conventions, as a decorator over any broker;
//! - [`router`]: handlers with middleware (retry, timeout, panic recovery, dead letter,
//!   deduplication, correlation) and graceful shutdown;
//! - [`request_reply`]: asynchronous request/response that cannot leak;
//! - [`events`]: typed CloudEvents 1.0.
//!
//! The guide is `docs/messaging.md` in the repository.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use opentelemetry::trace::{FutureExt, TraceContextExt, Tracer, TracerProvider};
//! use opentelemetry::Context;
//! use tracewire_core::TracewirePropagator;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_broker::trace::{Traced, Tracing};
//! use tracewire_broker::{Broker, Delivery, Message, SubscribeOptions, Subscription};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let exporter = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let tracing = Tracing::new(&provider).with_propagator(Arc::new(TracewirePropagator::default()));
//! let broker = Traced::new(MemoryBroker::new(), tracing);
//!
//! let mut orders = broker.subscribe("orders.created", SubscribeOptions::new()).await?;
//! let checkout = Context::current_with_span(provider.tracer("shop").start("checkout"));
//! broker.publish(Message::new("orders.created", r#"{"id":42}"#)).with_context(checkout.clone()).await?;
//! checkout.span().end();
//!
//! let delivery = orders.next().await.ok_or("closed")?;
//! async { /* handle the order: its spans join the trace */ }.with_context(delivery.context()).await;
//! delivery.ack().await?;
//!
//! let spans = exporter.get_finished_spans()?;
//! let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
//! assert_eq!(names, ["send orders.created", "checkout", "process orders.created"]);
//! assert!(spans.iter().all(|s| s.span_context.trace_id() == spans[0].span_context.trace_id()));
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `memory` | yes     | [`memory::MemoryBroker`], the embedded in-memory broker |
//! | `full`   | no      | every feature (docs builds) |
//!
//! Everything else (trait, tracing, router, request/reply, events) is always built and
//! generic over [`Broker`]; NATS and RabbitMQ backends live in their own crates.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
mod error;
pub mod events;
mod headers;
mod message;
pub mod request_reply;
pub mod router;
pub mod trace;
pub mod wire;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory;

pub use broker::{
    Broker, Delivery, Guarantees, Overflow, Reject, Responders, SubscribeOptions, Subscription,
};
pub use error::{AckError, BoxError, CloseError, PublishError, SubscribeError};
pub use headers::Headers;
pub use message::Message;
