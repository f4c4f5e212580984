//! The inventory service of the tracewire reference system.
//!
//! - gRPC `tracewire.inventory.v1.InventoryService`: `CheckInventory` (unary) and
//!   `WatchStock` (server stream, one child span per message, linked to the order
//!   trace that changed the level);
//! - `GET /stock` (HTTP, JSON);
//! - answers `inventory.reserve` requests (asynchronous request/response): holds stock
//!   for an order;
//! - consumes `order.created` (commits the hold, publishes `inventory.reserved`) and
//!   `order.cancelled` (returns the stock, publishes `inventory.released`), idempotently.
//!
//! State lives in SQLite ([`store`]), so a restarted service keeps its stock and holds.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_inventory_service::{Inventory, StockItem, app, start_messaging, store};
//! use tracewire_service_kit::Telemetry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::new("inventory", SdkTracerProvider::builder().build(),
//!     Arc::new(TracewirePropagator::default()));
//! let pool = store::open("memory").await?;
//! let shelf = [StockItem { sku: "book".into(), on_hand: 5, unit_price_cents: 1_200 }];
//! let inventory = Inventory::new(pool, &shelf, telemetry.clone()).await?;
//! let _router = app(inventory.clone()); // serve it with axum (HTTP/1 and h2c for gRPC)
//! let messaging = start_messaging(inventory, telemetry.broker(MemoryBroker::new())).await?;
//! messaging.shutdown().await;
//! # Ok(()) }
//! ```

mod grpc;
mod http;
mod messaging;
pub mod store;
mod watch;

use axum::Router;
use sqlx::SqlitePool;
use tokio::sync::broadcast;
use tracewire_service_kit::Telemetry;

pub use messaging::{Messaging, MessagingError, SOURCE, start_messaging};
pub use store::{StockItem, StoreError};
use watch::Change;

/// The stock a fresh inventory starts with: what `tracewire demo` sells.
pub fn default_stock() -> Vec<StockItem> {
    vec![
        StockItem {
            sku: "book".into(),
            on_hand: 10_000,
            unit_price_cents: 1_500,
        },
        StockItem {
            sku: "lamp".into(),
            on_hand: 1_000,
            unit_price_cents: 4_500,
        },
        StockItem {
            sku: "desk".into(),
            on_hand: 50,
            unit_price_cents: 32_000,
        },
    ]
}

/// The inventory service's state: its database, its telemetry, and the feed of stock
/// changes that `WatchStock` streams. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Inventory {
    pool: SqlitePool,
    telemetry: Telemetry,
    changes: broadcast::Sender<Change>,
}

impl Inventory {
    /// The service on `pool` (opened with [`store::open`]), stocking `shelf` where a
    /// SKU is not stocked yet.
    ///
    /// Cancel-safety: dropping the future may leave part of `shelf` seeded.
    pub async fn new(
        pool: SqlitePool,
        shelf: &[StockItem],
        telemetry: Telemetry,
    ) -> Result<Self, StoreError> {
        store::seed(&pool, shelf).await?;
        let (changes, _) = broadcast::channel(1024);
        Ok(Self {
            pool,
            telemetry,
            changes,
        })
    }
}

/// The inventory's routes: the gRPC service (traced by `tracewire-grpc`) and
/// `GET /stock` (traced by `tracewire-http`). Serve with HTTP/2 enabled for gRPC.
pub fn app(inventory: Inventory) -> Router {
    let telemetry = inventory.telemetry.clone();
    http::routes(inventory.clone())
        .layer(telemetry.http_layer())
        .merge(grpc::routes(inventory))
}
