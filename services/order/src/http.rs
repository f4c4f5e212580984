//! The order API's routes.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tracewire_broker::Broker;
use tracewire_contracts::{Order as OrderView, PlaceOrder};
use tracewire_http::{ApiError, JsonBody};

use crate::Order;
use crate::events::{EVENTS_ROUTE, run};

pub(crate) fn routes<B: Broker>(order: Order<B>) -> Router {
    Router::new()
        .route("/orders", post(place::<B>))
        .route("/orders/{id}", get(show::<B>))
        .route(EVENTS_ROUTE, get(events::<B>))
        .with_state(order)
}

async fn place<B: Broker>(
    State(order): State<Order<B>>,
    JsonBody(request): JsonBody<PlaceOrder>,
) -> Result<impl IntoResponse, ApiError> {
    let placed = order.place(request).await?;
    let location = format!("/orders/{}", placed.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(placed),
    ))
}

async fn show<B: Broker>(
    State(order): State<Order<B>>,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    order
        .find(&id)
        .await
        .map_err(|e| ApiError::internal(format!("order store: {e}")))?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no order {id}")))
}

/// `GET /orders/{id}/events`: 404 (JSON, before upgrading) for an unknown order, else
/// the status stream ([`crate::events`]).
async fn events<B: Broker>(
    State(order): State<Order<B>>,
    Path(id): Path<String>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    // Subscribe before reading, so no change falls between the read and the feed.
    let updates = order.updates();
    let (current, cause) = order
        .load(&id)
        .await
        .map_err(|e| ApiError::internal(format!("order store: {e}")))?
        .ok_or_else(|| ApiError::not_found(format!("no order {id}")))?;
    let ws = ws.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "websocket_required",
            format!("{}: open this URL as a WebSocket", rejection.body_text()),
        )
    })?;
    let session = order.events.clone();
    let stop = order.streams.subscribe();
    Ok(
        session.upgrade_with(ws, &headers, &uri, Some(EVENTS_ROUTE), move |sender| {
            run(order, current, cause, updates, stop, sender)
        }),
    )
}
