//! The checkout service: `POST /checkout` reserves stock with inventory over HTTP.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use tracewire_http::{ApiError, JsonBody, JsonClient, JsonClientError};

use super::contracts::{OrderPlaced, PlaceOrder, Reserve, Reserved};

#[derive(Clone, Debug)]
struct Checkout {
    inventory: JsonClient,
}

/// The checkout API, calling inventory through `inventory`.
pub(crate) fn app(inventory: JsonClient) -> Router {
    Router::new()
        .route("/checkout", post(checkout))
        .with_state(Checkout { inventory })
}

async fn checkout(
    State(checkout): State<Checkout>,
    JsonBody(order): JsonBody<PlaceOrder>,
) -> Result<(StatusCode, Json<OrderPlaced>), ApiError> {
    let order_id = format!("ord-{}-{}", order.customer, order.sku);
    let request = Reserve {
        order_id: order_id.clone(),
        sku: order.sku,
        quantity: order.quantity,
    };
    let reserved: Reserved = checkout
        .inventory
        .post_json("/reserve", &request)
        .await
        .map_err(upstream_error)?;
    Ok((
        StatusCode::CREATED,
        Json(OrderPlaced {
            order_id,
            reservation_id: reserved.reservation_id,
        }),
    ))
}

/// Passes inventory's verdict on (409, 404) and reports anything else as 502.
fn upstream_error(error: JsonClientError) -> ApiError {
    match error {
        JsonClientError::Status {
            status,
            error: Some(detail),
            ..
        } if status.is_client_error() => ApiError::new(status, detail.code, detail.message),
        other => ApiError::bad_gateway(format!("inventory: {other}")),
    }
}
