//! `GET /payments/{order_id}`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use tracewire_http::ApiError;

use crate::{Payment, PaymentRecord, store};

pub(crate) fn routes(payment: Payment) -> Router {
    Router::new()
        .route("/payments/{order_id}", get(show))
        .with_state(payment)
}

async fn show(
    State(payment): State<Payment>,
    Path(order_id): Path<String>,
) -> Result<Json<PaymentRecord>, ApiError> {
    let unavailable = |e: &dyn std::fmt::Display| ApiError::internal(format!("payments: {e}"));
    let mut conn = payment.pool.acquire().await.map_err(|e| unavailable(&e))?;
    store::find(&mut conn, &order_id)
        .await
        .map_err(|e| unavailable(&e))?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no payment for order {order_id}")))
}
