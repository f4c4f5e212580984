//! Test support for tracewire: per-test span capture and assertions on the shape of a
//! distributed trace, plus (feature `broker`) the conformance suite every broker backend
//! passes.
//!
//! ```
//! use opentelemetry::trace::{SpanKind, Tracer};
//! use tracewire_testkit::SpanCapture;
//!
//! let capture = SpanCapture::new(); // own provider: parallel tests never mix spans
//! let tracer = capture.tracer("example");
//! tracer.in_span("parent", |_| {
//!     tracer.in_span("child", |_| {});
//! });
//!
//! capture
//!     .trace() // exactly one trace, or panic printing every trace as a tree
//!     .assert_child_of("child", "parent")
//!     .assert_kind("parent", SpanKind::Internal)
//!     .assert_no_orphans();
//! ```
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `broker` | no      | `conformance`: the suite every `tracewire-broker` backend runs |
//! | `bench`  | no      | [`bench`]: the export pipeline every benchmark harness uses |
//!
//! On failure every assertion panics with the span tree (rendered by
//! `tracewire_telemetry::tree`), for example:
//!
//! ```text
//! "load order" is not a child of "GET /orders/{id}": its parent is "authorize"
//!
//! span tree:
//! trace 4bf92f3577b34da6a3ce929d0e0e4736 (3 spans)
//! └─ GET /orders/{id}  server  12.3ms  span=00f067aa0ba902b7  http.route=/orders/{id}
//!    ├─ authorize  internal  1.1ms  span=...
//!    │  └─ load order  internal  0.4ms  span=...
//! ```

mod assert;
mod capture;

pub use assert::TraceView;
pub use capture::SpanCapture;

/// The export pipeline every benchmark harness uses.
#[cfg(feature = "bench")]
pub mod bench;

/// The conformance suite every broker backend passes.
#[cfg(feature = "broker")]
pub mod conformance;
