//! The reference system end to end, in process: real loopback sockets, the embedded
//! broker, SQLite in memory, and every span checked for its parent.

use std::sync::Arc;

use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use tracewire_contracts::OrderStatus;
use tracewire_core::TracewirePropagator;
use tracewire_service_kit::SharedPropagator;
use tracewire_testkit::TraceView;

use tracewire_broker::memory::MemoryBroker;

use super::client::{self, Outcome};
use super::plan;
use super::system::System;
use crate::broker::AnyBroker;

const CHECK: &str = "tracewire.inventory.v1.InventoryService/CheckInventory";

/// Runs `orders` orders and returns their outcomes and every span of every service.
async fn run(orders: u32) -> (Vec<Outcome>, Vec<SpanData>) {
    let propagator: SharedPropagator = Arc::new(TracewirePropagator::default());
    let broker = AnyBroker::Memory(MemoryBroker::new());
    let system = System::start(&propagator, broker).await.unwrap();
    let to_order = system
        .client
        .telemetry
        .json_client(system.entry_url.clone());
    let mut updates = system.order.updates();
    let mut outcomes = Vec::new();
    for n in 1..=orders {
        let telemetry = &system.client.telemetry;
        outcomes.push(client::place(telemetry, &to_order, &mut updates, n, plan::order(n)).await);
    }
    let (client, nodes) = system.stop().await.unwrap();
    let mut spans = client.spans().unwrap();
    for node in &nodes {
        spans.extend(node.spans().unwrap());
    }
    (outcomes, spans)
}

fn trace_of(spans: &[SpanData], root: &str) -> TraceView {
    let root = spans.iter().find(|s| s.name == root).unwrap();
    let id = root.span_context.trace_id();
    TraceView::new(
        spans
            .iter()
            .filter(|s| s.span_context.trace_id() == id)
            .cloned()
            .collect(),
    )
}

/// The only span called `name` whose parent is called `parent`.
fn under<'a>(view: &'a TraceView, name: &str, parent: &str) -> &'a SpanData {
    let parents: Vec<_> = view
        .spans_named(parent)
        .iter()
        .map(|p| p.span_context.span_id())
        .collect();
    let found: Vec<_> = view
        .spans_named(name)
        .into_iter()
        .filter(|s| parents.contains(&s.parent_span_id))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name:?} under {parent:?}\n{}",
        view.tree()
    );
    found[0]
}

fn assert_parent(view: &TraceView, child: &SpanData, parent: &SpanData) {
    assert_eq!(
        child.parent_span_id,
        parent.span_context.span_id(),
        "{:?} is not a child of {:?}\n{}",
        child.name,
        parent.name,
        view.tree()
    );
}

/// HTTP → mesh → order → gRPC → broker request/reply → event fan-out: the common part
/// of every placed order's trace.
fn assert_placing(view: &TraceView) {
    let order_server = under(view, "POST /orders", "POST");
    assert_eq!(order_server.span_kind, SpanKind::Server);
    view.assert_no_orphans()
        .assert_child_of("create order", "POST /orders")
        .assert_child_of("send inventory.reserve", "create order")
        .assert_child_of("process inventory.reserve", "send inventory.reserve")
        .assert_child_of("hold stock", "process inventory.reserve")
        .assert_child_of("send (reply)", "process inventory.reserve")
        .assert_child_of("process (reply)", "send (reply)")
        .assert_child_of("send order.created", "create order")
        .assert_kind("send order.created", SpanKind::Producer)
        .assert_link("process inventory.reserve", "send inventory.reserve");
    // gRPC: CLIENT under create order, SERVER under the CLIENT, app span under SERVER.
    let grpc_client = under(view, CHECK, "create order");
    assert_eq!(grpc_client.span_kind, SpanKind::Client);
    let grpc_server = view
        .spans_named(CHECK)
        .into_iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    assert_parent(view, grpc_server, grpc_client);
    let check = view.span("check stock");
    assert_parent(view, check, grpc_server);
    // order.created fans out to two independent consumers.
    let consumers = view.children_of("send order.created");
    assert_eq!(consumers.len(), 2, "{}", view.tree());
    assert!(
        consumers
            .iter()
            .all(|c| c.name == "process order.created" && c.span_kind == SpanKind::Consumer)
    );
    view.assert_child_of("send inventory.reserved", "commit stock")
        .assert_child_of("process inventory.reserved", "send inventory.reserved");
    under(view, "commit stock", "process order.created");
    under(view, "charge payment", "process order.created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connected_trace_per_order_across_every_transport_and_both_payment_paths() {
    let (outcomes, spans) = run(3).await;
    let statuses: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            Some(OrderStatus::Confirmed),
            Some(OrderStatus::Confirmed),
            Some(OrderStatus::Cancelled)
        ]
    );
    let traces: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.trace_id()).collect();
    assert_eq!(traces.len(), 3, "one trace per order, nothing else");

    let paid = trace_of(&spans, "demo order 1");
    assert_placing(&paid);
    paid.assert_child_of("send payment.completed", "charge payment")
        .assert_child_of("process payment.completed", "send payment.completed")
        .assert_status_not_error("charge payment");
    assert!(paid.spans_named("send order.cancelled").is_empty());

    let failed = trace_of(&spans, "demo order 3");
    assert_placing(&failed);
    failed
        .assert_child_of("send payment.failed", "charge payment")
        .assert_status_error("charge payment")
        .assert_child_of("process payment.failed", "send payment.failed")
        .assert_child_of("process order.cancelled", "send order.cancelled")
        .assert_child_of("release stock", "process order.cancelled")
        .assert_child_of("send inventory.released", "release stock")
        .assert_child_of("process inventory.released", "send inventory.released");
    under(&failed, "send order.cancelled", "update order");
    assert_eq!(
        outcomes[2].reason.as_deref(),
        Some("amount 640.00 exceeds the 500.00 limit")
    );
}
