//! The [`Broker`] trait every backend implements, with its [`Subscription`] and
//! [`Delivery`] types, the declared [`Guarantees`] and [`SubscribeOptions`].
//!
//! Patterns (router, request/reply, event bus) are generic over `B: Broker` and never
//! name a backend. The trait uses return-position `impl Future`, so it is not object
//! safe: a program that picks a backend at run time uses an enum over its backends.

use std::future::Future;

use opentelemetry::Context;

use crate::{AckError, CloseError, Message, PublishError, SubscribeError};

/// A message broker backend. Handles are cheap clones sharing one connection or state.
pub trait Broker: Clone + Send + Sync + 'static {
    /// A live subscription; dropping it unsubscribes.
    type Subscription: Subscription<Delivery = Self::Delivery>;
    /// One received message, to be acked or nacked.
    type Delivery: Delivery;

    /// The `messaging.system` attribute value for spans (`nats`, `rabbitmq`, ...).
    fn system(&self) -> &'static str;

    /// What this backend promises; the conformance suite checks exactly these.
    fn guarantees(&self) -> Guarantees;

    /// Publishes `msg` to `msg.topic`. `Ok` means the broker accepted the message.
    ///
    /// Cancel-safety: dropping the future before it completes may or may not have
    /// published the message (as with any network send); it never publishes it twice.
    fn publish(&self, msg: Message) -> impl Future<Output = Result<(), PublishError>> + Send;

    /// Subscribes to `topic`: alone (fan-out: every subscriber gets every message) or,
    /// with [`SubscribeOptions::queue_group`], as a competing consumer.
    ///
    /// Cancel-safety: dropping the future before it completes leaves no subscription.
    fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> impl Future<Output = Result<Self::Subscription, SubscribeError>> + Send;

    /// Stops accepting publishes, lets subscribers receive and settle everything already
    /// accepted, then ends every subscription (their `next` returns `None`).
    ///
    /// Cancel-safety: dropping the future stops waiting; the broker stays closed.
    fn close(&self) -> impl Future<Output = Result<(), CloseError>> + Send;

    /// Whether anyone subscribes to `topic`, where the backend can tell at once (`None`
    /// if not). The default [`publish_request`](Broker::publish_request) asks it; a
    /// backend that can only learn it from the network overrides `publish_request`.
    fn has_subscribers(&self, topic: &str) -> Option<bool> {
        let _ = topic;
        None
    }

    /// Publishes a request (a message whose replies go to `msg.reply_to`) and tells
    /// whether anyone received it, where the backend can tell: request/reply
    /// ([`Requester`](crate::request_reply::Requester)) fails fast with `NoResponders`
    /// on [`Responders::Absent`]. Backends that declare
    /// [`Guarantees::reports_no_responders`] answer `Absent` for a topic nobody
    /// subscribes to.
    ///
    /// The default asks [`has_subscribers`](Broker::has_subscribers): `Some(false)` is
    /// `Absent` without publishing; otherwise the message is published and the answer is
    /// `Present` (`Some(true)`) or `Unknown`. NATS overrides it: the server's "no
    /// responders" status is only known after a round trip.
    ///
    /// Cancel-safety: as [`publish`](Broker::publish).
    fn publish_request(
        &self,
        msg: Message,
    ) -> impl Future<Output = Result<Responders, PublishError>> + Send {
        async move {
            let known = self.has_subscribers(&msg.topic);
            if known == Some(false) {
                return Ok(Responders::Absent);
            }
            self.publish(msg).await?;
            Ok(match known {
                Some(true) => Responders::Present,
                _ => Responders::Unknown,
            })
        }
    }
}

/// Whether a request reached anyone: the answer of [`Broker::publish_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Responders {
    /// The backend cannot tell; the request was published.
    Unknown,
    /// Someone subscribes to the topic; the request was published.
    Present,
    /// Nobody subscribes to the topic: the request reached no one (it may not have
    /// been published at all).
    Absent,
}

/// A stream of deliveries for one subscription. Dropping it unsubscribes.
pub trait Subscription: Send + 'static {
    /// The delivery type.
    type Delivery: Delivery;

    /// The next delivery; `None` once the subscription or the broker is closed.
    ///
    /// Cancel-safety: cancel-safe; a message is taken only when the future completes.
    fn next(&mut self) -> impl Future<Output = Option<Self::Delivery>> + Send;

    /// The topic this subscription listens to.
    fn topic(&self) -> &str;
}

/// One received message. Settle it with [`ack`](Delivery::ack) (done) or
/// [`nack`](Delivery::nack) (redeliver, the attempt counted). A delivery dropped without
/// either is nacked by backends that can redeliver.
pub trait Delivery: Send + 'static {
    /// The received message.
    fn message(&self) -> &Message;

    /// The context to process this delivery in. Untraced backends return an empty
    /// context; the tracing layer returns its `process` span's context.
    fn context(&self) -> Context {
        Context::new()
    }

    /// Acknowledges: the message is done and will not be redelivered.
    ///
    /// Cancel-safety: dropping the future may leave the message unacknowledged.
    fn ack(self) -> impl Future<Output = Result<(), AckError>> + Send;

    /// Rejects: the message is redelivered with `delivery_attempt + 1`.
    ///
    /// Cancel-safety: dropping the future may leave the message unacknowledged.
    fn nack(self) -> impl Future<Output = Result<(), AckError>> + Send;
}

/// A delivery that can be refused for good: dead-lettered (or, where the backend has no
/// dead-letter destination, discarded) with a reason, never redelivered.
///
/// Not every backend can: the memory broker has no dead-letter destination of its own
/// (use the router's [`DeadLetter`](crate::router::DeadLetter) middleware, which works on
/// every backend). Backends that can implement it on their delivery type, and
/// [`TracedDelivery`](crate::trace::TracedDelivery) implements it whenever the delivery
/// it wraps does, so generic code can ask for `B::Delivery: Reject`.
pub trait Reject: Delivery {
    /// Refuses the message for good with `reason` (written into the dead letter's
    /// `tracewire-dlq-error` header by backends that dead-letter, with
    /// `tracewire-dlq-error-kind` = `rejected`).
    ///
    /// Cancel-safety: dropping the future may leave the message unsettled (it is then
    /// redelivered), or dead-lettered and still delivered again.
    fn reject(self, reason: &str) -> impl Future<Output = Result<(), AckError>> + Send;
}

/// What a backend guarantees. Build it with [`Guarantees::NONE`] and the `with_*`
/// methods; the conformance suite runs a check only when its guarantee is declared, and
/// names every check it does not run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Guarantees {
    /// Messages survive a broker restart.
    pub durable: bool,
    /// Messages from one publisher arrive in publish order (without nacks).
    pub ordered: bool,
    /// A nacked (or unacked) message is redelivered.
    pub at_least_once: bool,
    /// The backend has request/reply built in (reply inboxes, no-responder status).
    pub native_request_reply: bool,
    /// Queue groups (competing consumers) are supported.
    pub queue_groups: bool,
    /// Messages carry headers (needed for binary-mode CloudEvents).
    pub headers: bool,
    /// Per-subscription overflow policies other than backpressure are honoured.
    pub overflow_policies: bool,
    /// [`Broker::publish_request`] answers [`Responders::Absent`] for a topic nobody
    /// subscribes to, so requests fail fast with `NoResponders`.
    pub reports_no_responders: bool,
}

impl Guarantees {
    /// Nothing promised.
    pub const NONE: Self = Self {
        durable: false,
        ordered: false,
        at_least_once: false,
        native_request_reply: false,
        queue_groups: false,
        headers: false,
        overflow_policies: false,
        reports_no_responders: false,
    };

    /// Sets [`Self::durable`].
    #[must_use]
    pub const fn with_durable(mut self, yes: bool) -> Self {
        self.durable = yes;
        self
    }
    /// Sets [`Self::ordered`].
    #[must_use]
    pub const fn with_ordered(mut self, yes: bool) -> Self {
        self.ordered = yes;
        self
    }
    /// Sets [`Self::at_least_once`].
    #[must_use]
    pub const fn with_at_least_once(mut self, yes: bool) -> Self {
        self.at_least_once = yes;
        self
    }
    /// Sets [`Self::native_request_reply`].
    #[must_use]
    pub const fn with_native_request_reply(mut self, yes: bool) -> Self {
        self.native_request_reply = yes;
        self
    }
    /// Sets [`Self::queue_groups`].
    #[must_use]
    pub const fn with_queue_groups(mut self, yes: bool) -> Self {
        self.queue_groups = yes;
        self
    }
    /// Sets [`Self::headers`].
    #[must_use]
    pub const fn with_headers(mut self, yes: bool) -> Self {
        self.headers = yes;
        self
    }
    /// Sets [`Self::overflow_policies`].
    #[must_use]
    pub const fn with_overflow_policies(mut self, yes: bool) -> Self {
        self.overflow_policies = yes;
        self
    }
    /// Sets [`Self::reports_no_responders`].
    #[must_use]
    pub const fn with_reports_no_responders(mut self, yes: bool) -> Self {
        self.reports_no_responders = yes;
        self
    }
}

/// What a subscription does when its queue is full. Whatever the policy, nothing is
/// dropped silently: every drop is counted, recorded as an event on the publish span
/// and exported as a metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overflow {
    /// The publisher waits for room (the default).
    #[default]
    Backpressure,
    /// The new message is dropped for this subscription.
    DropNewest,
    /// The oldest queued message is dropped to make room.
    DropOldest,
    /// The publish fails with [`PublishError::QueueFull`].
    Error,
}

impl Overflow {
    /// A stable lower-case name, used in metrics and span events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Overflow::Backpressure => "backpressure",
            Overflow::DropNewest => "drop_newest",
            Overflow::DropOldest => "drop_oldest",
            Overflow::Error => "error",
        }
    }
}

/// Options for [`Broker::subscribe`].
///
/// ```
/// use tracewire_broker::{Overflow, SubscribeOptions};
///
/// let opts = SubscribeOptions::new()
///     .queue_group("billing")
///     .capacity(256)
///     .overflow(Overflow::DropOldest);
/// assert_eq!(opts.queue_group.as_deref(), Some("billing"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// Join this queue group: each message goes to one member of the group. For the
    /// memory broker, the group's members share one queue created with the first
    /// member's capacity and overflow policy; a later member asking for different ones
    /// gets [`SubscribeError::QueueGroupMismatch`](crate::SubscribeError::QueueGroupMismatch).
    pub queue_group: Option<String>,
    /// Queue capacity (the backend's default when `None`).
    pub capacity: Option<usize>,
    /// What to do when the queue is full.
    pub overflow: Overflow,
}

impl SubscribeOptions {
    /// Fan-out, default capacity, backpressure.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`Self::queue_group`].
    #[must_use]
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = Some(group.into());
        self
    }
    /// Sets [`Self::capacity`].
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }
    /// Sets [`Self::overflow`].
    #[must_use]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}
