//! The router: handlers per topic or queue group, wrapped in composable middleware
//! (watermill style), with per-route concurrency and graceful shutdown.
//!
//! For each delivery the router runs the handler with the delivery's context current
//! (the `process` span of a [`Traced`](crate::trace::Traced) broker), publishes the
//! messages the handler produced (within that context, so they continue the trace),
//! then acks. A handler error sets error status on the span and nacks (the broker
//! redelivers); add [`DeadLetter`] to stop after N attempts.
//!
//! Middleware added first is outermost. Order matters for poison messages: put
//! [`DeadLetter`] outside [`Retry`], and [`Recover`] inside both (add it last), so that
//! a panic becomes an error they count; a panic that unwinds past them is never
//! dead-lettered and the message is redelivered forever.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tracewire_broker::memory::MemoryBroker;
//! use tracewire_broker::router::{CorrelationId, DeadLetter, Recover, Retry, RouteOptions, Router, Timeout, handler_fn};
//! use tracewire_broker::{Broker, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = MemoryBroker::new();
//! let router = Router::new(broker.clone())
//!     .with_middleware(CorrelationId)
//!     .with_middleware(DeadLetter::new(broker.clone(), "orders.dlq", 3))
//!     .with_middleware(Retry::default())
//!     .with_middleware(Timeout(Duration::from_secs(5)))
//!     .with_middleware(Recover)
//!     .route_with(
//!         "orders.created",
//!         RouteOptions::new().queue_group("billing").concurrency(8),
//!         handler_fn(|msg: Message| async move {
//!             Ok::<_, std::convert::Infallible>(vec![Message::new("invoices.requested", msg.payload)])
//!         }),
//!     )
//!     .run()
//!     .await?;
//! broker.publish(Message::new("orders.created", "42")).await?;
//! router.shutdown().await;
//! # Ok(()) }
//! ```

mod handler;
pub mod middleware;
mod run;

use std::sync::Arc;

pub use handler::{BoxHandler, HandlerError, HandlerResult, Middleware, handler_fn};
pub use middleware::{CorrelationId, DeadLetter, Deduplicate, Recover, Retry, Timeout};
pub use run::RouterHandle;

use crate::{Broker, Overflow, SubscribeError, SubscribeOptions};

/// Options of one route.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RouteOptions {
    /// How the route subscribes (queue group, capacity, overflow policy).
    pub subscribe: SubscribeOptions,
    /// Messages handled at once (default 1: in order). The router takes a message from
    /// the broker only when a slot is free, so a slow handler backpressures the broker
    /// queue instead of piling messages up in memory.
    pub concurrency: usize,
    middleware: Vec<Arc<dyn Middleware>>,
}

impl std::fmt::Debug for RouteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteOptions")
            .field("subscribe", &self.subscribe)
            .field("concurrency", &self.concurrency)
            .field("middleware", &self.middleware.len())
            .finish()
    }
}

impl RouteOptions {
    /// Fan-out subscription, concurrency 1, no route middleware.
    pub fn new() -> Self {
        Self {
            concurrency: 1,
            ..Self::default()
        }
    }
    /// Joins a queue group (competing consumers).
    #[must_use]
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.subscribe = self.subscribe.queue_group(group);
        self
    }
    /// Queue capacity.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.subscribe = self.subscribe.capacity(capacity);
        self
    }
    /// Overflow policy.
    #[must_use]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.subscribe = self.subscribe.overflow(overflow);
        self
    }
    /// Messages handled at once (at least 1).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Middleware for this route only (inside the router-wide middleware).
    #[must_use]
    pub fn middleware(mut self, m: impl Middleware) -> Self {
        self.middleware.push(Arc::new(m));
        self
    }
}

struct Route {
    topic: String,
    options: RouteOptions,
    handler: BoxHandler,
}

/// Routes messages from topics to handlers. Build it, then [`run`](Router::run).
pub struct Router<B: Broker> {
    broker: B,
    middleware: Vec<Arc<dyn Middleware>>,
    routes: Vec<Route>,
}

impl<B: Broker> std::fmt::Debug for Router<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let topics: Vec<&str> = self.routes.iter().map(|r| r.topic.as_str()).collect();
        f.debug_struct("Router")
            .field("routes", &topics)
            .finish_non_exhaustive()
    }
}

impl<B: Broker> Router<B> {
    /// A router consuming from and publishing to `broker`.
    pub fn new(broker: B) -> Self {
        Self {
            broker,
            middleware: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Adds middleware for every route; the first added is the outermost.
    #[must_use]
    pub fn with_middleware(mut self, m: impl Middleware) -> Self {
        self.middleware.push(Arc::new(m));
        self
    }

    /// Routes `topic` (fan-out subscription, concurrency 1) to `handler`.
    #[must_use]
    pub fn route(self, topic: impl Into<String>, handler: BoxHandler) -> Self {
        self.route_with(topic, RouteOptions::new(), handler)
    }

    /// Routes `topic` to `handler` with options.
    #[must_use]
    pub fn route_with(
        mut self,
        topic: impl Into<String>,
        options: RouteOptions,
        handler: BoxHandler,
    ) -> Self {
        self.routes.push(Route {
            topic: topic.into(),
            options,
            handler,
        });
        self
    }

    /// Subscribes every route and starts processing (tokio tasks). If one subscription
    /// fails, none is kept.
    ///
    /// Cancel-safety: dropping the future drops the subscriptions made so far.
    pub async fn run(self) -> Result<RouterHandle, SubscribeError> {
        let mut subscribed = Vec::with_capacity(self.routes.len());
        for route in self.routes {
            let sub = self
                .broker
                .subscribe(&route.topic, route.options.subscribe.clone())
                .await?;
            let mut handler = route.handler;
            for m in route
                .options
                .middleware
                .iter()
                .rev()
                .chain(self.middleware.iter().rev())
            {
                handler = m.wrap(handler);
            }
            subscribed.push((sub, handler, route.options.concurrency.max(1)));
        }
        Ok(RouterHandle::start(&self.broker, subscribed))
    }
}
