//! `GET /orders/{id}/events` over a real WebSocket on loopback, against the whole
//! reference system: the current state first, every change after it, a normal close
//! when the order is final (1001 when the service shuts down), and every message linked
//! to the order's trace.
// Helpers fail the test like its body does.
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};
use support::{System, WAIT};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use tracewire_contracts::{OrderStatus, OrderUpdate};
use tracewire_testkit::TraceView;
use tracewire_ws::Envelope;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CONN_SPAN: &str = "WS /orders/{id}/events";
const SEND_SPAN: &str = "send order.status";

async fn connect(system: &System, id: &str) -> Ws {
    let (ws, response) = connect_async(system.events_url(id)).await.unwrap();
    assert_eq!(response.status(), 101);
    ws
}

/// The next envelope, skipping pings.
async fn next_envelope(ws: &mut Ws) -> Envelope {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Envelope::parse(&text).unwrap(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

fn status_of(envelope: &Envelope) -> OrderUpdate {
    assert_eq!(envelope.kind, "order.status", "{envelope:?}");
    serde_json::from_value(envelope.data.clone()).unwrap()
}

/// Reads status messages up to the server's close frame (answered by tungstenite),
/// then the end of the stream; returns them and the close frame.
async fn read_to_close(ws: &mut Ws) -> (Vec<Envelope>, tungstenite::protocol::CloseFrame) {
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => messages.push(Envelope::parse(&text).unwrap()),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                // tungstenite queued the close reply; drive it out and see the end.
                while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
                return (messages, frame);
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("expected messages then a close frame, got {other:?}"),
        }
    }
}

/// The `traceparent` span id (hex) an envelope carries.
fn parent_span_id(envelope: &Envelope) -> String {
    let traceparent = envelope.headers.get("traceparent").unwrap();
    traceparent.split('-').nth(2).unwrap().to_owned()
}

/// Waits for the connection span of the stream (it ends after the close handshake).
async fn spans_after_close(system: &System) -> Vec<SpanData> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let spans = system.capture.spans();
        if spans.iter().any(|s| s.name == CONN_SPAN) {
            return spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}",
            system.capture.tree()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The trace of `create order` for `id`.
fn order_trace(spans: &[SpanData], id: &str) -> TraceId {
    spans
        .iter()
        .find(|s| {
            s.name == "create order"
                && s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "app.order.id" && kv.value.as_str() == id)
        })
        .unwrap_or_else(|| panic!("no `create order` span for {id}"))
        .span_context
        .trace_id()
}

/// Every `send order.status` span: PRODUCER, a child of the connection span, the
/// parent of what the client received (`traceparent`), and linked to a captured span
/// of the order's trace (`create order` or `update order`). Returns the names of the
/// linked spans in order.
fn assert_linked_to_order(spans: &[SpanData], id: &str, received: &[Envelope]) -> Vec<String> {
    let view = TraceView::any_traces(spans.to_vec());
    let order = order_trace(spans, id);
    let conn = view.span(CONN_SPAN);
    assert_eq!(conn.span_kind, SpanKind::Server);
    let sends = view.spans_named(SEND_SPAN);
    assert_eq!(sends.len(), received.len(), "{}", view.tree());
    let by_id = |trace: TraceId, span| {
        spans
            .iter()
            .find(|s| s.span_context.trace_id() == trace && s.span_context.span_id() == span)
    };
    let mut linked = Vec::new();
    for (send, envelope) in sends.iter().zip(received) {
        assert_eq!(send.span_kind, SpanKind::Producer);
        assert_eq!(send.parent_span_id, conn.span_context.span_id());
        assert_eq!(
            send.span_context.span_id().to_string(),
            parent_span_id(envelope)
        );
        let [link] = send.links.links.as_slice() else {
            panic!("{SEND_SPAN} should have one link:\n{}", view.tree());
        };
        let target = &link.span_context;
        assert_eq!(target.trace_id(), order, "linked into the order's trace");
        let cause = by_id(target.trace_id(), target.span_id())
            .unwrap_or_else(|| panic!("link to a span not captured:\n{}", view.tree()));
        linked.push(cause.name.to_string());
    }
    // The order's own trace is whole: the stream hangs off it only by links.
    TraceView::new(
        spans
            .iter()
            .filter(|s| s.span_context.trace_id() == order)
            .cloned()
            .collect(),
    )
    .assert_no_orphans();
    assert_ne!(conn.span_context.trace_id(), order);
    linked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_the_current_state_then_each_change_and_closes_normally_when_final() {
    let system = System::start(false).await;
    let placed = system.place(2).await;
    assert_eq!(placed.status, OrderStatus::Pending);

    let mut ws = connect(&system, &placed.id).await;
    let first = next_envelope(&mut ws).await;
    assert_eq!(
        status_of(&first),
        OrderUpdate {
            order_id: placed.id.clone(),
            status: OrderStatus::Pending,
            cause: "current".into(),
            reason: None,
        }
    );
    system.open_gate(); // inventory and payment answer now
    let (rest, close) = read_to_close(&mut ws).await;
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(
        close.reason.as_str(),
        format!("order {} is confirmed", placed.id)
    );

    let mut received = vec![first];
    received.extend(rest);
    let updates: Vec<OrderUpdate> = received.iter().map(status_of).collect();
    assert!(updates.iter().all(|u| u.order_id == placed.id));
    assert_eq!(
        updates.last().map(|u| u.status),
        Some(OrderStatus::Confirmed)
    );
    // Forward only, each change once; reserved or paid on the way (unless both
    // events landed before the stream saw the first, which the monotone filter allows).
    let statuses: Vec<OrderStatus> = updates.iter().map(|u| u.status).collect();
    let distinct: HashSet<_> = statuses.iter().collect();
    assert_eq!(distinct.len(), statuses.len(), "{statuses:?}");
    for update in &updates[1..] {
        assert!(
            [
                "dev.tracewire.inventory.reserved",
                "dev.tracewire.payment.completed"
            ]
            .contains(&update.cause.as_str()),
            "{update:?}"
        );
    }

    let spans = spans_after_close(&system).await;
    let linked = assert_linked_to_order(&spans, &placed.id, &received);
    assert_eq!(linked[0], "create order", "the current state: placed");
    assert!(
        linked[1..].iter().all(|name| name == "update order"),
        "{linked:?}"
    );
    TraceView::any_traces(spans)
        .assert_attr(CONN_SPAN, "websocket.close.code", 1000_i64)
        .assert_attr(CONN_SPAN, "websocket.close.initiator", "local")
        .assert_status_not_error(CONN_SPAN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_streams_through_payment_failed_to_cancelled() {
    let system = System::start(false).await;
    let placed = system.place(40).await; // 600.00: above the payment limit
    let mut ws = connect(&system, &placed.id).await;
    let first = status_of(&next_envelope(&mut ws).await);
    assert_eq!(
        (first.status, first.cause.as_str()),
        (OrderStatus::Pending, "current")
    );
    system.open_gate();
    let (rest, close) = read_to_close(&mut ws).await;
    assert_eq!(close.code, CloseCode::Normal);
    let updates: Vec<OrderUpdate> = rest.iter().map(status_of).collect();
    let last = updates.last().unwrap();
    assert_eq!(last.status, OrderStatus::Cancelled, "{updates:?}");
    assert!(
        last.reason.as_deref().unwrap_or("").contains("limit"),
        "{last:?}"
    );
    assert!(
        updates
            .iter()
            .any(|u| u.status == OrderStatus::PaymentFailed),
        "payment_failed is not final: the stream goes on through it ({updates:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_client_gets_the_final_state_linked_to_the_change_and_a_normal_close() {
    let system = System::start(true).await;
    let placed = system.place(1).await;
    assert_eq!(system.until_final(&placed.id).await, OrderStatus::Confirmed);

    let mut ws = connect(&system, &placed.id).await;
    let (received, close) = read_to_close(&mut ws).await;
    assert_eq!(close.code, CloseCode::Normal);
    let [only] = received.as_slice() else {
        panic!("expected only the current state, got {received:?}");
    };
    let update = status_of(only);
    assert_eq!(
        (update.status, update.cause.as_str()),
        (OrderStatus::Confirmed, "current")
    );

    let spans = spans_after_close(&system).await;
    let linked = assert_linked_to_order(&spans, &placed.id, &received);
    assert_eq!(
        linked,
        ["update order"],
        "linked to the change that confirmed it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_order_is_a_json_404_before_upgrading() {
    let system = System::start(true).await;
    let err = connect_async(system.events_url("ord-nope"))
        .await
        .unwrap_err();
    let tungstenite::Error::Http(response) = err else {
        panic!("expected an HTTP error response, got {err:?}");
    };
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    assert_eq!(body["error"]["message"], "no order ord-nope", "{body}");

    // A plain GET (no upgrade) of a real order: a JSON error too, not a stream.
    let placed = system.place(1).await;
    let err = system
        .client
        .get_json::<Value>(&format!("/orders/{}/events", placed.id))
        .await
        .unwrap_err();
    let tracewire_http::JsonClientError::Status { status, error, .. } = err else {
        panic!("expected an HTTP status error, got {err:?}");
    };
    assert!(status.is_client_error(), "{status}");
    assert_eq!(error.unwrap().code, "websocket_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_messages_get_error_replies_and_the_stream_goes_on() {
    let system = System::start(false).await;
    let placed = system.place(1).await;
    let mut ws = connect(&system, &placed.id).await;
    assert_eq!(status_of(&next_envelope(&mut ws).await).cause, "current");

    for (input, code) in [
        ("not json", "malformed_json"),
        (r#"{"id":"7","data":1}"#, "invalid_envelope"),
        (r#"{"id":"8","type":"order.cancel"}"#, "handler_error"),
    ] {
        ws.send(Message::text(input)).await.unwrap();
        let reply = next_envelope(&mut ws).await;
        assert_eq!(reply.kind, "error", "{input}: {reply:?}");
        assert_eq!(reply.data["code"], json!(code), "{input}: {reply:?}");
    }

    system.open_gate();
    let (rest, close) = read_to_close(&mut ws).await;
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(
        rest.last().map(|e| status_of(e).status),
        Some(OrderStatus::Confirmed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_closes_open_streams_with_1001_and_waits_for_them() {
    let system = System::start(false).await; // the order stays pending
    let placed = system.place(1).await;
    let mut ws = connect(&system, &placed.id).await;
    assert_eq!(status_of(&next_envelope(&mut ws).await).cause, "current");

    let (still_open, (rest, close)) = tokio::join!(system.shut_down(), read_to_close(&mut ws));
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "order service stopping");
    assert_eq!(still_open, 0, "shutdown waited for the close handshake");

    // close_streams returned after the connection ended: its span is there already.
    let view = TraceView::any_traces(system.capture.spans());
    view.assert_attr(CONN_SPAN, "websocket.close.code", 1001_i64)
        .assert_attr(CONN_SPAN, "websocket.close.initiator", "local")
        .assert_status_not_error(CONN_SPAN);
    assert_eq!(
        system.order.find(&placed.id).await.unwrap().unwrap().status,
        OrderStatus::Pending
    );
}
