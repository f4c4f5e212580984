//! Bad input over real loopback sockets: error replies keep the connection open,
//! binary frames close it with 1003, and every case is on the spans.
#![cfg(all(feature = "axum", feature = "client"))]

mod common;

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tracewire_testkit::SpanCapture;
use tracewire_ws::{BoxError, Envelope, Responder, WsConfig, close_code};

use common::*;

#[tokio::test]
async fn malformed_messages_get_error_replies_and_the_next_good_one_is_processed() {
    let cap = SpanCapture::new();
    let handler = |msg: Envelope, reply: Responder| async move {
        if msg.kind == "divide" && msg.data["by"] == 0 {
            return Err::<(), BoxError>("division by zero".into());
        }
        reply.reply("echo", msg.data).await?;
        Ok(())
    };
    let addr = serve(traced(&cap, handler, WsConfig::default())).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();

    let cases = [
        ("not json at all", None, "malformed_json"),
        (r#"{"id":"7","data":{}}"#, Some("7"), "invalid_envelope"),
        (
            r#"{"id":"8","type":"x","headers":{"traceparent":["a"]}}"#,
            Some("8"),
            "invalid_envelope",
        ),
        (
            r#"{"id":"9","type":"divide","data":{"by":0}}"#,
            Some("9"),
            "handler_error",
        ),
    ];
    for (input, id, code) in cases {
        socket.send(Message::text(input)).await.unwrap();
        let err = next_envelope(&mut socket).await;
        assert_eq!(err.kind, "error", "{input}");
        assert_eq!(err.id.as_deref(), id, "{input}");
        assert_eq!(err.data["code"], code, "{input}");
    }
    socket
        .send(Message::text(r#"{"id":"10","type":"say","data":"fine"}"#))
        .await
        .unwrap();
    let ok = next_envelope(&mut socket).await;
    assert_eq!(
        (ok.id.as_deref(), ok.kind.as_str(), ok.data.as_str()),
        (Some("10"), "echo", Some("fine"))
    );

    socket.close(None).await.unwrap();
    cap.wait_for_spans(3, Duration::from_secs(5)).await;
    let view = cap.trace();
    view.assert_child_of("process divide", "WS /ws")
        .assert_status_error("process divide")
        .assert_attr("process divide", "error.type", "handler_error")
        .assert_status_not_error("process say")
        .assert_attr("WS /ws", "websocket.messages.rejected", 3_i64)
        .assert_status_not_error("WS /ws");
    let rejected = view
        .span("WS /ws")
        .events
        .events
        .iter()
        .filter(|e| e.name == "websocket.message.rejected")
        .count();
    assert_eq!(rejected, 3);
}

#[tokio::test]
async fn a_binary_frame_is_answered_with_close_1003() {
    let cap = SpanCapture::new();
    let addr = serve(traced(&cap, echo, WsConfig::default())).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    socket
        .send(Message::binary(vec![0xde, 0xad]))
        .await
        .unwrap();
    let (code, reason) = next_close(&mut socket).await;
    assert_eq!(code, close_code::UNSUPPORTED);
    assert!(reason.contains("binary"));

    cap.wait_for_spans(1, Duration::from_secs(5)).await;
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.code", 1003_i64)
        .assert_attr("WS /ws", "websocket.close.initiator", "local")
        .assert_attr("WS /ws", "error.type", "1003")
        .assert_status_error("WS /ws");
}
