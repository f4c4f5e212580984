//! Dead-lettering done by the backend itself: malformed messages and messages past
//! JetStream's `max_deliver`. The dead-letter copy is built by the router's
//! [`dead_letter_message`], so it carries the same headers as the router's
//! [`DeadLetter`](tracewire_broker::router::DeadLetter): the reason, its kind, the
//! attempt count and the original topic.

use tracewire_broker::Message;
use tracewire_broker::router::middleware::dead_letter_message;

use crate::broker::Inner;
use crate::codec::DecodeError;

/// Error kind of a message whose tracewire headers do not parse.
pub const KIND_DECODE: &str = "decode";
/// Error kind of a message that reached `max_deliver` attempts.
pub const KIND_MAX_DELIVER: &str = "max_deliver";

/// Error kind of a message refused by [`Reject::reject`](tracewire_broker::Reject::reject).
pub const KIND_REJECTED: &str = "rejected";

/// What happened to a message handed to the dead-letter path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Published to the dead-letter topic.
    DeadLettered,
    /// No dead-letter topic: logged and counted.
    Discarded,
    /// The dead-letter publish failed: the caller must not settle the message as done.
    Failed,
}

/// The dead-letter topic for malformed messages and rejected core NATS messages: the
/// connection's, else JetStream's.
pub(crate) fn malformed_topic(inner: &Inner) -> Option<&str> {
    inner.config.dead_letter_topic.as_deref().or_else(|| {
        inner
            .js
            .as_ref()
            .and_then(|js| js.config.dead_letter_topic.as_deref())
    })
}

/// Dead-letters a malformed message (kind [`KIND_DECODE`]).
pub(crate) async fn dead_letter_malformed(
    inner: &Inner,
    msg: &Message,
    reason: &DecodeError,
) -> Outcome {
    dead_letter(
        inner,
        malformed_topic(inner),
        msg,
        KIND_DECODE,
        &reason.to_string(),
    )
    .await
}

/// The dead-letter topic for rejected JetStream messages: JetStream's, else the
/// connection's.
pub(crate) fn stored_topic(inner: &Inner) -> Option<&str> {
    inner
        .js
        .as_ref()
        .and_then(|js| js.config.dead_letter_topic.as_deref())
        .or(inner.config.dead_letter_topic.as_deref())
}

/// Publishes the dead-letter copy of `msg` to `topic` (even while closing).
pub(crate) async fn dead_letter(
    inner: &Inner,
    topic: Option<&str>,
    msg: &Message,
    kind: &str,
    reason: &str,
) -> Outcome {
    let Some(topic) = topic else {
        inner.stats.count_skipped();
        tracing::warn!(
            target: "tracewire_nats",
            topic = %msg.topic, message_id = %msg.id, kind, reason,
            "message discarded: no dead-letter topic configured"
        );
        return Outcome::Discarded;
    };
    let dead = dead_letter_message(msg, topic, kind, reason);
    match inner.publish_inner(dead, true).await {
        Ok(()) => {
            tracing::warn!(
                target: "tracewire_nats",
                topic = %msg.topic, message_id = %msg.id, dead_letter_topic = topic, kind, reason,
                "message dead-lettered"
            );
            Outcome::DeadLettered
        }
        Err(err) => {
            tracing::error!(
                target: "tracewire_nats",
                topic = %msg.topic, message_id = %msg.id, error = %err,
                "dead-letter publish failed"
            );
            Outcome::Failed
        }
    }
}
