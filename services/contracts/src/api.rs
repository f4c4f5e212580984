//! The order service's HTTP API types.

use serde::{Deserialize, Serialize};

/// `POST /orders` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    /// Who orders.
    pub customer: String,
    /// What, one line per SKU.
    pub items: Vec<LineItem>,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// Stock keeping unit.
    pub sku: String,
    /// How many units.
    pub quantity: u32,
}

/// A line with the price inventory quoted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    /// Stock keeping unit.
    pub sku: String,
    /// How many units.
    pub quantity: u32,
    /// Price of one unit in cents.
    pub unit_price_cents: u64,
}

/// Where an order is in its life.
///
/// ```text
/// pending ─inventory.reserved─▶ reserved ─payment.completed─▶ confirmed
///    └────payment.completed──▶ paid ─────inventory.reserved─▶ confirmed
/// pending|reserved ─payment.failed─▶ payment_failed ─inventory.released─▶ cancelled
/// (stock not held at placing) ─▶ rejected
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock held, waiting for payment and the stock commitment.
    Pending,
    /// Stock committed, waiting for payment.
    Reserved,
    /// Paid, waiting for the stock commitment.
    Paid,
    /// Paid and stock committed: done.
    Confirmed,
    /// Payment refused; the stock is being released.
    PaymentFailed,
    /// Given up and its stock returned: done.
    Cancelled,
    /// Stock could not be held when placing it: done.
    Rejected,
}

impl OrderStatus {
    /// Every status, in life order.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Reserved,
        Self::Paid,
        Self::Confirmed,
        Self::PaymentFailed,
        Self::Cancelled,
        Self::Rejected,
    ];

    /// The stable lower-case name (as in JSON and in the database).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Reserved => "reserved",
            Self::Paid => "paid",
            Self::Confirmed => "confirmed",
            Self::PaymentFailed => "payment_failed",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }

    /// The status called `name` ([`Self::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether nothing more happens to the order.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Cancelled | Self::Rejected)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order as `GET /orders/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: String,
    /// Who ordered.
    pub customer: String,
    /// Priced lines.
    pub lines: Vec<PricedLine>,
    /// Sum of the lines in cents.
    pub total_cents: u64,
    /// Where it is.
    pub status: OrderStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One status change, as streamed on `/orders/{id}/events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderUpdate {
    /// Order id.
    pub order_id: String,
    /// The new status.
    pub status: OrderStatus,
    /// What caused it: `placed`, or the event type that moved the order.
    pub cause: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
        }
        assert_eq!(OrderStatus::parse("shipped"), None);
    }

    #[test]
    fn only_confirmed_cancelled_and_rejected_are_final() {
        let finals: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                OrderStatus::Confirmed,
                OrderStatus::Cancelled,
                OrderStatus::Rejected
            ]
        );
    }
}
