//! The three services as separate `tracewire serve` processes over the local NATS
//! (JetStream), each with its own SQLite file and OTLP JSON file export: one connected
//! trace per order across the processes, and a payment service killed mid-flow and
//! restarted on its database loses no order and charges nothing twice.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    NATS, Service, StreamGuard, System, assert_one_connected_trace, expected, orders, place,
    unique_prefix, wait_final,
};

const SETTLE: Duration = Duration::from_secs(30);

/// A system in `dir` with a prefix of its own, and the guard that deletes its stream.
fn system(dir: &tempfile::TempDir) -> (System, StreamGuard) {
    let prefix = unique_prefix("twtest");
    let guard = StreamGuard(prefix.to_ascii_uppercase());
    let system = System {
        dir: dir.path().to_owned(),
        broker: NATS.to_owned(),
        prefix,
    };
    (system, guard)
}

/// inventory, payment, then order (which needs inventory's address).
fn start_all(system: &System) -> (Service, Service, Service) {
    let inventory = system.start("inventory", 1, &[]);
    let payment = system.start("payment", 1, &[]);
    let url = inventory.url();
    let order = system.start("order", 1, &["--inventory-url", &url]);
    (inventory, payment, order)
}

#[test]
fn three_processes_over_nats_give_one_connected_trace_per_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (system, _stream) = system(&dir);
    let (inventory, payment, order) = start_all(&system);
    let mut placed = Vec::new();
    for request in orders() {
        placed.push(place(order.addr, &request));
    }
    for (n, created) in placed.iter().enumerate() {
        let done = wait_final(order.addr, &created.id, SETTLE);
        assert_eq!(done.status, expected(n), "order {}: {done:?}", n + 1);
    }
    order.terminate();
    payment.terminate();
    inventory.terminate();
    let spans = system.spans();
    for created in &placed {
        assert_one_connected_trace(&spans, &created.id, &["order", "inventory", "payment"]);
    }
}

#[test]
fn payment_killed_and_restarted_on_its_database_loses_no_order_and_charges_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (system, _stream) = system(&dir);
    let (inventory, payment, order) = start_all(&system);
    let requests = orders();
    let first = place(order.addr, &requests[0]);
    let done = wait_final(order.addr, &first.id, SETTLE);
    assert_eq!(done.status, expected(0), "{done:?}");

    // A crash: no drain, no flush. Orders keep coming while payment is away.
    payment.kill();
    let while_down: Vec<_> = requests[1..]
        .iter()
        .map(|request| place(order.addr, request))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for created in &while_down {
        let now = wait_final(order.addr, &created.id, Duration::ZERO);
        assert!(
            !now.status.is_final(),
            "{} settled without payment: {now:?}",
            created.id
        );
    }

    let payment = system.start("payment", 2, &[]);
    for (n, created) in while_down.iter().enumerate() {
        let done = wait_final(order.addr, &created.id, SETTLE);
        assert_eq!(
            done.status,
            expected(n + 1),
            "order placed while payment was down: {done:?}\npayment stderr:\n{}",
            payment.stderr()
        );
    }
    // The restarted payment kept the first incarnation's payments.
    for created in std::iter::once(&first).chain(&while_down) {
        let (status, body) = common::http(
            payment.addr,
            "GET",
            &format!("/payments/{}", created.id),
            "",
        );
        assert_eq!(status, 200, "payment of {}: {body}", created.id);
    }
    order.terminate();
    payment.terminate();
    inventory.terminate();

    // Charged once: the restarted payment published one outcome per order it had not
    // handled, and none for the order the first incarnation had (a redelivery of it
    // would be claimed by the processed-message inbox and publish nothing).
    let restarted = common::read_spans(&system.traces_file("payment", 2));
    let outcomes = |order_id: &str| {
        let charges: Vec<_> = restarted
            .iter()
            .filter(|s| s.name == "charge payment")
            .filter(|s| {
                s.attributes
                    .iter()
                    .any(|(k, v)| k == "app.order.id" && v == order_id)
            })
            .map(|s| s.span_id)
            .collect();
        restarted
            .iter()
            .filter(|s| s.name.starts_with("send payment.") && charges.contains(&s.parent_span_id))
            .count()
    };
    assert_eq!(outcomes(&first.id), 0, "the first order was charged again");
    for created in &while_down {
        assert_eq!(outcomes(&created.id), 1, "{}", created.id);
    }
    // The orders placed while payment was down are still one trace each: the context
    // waited in the stream with the message.
    let spans = system.spans();
    for created in &while_down {
        assert_one_connected_trace(&spans, &created.id, &["order", "inventory", "payment"]);
    }
}
