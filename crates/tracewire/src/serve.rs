//! `tracewire serve order|inventory|payment`: one service of the reference system as
//! its own process, telemetry from `OTEL_*`, stopped gracefully by SIGINT or SIGTERM.
//! Telemetry that cannot be delivered at shutdown (collector down) is a warning on
//! stderr; the exit status is the service's own.
//!
//! Once it accepts requests it prints one line on stdout, `{service} listening on
//! http://{ip}:{port}` (inventory's gRPC is on the same address), which scripts and
//! tests read to find an ephemeral `--listen 127.0.0.1:0` port.

use anyhow::Context as _;
use tokio::sync::watch;
use tracewire_broker::Broker as _;
use tracewire_core::TracewirePropagator;
use tracewire_service_kit::serve::{Server, bind, shutdown_signal};
use tracewire_service_kit::{SharedPropagator, Telemetry};
use tracewire_telemetry::{TelemetryConfig, TracesExporter, init};

use crate::broker::{BrokerUrl, DEFAULT_PREFIX, Namespace, parse_prefix};

/// Which service to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServiceName {
    /// HTTP order API (+ gRPC client of inventory, broker requests and events).
    Order,
    /// gRPC inventory service (+ reservation responder and order-event consumers).
    Inventory,
    /// Payment (order.created consumer) and its HTTP API.
    Payment,
}

impl ServiceName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Inventory => "inventory",
            Self::Payment => "payment",
        }
    }
}

/// Arguments of `tracewire serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The service to run.
    #[arg(value_enum)]
    service: ServiceName,
    /// The message broker: `memory` (this process only), `nats://host:port`
    /// (JetStream: a durable consumer per queue group, so a service that is down or
    /// restarting misses nothing) or `amqp://user:pass@host:port` (durable queues).
    #[arg(
        long,
        env = "TRACEWIRE_BROKER",
        default_value = "memory",
        value_name = "URL"
    )]
    broker: BrokerUrl,
    /// Keeps systems sharing a broker apart: the NATS subject prefix and JetStream
    /// stream (upper-cased), or the RabbitMQ exchange. The services of one system use
    /// the same prefix.
    #[arg(
        long,
        env = "TRACEWIRE_BROKER_PREFIX",
        default_value = DEFAULT_PREFIX,
        value_name = "NAME",
        value_parser = parse_prefix
    )]
    broker_prefix: String,
    /// The SQLite database: a file path (kept across restarts) or `memory`.
    #[arg(
        long,
        env = "TRACEWIRE_DB",
        default_value = "memory",
        value_name = "PATH"
    )]
    db: String,
    /// Where to listen (HTTP; inventory also speaks gRPC there).
    #[arg(
        long,
        env = "TRACEWIRE_LISTEN",
        default_value = "127.0.0.1:0",
        value_name = "ADDR"
    )]
    listen: String,
    /// Order only: inventory's gRPC address.
    #[arg(long, env = "TRACEWIRE_INVENTORY_URL", value_name = "URL")]
    inventory_url: Option<String>,
    /// Export traces with OTLP to this collector (overrides OTEL_EXPORTER_OTLP_ENDPOINT
    /// and OTEL_TRACES_EXPORTER).
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let name = args.service.as_str();
    let mut config = TelemetryConfig::from_env(name)
        .context("OTEL_* configuration")?
        .with_service_version(env!("CARGO_PKG_VERSION"));
    if let Some(endpoint) = &args.otlp_endpoint {
        config = config
            .with_traces_exporter(TracesExporter::Otlp)
            .with_otlp_endpoint(endpoint.clone());
    }
    let guard = init(config).context("telemetry")?;
    let propagator: SharedPropagator =
        std::sync::Arc::new(TracewirePropagator::from_env().propagator);
    let telemetry = Telemetry::new(name, guard.tracer_provider().clone(), propagator);
    if args.broker == BrokerUrl::Memory {
        eprintln!(
            "note: --broker memory reaches only services in this process; use nats:// or amqp:// to connect separate processes"
        );
    }
    let namespace = Namespace {
        prefix: args.broker_prefix.clone(),
        durable: true,
    };
    let broker = args.broker.connect(&namespace, name).await?;
    let traced = telemetry.broker(broker.clone());
    let (stop, stopped) = watch::channel(false);
    let listener = bind(&args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;

    match args.service {
        ServiceName::Inventory => {
            let pool = tracewire_inventory_service::store::open(&args.db).await?;
            let stock = tracewire_inventory_service::default_stock();
            let inventory =
                tracewire_inventory_service::Inventory::new(pool, &stock, telemetry).await?;
            let app = tracewire_inventory_service::app(inventory.clone());
            let server = Server::start(listener, app, stopped)?;
            println!("inventory listening on {}", server.url());
            let messaging = tracewire_inventory_service::start_messaging(inventory, traced).await?;
            shutdown_signal().await;
            stop.send_replace(true);
            server.stopped().await?;
            messaging.shutdown().await;
        }
        ServiceName::Payment => {
            let pool = tracewire_payment_service::store::open(&args.db).await?;
            let payment = tracewire_payment_service::Payment::new(pool, telemetry);
            let server = Server::start(
                listener,
                tracewire_payment_service::app(payment.clone()),
                stopped,
            )?;
            println!("payment listening on {}", server.url());
            let consumer = tracewire_payment_service::start_messaging(payment, traced).await?;
            shutdown_signal().await;
            stop.send_replace(true);
            server.stopped().await?;
            consumer.shutdown().await;
        }
        ServiceName::Order => {
            let url = args
                .inventory_url
                .as_deref()
                .context("order needs --inventory-url (inventory's gRPC address)")?;
            let pool = tracewire_order_service::store::open(&args.db).await?;
            let inventory =
                tracewire_order_service::InventoryClient::connect_lazy(url, &telemetry)?;
            let order =
                tracewire_order_service::Order::new(pool, telemetry, inventory, traced).await?;
            let server = Server::start(
                listener,
                tracewire_order_service::app(order.clone()),
                stopped,
            )?;
            println!("order listening on {}", server.url());
            let messaging = tracewire_order_service::start_messaging(order.clone()).await?;
            shutdown_signal().await;
            stop.send_replace(true);
            // Graceful shutdown does not wait for WebSockets: close them with 1001.
            let (stopped, still_open) = tokio::join!(server.stopped(), order.close_streams());
            if still_open > 0 {
                eprintln!(
                    "warning: {still_open} order status stream(s) still open after {:?}",
                    tracewire_order_service::STREAMS_CLOSE_GRACE
                );
            }
            stopped?;
            messaging.shutdown().await;
        }
    }
    let _ = broker.close().await;
    // The service stopped cleanly; a collector that is down or slow is the OpenTelemetry
    // convention's "not an application failure", so it is reported, not an exit status.
    if let Err(err) = guard.shutdown() {
        eprintln!("warning: telemetry not flushed: {err:#}");
    }
    Ok(())
}
