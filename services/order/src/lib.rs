//! The order service of the tracewire reference system.
//!
//! - `POST /orders` (validated: 400 for bad JSON, 422 with every invalid field), then a
//!   gRPC `CheckInventory` call, a stock hold through asynchronous request/response on
//!   the broker (`inventory.reserve`), and `order.created` published;
//! - `GET /orders/{id}`;
//! - consumes `payment.completed`, `payment.failed`, `inventory.reserved` and
//!   `inventory.released` to move each order through its states ([`lifecycle`]),
//!   publishing `order.cancelled` when a payment fails; idempotent per message;
//! - `GET /orders/{id}/events` ([`EVENTS_ROUTE`]), a WebSocket of the order's status:
//!   the current state first, then every later change of that order
//!   ([`Order::updates`]), closed with 1000 once the order is final; a JSON 404 for an
//!   unknown order before upgrading. Each message is a `tracewire-ws` envelope of type
//!   [`STATUS_TYPE`] carrying an [`OrderUpdate`](tracewire_contracts::OrderUpdate), sent
//!   in a PRODUCER span `send order.status` (a child of the connection span
//!   `WS /orders/{id}/events`) with a **link** to the span that made the change
//!   (`create order`, `update order`), so the stream is connected to the order's trace,
//!   even for a client that connects after the change (the store remembers the span).
//!   A stream that falls behind the feed re-reads the order from the store
//!   (`cause: "resync"`); client messages get `error` replies ([`NoInbound`]). On
//!   shutdown, [`Order::close_streams`] closes the open streams with 1001 ("going
//!   away") and waits (bounded) for their close handshakes: axum's graceful shutdown
//!   does not track upgraded connections.
//!
//! State lives in SQLite ([`store`]), so a restarted service keeps its orders.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_core::TracewirePropagator;
//! use tracewire_order_service::{InventoryClient, Order, app, start_messaging, store};
//! use tracewire_service_kit::Telemetry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = Telemetry::new("order", SdkTracerProvider::builder().build(),
//!     Arc::new(TracewirePropagator::default()));
//! let inventory = InventoryClient::connect_lazy("http://127.0.0.1:50051", &telemetry)?;
//! let broker = telemetry.broker(MemoryBroker::new());
//! let order = Order::new(store::open("memory").await?, telemetry, inventory, broker).await?;
//! let _router = app(order.clone());
//! let consumers = start_messaging(order.clone()).await?;
//! // On shutdown, next to the server's graceful stop:
//! order.close_streams().await;
//! consumers.shutdown().await;
//! # Ok(()) }
//! ```

mod events;
mod http;
mod inventory;
pub mod lifecycle;
mod messaging;
mod place;
pub mod store;
mod updates;

use std::time::Duration;

use axum::Router;
use sqlx::SqlitePool;
use tokio::sync::broadcast;
use tracewire_broker::events::EventBus;
use tracewire_broker::request_reply::Requester;
use tracewire_broker::{Broker, SubscribeError};
use tracewire_contracts::topics;
use tracewire_service_kit::Telemetry;
use tracewire_ws::Session;

pub use events::{EVENTS_ROUTE, NoInbound, STATUS_TYPE, STREAMS_CLOSE_GRACE};
pub use inventory::InventoryClient;
pub use messaging::{Messaging, start_messaging};
pub use store::StoreError;
pub use updates::Update;

/// The CloudEvents `source` of order's events (and its consumer group).
pub const SOURCE: &str = "/services/order";

/// How long `POST /orders` waits for inventory to answer a stock hold.
pub const RESERVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many status changes the feed ([`Order::updates`]) holds for a slow receiver
/// before it lags (a lagging status stream re-reads the order from the store).
pub const UPDATES_CAPACITY: usize = 1024;

/// The order service's state. Cheap to clone.
#[derive(Debug)]
pub struct Order<B: Broker> {
    pool: SqlitePool,
    telemetry: Telemetry,
    inventory: InventoryClient,
    requester: Requester<B>,
    bus: EventBus<B>,
    updates: broadcast::Sender<Update>,
    events: Session<NoInbound>,
    streams: events::Streams,
}

impl<B: Broker> Clone for Order<B> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            telemetry: self.telemetry.clone(),
            inventory: self.inventory.clone(),
            requester: self.requester.clone(),
            bus: self.bus.clone(),
            updates: self.updates.clone(),
            events: self.events.clone(),
            streams: self.streams.clone(),
        }
    }
}

impl<B: Broker> Order<B> {
    /// The service on `pool` (opened with [`store::open`]), calling `inventory` over
    /// gRPC and using `broker` (already traced with order's telemetry).
    ///
    /// Cancel-safety: dropping the future leaves no subscription.
    pub async fn new(
        pool: SqlitePool,
        telemetry: Telemetry,
        inventory: InventoryClient,
        broker: B,
    ) -> Result<Self, SubscribeError> {
        let requester = Requester::new(broker.clone()).await?;
        let bus = telemetry
            .events(broker, SOURCE)
            .with_dead_letter(topics::DEAD_LETTER, 5);
        let (updates, _) = broadcast::channel(UPDATES_CAPACITY);
        let events = Session::new(NoInbound)
            .config(events::config())
            .tracer_provider(telemetry.provider())
            .propagator(telemetry.propagator());
        Ok(Self {
            pool,
            telemetry,
            inventory,
            requester,
            bus,
            updates,
            events,
            streams: events::Streams::new(),
        })
    }

    /// Every status change from now on, with the context it happened in (all orders;
    /// filter by `order_id`). The feed holds [`UPDATES_CAPACITY`] changes for a slow
    /// receiver, which then gets `RecvError::Lagged`: re-read the order with
    /// [`find`](Self::find) (subscribe before reading, so nothing falls in between).
    pub fn updates(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// The order `id`, if it exists.
    ///
    /// Cancel-safety: cancel-safe (a read).
    pub async fn find(&self, id: &str) -> Result<Option<tracewire_contracts::Order>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        store::find(&mut conn, id).await
    }

    fn announce(&self, update: tracewire_contracts::OrderUpdate) {
        // Nobody listening is fine.
        let _ = self.updates.send(Update {
            update,
            cx: opentelemetry::Context::current(),
        });
    }
}

/// The order service's HTTP routes, traced: `POST /orders`, `GET /orders/{id}` and
/// the WebSocket `GET /orders/{id}/events` (see the crate docs).
pub fn app<B: Broker>(order: Order<B>) -> Router {
    let layer = order.telemetry.http_layer();
    http::routes(order).layer(layer)
}
