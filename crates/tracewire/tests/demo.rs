//! `tracewire demo` end to end: the real binary, real loopback sockets, real spans.
#![allow(clippy::expect_used)] // test helpers: a failed spawn must fail the test

use std::process::Command;

fn tracewire(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tracewire"))
        .args(args)
        .env_remove("OTEL_PROPAGATORS")
        .output()
        .expect("the tracewire binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An order's trace has 25 spans (a confirmed order) or 31 (a cancelled one: 81 for
/// `--orders 3`, 50 for `--orders 2`) before its status stream, which adds its
/// connection (the client's `WS …`, order's `GET /orders/{id}/events` and `WS …`) and
/// a `send` + `process order.status` pair per message.
const STREAM_CONNECTION_SPANS: usize = 3;

/// The statuses each order's line says its status stream sent (`; streamed a → b`).
/// How many arrive depends on when the client connects; the last is the final status.
fn streamed(stdout: &str) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .filter(|line| line.starts_with("order "))
        .map(|line| {
            line.split_once("; streamed ")
                .map_or_else(Vec::new, |(_, statuses)| statuses.split(" → ").collect())
        })
        .collect()
}

/// The span count of a run whose orders' traces have `placing` spans without their
/// streams: each stream adds its connection and a `send` + `process` pair per message.
fn expected_spans(placing: usize, streams: &[Vec<&str>]) -> usize {
    let messages: usize = streams.iter().map(Vec::len).sum();
    placing + streams.len() * STREAM_CONNECTION_SPANS + 2 * messages
}

#[test]
fn demo_prints_one_connected_trace_per_order() {
    let (ok, stdout, stderr) = tracewire(&["demo", "--color", "never"]);
    assert!(ok, "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stdout.matches("\ntrace ").count() + usize::from(stdout.starts_with("trace ")),
        3,
        "{stdout}"
    );
    let streams = streamed(&stdout);
    assert_eq!(streams.len(), 3, "{stdout}");
    for (stream, last) in streams.iter().zip(["confirmed", "confirmed", "cancelled"]) {
        assert_eq!(
            stream.last(),
            Some(&last),
            "the stream ends on the final status\n{stdout}"
        );
    }
    let spans = expected_spans(81, &streams);
    assert!(
        stdout.contains(&format!("traces: 3  spans: {spans}  services: 5 (demo-client, inventory, order, order-sidecar, payment)  errors: 2  orphans: 0")),
        "{stdout}"
    );
    // Both payment paths: two orders confirmed, the third cancelled with the reason.
    assert_eq!(stdout.matches(": confirmed").count(), 2, "{stdout}");
    assert!(
        stdout.contains("cancelled (amount 640.00 exceeds the 500.00 limit)"),
        "{stdout}"
    );
    for hop in [
        "[order] POST /orders  server",
        "[inventory] tracewire.inventory.v1.InventoryService/CheckInventory  server",
        "[inventory] process inventory.reserve  consumer",
        "[payment] process order.created  consumer",
        "[inventory] process order.cancelled  consumer",
        "[order] process inventory.released  consumer",
        "[order] GET /orders/{id}/events  server",
        "[order] WS /orders/{id}/events  server",
        "[order] send order.status  producer",
        "[demo-client] process order.status  consumer",
    ] {
        assert!(stdout.contains(hop), "{hop}\n{stdout}");
    }
}

#[test]
fn demo_works_with_b3_between_the_services() {
    let output = Command::new(env!("CARGO_BIN_EXE_tracewire"))
        .args(["demo", "--color", "never", "--orders", "2"])
        .env("OTEL_PROPAGATORS", "b3multi,baggage,nonsense")
        .output()
        .expect("the tracewire binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let spans = expected_spans(50, &streamed(&stdout));
    assert!(
        stdout.contains(&format!("traces: 2  spans: {spans}  ")),
        "{stdout}"
    );
    assert!(stdout.contains("orphans: 0"), "{stdout}");
    assert!(
        stderr.contains("unknown propagator \"nonsense\""),
        "{stderr}"
    );
}

#[test]
fn demo_rejects_zero_orders() {
    let (ok, _, stderr) = tracewire(&["demo", "--orders", "0"]);
    assert!(!ok);
    assert!(stderr.contains("--orders"), "{stderr}");
}

#[test]
fn view_renders_what_demo_saved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("traces.jsonl");
    let file = file.to_str().expect("utf-8 temp path");
    let (ok, demo_out, stderr) = tracewire(&["demo", "--color", "never", "--save", file]);
    assert!(ok, "{demo_out}\n{stderr}");
    let (ok, view_out, stderr) = tracewire(&["view", "--color", "never", file]);
    assert!(ok, "{view_out}\n{stderr}");
    // The same trees, byte for byte, from the file as from memory.
    let trees = demo_out
        .split_once("\n\n")
        .map(|(_, rest)| rest.rsplit_once("\n\n").map_or(rest, |(trees, _)| trees))
        .expect("demo output has a trees section");
    assert_eq!(view_out.trim_end(), trees.trim_end());
    assert!(
        view_out.contains("[order] POST /orders  server"),
        "{view_out}"
    );
}

#[test]
fn demo_refuses_what_is_not_a_broker() {
    let (ok, _, stderr) = tracewire(&["demo", "--broker", "kafka://x"]);
    assert!(!ok);
    assert!(stderr.contains("is not a broker"), "{stderr}");
}

#[test]
fn view_reports_a_file_that_is_not_otlp_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("junk.jsonl");
    std::fs::write(&file, "{\"not\": \"otlp\"\nsecond line\n").expect("write");
    let (ok, _, stderr) = tracewire(&["view", file.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(stderr.contains("is not OTLP JSON lines"), "{stderr}");
}
