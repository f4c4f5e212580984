//! How a [`Message`] travels in NATS headers, and back.
//!
//! Every field of the message is a header, so a NATS message is self-describing and a
//! consumer in any language can read it; the trace context (`traceparent`,
//! `tracestate`, `baggage`) is an ordinary header line written by the tracing layer.
//! Every user header line is carried; lines of one name keep their order (names that
//! differ only in case are sent under the first spelling, so their order is kept too);
//! the order across different names is not kept (NATS headers are a map).
//! User lines named like a reserved header below are replaced by the field's value.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use tracewire_broker::{Headers, Message};

use crate::NatsError;

/// The JetStream deduplication header: `{subject}:{message id}`, so a publisher that
/// retries a message is deduplicated, while a copy of the message on another subject
/// (a dead letter) is not.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// [`Message::id`].
pub const ID_HEADER: &str = "tracewire-message-id";
/// [`Message::content_type`].
pub const CONTENT_TYPE_HEADER: &str = "tracewire-content-type";
/// [`Message::correlation_id`].
pub const CORRELATION_ID_HEADER: &str = "tracewire-correlation-id";
/// [`Message::reply_to`] (a topic; core NATS also sets the message's reply subject).
pub const REPLY_TO_HEADER: &str = "tracewire-reply-to";
/// [`Message::timestamp`], in nanoseconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "tracewire-timestamp";
/// [`Message::delivery_attempt`] as sent, when it is not 1 (absent means 1); JetStream
/// deliveries use the server's count.
pub const ATTEMPT_HEADER: &str = "tracewire-attempt";

const RESERVED: [&str; 7] = [
    NATS_MSG_ID,
    ID_HEADER,
    CONTENT_TYPE_HEADER,
    CORRELATION_ID_HEADER,
    REPLY_TO_HEADER,
    TIMESTAMP_HEADER,
    ATTEMPT_HEADER,
];

fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

// Parsed once: a `&str` name is validated and copied on every `append`/`get_last`, which
// is most of the per-message cost of the fields below. (Statics, not consts: a
// `HeaderName` holds `Bytes`, which has interior mutability.)
static ID_NAME: HeaderName = HeaderName::from_static(ID_HEADER);
static MSG_ID_NAME: HeaderName = HeaderName::from_static(NATS_MSG_ID);
static CONTENT_TYPE_NAME: HeaderName = HeaderName::from_static(CONTENT_TYPE_HEADER);
static CORRELATION_ID_NAME: HeaderName = HeaderName::from_static(CORRELATION_ID_HEADER);
static REPLY_TO_NAME: HeaderName = HeaderName::from_static(REPLY_TO_HEADER);
static TIMESTAMP_NAME: HeaderName = HeaderName::from_static(TIMESTAMP_HEADER);
static ATTEMPT_NAME: HeaderName = HeaderName::from_static(ATTEMPT_HEADER);

/// Appends a reserved field: the name is known to be valid, the value is checked.
fn push_field(map: &mut HeaderMap, name: &HeaderName, value: &str) -> Result<(), NatsError> {
    let value = HeaderValue::from_str(value).map_err(|_| NatsError::InvalidHeader {
        name: name.to_string(),
    })?;
    map.append(name.clone(), value);
    Ok(())
}

fn push(map: &mut HeaderMap, name: &str, value: &str) -> Result<(), NatsError> {
    let invalid = || NatsError::InvalidHeader {
        name: name.to_owned(),
    };
    let name = HeaderName::from_str(name).map_err(|_| invalid())?;
    let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
    map.append(name, value);
    Ok(())
}

/// The NATS headers of `msg`; `dedup_id` becomes `Nats-Msg-Id` (JetStream).
pub(crate) fn encode(msg: &Message, dedup_id: Option<&str>) -> Result<HeaderMap, NatsError> {
    let mut map = HeaderMap::new();
    let mut spellings: Vec<&str> = Vec::new();
    for (name, value) in msg.headers.iter() {
        if is_reserved(name) {
            continue;
        }
        let name = match spellings.iter().find(|s| s.eq_ignore_ascii_case(name)) {
            Some(first) => *first,
            None => {
                spellings.push(name);
                name
            }
        };
        push(&mut map, name, value)?;
    }
    push_field(&mut map, &ID_NAME, &msg.id)?;
    if let Some(id) = dedup_id {
        push_field(&mut map, &MSG_ID_NAME, id)?;
    }
    for (name, field) in [
        (&CONTENT_TYPE_NAME, &msg.content_type),
        (&CORRELATION_ID_NAME, &msg.correlation_id),
        (&REPLY_TO_NAME, &msg.reply_to),
    ] {
        if let Some(value) = field {
            push_field(&mut map, name, value)?;
        }
    }
    let nanos = msg
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    map.append(TIMESTAMP_NAME.clone(), HeaderValue::from(nanos));
    // The first attempt is what a missing header decodes to: one header line less on
    // almost every message.
    if msg.delivery_attempt != 1 {
        map.append(
            ATTEMPT_NAME.clone(),
            HeaderValue::from(msg.delivery_attempt),
        );
    }
    Ok(map)
}

/// Why a received NATS message is not a well-formed tracewire message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A reserved header has a value that does not parse.
    #[error("header {name} has a malformed value {value:?}")]
    MalformedHeader {
        /// The header.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

/// A received message: the decoded [`Message`], or a best-effort one (every raw
/// header line kept) with the reason it is malformed.
pub(crate) type Decoded = Result<Message, Box<(Message, DecodeError)>>;

/// Decodes a received NATS message for `topic`. `nats_reply` is the message's reply
/// subject, as a topic, used when no reply header is present (core NATS only).
pub(crate) fn decode(
    topic: String,
    headers: Option<&HeaderMap>,
    payload: Bytes,
    nats_reply: Option<String>,
) -> Decoded {
    let mut msg = Message::new(topic, payload);
    let mut error = None;
    let last = |name: &HeaderName| -> Option<String> {
        headers
            .and_then(|h| h.get_last(name.clone()))
            .map(|v| v.as_str().to_owned())
    };
    let id = last(&ID_NAME).or_else(|| last(&MSG_ID_NAME));
    let timestamp = last(&TIMESTAMP_NAME);
    let attempt = last(&ATTEMPT_NAME);
    msg.content_type = last(&CONTENT_TYPE_NAME);
    msg.correlation_id = last(&CORRELATION_ID_NAME);
    msg.reply_to = last(&REPLY_TO_NAME).or(nats_reply);
    if let Some(id) = id {
        msg.id = id;
    }
    if let Some(value) = timestamp {
        match value.trim().parse::<u64>() {
            Ok(nanos) => msg.timestamp = UNIX_EPOCH + Duration::from_nanos(nanos),
            Err(_) => {
                error = Some(DecodeError::MalformedHeader {
                    name: TIMESTAMP_HEADER,
                    value,
                });
            }
        }
    }
    if let Some(value) = attempt {
        match value.trim().parse::<u32>() {
            Ok(n) if n >= 1 => msg.delivery_attempt = n,
            _ => {
                error = Some(DecodeError::MalformedHeader {
                    name: ATTEMPT_HEADER,
                    value,
                });
            }
        }
    }
    let lines = || {
        headers
            .into_iter()
            .flat_map(HeaderMap::iter)
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |value| (AsRef::<str>::as_ref(name), value.as_str()))
            })
    };
    match error {
        None => {
            for (name, value) in lines().filter(|(name, _)| !is_reserved(name)) {
                msg.headers.append(name, value);
            }
            Ok(msg)
        }
        Some(err) => {
            // Every raw line, reserved ones included, for whoever inspects the dead letter.
            let mut raw = Headers::new();
            for (name, value) in lines() {
                raw.append(name, value);
            }
            msg.headers = raw;
            msg.timestamp = SystemTime::now();
            Err(Box::new((msg, err)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let mut msg = Message::new("orders.created", "p")
            .with_content_type("application/json")
            .with_correlation_id("c-1")
            .with_reply_to("_INBOX.abc");
        msg.headers.append("tracestate", "a=1");
        msg.headers.append("TraceState", "b=2");
        msg.headers.insert("x-tenant", "acme");
        msg.delivery_attempt = 3;
        let map = encode(&msg, Some("orders.created:id")).unwrap();
        let got = decode(
            "orders.created".into(),
            Some(&map),
            msg.payload.clone(),
            None,
        )
        .unwrap();
        assert_eq!(got.id, msg.id);
        assert_eq!(got.timestamp, msg.timestamp);
        assert_eq!(got.delivery_attempt, 3);
        assert_eq!(
            (got.content_type, got.correlation_id, got.reply_to),
            (msg.content_type, msg.correlation_id, msg.reply_to)
        );
        assert_eq!(
            got.headers.get_all("TRACESTATE").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(got.headers.get("X-Tenant"), Some("acme"));
        assert_eq!(
            got.headers.len(),
            3,
            "reserved headers are not user headers"
        );
    }

    #[test]
    fn a_first_attempt_sends_no_attempt_line_and_decodes_as_one() {
        let first = encode(&Message::new("t", "p"), None).unwrap();
        assert!(first.get(ATTEMPT_HEADER).is_none());
        let got = decode("t".into(), Some(&first), Bytes::new(), None).unwrap();
        assert_eq!(got.delivery_attempt, 1);
    }

    #[test]
    fn plain_nats_messages_decode_with_defaults() {
        let got = decode(
            "t".into(),
            None,
            Bytes::from_static(b"x"),
            Some("_INBOX.r".into()),
        )
        .unwrap();
        assert_eq!(got.delivery_attempt, 1);
        assert_eq!(got.reply_to.as_deref(), Some("_INBOX.r"));
        assert!(!got.id.is_empty());
    }

    #[test]
    fn malformed_reserved_headers_are_reported() {
        for (name, value, why) in [
            (ATTEMPT_HEADER, "banana", "attempt not a number"),
            (ATTEMPT_HEADER, "0", "attempt zero"),
            (TIMESTAMP_HEADER, "yesterday", "timestamp not a number"),
        ] {
            let mut map = HeaderMap::new();
            map.insert(name, value);
            map.insert("x-keep", "1");
            let (msg, err) = *decode("t".into(), Some(&map), Bytes::new(), None).unwrap_err();
            assert!(matches!(err, DecodeError::MalformedHeader { .. }), "{why}");
            assert_eq!(msg.headers.get(name), Some(value), "{why}: raw line kept");
            assert_eq!(msg.headers.get("x-keep"), Some("1"), "{why}");
        }
    }

    #[test]
    fn rejects_headers_nats_cannot_carry() {
        for (name, value, why) in [
            ("bad name", "v", "space in name"),
            ("bad:name", "v", "colon in name"),
            ("x", "a\r\nb", "CRLF in value"),
        ] {
            let msg = Message::new("t", "").with_header(name, value);
            assert!(
                matches!(encode(&msg, None), Err(NatsError::InvalidHeader { .. })),
                "{why}"
            );
        }
    }
}
