//! [`Traced`]: a [`Broker`] decorator that traces every publish and every delivery.

use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::Tracing;
use crate::{
    AckError, Broker, CloseError, Delivery, Guarantees, Message, PublishError, Reject, Responders,
    SubscribeError, SubscribeOptions, Subscription,
};

/// Wraps a broker so that publishes and deliveries are traced (see the
/// [module docs](crate::trace)). It is itself a [`Broker`], so every pattern works on it.
#[derive(Clone, Debug)]
pub struct Traced<B> {
    inner: B,
    tracing: Tracing,
}

impl<B: Broker> Traced<B> {
    /// Traces `inner` with `tracing`.
    pub fn new(inner: B, tracing: Tracing) -> Self {
        Self { inner, tracing }
    }

    /// The wrapped broker.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The tracing configuration.
    pub fn tracing(&self) -> &Tracing {
        &self.tracing
    }
}

impl<B: Broker> Broker for Traced<B> {
    type Subscription = TracedSubscription<B::Subscription>;
    type Delivery = TracedDelivery<B::Delivery>;

    fn system(&self) -> &'static str {
        self.inner.system()
    }

    fn guarantees(&self) -> Guarantees {
        self.inner.guarantees()
    }

    /// Starts `send {topic}` as a child of the context current when the future is first
    /// polled, injects it into the headers and publishes within it (so a backend can
    /// record events such as drops on it). A failed publish sets error status.
    async fn publish(&self, mut msg: Message) -> Result<(), PublishError> {
        let cx = self.tracing.start_send(self.inner.system(), &mut msg);
        let result = self.inner.publish(msg).with_context(cx.clone()).await;
        let span = cx.span();
        if let Err(err) = &result {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type(err)));
            span.set_status(Status::error(err.to_string()));
        }
        span.end();
        result
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<Self::Subscription, SubscribeError> {
        let group = options.queue_group.clone();
        let inner = self.inner.subscribe(topic, options).await?;
        Ok(TracedSubscription {
            inner,
            tracing: self.tracing.clone(),
            system: self.inner.system(),
            group,
        })
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.inner.close().await
    }

    fn has_subscribers(&self, topic: &str) -> Option<bool> {
        self.inner.has_subscribers(topic)
    }

    /// Traced like [`publish`](Broker::publish) (`send {topic}`); a request that
    /// reached no one ([`Responders::Absent`]) sets error status and
    /// `error.type` = `no_responders`.
    async fn publish_request(&self, mut msg: Message) -> Result<Responders, PublishError> {
        let cx = self.tracing.start_send(self.inner.system(), &mut msg);
        let result = self
            .inner
            .publish_request(msg)
            .with_context(cx.clone())
            .await;
        let span = cx.span();
        match &result {
            Err(err) => {
                span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type(err)));
                span.set_status(Status::error(err.to_string()));
            }
            Ok(Responders::Absent) => {
                span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, "no_responders"));
                span.set_status(Status::error("no responders"));
            }
            Ok(_) => {}
        }
        span.end();
        result
    }
}

fn error_type(err: &PublishError) -> &'static str {
    match err {
        PublishError::Closed => "closed",
        PublishError::InvalidTopic(_) => "invalid_topic",
        PublishError::QueueFull { .. } => "queue_full",
        _ => "backend",
    }
}

/// A subscription whose deliveries carry a `process` span.
#[derive(Debug)]
pub struct TracedSubscription<S> {
    inner: S,
    tracing: Tracing,
    system: &'static str,
    group: Option<String>,
}

impl<S: Subscription> Subscription for TracedSubscription<S> {
    type Delivery = TracedDelivery<S::Delivery>;

    async fn next(&mut self) -> Option<Self::Delivery> {
        let inner = self.inner.next().await?;
        let cx = self
            .tracing
            .start_process(self.system, inner.message(), self.group.as_deref());
        Some(TracedDelivery { inner, cx })
    }

    fn topic(&self) -> &str {
        self.inner.topic()
    }
}

/// A delivery with its `process` span, which ends when the delivery is settled.
///
/// Everything the wrapped delivery can do stays reachable: [`ack`](Delivery::ack) and
/// [`nack`](Delivery::nack) through [`Delivery`], [`reject`](Reject::reject) whenever the
/// wrapped delivery implements [`Reject`], and the wrapped delivery itself through
/// [`inner`](Self::inner) (borrowed) or [`into_parts`](Self::into_parts) (to settle it
/// with a backend-specific operation, inside its `process` span).
#[derive(Debug)]
pub struct TracedDelivery<D> {
    inner: D,
    cx: Context,
}

impl<D: Delivery> TracedDelivery<D> {
    /// The wrapped delivery, for backend-specific accessors.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped delivery and the context of its `process` span, which keeps running:
    /// settle the delivery (within the context, so the backend's own spans and events
    /// land on it), then end the span with `cx.span().end()`. Dropping the last clone of
    /// the context ends the span too.
    pub fn into_parts(self) -> (D, Context) {
        (self.inner, self.cx)
    }

    /// The wrapped delivery; its `process` span ends now, with a `delivery unwrapped`
    /// event: what happens to the delivery afterwards is not traced. Prefer
    /// [`into_parts`](Self::into_parts) to keep the span open until it is settled.
    pub fn into_inner(self) -> D {
        let span = self.cx.span();
        span.add_event("delivery unwrapped", Vec::new());
        span.end();
        self.inner
    }
}

impl<D: Delivery> Delivery for TracedDelivery<D> {
    fn message(&self) -> &Message {
        self.inner.message()
    }

    fn context(&self) -> Context {
        self.cx.clone()
    }

    async fn ack(self) -> Result<(), AckError> {
        let result = self.inner.ack().await;
        self.cx.span().end();
        result
    }

    /// Nacks and ends the span, recording a `message nacked` event. The error status
    /// comes from whoever knows the error (the router sets the handler's error).
    async fn nack(self) -> Result<(), AckError> {
        let span = self.cx.span();
        span.add_event("message nacked", Vec::new());
        let result = self.inner.nack().await;
        span.end();
        result
    }
}

/// Attribute of the `message rejected` event: the reason given to `reject`.
const REJECT_REASON: &str = "tracewire.messaging.reject.reason";

impl<D: Reject> Reject for TracedDelivery<D> {
    /// Rejects and ends the span: a `message rejected` event with the reason
    /// (`tracewire.messaging.reject.reason`), error status with the reason and
    /// `error.type` = `rejected`, since the message was not processed. If the wrapped
    /// reject fails, the event `reject failed` carries its error.
    async fn reject(self, reason: &str) -> Result<(), AckError> {
        let span = self.cx.span();
        span.add_event(
            "message rejected",
            vec![KeyValue::new(REJECT_REASON, reason.to_owned())],
        );
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, "rejected"));
        span.set_status(Status::error(reason.to_owned()));
        let result = self
            .inner
            .reject(reason)
            .with_context(self.cx.clone())
            .await;
        if let Err(err) = &result {
            span.add_event(
                "reject failed",
                vec![KeyValue::new(semconv::EXCEPTION_MESSAGE, err.to_string())],
            );
        }
        span.end();
        result
    }
}
