//! What the propagator keeps in the [`opentelemetry::Context`] beside the SDK's types,
//! so that a hop forwards exactly what it received when the application changed
//! nothing.
//!
//! - `opentelemetry::trace::TraceState` validates keys with the Level 1 grammar, so a
//!   Level-2-only key (`foo@@bar`, a 242-character tenant) cannot live in it. The parsed
//!   list is kept here, tagged with its trace id.
//! - `opentelemetry::baggage::Baggage` is a hash map and loses the order; the parsed
//!   list is kept here too.
//! - B3 and Jaeger "debug" has no OpenTelemetry flag; it is kept here, tagged with its
//!   trace id.

use opentelemetry::TraceId;

use crate::baggage::BaggageList;
use crate::tracestate::TraceStateList;

/// The single context value the propagator adds (one value: every
/// `Context::with_value` clones the context's map).
#[derive(Clone, Debug, Default)]
pub(crate) struct Forwarded {
    /// The received `tracestate`, for the trace id it came with.
    pub(crate) trace_state: Option<(TraceId, TraceStateList)>,
    /// The trace id whose received B3/Jaeger sampling state was "debug".
    pub(crate) debug: Option<TraceId>,
    /// The trace id that arrived with the Level 2 random flag. The flag describes the
    /// trace id, so it is set again on output for that trace even when the SDK reset
    /// the flags (it does for a dropped, unsampled child).
    pub(crate) random: Option<TraceId>,
    /// The received baggage, in order.
    pub(crate) baggage: Option<BaggageList>,
}
