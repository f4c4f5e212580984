//! `GET /stock`: every SKU with its level and price.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tracewire_http::ApiError;

use crate::{Inventory, store};

#[derive(Debug, Serialize)]
struct Stock {
    sku: String,
    on_hand: u32,
    unit_price_cents: u64,
}

pub(crate) fn routes(inventory: Inventory) -> Router {
    Router::new()
        .route("/stock", get(stock))
        .with_state(inventory)
}

async fn stock(State(inventory): State<Inventory>) -> Result<Json<Vec<Stock>>, ApiError> {
    let items = store::all(&inventory.pool)
        .await
        .map_err(|e| ApiError::internal(format!("stock: {e}")))?;
    Ok(Json(
        items
            .into_iter()
            .map(|i| Stock {
                sku: i.sku,
                on_hand: i.on_hand,
                unit_price_cents: i.unit_price_cents,
            })
            .collect(),
    ))
}
