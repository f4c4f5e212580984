//! `tracewire demo`: services in this process, on loopback, exchanging traced requests.
//!
//! The topology (it grows as tracewire does):
//!
//! ```text
//! demo-client ──HTTP──▶ checkout ──HTTP──▶ inventory-sidecar (mesh hop) ──HTTP──▶ inventory
//! ```
//!
//! Each service has its own tracer provider, so its spans carry its own `service.name`,
//! and the only thing that connects their traces is what travels in the HTTP headers.
//! After the run every trace is printed as a tree and checked: one trace per order and
//! no orphan span (a span whose parent was never recorded is a broken hop).

mod checkout;
mod contracts;
mod inventory;
mod save;
mod services;
mod summary;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use tokio::sync::watch;
use tracewire_core::TracewirePropagator;
use tracewire_http::proxy::ForwardProxy;
use tracewire_http::{ClientTraceLayer, JsonClient, TracingMiddleware};
use tracewire_telemetry::TelemetryGuard;
use tracewire_telemetry::tree::{RenderOptions, SpanRecord, render_records};

use crate::ColorChoice;
use contracts::{OrderPlaced, PlaceOrder};
use services::{serve, telemetry};
use summary::Summary;

/// How long the services get to finish in-flight requests when the demo ends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Arguments of `tracewire demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// How many orders to place; every third one asks for more than is in stock and fails.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    orders: u32,
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t)]
    color: ColorChoice,
    /// Also save the spans as OTLP JSON lines (`tracewire view FILE` renders them again).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
}

/// One in-process service: its name and telemetry.
struct Service {
    name: &'static str,
    telemetry: TelemetryGuard,
}

impl Service {
    fn new(name: &'static str) -> anyhow::Result<Self> {
        Ok(Self {
            name,
            telemetry: telemetry(name)?,
        })
    }

    fn records(&self) -> Vec<SpanRecord> {
        // A service's provider knows its resource, but SDK span data does not carry it.
        self.telemetry
            .finished_spans()
            .iter()
            .map(|span| SpanRecord {
                service_name: Some(self.name.to_owned()),
                ..SpanRecord::from(span)
            })
            .collect()
    }
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // The wire format between the services honours OTEL_PROPAGATORS, as in production.
    let selection = TracewirePropagator::from_env();
    for name in &selection.unknown_names {
        eprintln!("warning: OTEL_PROPAGATORS names an unknown propagator {name:?}: ignored");
    }
    opentelemetry::global::set_text_map_propagator(selection.propagator);

    let client = Service::new("demo-client")?;
    let checkout = Service::new("checkout")?;
    let sidecar = Service::new("inventory-sidecar")?;
    let inventory = Service::new("inventory")?;
    let (stop, stopped) = watch::channel(false);

    let stock = HashMap::from([("book".to_owned(), 100), ("lamp".to_owned(), 10)]);
    let inventory_app = inventory::app(stock, inventory.telemetry.tracer("inventory"));
    let inventory_server = serve(inventory_app, &inventory.telemetry, stopped.clone()).await?;

    let proxy = ForwardProxy::new(&inventory_server.url())?.client_layer(
        &ClientTraceLayer::new().tracer_provider(sidecar.telemetry.tracer_provider()),
    );
    let sidecar_app = Router::new().fallback_service(proxy);
    let sidecar_server = serve(sidecar_app, &sidecar.telemetry, stopped.clone()).await?;

    let to_inventory = JsonClient::with_middleware(
        sidecar_server.url(),
        TracingMiddleware::new().tracer_provider(checkout.telemetry.tracer_provider()),
    );
    let checkout_server = serve(checkout::app(to_inventory), &checkout.telemetry, stopped).await?;

    let to_checkout = JsonClient::with_middleware(
        checkout_server.url(),
        TracingMiddleware::new().tracer_provider(client.telemetry.tracer_provider()),
    );
    let tracer = client.telemetry.tracer("tracewire-demo");
    for (n, order) in (1..=args.orders).map(|n| (n, order(n))) {
        let span = tracer
            .span_builder(format!("place order {n}"))
            .with_kind(SpanKind::Internal)
            .start(&tracer);
        let cx = Context::current_with_span(span);
        let outcome = to_checkout
            .post_json::<_, OrderPlaced>("/checkout", &order)
            .with_context(cx.clone())
            .await;
        match outcome {
            Ok(placed) => println!(
                "order {n}: {} x{} for {} placed as {} ({})",
                order.sku, order.quantity, order.customer, placed.order_id, placed.reservation_id
            ),
            Err(error) => {
                println!(
                    "order {n}: {} x{} for {} rejected: {}",
                    order.sku,
                    order.quantity,
                    order.customer,
                    describe(&error)
                );
                cx.span().set_status(Status::error(error.to_string()));
            }
        }
        cx.span().end();
    }
    drop(to_checkout);

    stop.send_replace(true);
    for server in [checkout_server, sidecar_server, inventory_server] {
        tokio::time::timeout(SHUTDOWN_GRACE, server.stopped())
            .await
            .context("a service did not shut down in time")??;
    }

    let services = [&client, &checkout, &sidecar, &inventory];
    let mut records = Vec::new();
    let mut by_service = Vec::new();
    for service in services {
        if let Err(error) = service.telemetry.force_flush() {
            anyhow::bail!("flushing {}: {error}", service.name);
        }
        records.extend(service.records());
        by_service.push((service.name, service.telemetry.finished_spans()));
    }
    if let Some(path) = &args.save {
        save::save(path, &by_service).await?;
    }
    let options = RenderOptions::new().with_color(args.color.enabled());
    println!();
    print!("{}", render_records(&records, &options));
    let summary = Summary::of(&records);
    println!("\n{summary}");

    if summary.orphans > 0 {
        anyhow::bail!(
            "{} span(s) lost their parent: a hop broke the trace",
            summary.orphans
        );
    }
    if summary.traces != args.orders as usize {
        anyhow::bail!(
            "expected one trace per order ({}), found {}",
            args.orders,
            summary.traces
        );
    }
    Ok(())
}

/// The `n`th order: every third one asks for more lamps than there are.
fn order(n: u32) -> PlaceOrder {
    let customers = ["ada", "grace", "linus"];
    let customer = customers[(n as usize - 1) % customers.len()].to_owned();
    match n % 3 {
        0 => PlaceOrder {
            customer,
            sku: "lamp".to_owned(),
            quantity: 50,
        },
        1 => PlaceOrder {
            customer,
            sku: "book".to_owned(),
            quantity: 1,
        },
        _ => PlaceOrder {
            customer,
            sku: "lamp".to_owned(),
            quantity: 1,
        },
    }
}

fn describe(error: &tracewire_http::JsonClientError) -> String {
    match error {
        tracewire_http::JsonClientError::Status {
            status,
            error: Some(detail),
            ..
        } => format!("{status} {}: {}", detail.code, detail.message),
        other => other.to_string(),
    }
}
