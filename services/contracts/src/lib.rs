//! What the reference services (order, inventory, payment) agree on: the order API's
//! JSON types, the CloudEvents they publish, the stock reservation request/reply, the
//! topics, and the inventory gRPC contract (`tracewire.inventory.v1`, compiled by protox
//! at build time: no system `protoc`).
//!
//! # Example
//!
//! ```
//! use tracewire_broker::events::EventType as _;
//! use tracewire_contracts::events::OrderCreated;
//! use tracewire_contracts::{LineItem, PlaceOrder, topics};
//!
//! let order = PlaceOrder {
//!     customer: "ada".into(),
//!     items: vec![LineItem { sku: "book".into(), quantity: 1 }],
//! };
//! assert!(order.validate().is_ok());
//! assert_eq!(OrderCreated::topic(), topics::ORDER_CREATED);
//! assert_eq!(OrderCreated::TYPE, "dev.tracewire.order.created");
//! ```

mod api;
pub mod events;
pub mod reserve;
pub mod topics;
mod validate;

pub use api::{LineItem, Order, OrderStatus, OrderUpdate, PlaceOrder, PricedLine};
pub use validate::{FieldError, MAX_LINES, MAX_NAME_LEN, MAX_QUANTITY};

/// The inventory gRPC contract (`proto/tracewire/inventory/v1/inventory.proto`).
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
pub mod inventory_v1 {
    tonic::include_proto!("tracewire.inventory.v1");
}
