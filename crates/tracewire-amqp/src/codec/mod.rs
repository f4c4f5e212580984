//! Mapping between [`Message`](tracewire_broker::Message) and AMQP 0-9-1 properties.
//!
//! | `Message` field    | AMQP                                                      |
//! |--------------------|-----------------------------------------------------------|
//! | `topic`            | routing key (header `x-tracewire-topic` after a republish) |
//! | `id`               | `message-id` (a UUID is generated when absent)            |
//! | `content_type`     | `content-type`                                            |
//! | `correlation_id`   | `correlation-id`                                          |
//! | `reply_to`         | `reply-to`                                                |
//! | `timestamp`        | `timestamp` (seconds) + header `x-tracewire-ts-nanos`     |
//! | `delivery_attempt` | header `x-tracewire-attempt` (+1 if `redelivered`)        |
//! | `headers`          | the headers table, every value a `LongString`; a name     |
//! |                    | written several times becomes an array, in order          |
//!
//! Header names are grouped ASCII case-insensitively (the first spelling is kept), so the
//! order of lines of one name is kept; the order *between* names is the table's (sorted).
//! Reading is lenient for ordinary headers (numbers, booleans and timestamps become
//! their decimal text; nested tables, such as RabbitMQ's `x-death`, are skipped) and
//! strict for trace-context headers ([`RESERVED`]): a non-string value there makes the
//! message undecodable, and it is dead-lettered with the reason.

mod decode;
mod encode;

pub(crate) use decode::decode;
pub(crate) use encode::{encode, set_header, short as encode_short};

/// Header with the delivery attempt, set when a nack republishes a message.
pub const ATTEMPT_HEADER: &str = "x-tracewire-attempt";
/// Header with the original topic, set when a message is republished to one queue.
pub const TOPIC_HEADER: &str = "x-tracewire-topic";
/// Header with the creation time in nanoseconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "x-tracewire-ts-nanos";
/// Prefix of the backend's own headers, which are not shown in `Message::headers`.
pub const INTERNAL_PREFIX: &str = "x-tracewire-";

/// Headers that must be strings (trace context, tracewire's own): a message where one
/// of them is not a string is dead-lettered instead of delivered. Names ending in `-`
/// are prefixes.
pub const RESERVED: [&str; 10] = [
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-",
    "uber-trace-id",
    "uberctx-",
    "x-request-id",
    "tracewire-",
    "ce-",
];

pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| {
        if r.ends_with('-') {
            name.len() >= r.len() && name.as_bytes()[..r.len()].eq_ignore_ascii_case(r.as_bytes())
        } else {
            name.eq_ignore_ascii_case(r)
        }
    })
}

pub(crate) fn is_internal(name: &str) -> bool {
    name.len() >= INTERNAL_PREFIX.len()
        && name.as_bytes()[..INTERNAL_PREFIX.len()].eq_ignore_ascii_case(INTERNAL_PREFIX.as_bytes())
}
