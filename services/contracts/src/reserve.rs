//! Holding stock for an order: asynchronous request/response on
//! [`topics::INVENTORY_RESERVE`](crate::topics::INVENTORY_RESERVE), JSON payloads.

use serde::{Deserialize, Serialize};

use crate::LineItem;

/// Hold these items for this order. Idempotent per order: asking again answers the
/// same hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveStock {
    /// Order id.
    pub order_id: String,
    /// What to hold.
    pub items: Vec<LineItem>,
}

/// Inventory's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReserveReply {
    /// The stock is held.
    Held {
        /// The hold's id.
        reservation_id: String,
    },
    /// Not enough of one SKU (the first short line).
    Insufficient {
        /// The SKU.
        sku: String,
        /// On hand now.
        on_hand: u32,
        /// Asked for.
        requested: u32,
    },
    /// A SKU inventory does not sell.
    UnknownSku {
        /// The SKU.
        sku: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_tagged_by_outcome() {
        let json = serde_json::to_value(ReserveReply::UnknownSku { sku: "x".into() }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"outcome": "unknown_sku", "sku": "x"})
        );
    }
}
