//! The JSON messages the demo services exchange.

use serde::{Deserialize, Serialize};

/// What the demo client asks the checkout service for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PlaceOrder {
    pub(crate) customer: String,
    pub(crate) sku: String,
    pub(crate) quantity: u32,
}

/// The checkout service's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OrderPlaced {
    pub(crate) order_id: String,
    pub(crate) reservation_id: String,
}

/// What checkout asks inventory for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Reserve {
    pub(crate) order_id: String,
    pub(crate) sku: String,
    pub(crate) quantity: u32,
}

/// Inventory's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Reserved {
    pub(crate) reservation_id: String,
    pub(crate) remaining: u32,
}
