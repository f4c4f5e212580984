//! `AmqpBroker` against the shared conformance suite, on the local RabbitMQ.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use tracewire_amqp::AmqpBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_broker_conforms() {
    common::require_rabbitmq().await;
    let config = common::config("conformance");
    let exchange = config.exchange_name().to_owned();
    // `run` wants a synchronous constructor: connect a fresh broker (own connection) per
    // check, blocking this worker thread while it connects.
    let make = move || -> AmqpBroker {
        let config = config.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(AmqpBroker::connect(config))
        })
        .unwrap_or_else(|e| panic!("connecting to RabbitMQ at {}: {e}", common::ADDR))
    };
    let report = tracewire_testkit::conformance::run(make).await;
    common::delete_exchanges(&exchange).await;
    assert_eq!(
        report.passed,
        [
            "fan_out",
            "queue_groups",
            "headers_survive_the_hop",
            "trace_continues_across_the_hop",
            "ack_nack_redelivery",
            "order_per_publisher",
            "dead_letter",
            "request_reply",
            "request_timeout_no_leak",
            "no_responders",
            "graceful_shutdown_loses_nothing",
        ],
        "{report}"
    );
    assert_eq!(
        report.not_applicable,
        [("durable", "durable not declared")],
        "{report}"
    );
}
