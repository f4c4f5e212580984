//! `tracewire demo`: the reference system (order, inventory, payment) in this process,
//! on the embedded broker with SQLite in memory and ephemeral loopback ports.
//!
//! ```text
//! demo-client ─HTTP─▶ order-sidecar (mesh hop) ─HTTP─▶ order ─gRPC─▶ inventory  CheckInventory
//!                                                        │ ─request/reply─▶ inventory  hold stock
//!                                                        └─ order.created ─▶ inventory (commit) ─ inventory.reserved ─▶ order
//!                                                                        └─▶ payment ─ payment.completed|failed ─▶ order
//!                                        (payment failed) order.cancelled ─▶ inventory ─ inventory.released ─▶ order
//! ```
//!
//! Each service has its own tracer provider, so its spans carry its own `service.name`;
//! the only thing connecting them is what travels in HTTP headers, gRPC metadata and
//! message headers. After placing an order, the client watches its status over
//! order's WebSocket stream (`GET /orders/{id}/events`, straight to order) inside the
//! order's trace. After the run every trace is printed and checked: one trace per
//! order, no orphan span, every order in a final state, every status stream closed
//! normally on that final state.

mod client;
mod export;
mod json;
mod plan;
mod save;
mod stream;
mod summary;
mod system;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use tracewire_broker::Broker as _;
use tracewire_core::TracewirePropagator;
use tracewire_service_kit::SharedPropagator;
use tracewire_telemetry::tree::{RenderOptions, render_records};

use crate::broker::{AnyBroker, BrokerUrl, Namespace};
use crate::{ColorChoice, WATERFALL_WIDTH};
use summary::Summary;
use system::System;

/// Arguments of `tracewire demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// How many orders to place; every third one is above payment's limit and fails.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    orders: u32,
    /// The message broker: `memory` (embedded), `nats://host:port` (JetStream) or
    /// `amqp://user:pass@host:port`. On NATS and RabbitMQ the run uses a fresh subject
    /// prefix / exchange `tracewire-demo-…` and removes its stream / exchanges at the end.
    #[arg(long, default_value = "memory", value_name = "URL")]
    broker: BrokerUrl,
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t)]
    color: ColorChoice,
    /// Also save the spans as OTLP JSON lines (`tracewire view FILE` renders them again).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Also export the spans to this OTLP/gRPC collector (Jaeger, Tempo, an
    /// OpenTelemetry Collector), e.g. `http://127.0.0.1:4317`, after the run. Each
    /// export waits at most `OTEL_EXPORTER_OTLP_TIMEOUT` ms (default 10 s); a failed
    /// export is a warning on stderr and does not change the exit status.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Print one JSON document (summary, orders, spans) instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let namespace = Namespace {
        prefix: run_prefix(),
        durable: false,
    };
    let broker = args.broker.connect(&namespace, "demo").await?;
    let outcome = run_on(&args, broker.clone()).await;
    if args.broker != BrokerUrl::Memory {
        if outcome.is_err() {
            // Stopped early: the system did not close the broker.
            let _ = tokio::time::timeout(system::SHUTDOWN_GRACE, broker.close()).await;
        }
        if let Err(error) = args.broker.remove(&namespace).await {
            eprintln!("warning: cleaning up {}: {error:#}", namespace.prefix);
        }
    }
    outcome
}

/// A subject prefix / exchange of this run's own: `tracewire-demo-{hex}`.
fn run_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("tracewire-demo-{:x}{nanos:08x}", std::process::id())
}

async fn run_on(args: &DemoArgs, broker: AnyBroker) -> anyhow::Result<()> {
    // The wire format between the services honours OTEL_PROPAGATORS, as in production.
    let selection = TracewirePropagator::from_env();
    for name in &selection.unknown_names {
        eprintln!("warning: OTEL_PROPAGATORS names an unknown propagator {name:?}: ignored");
    }
    let propagator: SharedPropagator = std::sync::Arc::new(selection.propagator);

    let system = System::start(&propagator, broker).await?;
    let to_order = system
        .client
        .telemetry
        .json_client(system.entry_url.clone());
    let endpoints = client::Endpoints {
        to_order: &to_order,
        order_url: &system.order_url,
    };
    let mut updates = system.order.updates();
    let progress = progress_bar(args.orders, args.json);
    let mut outcomes = Vec::new();
    for n in 1..=args.orders {
        let request = plan::order(n);
        let outcome = client::place(
            &system.client.telemetry,
            &endpoints,
            &mut updates,
            n,
            request,
        )
        .await;
        match (&progress, args.json) {
            (_, true) => {}
            (Some(bar), false) => bar.println(line(&outcome)),
            (None, false) => println!("{}", line(&outcome)),
        }
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        outcomes.push(outcome);
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    drop(to_order);
    let (client, nodes) = system.stop().await?;

    let mut records = client.records()?;
    let mut by_service = vec![(client.name, client.spans()?)];
    for node in &nodes {
        records.extend(node.records()?);
        by_service.push((node.name, node.spans()?));
    }
    if let Some(path) = &args.save {
        save::save(path, &by_service).await?;
    }
    let summary = Summary::of(&records);
    let verdict = check(&summary, &outcomes, args.orders);
    if args.json {
        println!(
            "{}",
            json::render(&summary, &outcomes, &records, verdict.is_ok())?
        );
    } else {
        let options = RenderOptions::new()
            .with_color(args.color.enabled())
            .with_waterfall(WATERFALL_WIDTH);
        println!();
        print!("{}", render_records(&records, &options));
        println!("\n{summary}");
    }
    // After the output, which does not depend on it. A collector that is down or slow is
    // a warning, as in the SDK's exporters: the run's result (and exit status) stands.
    if let Some(endpoint) = &args.otlp_endpoint
        && let Err(error) = export::export(endpoint, &by_service).await
    {
        eprintln!("warning: traces not exported to {endpoint}: {error:#}");
    }
    verdict
}

/// A progress bar on stderr, only when stdout is a terminal (and not `--json`).
fn progress_bar(orders: u32, json: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal as _;
    if json || !std::io::stdout().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(u64::from(orders));
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} orders {msg}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

fn line(outcome: &client::Outcome) -> String {
    let what = format!(
        "order {}: {} orders {}",
        outcome.n,
        outcome.request.customer,
        plan::describe(&outcome.request)
    );
    let status = outcome
        .status
        .map_or_else(|| "NOT SETTLED".to_owned(), |s| s.to_string());
    let reason = outcome
        .reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let streamed = match (&outcome.stream_error, outcome.streamed.as_slice()) {
        (Some(error), _) => format!("; status stream FAILED: {error}"),
        (None, []) => String::new(),
        (None, statuses) => format!("; streamed {}", stream_line(statuses)),
    };
    match &outcome.placed {
        Some(order) => format!(
            "{what} = {} as {}: {status}{reason}{streamed}",
            plan::money(order.total_cents),
            order.id
        ),
        None => format!("{what}: {status}{reason}{streamed}"),
    }
}

/// `pending → reserved → confirmed`.
fn stream_line(statuses: &[tracewire_contracts::OrderStatus]) -> String {
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Fails the run (non-zero exit) when a trace is broken or an order did not settle.
fn check(summary: &Summary, outcomes: &[client::Outcome], orders: u32) -> anyhow::Result<()> {
    if summary.orphans > 0 {
        anyhow::bail!(
            "{} span(s) lost their parent: a hop broke the trace",
            summary.orphans
        );
    }
    if summary.traces != orders as usize {
        anyhow::bail!(
            "expected one trace per order ({orders}), found {}",
            summary.traces
        );
    }
    let unsettled: Vec<u32> = outcomes
        .iter()
        .filter(|o| o.status.is_none())
        .map(|o| o.n)
        .collect();
    if !unsettled.is_empty() {
        anyhow::bail!(
            "order(s) {unsettled:?} did not reach a final state within {:?}",
            client::SETTLE_TIMEOUT
        );
    }
    for outcome in outcomes.iter().filter(|o| o.placed.is_some()) {
        if let Some(error) = &outcome.stream_error {
            anyhow::bail!("order {}'s status stream failed: {error}", outcome.n);
        }
        // The stream closes on the final state, so its last message is that state.
        if outcome.streamed.last() != outcome.status.as_ref() {
            anyhow::bail!(
                "order {} is {} but its status stream ended on {}",
                outcome.n,
                outcome.status.map_or("nothing", |s| s.as_str()),
                outcome.streamed.last().map_or("nothing", |s| s.as_str()),
            );
        }
    }
    Ok(())
}
