//! Broker topics of the reference system: lower-case and dotted.

/// Order placed and its stock held (published by order).
pub const ORDER_CREATED: &str = "order.created";
/// Order given up after a failed payment (published by order).
pub const ORDER_CANCELLED: &str = "order.cancelled";
/// Payment taken (published by payment).
pub const PAYMENT_COMPLETED: &str = "payment.completed";
/// Payment refused (published by payment).
pub const PAYMENT_FAILED: &str = "payment.failed";
/// Held stock committed to an order (published by inventory).
pub const INVENTORY_RESERVED: &str = "inventory.reserved";
/// An order's stock returned (published by inventory).
pub const INVENTORY_RELEASED: &str = "inventory.released";
/// Request/reply: hold stock for an order (answered by inventory).
pub const INVENTORY_RESERVE: &str = "inventory.reserve";
/// Events that failed for good (undecodable, or every attempt failed).
pub const DEAD_LETTER: &str = "events.dlq";
