//! The reference system in one process: inventory, payment and order on the embedded
//! broker with SQLite in memory, each on an ephemeral loopback port with its own tracer
//! provider (so its spans carry its own `service.name`), and a mesh sidecar in front of
//! order. The only thing connecting their traces is what travels in headers, gRPC
//! metadata and message headers.

use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use opentelemetry_sdk::trace::SpanData;
use tokio::sync::watch;
use tracewire_broker::Broker as _;
use tracewire_broker::trace::Traced;
use tracewire_http::ClientTraceLayer;
use tracewire_http::proxy::ForwardProxy;
use tracewire_inventory_service::{Inventory, default_stock};
use tracewire_order_service::{InventoryClient, Order};
use tracewire_payment_service::Payment;
use tracewire_service_kit::serve::{Server, bind};
use tracewire_service_kit::{SharedPropagator, Telemetry};
use tracewire_telemetry::tree::SpanRecord;
use tracewire_telemetry::{MetricsExporter, TelemetryConfig, TelemetryGuard, TracesExporter, init};

use crate::broker::AnyBroker;

/// How long the services get to finish in-flight work when the demo ends.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One in-process service: its name, its own tracer provider (spans kept in memory).
pub(crate) struct Node {
    pub(crate) name: &'static str,
    guard: TelemetryGuard,
    pub(crate) telemetry: Telemetry,
}

impl Node {
    fn new(name: &'static str, propagator: &SharedPropagator) -> anyhow::Result<Self> {
        let config = TelemetryConfig::new(name)
            .with_service_version(env!("CARGO_PKG_VERSION"))
            .with_traces_exporter(TracesExporter::InMemory)
            .with_metrics_exporter(MetricsExporter::None)
            .with_tracing_subscriber(false)
            .with_install_globals(false);
        let guard = init(config).with_context(|| format!("telemetry for {name}"))?;
        let telemetry = Telemetry::new(name, guard.tracer_provider().clone(), propagator.clone());
        Ok(Self {
            name,
            guard,
            telemetry,
        })
    }

    /// The spans this service finished.
    pub(crate) fn spans(&self) -> anyhow::Result<Vec<SpanData>> {
        if let Err(error) = self.guard.force_flush() {
            anyhow::bail!("flushing {}: {error}", self.name);
        }
        Ok(self.guard.finished_spans())
    }

    /// The finished spans as records naming this service (SDK span data does not carry
    /// its resource).
    pub(crate) fn records(&self) -> anyhow::Result<Vec<SpanRecord>> {
        Ok(self
            .spans()?
            .iter()
            .map(|span| SpanRecord {
                service_name: Some(self.name.to_owned()),
                ..SpanRecord::from(span)
            })
            .collect())
    }
}

/// The running system.
pub(crate) struct System {
    pub(crate) client: Node,
    pub(crate) nodes: Vec<Node>,
    pub(crate) order: Order<Traced<AnyBroker>>,
    /// Where the demo client sends its orders: the mesh sidecar in front of order.
    pub(crate) entry_url: String,
    /// Order itself, for the status streams (the sidecar does not pass WebSocket
    /// upgrades).
    pub(crate) order_url: String,
    broker: AnyBroker,
    stop: watch::Sender<bool>,
    servers: Vec<Server>,
    inventory_messaging: tracewire_inventory_service::Messaging,
    payment_messaging: tracewire_broker::router::RouterHandle,
    order_messaging: tracewire_order_service::Messaging,
}

impl System {
    /// Starts every service on `broker` (one connection shared by the three).
    pub(crate) async fn start(
        propagator: &SharedPropagator,
        broker: AnyBroker,
    ) -> anyhow::Result<Self> {
        let client = Node::new("demo-client", propagator)?;
        let sidecar = Node::new("order-sidecar", propagator)?;
        let order_node = Node::new("order", propagator)?;
        let inventory_node = Node::new("inventory", propagator)?;
        let payment_node = Node::new("payment", propagator)?;
        let (stop, stopped) = watch::channel(false);
        let mut servers = Vec::new();

        let telemetry = &inventory_node.telemetry;
        let pool = tracewire_inventory_service::store::open("memory").await?;
        let inventory = Inventory::new(pool, &default_stock(), telemetry.clone()).await?;
        let listener = bind("127.0.0.1:0").await?;
        servers.push(Server::start(
            listener,
            tracewire_inventory_service::app(inventory.clone()),
            stopped.clone(),
        )?);
        let inventory_url = servers[0].url();
        let inventory_messaging = tracewire_inventory_service::start_messaging(
            inventory,
            telemetry.broker(broker.clone()),
        )
        .await?;

        let telemetry = &payment_node.telemetry;
        let pool = tracewire_payment_service::store::open("memory").await?;
        let payment = Payment::new(pool, telemetry.clone());
        servers.push(Server::start(
            bind("127.0.0.1:0").await?,
            tracewire_payment_service::app(payment.clone()),
            stopped.clone(),
        )?);
        let payment_messaging =
            tracewire_payment_service::start_messaging(payment, telemetry.broker(broker.clone()))
                .await?;

        let telemetry = &order_node.telemetry;
        let pool = tracewire_order_service::store::open("memory").await?;
        let to_inventory = InventoryClient::connect_lazy(&inventory_url, telemetry)?;
        let order = Order::new(
            pool,
            telemetry.clone(),
            to_inventory,
            telemetry.broker(broker.clone()),
        )
        .await?;
        servers.push(Server::start(
            bind("127.0.0.1:0").await?,
            tracewire_order_service::app(order.clone()),
            stopped.clone(),
        )?);
        let order_url = servers[2].url();
        let order_messaging = tracewire_order_service::start_messaging(order.clone()).await?;

        // The mesh hop: a sidecar proxy in front of order (W3C + B3 + x-request-id).
        let proxy = ForwardProxy::new(&order_url)?.client_layer(
            &ClientTraceLayer::new()
                .tracer_provider(sidecar.telemetry.provider())
                .propagator(sidecar.telemetry.propagator()),
        );
        let sidecar_app = Router::new()
            .fallback_service(proxy)
            .layer(sidecar.telemetry.http_layer());
        servers.push(Server::start(
            bind("127.0.0.1:0").await?,
            sidecar_app,
            stopped,
        )?);
        let entry_url = servers[3].url();

        Ok(Self {
            client,
            nodes: vec![sidecar, order_node, inventory_node, payment_node],
            order,
            entry_url,
            order_url,
            broker,
            stop,
            servers,
            inventory_messaging,
            payment_messaging,
            order_messaging,
        })
    }

    /// Stops the servers (requests in flight finish), drains the broker, stops the
    /// consumers. Returns the nodes, whose spans are then complete.
    pub(crate) async fn stop(self) -> anyhow::Result<(Node, Vec<Node>)> {
        self.stop.send_replace(true);
        // Order's status streams still open (none normally: each closes once its order
        // is final and the client reads to the end) close with 1001.
        self.order.close_streams().await;
        for server in self.servers {
            tokio::time::timeout(SHUTDOWN_GRACE, server.stopped())
                .await
                .context("a service did not shut down in time")??;
        }
        tokio::time::timeout(SHUTDOWN_GRACE, self.broker.close())
            .await
            .context("the broker did not drain in time")??;
        self.order_messaging.shutdown().await;
        self.payment_messaging.shutdown().await;
        self.inventory_messaging.shutdown().await;
        drop(self.order);
        let mut nodes = self.nodes;
        nodes.insert(0, self.client);
        let client = nodes.remove(0);
        Ok((client, nodes))
    }
}
