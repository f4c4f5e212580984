//! The order API's routes.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tracewire_broker::Broker;
use tracewire_contracts::{Order as OrderView, PlaceOrder};
use tracewire_http::{ApiError, JsonBody};

use crate::Order;

pub(crate) fn routes<B: Broker>(order: Order<B>) -> Router {
    Router::new()
        .route("/orders", post(place::<B>))
        .route("/orders/{id}", get(show::<B>))
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
