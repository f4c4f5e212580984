//! The feed of status changes: each carries the context it happened in, so a stream
//! message about it can be linked to the order's trace.

use opentelemetry::Context;
use tracewire_contracts::OrderUpdate;

/// One status change and the context of the operation that made it.
#[derive(Clone, Debug)]
pub struct Update {
    /// The change.
    pub update: OrderUpdate,
    /// Where it happened (the consumer's span, or the placing request's).
    pub cx: Context,
}
