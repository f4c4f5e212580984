//! Tracing for messaging, per the OpenTelemetry messaging semantic conventions.
//!
//! [`Traced`] wraps any [`Broker`](crate::Broker):
//! - **publish** starts a PRODUCER span `send {topic}` (child of the current context)
//!   and injects its context into the message headers;
//! - **receive** starts a CONSUMER span `process {topic}` for each delivery: a child of
//!   the producer's context *and* linked to it ([`ParentMode::ChildAndLink`], the
//!   default), or only linked, in a new trace ([`ParentMode::LinkOnly`]). The span ends
//!   when the delivery is acked, nacked (an event) or rejected ([`Reject`](crate::Reject):
//!   an event and error status; see [`TracedDelivery`]); run the handler
//!   with [`Delivery::context`](crate::Delivery::context) current
//!   (`opentelemetry::trace::FutureExt::with_context`), as the router does.
//!
//! Context travels only in headers, written and read by the configured propagator: the
//! global one by default, which `tracewire_telemetry::init` sets to
//! `tracewire_core::TracewirePropagator` (see [`Tracing`]'s *Defaults*).
//! One fallback: when the headers of a received message carry no trace context and the
//! message is a CloudEvent (structured or binary), the `process` span's parent comes
//! from the event's `traceparent`/`tracestate` extension, so events published by
//! producers that write only the extension (other SDKs, bridges) still join the trace. Reply inboxes never appear in span names: a
//! message to a topic starting with [`REPLY_TOPIC_PREFIX`] is traced as `send (reply)` /
//! `process (reply)`.
//!
//! # Example
//!
//! ```
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_broker::trace::{ParentMode, Traced, Tracing};
//!
//! // Global tracer provider and propagator (both installed by `tracewire_telemetry::init`);
//! // tests pass their own provider and `tracewire_core::TracewirePropagator` instead.
//! let broker = Traced::new(MemoryBroker::new(), Tracing::global().with_parent_mode(ParentMode::ChildAndLink));
//! # let _ = broker;
//! ```

mod cloudevent;
mod config;
mod traced;

pub use config::{ParentMode, Tracing};
pub use traced::{Traced, TracedDelivery, TracedSubscription};

/// Topics starting with this prefix are reply inboxes: their spans are named
/// `send (reply)` and `process (reply)` instead of carrying the inbox name.
pub const REPLY_TOPIC_PREFIX: &str = "_INBOX.";
