//! The event loop over in-memory channels: context per message, bad input, limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use opentelemetry::trace::{SpanKind, TraceContextExt, TraceId, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::SpanData;
use serde_json::json;
use tracewire_core::TracewirePropagator;
use tracewire_testkit::{SpanCapture, TraceView};

use crate::testing::{ChannelSocket, channel_pair};
use crate::{
    BoxError, CloseInfo, CloseInitiator, ConnectionMeta, Envelope, Frame, Responder, Session,
    WsConfig, close_code,
};

const TP_A: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TP_B: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn session<H: crate::Handler>(cap: &SpanCapture, handler: H, config: WsConfig) -> Session<H> {
    Session::new(handler)
        .config(config)
        .tracer_provider(&cap.tracer_provider())
        .propagator(Arc::new(TracewirePropagator::default()))
}

async fn echo(msg: Envelope, reply: Responder) -> Result<(), BoxError> {
    if msg.kind == "fail" {
        return Err("handler refused".into());
    }
    reply.reply("echo", msg.data).await?;
    Ok(())
}

fn text(s: &str) -> Frame {
    Frame::Text(s.into())
}

async fn recv_envelope(peer: &mut ChannelSocket) -> Envelope {
    match peer.next().await {
        Some(Ok(Frame::Text(t))) => Envelope::parse(&t).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn trace_id(s: &SpanData) -> TraceId {
    s.span_context.trace_id()
}

/// Starts a server-side session on channels; returns the peer and the session's end.
fn start<H: crate::Handler>(s: &Session<H>) -> (ChannelSocket, tokio::task::JoinHandle<CloseInfo>) {
    let (socket, peer) = channel_pair(8);
    (
        peer,
        tokio::spawn(s.run(socket, ConnectionMeta::server("/ws"))),
    )
}

#[tokio::test]
async fn each_message_gets_a_span_in_its_own_trace_linked_to_the_connection() {
    let cap = SpanCapture::new();
    let (mut peer, conn) = start(&session(&cap, echo, WsConfig::default()));

    let mut reply_parents = Vec::new();
    for (id, tp) in [("a", TP_A), ("b", TP_B)] {
        let msg = json!({"id": id, "type": "say", "headers": {"traceparent": tp}, "data": id});
        peer.send(text(&msg.to_string())).await.unwrap();
        let reply = recv_envelope(&mut peer).await;
        assert_eq!(
            (reply.id.as_deref(), reply.kind.as_str()),
            (Some(id), "echo")
        );
        // The reply continues the message's trace, from the message span.
        let tp_out = reply.headers.get("traceparent").unwrap();
        assert_eq!(
            &tp_out[3..35],
            &tp[3..35],
            "reply to {id} stays in its trace"
        );
        reply_parents.push(tp_out[36..52].to_owned());
    }
    peer.send(Frame::close(close_code::NORMAL, "bye"))
        .await
        .unwrap();
    let info = conn.await.unwrap();
    assert_eq!(
        (info.code, info.initiator),
        (close_code::NORMAL, CloseInitiator::Remote)
    );

    let spans = cap.spans();
    let view = TraceView::any_traces(spans.clone());
    let conn_span = view.span("WS /ws");
    assert_eq!(conn_span.span_kind, SpanKind::Server);
    let msgs = view.spans_named("process say");
    assert_eq!(msgs.len(), 2);
    for ((m, tp), reply_parent) in msgs.iter().zip([TP_A, TP_B]).zip(&reply_parents) {
        assert_eq!(trace_id(m).to_string(), tp[3..35]);
        assert_eq!(
            m.parent_span_id.to_string(),
            tp[36..52],
            "child of the remote parent"
        );
        assert_eq!(m.span_kind, SpanKind::Consumer);
        assert!(
            m.links
                .links
                .iter()
                .any(|l| l.span_context == conn_span.span_context)
        );
        assert_eq!(
            &m.span_context.span_id().to_string(),
            reply_parent,
            "replies come from the message span"
        );
    }
    assert_ne!(trace_id(conn_span).to_string(), TP_A[3..35]);
    view.assert_attr("WS /ws", "websocket.close.code", 1000_i64)
        .assert_attr("WS /ws", "network.protocol.name", "websocket")
        .assert_status_not_error("WS /ws");
}

#[tokio::test]
async fn a_message_without_context_is_a_child_of_the_connection() {
    let cap = SpanCapture::new();
    let (mut peer, conn) = start(&session(&cap, echo, WsConfig::default()));
    peer.send(text(r#"{"id":"1","type":"say","data":1}"#))
        .await
        .unwrap();
    let reply = recv_envelope(&mut peer).await;
    drop(peer);
    assert_eq!(conn.await.unwrap().code, close_code::ABNORMAL);

    let view = cap.trace(); // one trace: connection and message
    view.assert_child_of("process say", "WS /ws")
        .assert_attr("process say", "websocket.message.id", "1")
        .assert_attr("process say", "websocket.message.type", "say")
        .assert_status_error("WS /ws");
    let msg = view.span("process say");
    assert!(msg.links.links.is_empty());
    let expected = format!("00-{}-{}-01", trace_id(msg), msg.span_context.span_id());
    assert_eq!(reply.headers.get("traceparent"), Some(expected.as_str()));
}

#[tokio::test]
async fn the_handler_runs_with_the_message_span_current() {
    let cap = SpanCapture::new();
    let tracer = cap.tracer_provider().tracer("app");
    let handler = move |_msg: Envelope, reply: Responder| {
        let tracer = tracer.clone();
        async move {
            let _child = tracer.start("app work"); // parent: the current context
            drop(_child);
            assert!(
                opentelemetry::Context::current()
                    .span()
                    .span_context()
                    .is_valid()
            );
            reply.reply("done", json!(null)).await?;
            Ok::<_, BoxError>(())
        }
    };
    let (mut peer, _conn) = start(&session(&cap, handler, WsConfig::default()));
    peer.send(text(
        &json!({"type": "job", "headers": {"traceparent": TP_A}}).to_string(),
    ))
    .await
    .unwrap();
    recv_envelope(&mut peer).await;
    cap.wait_for_spans(2, Duration::from_secs(5)).await;
    let view = TraceView::any_traces(cap.spans());
    view.assert_child_of("app work", "process job");
}

#[tokio::test]
async fn malformed_input_gets_an_error_reply_and_the_connection_stays_open() {
    let cap = SpanCapture::new();
    let (mut peer, conn) = start(&session(&cap, echo, WsConfig::default()));
    let cases = [
        ("{oops", None, "malformed_json"),
        (r#"{"id":"x1","data":1}"#, Some("x1"), "invalid_envelope"),
        (r#"{"id":"x2","type":"fail"}"#, Some("x2"), "handler_error"),
    ];
    for (input, id, code) in cases {
        peer.send(text(input)).await.unwrap();
        let err = recv_envelope(&mut peer).await;
        assert_eq!(err.kind, "error", "{input}");
        assert_eq!(err.id.as_deref(), id, "{input}");
        assert_eq!(err.data["code"], code, "{input}");
        assert!(err.data["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    // Still open: the next good message is processed.
    peer.send(text(r#"{"id":"ok","type":"say","data":2}"#))
        .await
        .unwrap();
    let reply = recv_envelope(&mut peer).await;
    assert_eq!(
        (reply.id.as_deref(), reply.data.clone()),
        (Some("ok"), json!(2))
    );
    peer.send(Frame::close(close_code::NORMAL, ""))
        .await
        .unwrap();
    conn.await.unwrap();

    let view = cap.trace();
    view.assert_status_error("process fail")
        .assert_attr("process fail", "error.type", "handler_error")
        .assert_attr("WS /ws", "websocket.messages.rejected", 2_i64)
        .assert_status_not_error("process say")
        .assert_status_not_error("WS /ws");
    let events: Vec<_> = view
        .span("WS /ws")
        .events
        .events
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(
        events,
        ["websocket.message.rejected", "websocket.message.rejected"]
    );
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let cap = SpanCapture::new();
    let (mut peer, conn) = start(&session(&cap, echo, WsConfig::default()));
    peer.send(Frame::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let Some(Ok(Frame::Close(Some(frame)))) = peer.next().await else {
        panic!("expected a close frame")
    };
    assert_eq!(frame.code, close_code::UNSUPPORTED);
    peer.send(Frame::Close(Some(frame))).await.unwrap(); // the close reply
    let info = conn.await.unwrap();
    assert_eq!((info.code, info.initiator), (1003, CloseInitiator::Local));
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.code", 1003_i64)
        .assert_attr("WS /ws", "websocket.close.initiator", "local")
        .assert_status_error("WS /ws");
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let cap = SpanCapture::new();
    let config = WsConfig::default().max_message_size(64);
    let (mut peer, conn) = start(&session(&cap, echo, config));
    let big = json!({"type": "say", "data": "x".repeat(100)}).to_string();
    peer.send(text(&big)).await.unwrap();
    let Some(Ok(Frame::Close(Some(frame)))) = peer.next().await else {
        panic!("expected a close frame")
    };
    assert_eq!(frame.code, close_code::SIZE);
    drop(peer);
    assert_eq!(conn.await.unwrap().code, close_code::SIZE);
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.code", 1009_i64)
        .assert_status_error("WS /ws");
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed() {
    let cap = SpanCapture::new();
    let config = WsConfig::default()
        .idle_timeout(Some(Duration::from_secs(30)))
        .ping_interval(None);
    let (mut peer, conn) = start(&session(&cap, echo, config));
    peer.send(text(r#"{"type":"say"}"#)).await.unwrap();
    recv_envelope(&mut peer).await;
    // Virtual time: 30 s of silence pass instantly.
    let Some(Ok(Frame::Close(Some(frame)))) = peer.next().await else {
        panic!("expected a close frame")
    };
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (close_code::NORMAL, "idle timeout")
    );
    drop(peer);
    let info = conn.await.unwrap();
    assert_eq!((info.code, info.reason.as_str()), (1000, "idle timeout"));
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.reason", "idle timeout")
        .assert_status_not_error("WS /ws");
}

#[tokio::test(start_paused = true)]
async fn pings_are_sent_and_a_missing_pong_drops_the_connection() {
    let cap = SpanCapture::new();
    let config = WsConfig::default()
        .idle_timeout(None)
        .ping_interval(Some(Duration::from_secs(10)))
        .pong_timeout(Duration::from_secs(5));
    let (mut peer, conn) = start(&session(&cap, echo, config));
    // Answered pings keep the connection.
    for _ in 0..3 {
        assert!(matches!(peer.next().await, Some(Ok(Frame::Ping(_)))));
        peer.send(Frame::Pong(Default::default())).await.unwrap();
    }
    // An unanswered one ends it.
    assert!(matches!(peer.next().await, Some(Ok(Frame::Ping(_)))));
    let info = conn.await.unwrap();
    assert_eq!(
        (info.code, info.reason.as_str()),
        (close_code::ABNORMAL, "pong timeout")
    );
    cap.trace()
        .assert_attr("WS /ws", "websocket.close.reason", "pong timeout")
        .assert_status_error("WS /ws");
}

#[tokio::test(start_paused = true)]
async fn the_send_queue_is_bounded_and_loses_nothing() {
    const QUEUE: usize = 4;
    const SOCKET_BUFFER: usize = 2;
    const N: usize = 50;
    let cap = SpanCapture::new();
    let s = session(
        &cap,
        echo,
        WsConfig::default()
            .send_queue(QUEUE)
            .idle_timeout(None)
            .ping_interval(None),
    );
    let (socket, mut peer) = channel_pair(SOCKET_BUFFER);
    let (sender, conn) = s.start(socket, ConnectionMeta::server("/ws"));
    let conn = tokio::spawn(conn);
    assert_eq!(sender.max_queued(), QUEUE);

    // A producer pushes N envelopes as fast as the queue lets it; the peer reads nothing.
    let sent = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (sender, sent) = (sender.clone(), Arc::clone(&sent));
        tokio::spawn(async move {
            for i in 0..N {
                sender.send(Envelope::new("item", json!(i))).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(60)).await; // virtual: everything settles

    // Held back: the socket buffer, the loop's batch in hand and the queue are full.
    let stalled = sent.load(Ordering::SeqCst);
    let bound = QUEUE + (SOCKET_BUFFER + 1) + super::run::MAX_BATCH;
    assert!(
        stalled < N,
        "the producer was not held back ({stalled} sent)"
    );
    assert!(
        stalled <= bound,
        "{stalled} sends went through, more than the bound {bound}"
    );
    assert_eq!(sender.queued(), QUEUE, "the queue is full, and no fuller");
    assert!(matches!(
        sender.try_send(Envelope::new("extra", json!(0))),
        Err(crate::SendError::Full)
    ));
    assert!(!producer.is_finished());

    // Reading resumes the producer; every item arrives, in order.
    for i in 0..N {
        assert_eq!(recv_envelope(&mut peer).await.data, json!(i));
    }
    producer.await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), N);
    drop(peer);
    conn.await.unwrap();
}

#[tokio::test]
async fn the_application_closes_through_its_sender() {
    let cap = SpanCapture::new();
    let s = session(&cap, echo, WsConfig::default());
    let (socket, mut peer) = channel_pair(8);
    let (sender, conn) = s.start(
        socket,
        ConnectionMeta::client("/ws").server_address("127.0.0.1", Some(9)),
    );
    let conn = tokio::spawn(conn);
    sender.send(Envelope::new("hello", json!(1))).await.unwrap();
    assert_eq!(recv_envelope(&mut peer).await.kind, "hello");
    sender
        .close(close_code::AWAY, "shutting down")
        .await
        .unwrap();
    let Some(Ok(Frame::Close(Some(frame)))) = peer.next().await else {
        panic!("expected a close frame")
    };
    assert_eq!(frame.code, close_code::AWAY);
    drop(peer);
    assert_eq!(conn.await.unwrap().initiator, CloseInitiator::Local);
    assert!(matches!(
        sender.send(Envelope::new("late", json!(0))).await,
        Err(crate::SendError::Closed)
    ));
    cap.trace()
        .assert_kind("WS /ws", SpanKind::Client)
        .assert_attr("WS /ws", "server.address", "127.0.0.1")
        .assert_attr("WS /ws", "server.port", 9_i64);
}

#[tokio::test]
async fn a_pushed_message_has_a_send_span_under_the_connection_linked_to_its_cause() {
    let cap = SpanCapture::new();
    let s = session(&cap, echo, WsConfig::default());
    let (socket, mut peer) = channel_pair(8);
    let (sender, conn) = s.start(socket, ConnectionMeta::server("/ws"));
    let conn = tokio::spawn(conn);

    let cause = opentelemetry::Context::new().with_span(cap.tracer("app").start("change price"));
    sender
        .send_linked(Envelope::new("price", json!(42)).with_id("p-1"), &cause)
        .await
        .unwrap();
    sender
        .send_linked(
            Envelope::new("price", json!(43)),
            &opentelemetry::Context::new(),
        )
        .await
        .unwrap();
    let first = recv_envelope(&mut peer).await;
    let second = recv_envelope(&mut peer).await;
    assert_eq!((first.data, second.data), (json!(42), json!(43)));
    cause.span().end();
    sender.close(close_code::NORMAL, "done").await.unwrap();
    let Some(Ok(Frame::Close(_))) = peer.next().await else {
        panic!("expected the close frame")
    };
    peer.send(Frame::close(close_code::NORMAL, ""))
        .await
        .unwrap();
    assert_eq!(conn.await.unwrap().code, close_code::NORMAL);

    let view = TraceView::any_traces(cap.spans());
    let sends = view.spans_named("send price");
    assert_eq!(sends.len(), 2);
    let conn_span = view.span("WS /ws");
    let cause_span = view.span("change price");
    for (send, env_tp) in sends.iter().zip([&first.headers, &second.headers]) {
        assert_eq!(send.span_kind, SpanKind::Producer);
        assert_eq!(send.parent_span_id, conn_span.span_context.span_id());
        assert_eq!(trace_id(send), trace_id(conn_span));
        let tp = env_tp.get("traceparent").unwrap();
        assert_eq!(tp[36..52], send.span_context.span_id().to_string());
    }
    let links: Vec<_> = sends[0]
        .links
        .links
        .iter()
        .map(|l| &l.span_context)
        .collect();
    assert_eq!(links, [&cause_span.span_context], "linked to the cause");
    assert!(sends[1].links.links.is_empty(), "no cause, no link");
    assert_ne!(trace_id(cause_span), trace_id(conn_span));
}

#[tokio::test]
async fn messages_received_before_the_peer_closes_are_all_handled() {
    const N: usize = 6;
    let cap = SpanCapture::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let slow = {
        let handled = Arc::clone(&handled);
        move |_msg: Envelope, _reply: Responder| {
            let handled = Arc::clone(&handled);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                handled.fetch_add(1, Ordering::SeqCst);
                Ok::<(), BoxError>(())
            }
        }
    };
    let (mut peer, conn) = start(&session(&cap, slow, WsConfig::default()));
    // All of it is queued at once: the close arrives while the first is still handled.
    for i in 0..N {
        let msg = json!({"type": "slow", "data": i});
        peer.send(text(&msg.to_string())).await.unwrap();
    }
    peer.send(Frame::close(close_code::NORMAL, "done"))
        .await
        .unwrap();
    let info = conn.await.unwrap();
    assert_eq!(
        (info.code, info.initiator),
        (close_code::NORMAL, CloseInitiator::Remote)
    );
    assert_eq!(
        handled.load(Ordering::SeqCst),
        N,
        "every message sent before the close is handled, none dropped"
    );
    assert_eq!(cap.all_traces().spans_named("process slow").len(), N);
}

#[tokio::test]
async fn a_reply_after_the_peer_closed_fails_at_once_instead_of_waiting() {
    let cap = SpanCapture::new();
    let replied = Arc::new(std::sync::Mutex::new(Vec::new()));
    let replier = {
        let replied = Arc::clone(&replied);
        move |msg: Envelope, reply: Responder| {
            let replied = Arc::clone(&replied);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let result = reply.reply("echo", msg.data).await;
                replied.lock().unwrap().push(result.is_ok());
                Ok::<(), BoxError>(())
            }
        }
    };
    let config = WsConfig::default().close_timeout(Duration::from_secs(30));
    let (mut peer, conn) = start(&session(&cap, replier, config));
    peer.send(text(r#"{"type":"ask","data":1}"#)).await.unwrap();
    peer.send(Frame::close(close_code::NORMAL, "done"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    conn.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the handler's reply did not wait for close_timeout"
    );
    assert_eq!(*replied.lock().unwrap(), [false], "the reply was refused");
}

#[tokio::test]
async fn a_type_past_the_interner_cap_still_names_its_spans() {
    use crate::otel::MESSAGE_TYPES;
    // Fill the process-wide interner (other tests' types may hold some of the room).
    for n in 0..MESSAGE_TYPES.cap() {
        let _ = MESSAGE_TYPES.get("", &format!("filler-{n}"));
    }
    assert_eq!(MESSAGE_TYPES.len(), MESSAGE_TYPES.cap());
    assert_eq!(MESSAGE_TYPES.get("process", "late"), None);
    assert_eq!(MESSAGE_TYPES.get("send", "late push"), None);

    let cap = SpanCapture::new();
    let s = session(&cap, echo, WsConfig::default());
    let (socket, mut peer) = channel_pair(8);
    let (sender, conn) = s.start(socket, ConnectionMeta::server("/ws"));
    let conn = tokio::spawn(conn);
    peer.send(text(r#"{"id":"1","type":"late","data":1}"#))
        .await
        .unwrap();
    assert_eq!(recv_envelope(&mut peer).await.kind, "echo");
    sender
        .send_linked(
            Envelope::new("late push", json!(1)),
            &opentelemetry::Context::new(),
        )
        .await
        .unwrap();
    assert_eq!(recv_envelope(&mut peer).await.kind, "late push");
    drop(peer);
    conn.await.unwrap();

    let view = TraceView::any_traces(cap.spans());
    view.assert_attr("process late", "websocket.message.type", "late")
        .assert_attr("send late push", "websocket.message.type", "late push");
    assert_eq!(
        MESSAGE_TYPES.len(),
        MESSAGE_TYPES.cap(),
        "nothing more leaked"
    );
}
