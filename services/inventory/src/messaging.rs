//! Inventory on the broker: the `inventory.reserve` responder and the `order.created`
//! / `order.cancelled` consumers.

use opentelemetry::Context;
use opentelemetry::KeyValue;
use opentelemetry::trace::{FutureExt as _, TraceContextExt as _, Tracer as _};
use tracewire_broker::events::{EventBus, PublishEventError, Received};
use tracewire_broker::request_reply::{ServeError, serve};
use tracewire_broker::router::RouterHandle;
use tracewire_broker::{BoxError, Broker, Message, SubscribeError};
use tracewire_contracts::events::{
    InventoryReleased, InventoryReserved, OrderCancelled, OrderCreated,
};
use tracewire_contracts::reserve::{ReserveReply, ReserveStock};
use tracewire_contracts::topics;
use tracewire_service_kit::inbox;

use crate::{Inventory, StoreError, store};

/// The CloudEvents `source` of inventory's events.
pub const SOURCE: &str = "/services/inventory";

/// Why the broker side could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessagingError {
    /// The reservation responder could not subscribe.
    #[error("cannot answer {}", topics::INVENTORY_RESERVE)]
    Serve(#[from] ServeError),
    /// An event consumer could not subscribe.
    #[error("cannot consume order events")]
    Subscribe(#[from] SubscribeError),
}

/// Inventory's running broker side; [`shutdown`](Self::shutdown) stops it gracefully.
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

/// Starts answering reservations and consuming order events on `broker` (already
/// traced with inventory's telemetry).
///
/// Cancel-safety: dropping the future may leave some routes running until their
/// handles drop (which stops them).
pub async fn start_messaging<B: Broker>(
    inventory: Inventory,
    broker: B,
) -> Result<Messaging, MessagingError> {
    let bus = inventory
        .telemetry
        .events(broker.clone(), SOURCE)
        .with_dead_letter(topics::DEAD_LETTER, 5);
    let reserving = inventory.clone();
    let reserve = serve(
        broker,
        topics::INVENTORY_RESERVE,
        move |request: Message| {
            let inventory = reserving.clone();
            async move { inventory.answer_reserve(&request).await }
        },
    )
    .await?;
    let (on_created, bus_created) = (inventory.clone(), bus.clone());
    let created = bus
        .subscribe(move |event: Received<OrderCreated>| {
            let (inventory, bus) = (on_created.clone(), bus_created.clone());
            async move { inventory.commit_stock(&bus, &event).await }
        })
        .await?;
    let (on_cancelled, bus_cancelled) = (inventory, bus.clone());
    let cancelled = bus
        .subscribe(move |event: Received<OrderCancelled>| {
            let (inventory, bus) = (on_cancelled.clone(), bus_cancelled.clone());
            async move { inventory.release_stock(&bus, &event).await }
        })
        .await?;
    Ok(Messaging {
        routes: vec![reserve, created, cancelled],
    })
}

#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("inventory database")]
    Db(#[from] sqlx::Error),
    #[error("bad request")]
    Decode(#[from] serde_json::Error),
    #[error(transparent)]
    Publish(#[from] PublishEventError),
}

impl Inventory {
    fn app_span(&self, name: &'static str, order_id: &str) -> Context {
        let span = self
            .telemetry
            .tracer()
            .span_builder(name)
            .with_attributes([KeyValue::new("app.order.id", order_id.to_owned())])
            .start(&self.telemetry.tracer());
        Context::current_with_span(span)
    }

    async fn answer_reserve(&self, request: &Message) -> Result<Message, BoxError> {
        let ask: ReserveStock = serde_json::from_slice(&request.payload)?;
        let cx = self.app_span("hold stock", &ask.order_id);
        let outcome = async {
            let mut tx = self.pool.begin().await?;
            let (reply, levels) = store::reserve(&mut tx, &ask.order_id, &ask.items).await?;
            tx.commit().await?;
            self.announce(levels, "reserved", &ask.order_id);
            Ok::<_, HandleError>(reply)
        }
        .with_context(cx.clone())
        .await;
        end(&cx, outcome.as_ref().err());
        let reply = outcome?;
        if !matches!(reply, ReserveReply::Held { .. }) {
            cx.span()
                .set_attribute(KeyValue::new("app.reserve.outcome", "refused"));
        }
        Ok(Message::new("", serde_json::to_vec(&reply)?).with_content_type("application/json"))
    }

    async fn commit_stock<B: Broker>(
        &self,
        bus: &EventBus<B>,
        event: &Received<OrderCreated>,
    ) -> Result<(), BoxError> {
        let order_id = event.data.order_id.clone();
        let cx = self.app_span("commit stock", &order_id);
        let outcome = async {
            let mut tx = self.pool.begin().await?;
            if !inbox::claim(&mut tx, "inventory/order.created", &event.message.id).await? {
                return Ok(());
            }
            if let Some(items) = store::commit(&mut tx, &order_id).await? {
                let reserved = InventoryReserved { order_id, items };
                bus.publish_event_with(&reserved, event.causation()).await?;
            }
            tx.commit().await?;
            Ok::<_, HandleError>(())
        }
        .with_context(cx.clone())
        .await;
        end(&cx, outcome.as_ref().err());
        Ok(outcome?)
    }

    async fn release_stock<B: Broker>(
        &self,
        bus: &EventBus<B>,
        event: &Received<OrderCancelled>,
    ) -> Result<(), BoxError> {
        let order_id = event.data.order_id.clone();
        let cx = self.app_span("release stock", &order_id);
        let outcome = async {
            let mut tx = self.pool.begin().await?;
            if !inbox::claim(&mut tx, "inventory/order.cancelled", &event.message.id).await? {
                return Ok(());
            }
            if let Some((items, levels)) = store::release(&mut tx, &order_id).await? {
                let released = InventoryReleased {
                    order_id: order_id.clone(),
                    items,
                };
                bus.publish_event_with(&released, event.causation()).await?;
                tx.commit().await?;
                self.announce(levels, "released", &order_id);
            } else {
                tx.commit().await?;
            }
            Ok::<_, HandleError>(())
        }
        .with_context(cx.clone())
        .await;
        end(&cx, outcome.as_ref().err());
        Ok(outcome?)
    }
}

fn end(cx: &Context, error: Option<&HandleError>) {
    if let Some(error) = error {
        cx.span()
            .set_status(opentelemetry::trace::Status::error(error.to_string()));
    }
    cx.span().end();
}
