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
use super::summary::Summary;
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
    let endpoints = client::Endpoints {
        to_order: &to_order,
        order_url: &system.order_url,
    };
    let mut updates = system.order.updates();
    let mut outcomes = Vec::new();
    for n in 1..=orders {
        let telemetry = &system.client.telemetry;
        outcomes.push(client::place(telemetry, &endpoints, &mut updates, n, plan::order(n)).await);
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

const WS_ROUTE: &str = "WS /orders/{id}/events";
const SEND_STATUS: &str = "send order.status";

/// The status stream, in the order's trace: the client's connection span under the
/// order's root, the upgrade and the server's connection span under it, one
/// `send order.status` per status received (each linked to the change's span in this
/// very trace, each received in a `process order.status`), a normal close, and the
/// final status last. How many statuses arrive depends on timing: at least the final.
fn assert_streamed(view: &TraceView, outcome: &Outcome) {
    let id = &outcome.placed.as_ref().unwrap().id;
    let root = format!("demo order {}", outcome.n);
    // Client and server connection spans share the route's name; the parent tells them
    // apart.
    let ws_client = under(view, WS_ROUTE, &root);
    assert_eq!(ws_client.span_kind, SpanKind::Client);
    assert!(
        ws_client
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "url.path"
                && kv.value.as_str() == format!("/orders/{id}/events")),
        "the concrete path is in url.path\n{}",
        view.tree()
    );
    let upgrade = view.span("GET /orders/{id}/events");
    assert_eq!(upgrade.span_kind, SpanKind::Server);
    assert_parent(view, upgrade, ws_client);
    let ws_server = under(view, WS_ROUTE, "GET /orders/{id}/events");
    assert_eq!(ws_server.span_kind, SpanKind::Server);
    assert!(
        ws_server
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "websocket.close.code"
                && kv.value == opentelemetry::Value::I64(1000)),
        "the server's connection span closed with 1000\n{}",
        view.tree()
    );
    assert!(
        !matches!(ws_server.status, opentelemetry::trace::Status::Error { .. }),
        "{}",
        view.tree()
    );

    assert!(
        !outcome.streamed.is_empty(),
        "order {}: nothing streamed",
        outcome.n
    );
    assert_eq!(outcome.streamed.last(), outcome.status.as_ref());
    let sends = view.spans_named(SEND_STATUS);
    assert_eq!(sends.len(), outcome.streamed.len(), "{}", view.tree());
    for send in &sends {
        assert_eq!(send.span_kind, SpanKind::Producer);
        assert_parent(view, send, ws_server);
        let [link] = send.links.links.as_slice() else {
            panic!("{SEND_STATUS} should have one link\n{}", view.tree());
        };
        let target = &link.span_context;
        assert_eq!(
            target.trace_id(),
            view.trace_id(),
            "linked into the same trace"
        );
        let cause = view
            .spans()
            .iter()
            .find(|s| s.span_context.span_id() == target.span_id())
            .unwrap_or_else(|| panic!("link to a span not in the trace\n{}", view.tree()));
        assert!(
            ["create order", "update order"].contains(&cause.name.as_ref()),
            "{SEND_STATUS} linked to {:?}",
            cause.name
        );
    }
    let received = view.spans_named("process order.status");
    assert_eq!(received.len(), sends.len(), "{}", view.tree());
    for process in received {
        assert_eq!(process.span_kind, SpanKind::Consumer);
        assert!(
            sends
                .iter()
                .any(|s| s.span_context.span_id() == process.parent_span_id),
            "process order.status not under a send\n{}",
            view.tree()
        );
    }
    assert_eq!(outcome.stream_error, None);
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
    assert_streamed(&paid, &outcomes[0]);
    assert_streamed(&trace_of(&spans, "demo order 2"), &outcomes[1]);
    paid.assert_child_of("send payment.completed", "charge payment")
        .assert_child_of("process payment.completed", "send payment.completed")
        .assert_status_not_error("charge payment");
    assert!(paid.spans_named("send order.cancelled").is_empty());

    let failed = trace_of(&spans, "demo order 3");
    assert_placing(&failed);
    assert_streamed(&failed, &outcomes[2]);
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

/// A settled order 1 whose stream sent `streamed`.
fn settled(streamed: &[OrderStatus], stream_error: Option<&str>) -> Outcome {
    Outcome {
        n: 1,
        request: plan::order(1),
        placed: Some(tracewire_contracts::Order {
            id: "ord-1".into(),
            customer: "ada".into(),
            lines: Vec::new(),
            total_cents: 3000,
            status: OrderStatus::Pending,
            reason: None,
        }),
        status: Some(OrderStatus::Confirmed),
        reason: None,
        streamed: streamed.to_vec(),
        stream_error: stream_error.map(str::to_owned),
    }
}

#[test]
fn a_status_stream_that_fails_or_ends_elsewhere_fails_the_run() {
    let whole = Summary {
        traces: 1,
        spans: 30,
        services: std::collections::BTreeSet::new(),
        orphans: 0,
        errors: 0,
    };
    let check = |outcome: Outcome| super::check(&whole, &[outcome], 1).map_err(|e| e.to_string());
    let (pending, confirmed) = (OrderStatus::Pending, OrderStatus::Confirmed);
    assert_eq!(check(settled(&[pending, confirmed], None)), Ok(()));
    assert_eq!(check(settled(&[confirmed], None)), Ok(()));
    assert_eq!(
        check(settled(&[pending], None)),
        Err("order 1 is confirmed but its status stream ended on pending".to_owned())
    );
    assert_eq!(
        check(settled(&[], Some("not closed within 15s"))),
        Err("order 1's status stream failed: not closed within 15s".to_owned())
    );
    assert_eq!(
        super::line(&settled(&[pending, confirmed], None)),
        "order 1: ada orders 2 book = 30.00 as ord-1: confirmed; streamed pending → confirmed"
    );
}
