//! The demo client's side of order's status stream (`GET /orders/{id}/events`): a
//! traced WebSocket client (`tracewire-ws`) that reads every status message until the
//! server's normal close.
//!
//! The client connects to order directly, not through `order-sidecar`: the sidecar's
//! `ForwardProxy` drops hop-by-hop headers (`Connection`, `Upgrade`), so it does not
//! pass WebSocket upgrades.
//!
//! Tracing: `Session::connect` opens a CLIENT span `WS {path}` under the current
//! context (the order's `demo order N` root) and injects it into the handshake, so
//! order's `GET /orders/{id}/events` SERVER span, its `WS /orders/{id}/events`
//! connection span and each `send order.status` PRODUCER span all land in the order's
//! trace; each message received here is a CONSUMER span `process order.status` under
//! its `send` span.

use std::pin::pin;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tracewire_contracts::{OrderStatus, OrderUpdate};
use tracewire_order_service::STATUS_TYPE;
use tracewire_service_kit::Telemetry;
use tracewire_ws::{BoxError, Envelope, Responder, Session, close_code};

/// How long the demo waits for its own close handshake after giving up on a stream.
const GIVE_UP_GRACE: Duration = Duration::from_secs(2);

/// `ws://…/orders/{id}/events` on `order_url` (`http://host:port`).
pub(crate) fn events_url(order_url: &str, order_id: &str) -> String {
    let base = order_url.strip_prefix("http://").unwrap_or(order_url);
    format!("ws://{base}/orders/{order_id}/events")
}

/// Reads order `order_id`'s status stream at `order_url` until the server closes it
/// normally (1000, once the order is final), for at most `timeout`, and returns the
/// statuses received, in order. Call it inside the order's span: the connection joins
/// the current trace.
///
/// # Errors
///
/// A failed handshake, a message that is not an `order.status`, a close other than
/// 1000, or no close within `timeout` (the client then closes with 1001 itself).
pub(crate) async fn watch(
    telemetry: &Telemetry,
    order_url: &str,
    order_id: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<OrderStatus>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = order_id.to_owned();
    // Never `Err`: a handler error would be sent to the server as an `error` envelope.
    // What does not belong in the stream is reported through the channel instead.
    let session = Session::new(move |message: Envelope, _reply: Responder| {
        let received = parse(message, &id);
        let tx = tx.clone();
        async move {
            let _ = tx.send(received); // the demo stopped listening: nothing to do
            Ok::<_, BoxError>(())
        }
    })
    .tracer_provider(telemetry.provider())
    .propagator(telemetry.propagator());

    let url = events_url(order_url, order_id);
    // Named after the route, not the path: span names stay low-cardinality.
    let connection = session
        .connect_route(&url, "/orders/{id}/events")
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let sender = connection.sender().clone();
    let mut closed = pin!(connection.closed());
    let info = match tokio::time::timeout(timeout, &mut closed).await {
        Ok(info) => info,
        Err(_) => {
            let _ = sender
                .close(close_code::AWAY, "demo client gave up waiting")
                .await;
            let _ = tokio::time::timeout(GIVE_UP_GRACE, closed).await;
            anyhow::bail!("not closed within {timeout:?}");
        }
    };
    let mut statuses = Vec::new();
    while let Ok(received) = rx.try_recv() {
        statuses.push(received?);
    }
    if info.code != close_code::NORMAL {
        anyhow::bail!(
            "closed with {} ({}) instead of 1000",
            info.code,
            info.reason
        );
    }
    Ok(statuses)
}

/// The status an `order.status` envelope of order `order_id` carries.
fn parse(message: Envelope, order_id: &str) -> anyhow::Result<OrderStatus> {
    if message.kind != STATUS_TYPE {
        anyhow::bail!("unexpected {:?} message: {}", message.kind, message.data);
    }
    let update: OrderUpdate = serde_json::from_value(message.data)
        .map_err(|error| anyhow::anyhow!("malformed {STATUS_TYPE} message: {error}"))?;
    if update.order_id != order_id {
        anyhow::bail!(
            "a status of order {} in {order_id}'s stream",
            update.order_id
        );
    }
    Ok(update.status)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracewire_core::TracewirePropagator;

    use super::*;

    fn telemetry() -> Telemetry {
        Telemetry::new(
            "demo-client",
            SdkTracerProvider::builder().build(),
            Arc::new(TracewirePropagator::default()),
        )
    }

    /// A WebSocket server at `/orders/{id}/events` that sends nothing and never closes.
    async fn silent_server() -> String {
        let session = Session::new(|_: Envelope, _: Responder| async { Ok::<_, BoxError>(()) });
        let app = axum::Router::new().route("/orders/{id}/events", session.route());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_stream_that_never_closes_fails_in_time_and_is_closed_by_the_client() {
        let url = silent_server().await;
        let started = tokio::time::Instant::now();
        let timeout = Duration::from_millis(300);
        let error = watch(&telemetry(), &url, "ord-1", timeout)
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "not closed within 300ms");
        // The server answered the client's close: no wait for GIVE_UP_GRACE.
        assert!(
            started.elapsed() < timeout + GIVE_UP_GRACE,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_url() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let error = watch(&telemetry(), &url, "ord-1", Duration::from_secs(5))
            .await
            .unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.starts_with(&format!("connecting to {}", events_url(&url, "ord-1"))),
            "{message}"
        );
    }

    #[test]
    fn events_url_is_the_ws_form_of_the_order_url() {
        assert_eq!(
            events_url("http://127.0.0.1:8080", "ord-1"),
            "ws://127.0.0.1:8080/orders/ord-1/events"
        );
    }

    #[test]
    fn only_order_status_messages_are_statuses() {
        let status = Envelope::new(
            STATUS_TYPE,
            serde_json::json!({"order_id": "ord-1", "status": "reserved", "cause": "current"}),
        );
        assert_eq!(
            parse(status.clone(), "ord-1").ok(),
            Some(OrderStatus::Reserved)
        );
        assert!(parse(status, "ord-2").is_err(), "another order's status");
        let error = Envelope::new("error", serde_json::json!({"code": "handler_error"}));
        assert!(parse(error, "ord-1").is_err());
        let malformed = Envelope::new(STATUS_TYPE, serde_json::json!({"status": 7}));
        assert!(parse(malformed, "ord-1").is_err());
    }
}
