//! [`Message`]: what travels through a broker.

use std::time::SystemTime;

use bytes::Bytes;

use crate::Headers;

/// One message: identity, destination, metadata and payload.
///
/// Everything a consumer may need travels in these fields, never in process memory:
/// the trace context is written into [`Message::headers`] by the tracing layer, so a
/// message serialised with [`Message::to_bytes`] and read back keeps its trace.
///
/// ```
/// use tracewire_broker::Message;
///
/// let msg = Message::new("orders.created", r#"{"id":42}"#)
///     .with_content_type("application/json")
///     .with_correlation_id("conv-7")
///     .with_header("x-tenant", "acme");
/// assert_eq!(msg.topic, "orders.created");
/// assert_eq!(msg.delivery_attempt, 1);
/// assert_eq!(msg.headers.get("X-Tenant"), Some("acme"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Unique id (a UUID v4 unless set); deduplication keys on it.
    pub id: String,
    /// Destination topic (lower-case and dotted by convention: `orders.created`).
    pub topic: String,
    /// Metadata, including the propagated trace context.
    pub headers: Headers,
    /// The body.
    pub payload: Bytes,
    /// MIME type of the payload, when known.
    pub content_type: Option<String>,
    /// Topic a reply should be published to (request/reply).
    pub reply_to: Option<String>,
    /// Correlation id: matches a reply to its request and carries a conversation
    /// (`messaging.message.conversation_id`).
    pub correlation_id: Option<String>,
    /// When the message was created.
    pub timestamp: SystemTime,
    /// Which delivery this is: 1 on the first, incremented on every redelivery (nack).
    pub delivery_attempt: u32,
}

impl Message {
    /// A message for `topic` with a fresh id, the current time and attempt 1.
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            topic: topic.into(),
            headers: Headers::new(),
            payload: payload.into(),
            content_type: None,
            reply_to: None,
            correlation_id: None,
            timestamp: SystemTime::now(),
            delivery_attempt: 1,
        }
    }

    /// Replaces the id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Sets one header (replacing earlier lines of that name).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the content type.
    #[must_use]
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the reply topic.
    #[must_use]
    pub fn with_reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// A reply to this message: published to its `reply_to` topic (empty when there is
    /// none) and carrying its correlation id.
    pub fn reply(&self, payload: impl Into<Bytes>) -> Self {
        let mut reply = Message::new(self.reply_to.clone().unwrap_or_default(), payload);
        reply.correlation_id.clone_from(&self.correlation_id);
        reply
    }
}
