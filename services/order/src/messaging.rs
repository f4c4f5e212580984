//! Order on the broker: the payment and inventory event consumers that move orders
//! through their states.

use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tracewire_broker::events::{EventType, PublishEventError, Received};
use tracewire_broker::router::RouterHandle;
use tracewire_broker::{BoxError, Broker, SubscribeError};
use tracewire_contracts::OrderUpdate;
use tracewire_contracts::events::{
    InventoryReleased, InventoryReserved, OrderCancelled, PaymentCompleted, PaymentFailed,
};
use tracewire_service_kit::inbox;

use crate::lifecycle::{Happening, next};
use crate::{Order, StoreError, store};

/// Order's running consumers; [`shutdown`](Self::shutdown) stops them gracefully.
#[derive(Debug)]
pub struct Messaging {
    routes: Vec<RouterHandle>,
}

impl Messaging {
    /// Stops taking messages and finishes those in flight.
    ///
    /// Cancel-safety: dropping the future leaves the routes stopping in the background.
    pub async fn shutdown(self) {
        for route in self.routes {
            route.shutdown().await;
        }
    }
}

/// Starts the four consumers.
///
/// Cancel-safety: dropping the future may leave some consumers running until their
/// handles drop (which stops them).
pub async fn start_messaging<B: Broker>(order: Order<B>) -> Result<Messaging, SubscribeError> {
    let routes = vec![
        consume(&order, |e: &PaymentCompleted| {
            (e.order_id.clone(), Happening::Paid)
        })
        .await?,
        consume(&order, |e: &PaymentFailed| {
            (
                e.order_id.clone(),
                Happening::PaymentRefused(e.reason.clone()),
            )
        })
        .await?,
        consume(&order, |e: &InventoryReserved| {
            (e.order_id.clone(), Happening::StockCommitted)
        })
        .await?,
        consume(&order, |e: &InventoryReleased| {
            (e.order_id.clone(), Happening::StockReleased)
        })
        .await?,
    ];
    Ok(Messaging { routes })
}

async fn consume<B, E, F>(order: &Order<B>, read: F) -> Result<RouterHandle, SubscribeError>
where
    B: Broker,
    E: EventType,
    F: Fn(&E) -> (String, Happening) + Send + Sync + Copy + 'static,
{
    let order = order.clone();
    order
        .bus
        .clone()
        .subscribe(move |event: Received<E>| {
            let order = order.clone();
            async move {
                let (order_id, happening) = read(&event.data);
                order.apply(&event, E::TYPE, &order_id, &happening).await
            }
        })
        .await
}

#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("order database")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Publish(#[from] PublishEventError),
}

impl<B: Broker> Order<B> {
    async fn apply<E>(
        &self,
        event: &Received<E>,
        cause: &'static str,
        order_id: &str,
        happening: &Happening,
    ) -> Result<(), BoxError> {
        let tracer = self.telemetry.tracer();
        let span = tracer
            .span_builder("update order")
            .with_attributes([
                KeyValue::new("app.order.id", order_id.to_owned()),
                KeyValue::new("app.cause", cause),
            ])
            .start(&tracer);
        let cx = Context::current_with_span(span);
        let outcome = self
            .apply_in_tx(event, cause, order_id, happening)
            .with_context(cx.clone())
            .await;
        match &outcome {
            Ok(Some(update)) => {
                cx.span()
                    .set_attribute(KeyValue::new("app.order.status", update.status.as_str()));
                let _guard = cx.clone().attach();
                self.announce(update.clone());
            }
            Ok(None) => {}
            Err(error) => cx.span().set_status(Status::error(error.to_string())),
        }
        cx.span().end();
        outcome.map(drop).map_err(Into::into)
    }

    async fn apply_in_tx<E>(
        &self,
        event: &Received<E>,
        cause: &'static str,
        order_id: &str,
        happening: &Happening,
    ) -> Result<Option<OrderUpdate>, HandleError> {
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, "order", &event.message.id).await? {
            return Ok(None);
        }
        let Some(order) = store::find(&mut tx, order_id).await? else {
            // Not ours (or not stored): nothing to move.
            tx.commit().await?;
            return Ok(None);
        };
        let Some(step) = next(order.status, happening) else {
            tx.commit().await?;
            return Ok(None);
        };
        let updating = Context::current();
        store::set_status(
            &mut tx,
            order_id,
            step.status,
            step.reason.as_deref(),
            updating.span().span_context(),
        )
        .await?;
        if step.cancel {
            let cancelled = OrderCancelled {
                order_id: order_id.to_owned(),
                reason: step.reason.clone().unwrap_or_default(),
            };
            self.bus
                .publish_event_with(&cancelled, event.causation())
                .await?;
        }
        tx.commit().await?;
        Ok(Some(OrderUpdate {
            order_id: order_id.to_owned(),
            status: step.status,
            cause: cause.to_owned(),
            reason: step.reason.or(order.reason),
        }))
    }
}
