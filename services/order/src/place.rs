//! Placing an order: validate, check stock (gRPC), store, hold stock (broker
//! request/reply), publish `order.created`.

use axum::http::StatusCode;
use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tracewire_broker::request_reply::RequestError;
use tracewire_broker::{Broker, Message};
use tracewire_contracts::events::OrderCreated;
use tracewire_contracts::reserve::{ReserveReply, ReserveStock};
use tracewire_contracts::{
    Order as OrderView, OrderStatus, OrderUpdate, PlaceOrder, PricedLine, topics,
};
use tracewire_http::ApiError;

use crate::{Order, RESERVE_TIMEOUT, store};

fn unprocessable(reasons: &[String]) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_order",
        reasons.join("; "),
    )
}

fn internal(error: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal(format!("order store: {error}"))
}

impl<B: Broker> Order<B> {
    /// Places `request`: the order as stored, or why not.
    pub(crate) async fn place(&self, request: PlaceOrder) -> Result<OrderView, ApiError> {
        let tracer = self.telemetry.tracer();
        let span = tracer
            .span_builder("create order")
            .with_attributes([
                KeyValue::new("app.customer", request.customer.clone()),
                KeyValue::new("app.items", request.items.len() as i64),
            ])
            .start(&tracer);
        let cx = Context::current_with_span(span);
        let outcome = self.place_in(request).with_context(cx.clone()).await;
        if let Err(error) = &outcome {
            cx.span()
                .set_status(Status::error(error.message().to_owned()));
        }
        if let Ok(order) = &outcome {
            cx.span()
                .set_attribute(KeyValue::new("app.order.id", order.id.clone()));
        }
        cx.span().end();
        outcome
    }

    async fn place_in(&self, request: PlaceOrder) -> Result<OrderView, ApiError> {
        if let Err(errors) = request.validate() {
            let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(unprocessable(&reasons));
        }
        let check = self
            .inventory
            .check(&request.items)
            .await
            .map_err(|status| ApiError::bad_gateway(format!("inventory: {}", status.message())))?;
        let unknown: Vec<String> = check
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.known)
            .map(|(i, l)| format!("items[{i}].sku: unknown sku {}", l.sku))
            .collect();
        if !unknown.is_empty() {
            return Err(unprocessable(&unknown));
        }
        if !check.available {
            let short: Vec<String> = check
                .lines
                .iter()
                .filter(|l| l.on_hand < l.requested)
                .map(|l| {
                    format!(
                        "only {} {} left, {} requested",
                        l.on_hand, l.sku, l.requested
                    )
                })
                .collect();
            return Err(ApiError::conflict(short.join("; ")));
        }
        let lines: Vec<PricedLine> = check
            .lines
            .iter()
            .map(|l| PricedLine {
                sku: l.sku.clone(),
                quantity: l.requested,
                unit_price_cents: l.unit_price_cents,
            })
            .collect();
        let mut order = OrderView {
            id: format!("ord-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            customer: request.customer,
            total_cents: lines
                .iter()
                .map(|l| l.unit_price_cents * u64::from(l.quantity))
                .sum(),
            lines,
            status: OrderStatus::Pending,
            reason: None,
        };
        let placing = Context::current();
        let mut conn = self.pool.acquire().await.map_err(|e| internal(&e))?;
        store::insert(&mut conn, &order, placing.span().span_context())
            .await
            .map_err(|e| internal(&e))?;
        drop(conn);

        match self.hold_stock(&order, &request.items).await {
            Ok(reservation_id) => {
                self.confirm_placed(&order, &reservation_id).await?;
                self.announce(OrderUpdate {
                    order_id: order.id.clone(),
                    status: OrderStatus::Pending,
                    cause: "placed".into(),
                    reason: None,
                });
                Ok(order)
            }
            Err(refusal) => {
                let mut conn = self.pool.acquire().await.map_err(|e| internal(&e))?;
                store::set_status(
                    &mut conn,
                    &order.id,
                    OrderStatus::Rejected,
                    Some(refusal.message()),
                    placing.span().span_context(),
                )
                .await
                .map_err(|e| internal(&e))?;
                order.status = OrderStatus::Rejected;
                Err(refusal)
            }
        }
    }

    /// Asks inventory to hold the stock: the hold's id, or the response to give.
    async fn hold_stock(
        &self,
        order: &OrderView,
        items: &[tracewire_contracts::LineItem],
    ) -> Result<String, ApiError> {
        let ask = ReserveStock {
            order_id: order.id.clone(),
            items: items.to_vec(),
        };
        let payload = serde_json::to_vec(&ask).map_err(|e| internal(&e))?;
        let request = Message::new("", payload).with_content_type("application/json");
        let reply = self
            .requester
            .request(topics::INVENTORY_RESERVE, request, RESERVE_TIMEOUT)
            .await
            .map_err(|error| match error {
                RequestError::TimedOut(after) => {
                    ApiError::gateway_timeout(format!("inventory did not answer within {after:?}"))
                }
                other => ApiError::bad_gateway(format!("inventory: {other}")),
            })?;
        let reply: ReserveReply = serde_json::from_slice(&reply.payload)
            .map_err(|e| ApiError::bad_gateway(format!("inventory answered nonsense: {e}")))?;
        match reply {
            ReserveReply::Held { reservation_id } => Ok(reservation_id),
            ReserveReply::Insufficient {
                sku,
                on_hand,
                requested,
            } => Err(ApiError::conflict(format!(
                "only {on_hand} {sku} left, {requested} requested"
            ))),
            ReserveReply::UnknownSku { sku } => Err(unprocessable(&[format!("unknown sku {sku}")])),
        }
    }

    /// Records the hold and publishes `order.created` (before committing, so a crash
    /// in between republishes rather than loses it; consumers are idempotent).
    async fn confirm_placed(
        &self,
        order: &OrderView,
        reservation_id: &str,
    ) -> Result<(), ApiError> {
        let mut tx = self.pool.begin().await.map_err(|e| internal(&e))?;
        store::set_reservation(&mut tx, &order.id, reservation_id)
            .await
            .map_err(|e| internal(&e))?;
        let created = OrderCreated {
            order_id: order.id.clone(),
            customer: order.customer.clone(),
            lines: order.lines.clone(),
            total_cents: order.total_cents,
        };
        self.bus
            .publish_event(&created)
            .await
            .map_err(|e| ApiError::internal(format!("publishing order.created: {e}")))?;
        tx.commit().await.map_err(|e| internal(&e))
    }
}
