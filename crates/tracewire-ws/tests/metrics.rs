//! The `tracewire.websocket.*` metrics over real loopback sockets, server and client,
//! read through a per-test SDK meter provider with an in-memory exporter.
#![cfg(all(feature = "axum", feature = "client"))]
#![allow(clippy::unwrap_used)] // helpers outside #[test] functions too

mod common;

use std::future::Future;
use std::time::Duration;

use futures_util::SinkExt;
use opentelemetry::KeyValue;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tracewire_testkit::SpanCapture;
use tracewire_ws::Frame;
use tracewire_ws::metrics::{
    CONNECTION_ACTIVE, CONNECTION_DURATION, PROCESS_DURATION, RECEIVED_MESSAGES, REJECTED_MESSAGES,
    SENT_MESSAGES, UNHANDLED_MESSAGES,
};
use tracewire_ws::testing::channel_pair;
use tracewire_ws::{
    BoxError, ConnectionMeta, Envelope, Handler, Responder, SendError, Session, WsConfig,
    close_code,
};

use common::*;

fn server() -> Vec<KeyValue> {
    vec![
        KeyValue::new("websocket.role", "server"),
        KeyValue::new("http.route", "/ws"),
    ]
}

fn with(base: &[KeyValue], more: &[KeyValue]) -> Vec<KeyValue> {
    base.iter().chain(more).cloned().collect()
}

/// A traced session whose metrics go to `metrics`.
fn metered<H: Handler>(
    cap: &SpanCapture,
    metrics: &Metrics,
    handler: H,
    config: WsConfig,
) -> Session<H> {
    traced(cap, handler, config).meter_provider(&metrics.provider)
}

/// Echoes, and fails messages of type `fail`.
async fn echo_or_fail(msg: Envelope, reply: Responder) -> Result<(), BoxError> {
    if msg.kind == "fail" {
        return Err("refused".into());
    }
    reply.reply("echo", msg.data).await?;
    Ok(())
}

async fn connect(addr: std::net::SocketAddr) -> RawSocket {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_connection_is_active_while_open_and_its_duration_has_the_close_code() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let addr = serve(metered(&cap, &metrics, echo, WsConfig::default())).await;
    let mut socket = connect(addr).await;
    // A round trip: the server side is surely running.
    socket
        .send(Message::text(r#"{"type":"say","data":1}"#))
        .await
        .unwrap();
    next_envelope(&mut socket).await;
    let open = metrics.point(CONNECTION_ACTIVE, &server()).unwrap();
    assert_eq!(open.value, 1, "one connection open");
    assert!(metrics.points(CONNECTION_DURATION).is_empty());

    socket.close(None).await.unwrap(); // a close frame without a code: 1005
    let ended = with(
        &server(),
        &[KeyValue::new("websocket.close.code", 1005_i64)],
    );
    let duration = metrics
        .wait_for(CONNECTION_DURATION, &ended, |p| p.count == 1)
        .await;
    assert!(duration.sum > 0.0);
    let active = metrics.point(CONNECTION_ACTIVE, &server()).unwrap();
    assert_eq!(active.value, 0, "the connection is no longer active");
    assert_eq!(metrics.points(CONNECTION_DURATION).len(), 1);
}

#[tokio::test]
async fn every_message_is_counted_and_its_processing_timed_by_type_and_outcome() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let addr = serve(metered(&cap, &metrics, echo_or_fail, WsConfig::default())).await;
    let mut socket = connect(addr).await;
    const N: usize = 7;
    for i in 0..N {
        let text = json!({"id": i.to_string(), "type": "say", "data": i}).to_string();
        socket.send(Message::text(text)).await.unwrap();
        assert_eq!(next_envelope(&mut socket).await.kind, "echo");
    }
    socket
        .send(Message::text(r#"{"id":"f","type":"fail"}"#))
        .await
        .unwrap();
    assert_eq!(next_envelope(&mut socket).await.kind, "error");

    let say_ok = with(
        &server(),
        &[
            KeyValue::new("websocket.message.type", "say"),
            KeyValue::new("websocket.message.outcome", "ok"),
        ],
    );
    let fail_error = with(
        &server(),
        &[
            KeyValue::new("websocket.message.type", "fail"),
            KeyValue::new("websocket.message.outcome", "error"),
            KeyValue::new("error.type", "handler_error"),
        ],
    );
    // The last handler finishes after its reply is out: wait for it.
    metrics
        .wait_for(PROCESS_DURATION, &fail_error, |p| p.count == 1)
        .await;
    let processed = metrics.point(PROCESS_DURATION, &say_ok).unwrap();
    assert_eq!(processed.count, N as u64);
    assert_eq!(metrics.points(PROCESS_DURATION).len(), 2);
    let received = metrics.point(RECEIVED_MESSAGES, &server()).unwrap();
    assert_eq!(received.value, N as i64 + 1);
    let sent = metrics.point(SENT_MESSAGES, &server()).unwrap();
    assert_eq!(sent.value, N as i64 + 1, "the echoes and the error reply");
    assert!(metrics.points(REJECTED_MESSAGES).is_empty());
}

#[tokio::test]
async fn malformed_and_invalid_messages_are_counted_by_reason() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let addr = serve(metered(&cap, &metrics, echo, WsConfig::default())).await;
    let mut socket = connect(addr).await;
    for input in ["not json", "{\"id\":", r#"{"id":"2","data":{}}"#] {
        socket.send(Message::text(input)).await.unwrap();
        assert_eq!(next_envelope(&mut socket).await.kind, "error");
    }
    let rejected = |reason: &str| {
        with(
            &server(),
            &[
                KeyValue::new("error.type", reason.to_owned()),
                KeyValue::new("network.io.direction", "receive"),
            ],
        )
    };
    let malformed = metrics
        .point(REJECTED_MESSAGES, &rejected("malformed_json"))
        .unwrap();
    assert_eq!(malformed.value, 2);
    let invalid = metrics
        .point(REJECTED_MESSAGES, &rejected("invalid_envelope"))
        .unwrap();
    assert_eq!(invalid.value, 1);
    // They were received, and answered; none was processed.
    assert_eq!(
        metrics.point(RECEIVED_MESSAGES, &server()).unwrap().value,
        3
    );
    assert_eq!(metrics.point(SENT_MESSAGES, &server()).unwrap().value, 3);
    assert!(metrics.points(PROCESS_DURATION).is_empty());
}

#[tokio::test]
async fn an_oversized_message_is_a_limit_violation_and_ends_the_connection_with_1009() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let config = WsConfig::default().max_message_size(1024);
    let addr = serve(metered(&cap, &metrics, echo, config)).await;
    let mut socket = connect(addr).await;
    let big = json!({"type": "say", "data": "x".repeat(4000)}).to_string();
    socket.send(Message::text(big)).await.unwrap();
    assert_eq!(next_close(&mut socket).await.0, close_code::SIZE);

    let too_big = with(
        &server(),
        &[
            KeyValue::new("error.type", "message_too_big"),
            KeyValue::new("network.io.direction", "receive"),
        ],
    );
    let ended = with(
        &server(),
        &[
            KeyValue::new("websocket.close.code", 1009_i64),
            KeyValue::new("error.type", "1009"),
        ],
    );
    metrics
        .wait_for(CONNECTION_DURATION, &ended, |p| p.count == 1)
        .await;
    assert_eq!(metrics.point(REJECTED_MESSAGES, &too_big).unwrap().value, 1);
    assert_eq!(
        metrics.point(CONNECTION_ACTIVE, &server()).unwrap().value,
        0
    );
}

#[tokio::test]
async fn a_binary_frame_is_received_and_rejected() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let addr = serve(metered(&cap, &metrics, echo, WsConfig::default())).await;
    let mut socket = connect(addr).await;
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next_close(&mut socket).await.0, close_code::UNSUPPORTED);
    let binary = with(
        &server(),
        &[
            KeyValue::new("error.type", "binary_message"),
            KeyValue::new("network.io.direction", "receive"),
        ],
    );
    metrics
        .wait_for(REJECTED_MESSAGES, &binary, |p| p.value == 1)
        .await;
    assert_eq!(
        metrics.point(RECEIVED_MESSAGES, &server()).unwrap().value,
        1
    );
}

#[tokio::test]
async fn the_client_records_its_side_with_the_route_template() {
    let (cap, server_metrics, client_metrics) =
        (SpanCapture::new(), Metrics::new(), Metrics::new());
    let addr = serve(metered(&cap, &server_metrics, echo, WsConfig::default())).await;
    let (tx, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let client = metered(
        &cap,
        &client_metrics,
        move |msg: Envelope, _reply: Responder| {
            let tx = tx.clone();
            async move {
                tx.send(msg).map_err(|_| "test ended")?;
                Ok::<_, BoxError>(())
            }
        },
        WsConfig::default().max_message_size(256),
    );
    let conn = client
        .connect_route(&format!("ws://{addr}/ws"), "/ws")
        .await
        .unwrap();
    let base = vec![
        KeyValue::new("websocket.role", "client"),
        KeyValue::new("url.template", "/ws"),
    ];
    assert_eq!(
        client_metrics
            .point(CONNECTION_ACTIVE, &base)
            .unwrap()
            .value,
        1
    );

    const N: usize = 4;
    for i in 0..N {
        conn.send(Envelope::new("say", json!(i))).await.unwrap();
        assert_eq!(replies.recv().await.unwrap().kind, "echo");
    }
    // Over the client's limit: refused before it is sent.
    let big = Envelope::new("say", json!("y".repeat(1000)));
    assert!(matches!(
        conn.send(big).await,
        Err(SendError::TooLarge { .. })
    ));
    let info = conn.close(close_code::NORMAL, "bye").await;
    assert_eq!(info.code, close_code::NORMAL);

    let echo_ok = with(
        &base,
        &[
            KeyValue::new("websocket.message.type", "echo"),
            KeyValue::new("websocket.message.outcome", "ok"),
        ],
    );
    let c = &client_metrics;
    assert_eq!(c.point(PROCESS_DURATION, &echo_ok).unwrap().count, N as u64);
    assert_eq!(c.point(RECEIVED_MESSAGES, &base).unwrap().value, N as i64);
    assert_eq!(c.point(SENT_MESSAGES, &base).unwrap().value, N as i64);
    let refused = with(
        &base,
        &[
            KeyValue::new("error.type", "message_too_big"),
            KeyValue::new("network.io.direction", "transmit"),
        ],
    );
    assert_eq!(c.point(REJECTED_MESSAGES, &refused).unwrap().value, 1);
    let ended = with(&base, &[KeyValue::new("websocket.close.code", 1000_i64)]);
    assert_eq!(c.point(CONNECTION_DURATION, &ended).unwrap().count, 1);
    assert_eq!(c.point(CONNECTION_ACTIVE, &base).unwrap().value, 0);

    // The server saw the same messages, on its own provider.
    let s = &server_metrics;
    let said = with(
        &server(),
        &[
            KeyValue::new("websocket.message.type", "say"),
            KeyValue::new("websocket.message.outcome", "ok"),
        ],
    );
    assert_eq!(s.point(PROCESS_DURATION, &said).unwrap().count, N as u64);
    let server_end = with(
        &server(),
        &[KeyValue::new("websocket.close.code", 1000_i64)],
    );
    s.wait_for(CONNECTION_DURATION, &server_end, |p| p.count == 1)
        .await;
}

#[tokio::test]
async fn a_client_without_a_route_template_records_no_path_and_a_failed_handshake_its_error() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let addr = serve(traced(&cap, echo, WsConfig::default())).await;
    let client = metered(&cap, &metrics, echo, WsConfig::default());
    let conn = client.connect(&format!("ws://{addr}/ws")).await.unwrap();
    let role_only = [KeyValue::new("websocket.role", "client")];
    assert_eq!(
        metrics.point(CONNECTION_ACTIVE, &role_only).unwrap().value,
        1
    );
    conn.close(close_code::NORMAL, "").await;

    // Nothing listens on /nowhere: the handshake gets a 404.
    let err = client.connect(&format!("ws://{addr}/nowhere")).await;
    assert!(err.is_err());
    let failed = with(&role_only, &[KeyValue::new("error.type", "handshake")]);
    assert_eq!(
        metrics.point(CONNECTION_DURATION, &failed).unwrap().count,
        1
    );
    assert_eq!(
        metrics.point(CONNECTION_ACTIVE, &role_only).unwrap().value,
        0
    );
}

#[tokio::test]
async fn a_dropped_connection_future_is_no_longer_active() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let session = metered(&cap, &metrics, echo, WsConfig::default());
    let (socket, _peer) = channel_pair(4);
    let running = session.run(socket, ConnectionMeta::server("/rooms/{id}"));
    let base = [
        KeyValue::new("websocket.role", "server"),
        KeyValue::new("http.route", "/rooms/{id}"),
    ];
    assert_eq!(metrics.point(CONNECTION_ACTIVE, &base).unwrap().value, 1);
    drop_unfinished(running).await;
    assert_eq!(metrics.point(CONNECTION_ACTIVE, &base).unwrap().value, 0);
    let cancelled = with(&base, &[KeyValue::new("error.type", "cancelled")]);
    assert_eq!(
        metrics
            .point(CONNECTION_DURATION, &cancelled)
            .unwrap()
            .count,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn messages_left_unhandled_at_the_close_are_counted() {
    let (cap, metrics) = (SpanCapture::new(), Metrics::new());
    let slow = |_msg: Envelope, _reply: Responder| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, BoxError>(())
    };
    let config = WsConfig::default().close_timeout(Duration::from_millis(50));
    let session = metered(&cap, &metrics, slow, config);
    let (socket, mut peer) = channel_pair(8);
    let conn = tokio::spawn(session.run(socket, ConnectionMeta::server("/ws")));
    for i in 0..4 {
        let msg = json!({"type": "slow", "data": i}).to_string();
        peer.send(Frame::Text(msg.into())).await.unwrap();
    }
    peer.send(Frame::close(close_code::NORMAL, "bye"))
        .await
        .unwrap();
    assert_eq!(conn.await.unwrap().code, close_code::NORMAL);
    let left = metrics.point(UNHANDLED_MESSAGES, &server()).unwrap();
    assert_eq!(left.value, 4, "the one being handled and the three queued");
    assert_eq!(
        metrics.point(RECEIVED_MESSAGES, &server()).unwrap().value,
        4
    );
}

/// Polls `fut` briefly (it must not finish), then drops it.
async fn drop_unfinished<F: Future>(fut: F) {
    let finished = tokio::time::timeout(Duration::from_millis(50), fut).await;
    assert!(finished.is_err(), "the connection ended on its own");
}
