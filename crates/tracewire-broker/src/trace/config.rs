//! [`Tracing`]: tracer, propagator and parent mode for messaging spans.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Link, Span, SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue, Value};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracewire_core::instrument::{Propagation, SharedTracer};
use tracewire_core::intern::Interner;

use super::{REPLY_TOPIC_PREFIX, cloudevent};
use crate::{Headers, Message};

const SCOPE: &str = "tracewire-broker";

/// Topics, interned process-wide for the span names `send {topic}`/`process {topic}`
/// and `messaging.destination.name` (no allocation per message). Some systems have
/// one topic per entity, hence the cap: past it, those strings are built per message
/// as before. Reply topics (one per request) are never interned.
static TOPICS: Interner = Interner::new(4096);

/// Consumer group names (`messaging.consumer.group.name`), interned likewise.
static GROUPS: Interner = Interner::new(1024);

/// How a `process` span relates to the producer's context found in the headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParentMode {
    /// Child of the producer's span and linked to it: one connected trace (default).
    #[default]
    ChildAndLink,
    /// A new trace, linked to the producer's span (for batch or long-lived consumers).
    LinkOnly,
}

/// Tracer, propagator and [`ParentMode`] used by [`Traced`](super::Traced).
///
/// Cheap to clone.
///
/// # Defaults
///
/// - **Propagator:** the *global* text-map propagator, read at each use, unless
///   [`Tracing::with_propagator`] sets one. `tracewire_telemetry::init` installs
///   `tracewire_core::TracewirePropagator` there (the strict W3C codec, formats from
///   `OTEL_PROPAGATORS`, `tracecontext,baggage` by default). Without that call (or an
///   explicit propagator) the global propagator is OpenTelemetry's no-op one, and **no
///   context travels**: every `process` span then starts a new trace.
/// - **Tracer:** the global tracer provider with [`Tracing::global`] (also installed by
///   `tracewire_telemetry::init`), or the provider given to [`Tracing::new`].
/// - **Parent mode:** [`ParentMode::ChildAndLink`].
/// - **Body size:** not recorded (`messaging.message.body.size` is Opt-In in the
///   semantic conventions); [`Tracing::with_body_size`] records it.
///
/// `tracewire.messaging.delivery_attempt` is recorded on `process` spans only for a
/// redelivery (attempt 2 and later): a first attempt is the norm, and every attribute
/// is paid for on the hot path and again by the exporter.
#[derive(Clone)]
pub struct Tracing {
    tracer: SharedTracer,
    propagation: Propagation,
    mode: ParentMode,
    body_size: bool,
}

impl fmt::Debug for Tracing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracing")
            .field(
                "propagator",
                &match self.propagation {
                    Propagation::Global => "global",
                    _ => "explicit",
                },
            )
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Tracing {
    /// The global tracer provider and the global propagator (read at each use; see
    /// [Defaults](Self#defaults)).
    pub fn global() -> Self {
        let scope = InstrumentationScope::builder(SCOPE).build();
        Self {
            tracer: SharedTracer::global(scope),
            propagation: Propagation::Global,
            mode: ParentMode::default(),
            body_size: false,
        }
    }

    /// Spans from `provider`, and the global propagator (see [Defaults](Self#defaults)
    /// and [`Self::with_propagator`]).
    pub fn new<P, T, S>(provider: &P) -> Self
    where
        P: TracerProvider<Tracer = T>,
        T: Tracer<Span = S> + Send + Sync + 'static,
        S: Span + Send + Sync + 'static,
    {
        let scope = InstrumentationScope::builder(SCOPE).build();
        Self {
            tracer: SharedTracer::from_provider(provider, scope),
            propagation: Propagation::Global,
            mode: ParentMode::default(),
            body_size: false,
        }
    }

    /// Records `messaging.message.body.size` (the payload's bytes) on every span.
    #[must_use]
    pub fn with_body_size(mut self, enabled: bool) -> Self {
        self.body_size = enabled;
        self
    }

    /// Uses `propagator` instead of the global one, typically
    /// `Arc::new(tracewire_core::TracewirePropagator::default())`.
    #[must_use]
    pub fn with_propagator(mut self, propagator: Arc<dyn TextMapPropagator + Send + Sync>) -> Self {
        self.propagation = Propagation::Custom(propagator);
        self
    }

    /// Sets the [`ParentMode`] of `process` spans.
    #[must_use]
    pub fn with_parent_mode(mut self, mode: ParentMode) -> Self {
        self.mode = mode;
        self
    }

    /// Writes `cx` into `headers` with the configured propagator.
    pub fn inject(&self, cx: &Context, headers: &mut Headers) {
        self.propagation.inject(cx, headers);
    }

    /// Reads a context from `headers` with the configured propagator.
    pub fn extract(&self, headers: &Headers) -> Context {
        self.propagation.extract(headers)
    }

    /// Starts `send {topic}` (PRODUCER) as a child of the current context and injects
    /// its context into `msg.headers`. Returns the span's context.
    pub(crate) fn start_send(&self, system: &'static str, msg: &mut Message) -> Context {
        let name = span_name("send", &msg.topic);
        let mut attrs = common_attrs(system, msg, self.body_size);
        attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "send"));
        attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, "send"));
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Producer)
            .with_attributes(attrs);
        let parent = Context::current();
        let span = self.tracer.build_with_context(builder, &parent);
        let cx = parent.with_span(span);
        self.inject(&cx, &mut msg.headers);
        cx
    }

    /// The producer's context of a received message: from its headers, or, when they
    /// carry no valid span context, from the CloudEvents distributed-tracing extension
    /// of the event it carries (binary `ce-traceparent`/`ce-tracestate` headers or the
    /// structured event's `traceparent`/`tracestate`). Headers win when present;
    /// anything else the headers carry (baggage) is kept either way.
    pub fn extract_message(&self, msg: &Message) -> Context {
        let from_headers = self.extract(&msg.headers);
        if from_headers.span().span_context().is_valid() {
            return from_headers;
        }
        let Some(carrier) = cloudevent::carrier(msg) else {
            return from_headers;
        };
        self.propagation.extract_with(&from_headers, &carrier)
    }

    /// Starts `process {topic}` (CONSUMER) for a received message, related to the
    /// producer's context ([`Self::extract_message`]) according to the [`ParentMode`].
    pub(crate) fn start_process(
        &self,
        system: &'static str,
        msg: &Message,
        group: Option<&str>,
    ) -> Context {
        let remote = self.extract_message(msg);
        let remote_span = remote.span().span_context().clone();
        let mut attrs = common_attrs(system, msg, self.body_size);
        attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, "process"));
        attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, "process"));
        if msg.delivery_attempt > 1 {
            attrs.push(KeyValue::new(
                "tracewire.messaging.delivery_attempt",
                i64::from(msg.delivery_attempt),
            ));
        }
        if let Some(group) = group {
            attrs.push(KeyValue::new(
                semconv::MESSAGING_CONSUMER_GROUP_NAME,
                GROUPS.value(group),
            ));
        }
        let mut builder = SpanBuilder::from_name(span_name("process", &msg.topic))
            .with_kind(SpanKind::Consumer)
            .with_attributes(attrs);
        if remote_span.is_valid() {
            builder = builder.with_links(vec![Link::with_context(remote_span)]);
        }
        let parent = match self.mode {
            ParentMode::ChildAndLink => remote,
            ParentMode::LinkOnly => Context::new(),
        };
        let span = self.tracer.build_with_context(builder, &parent);
        parent.with_span(span)
    }
}

fn span_name(operation: &'static str, topic: &str) -> Cow<'static, str> {
    if !topic.starts_with(REPLY_TOPIC_PREFIX) {
        return TOPICS.name(operation, topic);
    }
    match operation {
        "send" => Cow::Borrowed("send (reply)"),
        "process" => Cow::Borrowed("process (reply)"),
        _ => Cow::Owned(format!("{operation} (reply)")),
    }
}

fn common_attrs(system: &'static str, msg: &Message, body_size: bool) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(10);
    attrs.push(KeyValue::new(semconv::MESSAGING_SYSTEM, system));
    let reply = msg.topic.starts_with(REPLY_TOPIC_PREFIX);
    let destination = if reply {
        Value::from(msg.topic.clone())
    } else {
        Value::String(TOPICS.value(&msg.topic))
    };
    attrs.push(KeyValue::new(
        semconv::MESSAGING_DESTINATION_NAME,
        destination,
    ));
    if reply {
        attrs.push(KeyValue::new(
            semconv::MESSAGING_DESTINATION_TEMPORARY,
            true,
        ));
        attrs.push(KeyValue::new(
            semconv::MESSAGING_DESTINATION_TEMPLATE,
            "(reply)",
        ));
    }
    attrs.push(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, msg.id.clone()));
    if let Some(conversation) = &msg.correlation_id {
        attrs.push(KeyValue::new(
            semconv::MESSAGING_MESSAGE_CONVERSATION_ID,
            conversation.clone(),
        ));
    }
    if body_size {
        let size = i64::try_from(msg.payload.len()).unwrap_or(i64::MAX);
        attrs.push(KeyValue::new(semconv::MESSAGING_MESSAGE_BODY_SIZE, size));
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(attrs: &[KeyValue]) -> Option<String> {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == semconv::MESSAGING_DESTINATION_NAME)
            .map(|kv| kv.value.as_str().into_owned())
    }

    #[test]
    fn names_are_interned_and_replies_are_not() {
        assert_eq!(span_name("send", "orders"), "send orders");
        // Borrowed once interned (unless the cap test below filled the table first).
        if TOPICS.get("process", "orders").is_some() {
            assert!(matches!(
                span_name("process", "orders"),
                Cow::Borrowed("process orders")
            ));
        }
        let inbox = format!("{REPLY_TOPIC_PREFIX}abc");
        assert_eq!(span_name("send", &inbox), "send (reply)");
        let msg = Message::new(inbox.clone(), "");
        assert_eq!(
            destination(&common_attrs("memory", &msg, false)),
            Some(inbox)
        );
    }

    #[test]
    fn a_topic_past_the_cap_still_names_its_spans() {
        // Fill the process-wide interner (other tests' topics may hold some room).
        for n in 0..TOPICS.cap() {
            let _ = TOPICS.get("", &format!("filler-{n}"));
        }
        assert_eq!(TOPICS.len(), TOPICS.cap());
        assert_eq!(TOPICS.get("send", "late.topic"), None);
        assert!(matches!(span_name("send", "late.topic"), Cow::Owned(n) if n == "send late.topic"));
        assert_eq!(span_name("process", "late.topic"), "process late.topic");
        let msg = Message::new("late.topic", "");
        assert_eq!(
            destination(&common_attrs("memory", &msg, false)).as_deref(),
            Some("late.topic")
        );
        assert_eq!(TOPICS.len(), TOPICS.cap(), "nothing more leaked");
    }
}
