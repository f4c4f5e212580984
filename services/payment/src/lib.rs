//! The payment service of the tracewire reference system: a second, independent
//! subscriber of `order.created`. It charges the order's total by a deterministic rule
//! ([`decide`]: above [`LIMIT_CENTS`] the charge is refused) and publishes
//! `payment.completed` or `payment.failed`. Payments live in SQLite; a redelivered
//! event never charges twice. `GET /payments/{order_id}` shows a payment.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_payment_service::{Payment, app, start_messaging, store};
//! use tracewire_service_kit::Telemetry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::new("payment", SdkTracerProvider::builder().build(),
//!     Arc::new(TracewirePropagator::default()));
//! let payment = Payment::new(store::open("memory").await?, telemetry.clone());
//! let _router = app(payment.clone());
//! let consumer = start_messaging(payment, telemetry.broker(MemoryBroker::new())).await?;
//! consumer.shutdown().await;
//! # Ok(()) }
//! ```

mod http;
mod messaging;
mod rule;
pub mod store;

use axum::Router;
use sqlx::SqlitePool;
use tracewire_service_kit::Telemetry;

pub use messaging::{SOURCE, start_messaging};
pub use rule::{Decision, LIMIT_CENTS, decide};
pub use store::{PaymentRecord, StoreError};

/// The payment service's state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Payment {
    pool: SqlitePool,
    telemetry: Telemetry,
}

impl Payment {
    /// The service on `pool` (opened with [`store::open`]).
    pub fn new(pool: SqlitePool, telemetry: Telemetry) -> Self {
        Self { pool, telemetry }
    }
}

/// The payment service's HTTP routes, traced.
pub fn app(payment: Payment) -> Router {
    let layer = payment.telemetry.http_layer();
    http::routes(payment).layer(layer)
}
