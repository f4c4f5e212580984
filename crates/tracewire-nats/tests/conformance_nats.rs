//! `NatsBroker` (core NATS and JetStream) against the shared conformance suite, on the
//! local server at 127.0.0.1:4222 (the test fails, naming it, when it is unreachable).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use tokio::runtime::Handle;
use tracewire_broker::{Broker, Guarantees};
use tracewire_nats::{NatsBroker, NatsConfig};

use common::{Streams, connect, core_config, js_config};

/// `run` wants a synchronous `make`: connect on the multi-thread runtime in place.
fn make(config: impl Fn() -> NatsConfig, streams: &Streams) -> impl Fn() -> NatsBroker {
    move || {
        let config = config();
        streams.add(&config);
        tokio::task::block_in_place(|| Handle::current().block_on(connect(config)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_conforms() {
    let streams = Streams::default();
    let make = make(core_config, &streams);
    assert_eq!(
        make().guarantees(),
        Guarantees::NONE
            .with_ordered(true)
            .with_queue_groups(true)
            .with_headers(true)
            .with_native_request_reply(true)
            .with_reports_no_responders(true)
    );
    let report = tracewire_testkit::conformance::run(make).await;
    let not_applicable: Vec<&str> = report.not_applicable.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        not_applicable,
        ["ack_nack_redelivery", "dead_letter", "durable"],
        "{report}"
    );
    assert_eq!(report.passed.len(), 9, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_conforms() {
    let streams = Streams::default();
    let make = make(|| js_config(|js| js), &streams);
    let g = make().guarantees();
    assert!(g.durable && g.at_least_once && g.ordered && g.queue_groups && g.headers);
    let report = tracewire_testkit::conformance::run(make).await;
    let not_applicable: Vec<&str> = report.not_applicable.iter().map(|(n, _)| *n).collect();
    assert_eq!(not_applicable, ["no_responders", "durable"], "{report}");
    assert_eq!(report.passed.len(), 10, "{report}");
}
