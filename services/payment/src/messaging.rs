//! Payment on the broker: the `order.created` consumer.

use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tracewire_broker::events::{EventBus, PublishEventError, Received};
use tracewire_broker::router::RouterHandle;
use tracewire_broker::{BoxError, Broker, SubscribeError};
use tracewire_contracts::events::{OrderCreated, PaymentCompleted, PaymentFailed};
use tracewire_contracts::topics;
use tracewire_service_kit::inbox;

use crate::Payment;
use crate::rule::{Decision, decide};
use crate::store::{self, PaymentRecord, StoreError};

/// The CloudEvents `source` of payment's events (and its consumer group).
pub const SOURCE: &str = "/services/payment";

/// Starts consuming `order.created` on `broker` (already traced with payment's
/// telemetry). Stop it with [`RouterHandle::shutdown`].
///
/// Cancel-safety: dropping the future before it completes leaves no subscription.
pub async fn start_messaging<B: Broker>(
    payment: Payment,
    broker: B,
) -> Result<RouterHandle, SubscribeError> {
    let bus = payment
        .telemetry
        .events(broker, SOURCE)
        .with_dead_letter(topics::DEAD_LETTER, 5);
    let publisher = bus.clone();
    bus.subscribe(move |event: Received<OrderCreated>| {
        let (payment, bus) = (payment.clone(), publisher.clone());
        async move { payment.charge(&bus, &event).await }
    })
    .await
}

#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("payment database")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Publish(#[from] PublishEventError),
}

impl Payment {
    async fn charge<B: Broker>(
        &self,
        bus: &EventBus<B>,
        event: &Received<OrderCreated>,
    ) -> Result<(), BoxError> {
        let order = &event.data;
        let tracer = self.telemetry.tracer();
        let span = tracer
            .span_builder("charge payment")
            .with_attributes([
                KeyValue::new("app.order.id", order.order_id.clone()),
                KeyValue::new(
                    "app.amount_cents",
                    i64::try_from(order.total_cents).unwrap_or(i64::MAX),
                ),
            ])
            .start(&tracer);
        let cx = Context::current_with_span(span);
        let outcome = self.charge_in_tx(bus, event).with_context(cx.clone()).await;
        match &outcome {
            Ok(Some(reason)) => cx.span().set_status(Status::error(reason.clone())),
            Ok(None) => {}
            Err(error) => cx.span().set_status(Status::error(error.to_string())),
        }
        cx.span().end();
        outcome.map(drop).map_err(Into::into)
    }

    /// Returns the refusal reason when the charge is refused.
    async fn charge_in_tx<B: Broker>(
        &self,
        bus: &EventBus<B>,
        event: &Received<OrderCreated>,
    ) -> Result<Option<String>, HandleError> {
        let order = &event.data;
        let mut tx = self.pool.begin().await?;
        if !inbox::claim(&mut tx, "payment/order.created", &event.message.id).await? {
            return Ok(None);
        }
        // A second order.created for the same order (a republished event) repeats the
        // first outcome and never charges again.
        let payment = match store::find(&mut tx, &order.order_id).await? {
            Some(existing) => existing,
            None => {
                let (status, reason) = match decide(order.total_cents) {
                    Decision::Charge => ("completed", None),
                    Decision::Refuse(reason) => ("failed", Some(reason)),
                };
                let payment = PaymentRecord {
                    order_id: order.order_id.clone(),
                    payment_id: format!("pay-{}", uuid::Uuid::new_v4().simple()),
                    amount_cents: order.total_cents,
                    status: status.into(),
                    reason,
                };
                store::insert(&mut tx, &payment).await?;
                payment
            }
        };
        match &payment.reason {
            None => {
                let done = PaymentCompleted {
                    order_id: payment.order_id.clone(),
                    payment_id: payment.payment_id.clone(),
                    amount_cents: payment.amount_cents,
                };
                bus.publish_event_with(&done, event.causation()).await?;
            }
            Some(reason) => {
                let failed = PaymentFailed {
                    order_id: payment.order_id.clone(),
                    payment_id: payment.payment_id.clone(),
                    reason: reason.clone(),
                };
                bus.publish_event_with(&failed, event.causation()).await?;
            }
        }
        tx.commit().await?;
        Ok(payment.reason)
    }
}
