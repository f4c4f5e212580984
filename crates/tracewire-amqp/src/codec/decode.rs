//! AMQP delivery → `Message`: lenient for ordinary headers, strict for reserved ones.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lapin::BasicProperties;
use lapin::types::AMQPValue;
use tracewire_broker::{Headers, Message};

use super::{ATTEMPT_HEADER, TIMESTAMP_HEADER, TOPIC_HEADER, is_internal, is_reserved};

/// Why a delivery cannot become a [`Message`]; the text is the dead-letter reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// A reserved header holds something other than a string.
    #[error("header {name:?} must be a string, found {found}")]
    NotAString {
        /// The header name.
        name: String,
        /// The AMQP type found.
        found: &'static str,
    },
    /// The payload is encoded in a way this backend cannot decode.
    #[error("payload has unsupported content-encoding {0:?}")]
    ContentEncoding(String),
}

/// Decodes the routing key, flag, properties and body of one delivery.
pub(crate) fn decode(
    routing_key: &str,
    redelivered: bool,
    props: &BasicProperties,
    payload: Bytes,
) -> Result<Message, DecodeError> {
    if let Some(encoding) = props.content_encoding() {
        let encoding = encoding.as_str();
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            return Err(DecodeError::ContentEncoding(encoding.to_owned()));
        }
    }
    let mut msg = Message::new(routing_key, payload);
    let mut attempt = 1u32;
    let mut nanos = None;
    if let Some(table) = props.headers() {
        let mut headers = Headers::new();
        for (name, value) in table.inner() {
            let name = name.as_str();
            if is_internal(name) {
                match name {
                    ATTEMPT_HEADER => attempt = integer(value).map_or(1, clamp_u32),
                    TOPIC_HEADER => {
                        if let Some(topic) = scalar(value) {
                            msg.topic = topic;
                        }
                    }
                    TIMESTAMP_HEADER => nanos = integer(value),
                    _ => {}
                }
                continue;
            }
            push(&mut headers, name, value)?;
        }
        msg.headers = headers;
    }
    msg.delivery_attempt = attempt.saturating_add(u32::from(redelivered));
    if let Some(id) = props.message_id() {
        msg.id = id.to_string();
    }
    msg.content_type = props.content_type().as_ref().map(ToString::to_string);
    msg.correlation_id = props.correlation_id().as_ref().map(ToString::to_string);
    msg.reply_to = props.reply_to().as_ref().map(ToString::to_string);
    msg.timestamp = match (nanos, props.timestamp()) {
        (Some(n), _) => UNIX_EPOCH + Duration::from_nanos(u64::try_from(n).unwrap_or(0)),
        (None, Some(secs)) => UNIX_EPOCH + Duration::from_secs(*secs),
        (None, None) => SystemTime::now(),
    };
    Ok(msg)
}

fn push(headers: &mut Headers, name: &str, value: &AMQPValue) -> Result<(), DecodeError> {
    let strict = is_reserved(name);
    match value {
        AMQPValue::FieldArray(values) => {
            for v in values.as_slice() {
                match text(v, strict) {
                    Ok(Some(s)) => headers.append(name, s),
                    Ok(None) => {}
                    Err(found) => return Err(not_a_string(name, found)),
                }
            }
            Ok(())
        }
        other => match text(other, strict) {
            Ok(Some(s)) => {
                headers.append(name, s);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(found) => Err(not_a_string(name, found)),
        },
    }
}

fn not_a_string(name: &str, found: &'static str) -> DecodeError {
    DecodeError::NotAString {
        name: name.to_owned(),
        found,
    }
}

/// A header value as text: strings always; other scalars only when not `strict`;
/// nested values are skipped (`Ok(None)`) or, when `strict`, an error with the type.
fn text(value: &AMQPValue, strict: bool) -> Result<Option<String>, &'static str> {
    match value {
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) if strict => Err("non-UTF-8 bytes"),
            Err(_) => Ok(Some(String::from_utf8_lossy(s.as_bytes()).into_owned())),
        },
        AMQPValue::ShortString(s) => Ok(Some(s.to_string())),
        AMQPValue::ByteArray(b) => match std::str::from_utf8(b.as_slice()) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) if strict => Err("byte array"),
            Err(_) => Ok(None),
        },
        AMQPValue::FieldTable(_) if strict => Err("table"),
        AMQPValue::FieldArray(_) if strict => Err("nested array"),
        AMQPValue::Void if strict => Err("void"),
        AMQPValue::FieldTable(_) | AMQPValue::FieldArray(_) | AMQPValue::Void => Ok(None),
        other if strict => Err(type_name(other)),
        other => Ok(scalar(other)),
    }
}

fn type_name(value: &AMQPValue) -> &'static str {
    match value {
        AMQPValue::Boolean(_) => "boolean",
        AMQPValue::Float(_) | AMQPValue::Double(_) | AMQPValue::DecimalValue(_) => "number",
        AMQPValue::Timestamp(_) => "timestamp",
        _ => "integer",
    }
}

/// A scalar's text (strings, numbers, booleans, timestamps).
fn scalar(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::Float(f) => f.to_string(),
        AMQPValue::Double(f) => f.to_string(),
        AMQPValue::DecimalValue(d) => format!("{}e-{}", d.value, d.scale),
        AMQPValue::Timestamp(t) => t.to_string(),
        other => integer(other)?.to_string(),
    })
}

fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok(),
        AMQPValue::ShortString(s) => s.as_str().trim().parse().ok(),
        _ => None,
    }
}

fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldArray, FieldTable, LongString};

    use super::super::encode;
    use super::*;

    fn props(headers: &[(&str, AMQPValue)]) -> BasicProperties {
        let mut table = FieldTable::default();
        for (n, v) in headers {
            table.insert((*n).into(), v.clone());
        }
        BasicProperties::default().with_headers(table)
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut msg = Message::new("orders.created", "body")
            .with_content_type("application/json")
            .with_correlation_id("c-1")
            .with_reply_to("_INBOX.x")
            .with_header("x-tenant", "acme");
        msg.headers.append("Baggage", "k=v");
        msg.headers.append("baggage", "k2=v2");
        let (rk, props) = encode(&msg, true).unwrap();
        let got = decode(rk.as_str(), false, &props, msg.payload.clone()).unwrap();
        assert_eq!(
            got.headers.get_all("BAGGAGE").collect::<Vec<_>>(),
            ["k=v", "k2=v2"]
        );
        assert_eq!(got.headers.get("X-Tenant"), Some("acme"));
        let fields = |m: &Message| {
            (
                m.id.clone(),
                m.topic.clone(),
                m.content_type.clone(),
                m.correlation_id.clone(),
            )
        };
        assert_eq!(fields(&got), fields(&msg));
        assert_eq!((got.reply_to, got.timestamp), (msg.reply_to, msg.timestamp));
        assert_eq!(got.delivery_attempt, 1);
    }

    #[test]
    fn strict_for_reserved_lenient_for_the_rest() {
        let table = AMQPValue::FieldTable(FieldTable::default());
        for (headers, why) in [
            (
                vec![("traceparent", AMQPValue::LongInt(7))],
                "integer traceparent",
            ),
            (
                vec![("tracestate", table.clone())],
                "table where a string is expected",
            ),
            (
                vec![("Baggage", AMQPValue::Boolean(true))],
                "boolean baggage, any case",
            ),
            (
                vec![(
                    "traceparent",
                    AMQPValue::LongString(LongString::from(vec![0xff, 0xfe])),
                )],
                "non-UTF-8 traceparent",
            ),
        ] {
            let err = decode("t", false, &props(&headers), Bytes::new());
            assert!(matches!(err, Err(DecodeError::NotAString { .. })), "{why}");
        }
        let lenient = props(&[
            ("x-retries", AMQPValue::LongInt(3)),
            (
                "x-death",
                AMQPValue::FieldArray(FieldArray::from(vec![table])),
            ),
            (ATTEMPT_HEADER, AMQPValue::LongString("4".into())),
        ]);
        let msg = decode("t", true, &lenient, Bytes::new()).unwrap();
        assert_eq!(msg.headers.get("x-retries"), Some("3"));
        assert!(!msg.headers.contains("x-death"));
        assert_eq!(msg.delivery_attempt, 5, "header attempt + redelivered");
    }

    #[test]
    fn unsupported_content_encoding_is_undecodable() {
        let props = BasicProperties::default().with_content_encoding("gzip".into());
        let err = decode("t", false, &props, Bytes::new()).unwrap_err();
        assert_eq!(err, DecodeError::ContentEncoding("gzip".into()));
    }
}
