//! The demo client: places each order through the mesh sidecar inside its own root
//! span, then, still inside it, watches the order's status stream (WebSocket, straight
//! to order: [`super::stream`]) while waiting for the order to reach a final state.

use std::time::Duration;

use opentelemetry::trace::{FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tokio::sync::broadcast;
use tracewire_contracts::{Order, OrderStatus, PlaceOrder};
use tracewire_http::{JsonClient, JsonClientError};
use tracewire_order_service::Update;
use tracewire_service_kit::Telemetry;

use super::stream;

/// How long an order may take to reach its final state.
pub(crate) const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// What happened to one order.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) n: u32,
    pub(crate) request: PlaceOrder,
    /// The order as placed (None: refused at once).
    pub(crate) placed: Option<Order>,
    /// The final status (None: not reached in time).
    pub(crate) status: Option<OrderStatus>,
    /// Why it failed or was refused.
    pub(crate) reason: Option<String>,
    /// The statuses the order's status stream sent, in order (empty: refused at once,
    /// or the stream failed).
    pub(crate) streamed: Vec<OrderStatus>,
    /// Why the status stream failed (None: it closed normally, or was never opened).
    pub(crate) stream_error: Option<String>,
}

/// Where the demo client sends its requests.
#[derive(Debug)]
pub(crate) struct Endpoints<'a> {
    /// `POST /orders`, through the mesh sidecar.
    pub(crate) to_order: &'a JsonClient,
    /// Order itself (`http://host:port`), for the status stream: the sidecar does not
    /// pass WebSocket upgrades.
    pub(crate) order_url: &'a str,
}

/// Places order `n` and follows it to its final state through `updates` and, in the
/// order's trace, through its status stream.
pub(crate) async fn place(
    telemetry: &Telemetry,
    endpoints: &Endpoints<'_>,
    updates: &mut broadcast::Receiver<Update>,
    n: u32,
    request: PlaceOrder,
) -> Outcome {
    let tracer = telemetry.tracer();
    let span = tracer
        .span_builder(format!("demo order {n}"))
        .with_kind(SpanKind::Internal)
        .with_attributes([KeyValue::new("app.customer", request.customer.clone())])
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let placed = endpoints
        .to_order
        .post_json::<_, Order>("/orders", &request)
        .with_context(cx.clone())
        .await;
    let mut outcome = Outcome {
        n,
        request,
        placed: None,
        status: None,
        reason: None,
        streamed: Vec::new(),
        stream_error: None,
    };
    match placed {
        Ok(order) => {
            cx.span()
                .set_attribute(KeyValue::new("app.order.id", order.id.clone()));
            let watching = stream::watch(telemetry, endpoints.order_url, &order.id, SETTLE_TIMEOUT)
                .with_context(cx.clone());
            let settling = tokio::time::timeout(SETTLE_TIMEOUT, settle(updates, &order.id));
            let (streamed, settled) = tokio::join!(watching, settling);
            match streamed {
                Ok(statuses) => outcome.streamed = statuses,
                Err(error) => {
                    cx.span()
                        .set_status(Status::error(format!("status stream: {error:#}")));
                    outcome.stream_error = Some(format!("{error:#}"));
                }
            }
            match settled {
                Ok(Some(update)) => {
                    outcome.status = Some(update.status);
                    outcome.reason = update.reason;
                }
                Ok(None) | Err(_) => {
                    cx.span()
                        .set_status(Status::error("no final state in time"));
                }
            }
            outcome.placed = Some(order);
        }
        Err(error) => {
            outcome.status = Some(OrderStatus::Rejected);
            outcome.reason = Some(describe(&error));
            cx.span().set_status(Status::error(error.to_string()));
        }
    }
    if let Some(OrderStatus::Cancelled) = outcome.status {
        let reason = outcome.reason.clone().unwrap_or_default();
        cx.span()
            .set_status(Status::error(format!("order cancelled: {reason}")));
    }
    cx.span().end();
    outcome
}

/// The order's final update; `None` if the feed ended first.
async fn settle(
    updates: &mut broadcast::Receiver<Update>,
    order_id: &str,
) -> Option<tracewire_contracts::OrderUpdate> {
    loop {
        match updates.recv().await {
            Ok(Update { update, .. })
                if update.order_id == order_id && update.status.is_final() =>
            {
                return Some(update);
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

fn describe(error: &JsonClientError) -> String {
    match error {
        JsonClientError::Status {
            status,
            error: Some(detail),
            ..
        } => format!("{status}: {}", detail.message),
        other => other.to_string(),
    }
}
