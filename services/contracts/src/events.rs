//! The CloudEvents the services publish: each type names its CloudEvents `type`
//! (`dev.tracewire.<topic>`) and travels on the topic of the same name.

use serde::{Deserialize, Serialize};
use tracewire_broker::events::EventType;

use crate::{LineItem, PricedLine, topics};

/// An order was placed and its stock is held. Inventory commits the stock, payment
/// charges the total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// Order id.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// What, priced.
    pub lines: Vec<PricedLine>,
    /// What to charge, in cents.
    pub total_cents: u64,
}

/// An order was given up; inventory releases its stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Order id.
    pub order_id: String,
    /// Why.
    pub reason: String,
}

/// Payment took the money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    /// Order id.
    pub order_id: String,
    /// Payment id.
    pub payment_id: String,
    /// Charged, in cents.
    pub amount_cents: u64,
}

/// Payment refused the charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// Order id.
    pub order_id: String,
    /// Payment id.
    pub payment_id: String,
    /// Why.
    pub reason: String,
}

/// Held stock is now committed to the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReserved {
    /// Order id.
    pub order_id: String,
    /// What was committed.
    pub items: Vec<LineItem>,
}

/// An order's stock went back on the shelf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReleased {
    /// Order id.
    pub order_id: String,
    /// What was returned.
    pub items: Vec<LineItem>,
}

macro_rules! event_type {
    ($ty:ty, $topic:expr, $name:literal) => {
        impl EventType for $ty {
            const TYPE: &'static str = concat!("dev.tracewire.", $name);
            fn topic() -> &'static str {
                $topic
            }
        }
    };
}

event_type!(OrderCreated, topics::ORDER_CREATED, "order.created");
event_type!(OrderCancelled, topics::ORDER_CANCELLED, "order.cancelled");
event_type!(
    PaymentCompleted,
    topics::PAYMENT_COMPLETED,
    "payment.completed"
);
event_type!(PaymentFailed, topics::PAYMENT_FAILED, "payment.failed");
event_type!(
    InventoryReserved,
    topics::INVENTORY_RESERVED,
    "inventory.reserved"
);
event_type!(
    InventoryReleased,
    topics::INVENTORY_RELEASED,
    "inventory.released"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_its_topic_under_the_dev_tracewire_prefix() {
        let pairs = [
            (OrderCreated::TYPE, OrderCreated::topic()),
            (OrderCancelled::TYPE, OrderCancelled::topic()),
            (PaymentCompleted::TYPE, PaymentCompleted::topic()),
            (PaymentFailed::TYPE, PaymentFailed::topic()),
            (InventoryReserved::TYPE, InventoryReserved::topic()),
            (InventoryReleased::TYPE, InventoryReleased::topic()),
        ];
        for (ty, topic) in pairs {
            assert_eq!(ty, format!("dev.tracewire.{topic}"));
        }
    }
}
