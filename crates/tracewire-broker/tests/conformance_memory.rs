//! `MemoryBroker` against the shared conformance suite.
#![cfg(feature = "memory")]
// Test helpers outside #[test] functions: the test exemption of clippy.toml does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tracewire_broker::memory::MemoryBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_broker_conforms() {
    let report = tracewire_testkit::conformance::run(MemoryBroker::new).await;
    assert_eq!(report.passed.len(), 11, "{report}");
    assert_eq!(
        report.not_applicable,
        [("durable", "durable not declared")],
        "{report}"
    );
}
