//! [`EventBus`]: typed CloudEvents over any broker.

use std::future::Future;
use std::sync::Arc;

use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracewire_core::instrument::Propagation;

use super::codec::{self, DecodeEventError, Mode};
use crate::router::{
    DeadLetter, HandlerError, Recover, RouteOptions, Router, RouterHandle, handler_fn,
};
use crate::{BoxError, Broker, Headers, Message, PublishError, SubscribeError};

/// A typed event: its CloudEvents `type`, and the topic it travels on.
pub trait EventType: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The CloudEvents `type` (reverse-DNS by convention: `com.example.order.created`).
    const TYPE: &'static str;
    /// The topic (default: the type).
    fn topic() -> &'static str {
        Self::TYPE
    }
}

/// A received event: the decoded data, the CloudEvent envelope and the message.
#[derive(Debug)]
pub struct Received<E> {
    /// The decoded `data`.
    pub data: E,
    /// The CloudEvent (id, source, time, extensions such as `traceparent`).
    pub event: Event,
    /// The message it came in.
    pub message: Message,
}

impl<E> Received<E> {
    /// Correlation and causation for events caused by this one: same correlation id
    /// (or this event's id when it has none), caused by this event's id.
    pub fn causation(&self) -> Causation {
        let correlation = match self.event.extension("correlationid") {
            Some(ExtensionValue::String(id)) => id.clone(),
            _ => self.event.id().to_owned(),
        };
        Causation {
            correlation_id: Some(correlation),
            causation_id: Some(self.event.id().to_owned()),
        }
    }
}

/// Correlation and causation ids of a published event (`correlationid`,
/// `causationid` extensions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Causation {
    /// The conversation this event belongs to.
    pub correlation_id: Option<String>,
    /// The event that caused this one.
    pub causation_id: Option<String>,
}

/// Why publishing an event failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishEventError {
    /// The event could not be serialised or built.
    #[error("event could not be encoded")]
    Encode(#[source] BoxError),
    /// The broker refused it.
    #[error("failed to publish the event")]
    Publish(#[from] PublishError),
}

/// Publishes and subscribes to typed CloudEvents 1.0 on any [`Broker`].
///
/// Published events carry id, source, type, time, `datacontenttype`, data, the
/// distributed-tracing extension (`traceparent`/`tracestate` of the context current
/// when the event is created) and `correlationid`/`causationid`. Subscribers decode
/// into their type; a message that is not a valid CloudEvent, has another type, or
/// does not decode is dead-lettered at once with the reason in headers, and the
/// subscriber keeps running.
#[derive(Clone)]
pub struct EventBus<B> {
    broker: B,
    source: String,
    mode: Mode,
    dead_letter_topic: String,
    max_attempts: u32,
    propagation: Propagation,
}

impl<B> std::fmt::Debug for EventBus<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("source", &self.source)
            .field("mode", &self.mode)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .finish_non_exhaustive()
    }
}

impl<B: Broker> EventBus<B> {
    /// Events from `source` (a URI reference naming this service), structured mode,
    /// dead letters to `events.dlq` after 5 failed deliveries, and the global
    /// propagator for the tracing extension (read at each publish; set by
    /// `tracewire_telemetry::init` to `tracewire_core::TracewirePropagator`, a no-op
    /// until something sets it).
    pub fn new(broker: B, source: impl Into<String>) -> Self {
        Self {
            broker,
            source: source.into(),
            mode: Mode::Structured,
            dead_letter_topic: "events.dlq".into(),
            max_attempts: 5,
            propagation: Propagation::Global,
        }
    }

    /// Sets the [`Mode`]; binary mode falls back to structured on a broker without
    /// headers.
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the dead-letter topic and the delivery attempts before a failing handler's
    /// event goes there.
    #[must_use]
    pub fn with_dead_letter(mut self, topic: impl Into<String>, max_attempts: u32) -> Self {
        self.dead_letter_topic = topic.into();
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Uses `propagator` for the `traceparent`/`tracestate` extension.
    #[must_use]
    pub fn with_propagator(mut self, propagator: Arc<dyn TextMapPropagator + Send + Sync>) -> Self {
        self.propagation = Propagation::Custom(propagator);
        self
    }

    /// Publishes `event` to its topic. Returns the event id.
    ///
    /// Cancel-safety: as [`Broker::publish`].
    pub async fn publish_event<E: EventType>(
        &self,
        event: &E,
    ) -> Result<String, PublishEventError> {
        self.publish_event_with(event, Causation::default()).await
    }

    /// Publishes `event` with correlation and causation ids (see [`Received::causation`]).
    ///
    /// Cancel-safety: as [`Broker::publish`].
    pub async fn publish_event_with<E: EventType>(
        &self,
        event: &E,
        causation: Causation,
    ) -> Result<String, PublishEventError> {
        let cloud = self
            .build(event, causation)
            .map_err(PublishEventError::Encode)?;
        let mode = if self.broker.guarantees().headers {
            self.mode
        } else {
            Mode::Structured
        };
        let msg = codec::encode(&cloud, E::topic(), mode)
            .map_err(|e| PublishEventError::Encode(e.into()))?;
        self.broker.publish(msg).await?;
        Ok(cloud.id().to_owned())
    }

    fn build<E: EventType>(&self, event: &E, causation: Causation) -> Result<Event, BoxError> {
        let data = serde_json::to_value(event)?;
        let mut builder = EventBuilderV10::new()
            .id(uuid::Uuid::new_v4().to_string())
            .source(self.source.clone())
            .ty(E::TYPE)
            .time(chrono::Utc::now())
            .data("application/json", data);
        let cx = Context::current();
        if cx.span().span_context().is_valid() {
            let mut headers = Headers::new();
            self.propagation.inject(&cx, &mut headers);
            for name in ["traceparent", "tracestate"] {
                if let Some(value) = headers.get(name) {
                    builder = builder.extension(name, value);
                }
            }
        }
        if let Some(id) = causation.correlation_id {
            builder = builder.extension("correlationid", id);
        }
        if let Some(id) = causation.causation_id {
            builder = builder.extension("causationid", id);
        }
        Ok(builder.build()?)
    }

    /// Subscribes `handler` to events of type `E` (a queue group named after the
    /// source, so replicas of one service share the work). Returns the running route.
    ///
    /// Cancel-safety: dropping the future before it completes leaves no subscription.
    pub async fn subscribe<E, F, Fut>(&self, handler: F) -> Result<RouterHandle, SubscribeError>
    where
        E: EventType,
        F: Fn(Received<E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let typed = handler_fn(move |message: Message| {
            let handler = Arc::clone(&handler);
            async move {
                let received = decode_typed::<E>(message).map_err(HandlerError::permanent)?;
                handler(received).await.map_err(HandlerError::Failed)?;
                Ok::<_, HandlerError>(Vec::new())
            }
        });
        Router::new(self.broker.clone())
            .with_middleware(DeadLetter::new(
                self.broker.clone(),
                self.dead_letter_topic.clone(),
                self.max_attempts,
            ))
            .with_middleware(Recover)
            .route_with(
                E::topic(),
                RouteOptions::new().queue_group(self.source.clone()),
                typed,
            )
            .run()
            .await
    }
}

fn decode_typed<E: EventType>(message: Message) -> Result<Received<E>, DecodeEventError> {
    let event = codec::decode(&message)?;
    if event.ty() != E::TYPE {
        return Err(DecodeEventError::WrongType {
            expected: E::TYPE,
            found: event.ty().to_owned(),
        });
    }
    let data = codec::data_as(&event)?;
    Ok(Received {
        data,
        event,
        message,
    })
}
