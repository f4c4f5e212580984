//! `tracewire serve` stops cleanly when its collector is down: telemetry that cannot be
//! delivered is a warning, not a failed shutdown (the OpenTelemetry convention: a
//! missing collector is not an application failure).
#![allow(clippy::expect_used, clippy::panic)]

mod common;

use std::net::TcpListener;

use common::{System, http};

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[test]
fn a_service_that_served_traffic_exits_zero_with_a_warning_when_the_collector_is_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let system = System {
        dir: dir.path().to_path_buf(),
        broker: "memory".into(),
        prefix: "unused".into(),
    };
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let payment = system.start_with_env(
        "payment",
        0,
        &[],
        &[
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ],
    );
    // Traffic, so there are spans and metric points to flush at shutdown.
    for _ in 0..3 {
        let (status, _) = http(payment.addr, "GET", "/payments/no-such-order", "");
        assert_eq!(status, 404);
    }
    let stderr = payment.terminate_and_stderr();
    assert!(
        stderr.contains("warning: telemetry not flushed"),
        "the undelivered telemetry is reported:\n{stderr}"
    );
}
