//! The reference system in one test process (inventory, payment, order on one
//! in-memory broker, SQLite in memory, loopback ports), every span in one
//! [`SpanCapture`], and a gate that holds back the events that move orders on.

// Each test file uses part of it; failing set-up fails the test, as in a test body.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracewire_broker::memory::MemoryBroker;
use tracewire_broker::trace::Traced;
use tracewire_broker::{
    Broker, CloseError, Guarantees, Message, PublishError, SubscribeError, SubscribeOptions,
};
use tracewire_contracts::{LineItem, Order as OrderView, OrderStatus, PlaceOrder, topics};
use tracewire_core::TracewirePropagator;
use tracewire_order_service::{InventoryClient, Order};
use tracewire_service_kit::Telemetry;
use tracewire_service_kit::serve::{Server, bind};
use tracewire_testkit::SpanCapture;

/// How long a test waits for something that normally takes milliseconds.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The events that move an order after it is placed.
const GATED: [&str; 4] = [
    topics::INVENTORY_RESERVED,
    topics::INVENTORY_RELEASED,
    topics::PAYMENT_COMPLETED,
    topics::PAYMENT_FAILED,
];

/// A broker whose publishes of [`GATED`] topics wait until the gate opens, so a test
/// can look at an order while it is still pending.
#[derive(Clone, Debug)]
pub(crate) struct Gated {
    inner: MemoryBroker,
    open: watch::Receiver<bool>,
}

impl Broker for Gated {
    type Subscription = <MemoryBroker as Broker>::Subscription;
    type Delivery = <MemoryBroker as Broker>::Delivery;

    fn system(&self) -> &'static str {
        self.inner.system()
    }

    fn guarantees(&self) -> Guarantees {
        self.inner.guarantees()
    }

    fn publish(&self, msg: Message) -> impl Future<Output = Result<(), PublishError>> + Send {
        let mut open = self.open.clone();
        let inner = self.inner.clone();
        async move {
            if GATED.contains(&msg.topic.as_str()) {
                let _ = open.wait_for(|open| *open).await;
            }
            inner.publish(msg).await
        }
    }

    fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> impl Future<Output = Result<Self::Subscription, SubscribeError>> + Send {
        self.inner.subscribe(topic, options)
    }

    fn close(&self) -> impl Future<Output = Result<(), CloseError>> + Send {
        self.inner.close()
    }

    fn has_subscribers(&self, topic: &str) -> Option<bool> {
        self.inner.has_subscribers(topic)
    }
}

/// The running system.
pub(crate) struct System {
    pub(crate) capture: SpanCapture,
    pub(crate) order: Order<Traced<MemoryBroker>>,
    /// `http://127.0.0.1:{port}` of the order service.
    pub(crate) order_url: String,
    /// A traced HTTP client ("client" service) of the order service.
    pub(crate) client: tracewire_http::JsonClient,
    gate: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    _servers: Vec<Server>,
    _inventory: tracewire_inventory_service::Messaging,
    _payment: tracewire_broker::router::RouterHandle,
    _order: tracewire_order_service::Messaging,
}

impl System {
    /// Starts inventory, payment and order; `gate_open` says whether the events that
    /// move orders on flow from the start.
    pub(crate) async fn start(gate_open: bool) -> Self {
        let capture = SpanCapture::new();
        let propagator = Arc::new(TracewirePropagator::default());
        let telemetry =
            |name: &str| Telemetry::new(name, capture.tracer_provider(), propagator.clone());
        let broker = MemoryBroker::new();
        let (gate, open) = watch::channel(gate_open);
        let gated = Gated {
            inner: broker.clone(),
            open,
        };
        let (stop, stopped) = watch::channel(false);

        let inventory_t = telemetry("inventory");
        let pool = tracewire_inventory_service::store::open("memory")
            .await
            .unwrap();
        let inventory = tracewire_inventory_service::Inventory::new(
            pool,
            &tracewire_inventory_service::default_stock(),
            inventory_t.clone(),
        )
        .await
        .unwrap();
        let inventory_server = Server::start(
            bind("127.0.0.1:0").await.unwrap(),
            tracewire_inventory_service::app(inventory.clone()),
            stopped.clone(),
        )
        .unwrap();
        let inventory_messaging = tracewire_inventory_service::start_messaging(
            inventory,
            inventory_t.broker(gated.clone()),
        )
        .await
        .unwrap();

        let payment_t = telemetry("payment");
        let pool = tracewire_payment_service::store::open("memory")
            .await
            .unwrap();
        let payment = tracewire_payment_service::Payment::new(pool, payment_t.clone());
        let payment_messaging =
            tracewire_payment_service::start_messaging(payment, payment_t.broker(gated))
                .await
                .unwrap();

        let order_t = telemetry("order");
        let pool = tracewire_order_service::store::open("memory")
            .await
            .unwrap();
        let to_inventory =
            InventoryClient::connect_lazy(&inventory_server.url(), &order_t).unwrap();
        let order = Order::new(pool, order_t.clone(), to_inventory, order_t.broker(broker))
            .await
            .unwrap();
        let order_server = Server::start(
            bind("127.0.0.1:0").await.unwrap(),
            tracewire_order_service::app(order.clone()),
            stopped,
        )
        .unwrap();
        let order_url = order_server.url();
        let order_messaging = tracewire_order_service::start_messaging(order.clone())
            .await
            .unwrap();
        let client = telemetry("client").json_client(order_url.clone());
        Self {
            capture,
            order,
            order_url,
            client,
            gate,
            stop,
            _servers: vec![inventory_server, order_server],
            _inventory: inventory_messaging,
            _payment: payment_messaging,
            _order: order_messaging,
        }
    }

    /// Lets the held-back events flow.
    pub(crate) fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Shuts the servers down as `tracewire serve` does: graceful stop, and order's
    /// status streams closed with 1001. Returns how many streams outlived the grace.
    pub(crate) async fn shut_down(&self) -> usize {
        self.stop.send_replace(true);
        self.order.close_streams().await
    }

    /// `ws://…/orders/{id}/events`.
    pub(crate) fn events_url(&self, id: &str) -> String {
        format!(
            "{}/orders/{id}/events",
            self.order_url.replacen("http", "ws", 1)
        )
    }

    /// Places an order of `books` books (15.00 each; above 33 the payment fails).
    pub(crate) async fn place(&self, books: u32) -> OrderView {
        let request = PlaceOrder {
            customer: "ada".into(),
            items: vec![LineItem {
                sku: "book".into(),
                quantity: books,
            }],
        };
        self.client.post_json("/orders", &request).await.unwrap()
    }

    /// Waits until the order `id` is final, and returns its status.
    pub(crate) async fn until_final(&self, id: &str) -> OrderStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let order = self.order.find(id).await.unwrap().unwrap();
            if order.status.is_final() {
                return order.status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {id} stuck in {}",
                order.status
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
