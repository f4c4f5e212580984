//! The feed of stock changes: every hold and release announces the new level with the
//! context it happened in, so a `WatchStock` message can link to the order's trace.

use opentelemetry::Context;
use tracewire_contracts::inventory_v1::StockLevel;

use crate::Inventory;
use crate::store::Level;

/// One new level and the context of the operation that caused it.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) level: StockLevel,
    pub(crate) cx: Context,
}

impl Inventory {
    /// Announces `levels` (after they are committed), caused by `reason` for `order_id`,
    /// in the current context.
    pub(crate) fn announce(&self, levels: Vec<Level>, reason: &str, order_id: &str) {
        for level in levels {
            // No watcher is fine: the send fails only when nobody listens.
            let _ = self.changes.send(Change {
                level: StockLevel {
                    sku: level.sku,
                    on_hand: level.on_hand,
                    reason: reason.to_owned(),
                    order_id: order_id.to_owned(),
                },
                cx: Context::current(),
            });
        }
    }
}
