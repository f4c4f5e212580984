//! [`serve`]: answer requests on a topic.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, InstrumentationScope, KeyValue, global};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::deadline::expired;
use super::{DEADLINE_HEADER, ERROR_HEADER, ServeError};
use crate::router::{
    BoxHandler, HandlerError, Middleware, Recover, RouteOptions, Router, RouterHandle, handler_fn,
};
use crate::{BoxError, Broker, Message};

/// Name of the counter of requests skipped because their deadline had passed.
pub const EXPIRED_REQUESTS_METRIC: &str = "tracewire.messaging.expired_requests";

/// Options of [`serve_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Queue group of the responders (default: the topic, so several responders share
    /// the load and each request is answered once). `None`: every responder answers.
    pub queue_group: Option<String>,
    /// Requests handled at once (default 16).
    pub concurrency: usize,
    /// The meter for the expired-request counter (default: the global meter
    /// provider's).
    pub meter: Option<Meter>,
}

impl ServeOptions {
    /// Queue group = topic, concurrency 16.
    pub fn new() -> Self {
        Self {
            queue_group: None,
            concurrency: 16,
            meter: None,
        }
    }
    /// Sets [`Self::queue_group`].
    #[must_use]
    pub fn queue_group(mut self, group: Option<String>) -> Self {
        self.queue_group = group;
        self
    }
    /// Sets [`Self::concurrency`].
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Sets [`Self::meter`].
    #[must_use]
    pub fn meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Answers requests on `topic` with `handler`, in the queue group named after the
/// topic and with [`ServeOptions::new`]. See [`serve_with`].
///
/// Cancel-safety: dropping the future before it completes leaves no subscription.
pub async fn serve<B, F, Fut, E>(
    broker: B,
    topic: &str,
    handler: F,
) -> Result<RouterHandle, ServeError>
where
    B: Broker,
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Message, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let options = ServeOptions::new().queue_group(Some(topic.to_owned()));
    serve_with(broker, topic, options, handler).await
}

/// Answers requests on `topic`: the handler's message is published to the request's
/// `reply_to` with the request's correlation id, within the request's `process` span
/// (so the reply continues the trace). A handler error or panic is answered with an
/// error reply ([`ERROR_HEADER`]) and sets error status on the span; a request without
/// `reply_to` is acked and marked as an error.
///
/// A request whose [`DEADLINE_HEADER`] deadline has already passed when it is taken is
/// acked without running the handler and without a reply (nobody waits for it): a
/// `request deadline expired` event goes on its `process` span and the counter
/// [`EXPIRED_REQUESTS_METRIC`] grows. A handler that finishes after the deadline still
/// replies; the requester counts that reply as late. Stop with
/// [`RouterHandle::shutdown`].
///
/// Cancel-safety: dropping the future before it completes leaves no subscription.
pub async fn serve_with<B, F, Fut, E>(
    broker: B,
    topic: &str,
    options: ServeOptions,
    handler: F,
) -> Result<RouterHandle, ServeError>
where
    B: Broker,
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Message, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let handler = Arc::new(handler);
    let expired_counter = expired_counter(options.meter.clone());
    let inner = Recover.wrap(handler_fn(move |req: Message| {
        let fut = handler(req);
        async move { fut.await.map(|reply| vec![reply]) }
    }));
    let answer: BoxHandler = Arc::new(move |req: Message| {
        let inner = Arc::clone(&inner);
        let expired_counter = expired_counter.clone();
        Box::pin(async move {
            if expired(&req, SystemTime::now()) {
                skip_expired(&req, &expired_counter);
                return Ok(Vec::new());
            }
            let Some(reply_to) = req.reply_to.clone() else {
                Context::current()
                    .span()
                    .set_status(Status::error("request without reply_to"));
                return Ok(Vec::new());
            };
            let mut reply = match inner(req.clone()).await {
                Ok(mut produced) => produced.pop().unwrap_or_else(|| Message::new("", "")),
                Err(err) => error_reply(&err),
            };
            reply.topic = reply_to;
            reply.correlation_id.clone_from(&req.correlation_id);
            reply.reply_to = None;
            Ok(vec![reply])
        })
    });
    let mut route = RouteOptions::new().concurrency(options.concurrency);
    if let Some(group) = options.queue_group {
        route = route.queue_group(group);
    }
    Ok(Router::new(broker)
        .route_with(topic, route, answer)
        .run()
        .await?)
}

fn expired_counter(meter: Option<Meter>) -> Counter<u64> {
    let meter = meter.unwrap_or_else(|| {
        global::meter_with_scope(InstrumentationScope::builder("tracewire-broker").build())
    });
    meter
        .u64_counter(EXPIRED_REQUESTS_METRIC)
        .with_description("Requests skipped unanswered because their deadline had passed")
        .with_unit("{message}")
        .build()
}

fn skip_expired(req: &Message, counter: &Counter<u64>) {
    counter.add(
        1,
        &[KeyValue::new(
            semconv::MESSAGING_DESTINATION_NAME,
            req.topic.clone(),
        )],
    );
    let deadline = req
        .headers
        .get(DEADLINE_HEADER)
        .unwrap_or_default()
        .to_owned();
    Context::current().span().add_event(
        "request deadline expired",
        vec![KeyValue::new("tracewire.request.deadline", deadline)],
    );
}

fn error_reply(err: &HandlerError) -> Message {
    let text = err.to_string();
    Context::current()
        .span()
        .set_status(Status::error(text.clone()));
    Message::new("", text.clone()).with_header(ERROR_HEADER, text)
}
