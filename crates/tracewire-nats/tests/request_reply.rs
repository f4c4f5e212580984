//! Request/reply over NATS: native requests (with "no responders"), interop with plain
//! NATS clients, headers both ways. Needs nats-server on 127.0.0.1:4222.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use tracewire_broker::request_reply::{RequestError, serve};
use tracewire_broker::{BoxError, Message};

use common::{connect, core_config, raw_client};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn native_request_reaches_a_tracewire_responder_with_headers() {
    let broker = connect(core_config()).await;
    let server = serve(broker.clone(), "math.double", |req: Message| async move {
        let n: u64 = std::str::from_utf8(&req.payload)?.parse()?;
        let tenant = req.headers.get("x-tenant").unwrap_or("none").to_owned();
        Ok::<_, BoxError>(
            Message::new("", (n * 2).to_string()).with_header("x-tenant-seen", tenant),
        )
    })
    .await
    .unwrap();
    let request = Message::new("math.double", "21")
        .with_header("X-Tenant", "acme")
        .with_correlation_id("conv-1");
    let reply = broker.request(request, WAIT).await.unwrap();
    assert_eq!(reply.payload, "42");
    assert_eq!(reply.headers.get("X-TENANT-SEEN"), Some("acme"));
    assert_eq!(reply.correlation_id.as_deref(), Some("conv-1"));
    server.shutdown().await;
}

#[tokio::test]
async fn native_request_without_responders_fails_fast() {
    let broker = connect(core_config()).await;
    let err = broker
        .request(Message::new("nobody.home", "x"), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::NoResponders(ref t) if t == "nobody.home"),
        "{err:?}"
    );
}

#[tokio::test]
async fn native_request_times_out_when_the_responder_is_silent() {
    let broker = connect(core_config()).await;
    let _silent = tracewire_broker::Broker::subscribe(
        &broker,
        "silent",
        tracewire_broker::SubscribeOptions::new(),
    )
    .await
    .unwrap();
    let err = broker
        .request(Message::new("silent", "x"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::TimedOut(_)), "{err:?}");
}

#[tokio::test]
async fn handler_errors_come_back_as_remote() {
    let broker = connect(core_config()).await;
    let server = serve(broker.clone(), "always.fails", |_req: Message| async move {
        Err::<Message, BoxError>("out of stock".into())
    })
    .await
    .unwrap();
    let err = broker
        .request(Message::new("always.fails", "x"), WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Remote(ref e) if e.contains("out of stock")),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_plain_nats_client_can_call_a_tracewire_responder() {
    let config = core_config();
    let subject = format!("{}.echo", config.subject_prefix.clone().unwrap());
    let broker = connect(config).await;
    let server = serve(broker.clone(), "echo", |req: Message| async move {
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .unwrap();
    let raw = raw_client().await;
    let reply = tokio::time::timeout(WAIT, raw.request(subject, Bytes::from_static(b"ping")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, "ping");
    server.shutdown().await;
}
