//! Event-driven messaging with typed CloudEvents 1.0.
//!
//! # Example
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tracewire_broker::events::{EventBus, EventType};
//! use tracewire_broker::memory::MemoryBroker;
//!
//! #[derive(Serialize, Deserialize)]
//! struct OrderCreated { order_id: u64 }
//! impl EventType for OrderCreated { const TYPE: &'static str = "com.example.order.created"; }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bus = EventBus::new(MemoryBroker::new(), "/services/order");
//! let subscriber = bus
//!     .subscribe(|event: tracewire_broker::events::Received<OrderCreated>| async move {
//!         assert_eq!(event.data.order_id, 7);
//!         Ok(())
//!     })
//!     .await?;
//! bus.publish_event(&OrderCreated { order_id: 7 }).await?;
//! subscriber.shutdown().await;
//! # Ok(()) }
//! ```

mod bus;
mod codec;

pub use bus::{Causation, EventBus, EventType, PublishEventError, Received};
pub use codec::{BINARY_HEADER_PREFIX, DecodeEventError, Mode, STRUCTURED_CONTENT_TYPE};
