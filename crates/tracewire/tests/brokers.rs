//! `tracewire demo --broker nats://…|amqp://…` as a process against the local NATS
//! (JetStream) and RabbitMQ: the same connected traces as on the embedded broker. Fails,
//! naming the broker, when a server is not there.
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use common::{AMQP, NATS, NEEDS, run_bounded, tracewire};

/// Runs `tracewire demo --json --broker {broker}` and returns its document.
fn demo_json(broker: &str) -> Value {
    let mut cmd = tracewire();
    cmd.args(["demo", "--json", "--broker", broker]);
    let (status, stdout, stderr) = run_bounded(cmd, Duration::from_secs(90));
    assert!(
        status.success(),
        "demo on {broker} failed ({NEEDS})\nstderr:\n{stderr}\nstdout:\n{stdout}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("--json is not JSON: {e}\n{stdout}"))
}

/// Each trace as its sorted `[service] name kind <- [parent service] parent name` edges,
/// the traces sorted: equal for two runs whose traces have the same shape. Each kind of
/// status-stream edge counts once: how many statuses a stream catches depends on when
/// the client connects, not on the broker. (Span names carry no order ids: the
/// stream's client span is named after the route.)
fn shapes(doc: &Value) -> Vec<Vec<String>> {
    let spans = doc["spans"].as_array().expect("spans");
    let label = |s: &Value| {
        format!(
            "[{}] {} {}",
            s["service"].as_str().unwrap_or("?"),
            s["name"].as_str().unwrap_or("?"),
            s["kind"].as_str().unwrap_or("?")
        )
    };
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["span_id"].as_str().expect("span_id"), s))
        .collect();
    let mut traces: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for span in spans {
        let parent = match span["parent_span_id"].as_str() {
            Some(id) => by_id.get(id).map_or("MISSING".to_owned(), |p| label(p)),
            None => "ROOT".to_owned(),
        };
        traces
            .entry(span["trace_id"].as_str().expect("trace_id"))
            .or_default()
            .push(format!("{} <- {parent}", label(span)));
    }
    let mut shapes: Vec<Vec<String>> = traces
        .into_values()
        .map(|mut edges| {
            edges.sort();
            edges.dedup_by(|later, earlier| later == earlier && later.contains(" order.status "));
            edges
        })
        .collect();
    shapes.sort();
    shapes
}

/// The document's shape and the checks every run must pass.
fn assert_demo(doc: &Value, broker: &str) {
    assert_eq!(doc["ok"], true, "{broker}: {doc}");
    let summary = &doc["summary"];
    assert_eq!(summary["traces"], 3, "{broker}: one trace per order");
    assert_eq!(summary["orphans"], 0, "{broker}: no orphan span");
    assert_eq!(summary["errors"], 2, "{broker}");
    assert_eq!(
        summary["services"],
        serde_json::json!([
            "demo-client",
            "inventory",
            "order",
            "order-sidecar",
            "payment"
        ]),
        "{broker}"
    );
    let orders = doc["orders"].as_array().expect("orders");
    let statuses: Vec<&str> = orders
        .iter()
        .map(|o| o["status"].as_str().unwrap_or("unsettled"))
        .collect();
    assert_eq!(
        statuses,
        ["confirmed", "confirmed", "cancelled"],
        "{broker}"
    );
    assert_eq!(
        orders[2]["reason"], "amount 640.00 exceeds the 500.00 limit",
        "{broker}: the failed payment path"
    );
    for order in orders {
        for field in ["n", "customer", "order_id", "total_cents"] {
            assert!(!order[field].is_null(), "{broker}: order without {field}");
        }
        // The status stream closed normally, on the final status.
        assert!(order["stream_error"].is_null(), "{broker}: {order}");
        let stream = order["stream"].as_array().expect("stream");
        assert_eq!(stream.last(), Some(&order["status"]), "{broker}: {order}");
    }
    let spans = doc["spans"].as_array().expect("spans");
    assert_eq!(
        spans.len(),
        summary["spans"].as_u64().expect("count") as usize
    );
    for span in spans {
        for field in [
            "trace_id",
            "span_id",
            "service",
            "name",
            "kind",
            "start_unix_nanos",
            "duration_nanos",
        ] {
            assert!(!span[field].is_null(), "{broker}: span without {field}");
        }
        assert_eq!(span["trace_id"].as_str().map(str::len), Some(32));
        assert_eq!(span["span_id"].as_str().map(str::len), Some(16));
    }
}

#[test]
fn demo_on_nats_and_rabbitmq_gives_the_traces_of_the_embedded_broker() {
    let memory = demo_json("memory");
    assert_demo(&memory, "memory");
    let expected = shapes(&memory);
    for broker in [NATS, AMQP] {
        let doc = demo_json(broker);
        assert_demo(&doc, broker);
        assert_eq!(
            shapes(&doc),
            expected,
            "{broker}: traces differ in shape from the embedded broker's"
        );
    }
}

#[test]
fn an_unreachable_broker_is_named_and_fails_the_run() {
    for (url, system) in [
        ("nats://127.0.0.1:1", "NATS"),
        ("amqp://guest:secret-pw@127.0.0.1:1/%2f", "RabbitMQ"),
    ] {
        let mut cmd = tracewire();
        cmd.args(["demo", "--broker", url]);
        let (status, _, stderr) = run_bounded(cmd, Duration::from_secs(30));
        assert_eq!(status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot use the {system} server at ")),
            "{stderr}"
        );
        assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
        assert!(!stderr.contains("secret-pw"), "password in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
