//! [`TracewirePropagatorBuilder`]: choose formats in code.

use super::{PropagatorKind, TracewirePropagator};

/// Builds a [`TracewirePropagator`]; formats are used in the order they are added
/// (a repeated format is ignored).
///
/// ```
/// use tracewire_core::TracewirePropagator;
///
/// let propagator = TracewirePropagator::builder().trace_context().b3().baggage().build();
/// assert_eq!(propagator.to_string(), "tracecontext,b3,baggage");
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct TracewirePropagatorBuilder {
    kinds: Vec<PropagatorKind>,
}

impl TracewirePropagatorBuilder {
    /// An empty builder (builds a no-op propagator unless formats are added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `kind`.
    pub fn with(mut self, kind: PropagatorKind) -> Self {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self
    }

    /// W3C Trace Context (`traceparent`, `tracestate`).
    pub fn trace_context(self) -> Self {
        self.with(PropagatorKind::TraceContext)
    }

    /// W3C Baggage (`baggage`).
    pub fn baggage(self) -> Self {
        self.with(PropagatorKind::Baggage)
    }

    /// B3 single header (`b3`).
    pub fn b3(self) -> Self {
        self.with(PropagatorKind::B3)
    }

    /// B3 multi header (`x-b3-*`).
    pub fn b3_multi(self) -> Self {
        self.with(PropagatorKind::B3Multi)
    }

    /// Jaeger (`uber-trace-id`, `uberctx-*`).
    pub fn jaeger(self) -> Self {
        self.with(PropagatorKind::Jaeger)
    }

    /// The propagator.
    pub fn build(self) -> TracewirePropagator {
        TracewirePropagator::from_kinds(self.kinds)
    }
}
