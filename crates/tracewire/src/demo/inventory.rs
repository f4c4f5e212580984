//! The inventory service: `POST /reserve` takes stock or answers 409.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use tracewire_http::{ApiError, JsonBody};

use super::contracts::{Reserve, Reserved};

#[derive(Clone, Debug)]
struct Inventory {
    stock: Arc<Mutex<HashMap<String, u32>>>,
    tracer: SdkTracer,
}

/// The inventory API with `stock` units on hand per SKU.
pub(crate) fn app(stock: HashMap<String, u32>, tracer: SdkTracer) -> Router {
    Router::new()
        .route("/reserve", post(reserve))
        .with_state(Inventory {
            stock: Arc::new(Mutex::new(stock)),
            tracer,
        })
}

async fn reserve(
    State(inventory): State<Inventory>,
    JsonBody(request): JsonBody<Reserve>,
) -> Result<Json<Reserved>, ApiError> {
    // An application span inside the handler: a child of the SERVER span, because the
    // layer makes the request's context current while the handler runs.
    let mut span = inventory.tracer.start("take stock");
    span.set_attribute(KeyValue::new("app.sku", request.sku.clone()));
    span.set_attribute(KeyValue::new("app.quantity", i64::from(request.quantity)));
    let outcome = {
        let mut stock = inventory
            .stock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match stock.get_mut(&request.sku) {
            None => Err(ApiError::not_found(format!("unknown sku {}", request.sku))),
            Some(on_hand) if *on_hand < request.quantity => Err(ApiError::conflict(format!(
                "only {on_hand} of {} left, {} requested",
                request.sku, request.quantity
            ))),
            Some(on_hand) => {
                *on_hand -= request.quantity;
                Ok(Reserved {
                    reservation_id: format!("res-{}", request.order_id),
                    remaining: *on_hand,
                })
            }
        }
    };
    if let Err(error) = &outcome {
        span.set_status(opentelemetry::trace::Status::error(
            error.message().to_owned(),
        ));
    }
    span.end();
    outcome.map(Json)
}
