//! Limits over real loopback sockets: message size (1009, both directions), idle
//! timeout, ping/pong keep-alive, and the client seeing the server's close.
#![cfg(all(feature = "axum", feature = "client"))]

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tracewire_testkit::SpanCapture;
use tracewire_ws::{
    BoxError, CloseInitiator, Envelope, Responder, SendError, WsConfig, close_code,
};

use common::*;

#[tokio::test]
async fn an_oversized_message_is_refused_with_1009() {
    let cap = SpanCapture::new();
    let addr = serve(traced(
        &cap,
        echo,
        WsConfig::default().max_message_size(1024),
    ))
    .await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let big = json!({"type": "say", "data": "x".repeat(4000)}).to_string();
    socket.send(Message::text(big)).await.unwrap();
    let (code, _) = next_close(&mut socket).await;
    assert_eq!(code, close_code::SIZE);

    cap.wait_for_spans(1, Duration::from_secs(5)).await;
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.code", 1009_i64)
        .assert_status_error("WS /ws");
}

#[tokio::test]
async fn the_client_refuses_to_send_an_oversized_envelope() {
    let cap = SpanCapture::new();
    let addr = serve(traced(&cap, echo, WsConfig::default())).await;
    let client = traced(&cap, echo, WsConfig::default().max_message_size(256));
    let conn = client.connect(&format!("ws://{addr}/ws")).await.unwrap();
    let big = Envelope::new("say", json!("y".repeat(1000)));
    assert!(matches!(
        conn.send(big).await,
        Err(SendError::TooLarge { max: 256, .. })
    ));
    // The connection is unaffected.
    assert!(!conn.sender().is_closed());
    assert_eq!(
        conn.close(close_code::NORMAL, "").await.code,
        close_code::NORMAL
    );
}

#[tokio::test]
async fn pongs_keep_a_connection_alive_until_it_is_idle() {
    let cap = SpanCapture::new();
    let config = WsConfig::default()
        .ping_interval(Some(Duration::from_millis(20)))
        .pong_timeout(Duration::from_millis(100))
        .idle_timeout(Some(Duration::from_millis(300)));
    let addr = serve(traced(&cap, echo, config)).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();

    // tungstenite answers each ping while the client reads; the connection then ends
    // by the idle timeout (1000), not by a missed pong (1006, no close frame).
    let mut pings = 0;
    let close = loop {
        match socket.next().await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(Some(frame)))) => {
                while socket.next().await.is_some() {} // lets tungstenite send the close reply
                break (u16::from(frame.code), frame.reason.to_string());
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(pings >= 1, "the server sent no ping");
    assert_eq!(close, (close_code::NORMAL, "idle timeout".to_owned()));

    cap.wait_for_spans(1, Duration::from_secs(5)).await;
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.reason", "idle timeout")
        .assert_status_not_error("WS /ws");
}

#[tokio::test]
async fn the_client_sees_the_server_close() {
    let cap = SpanCapture::new();
    let server = |_msg: Envelope, reply: Responder| async move {
        reply
            .sender()
            .close(close_code::AWAY, "server going away")
            .await?;
        Ok::<_, BoxError>(())
    };
    let addr = serve(traced(&cap, server, WsConfig::default())).await;
    let conn = traced(&cap, echo, WsConfig::default())
        .connect(&format!("ws://{addr}/ws"))
        .await
        .unwrap();
    conn.send(Envelope::new("bye", json!(null))).await.unwrap();
    let info = conn.closed().await;
    assert_eq!(
        (info.code, info.initiator),
        (close_code::AWAY, CloseInitiator::Remote)
    );
    assert_eq!(info.reason, "server going away");
}
