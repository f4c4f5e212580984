//! `Message` → AMQP routing key, properties and headers.

use std::time::UNIX_EPOCH;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use tracewire_broker::Message;

use super::TIMESTAMP_HEADER;
use crate::AmqpError;

/// Delivery mode of a transient message.
const TRANSIENT: u8 = 1;
/// Delivery mode of a persistent message (written to disk by durable queues).
const PERSISTENT: u8 = 2;

pub(crate) fn short(field: &'static str, value: &str) -> Result<ShortString, AmqpError> {
    ShortString::try_new(value)
        .map_err(|_| AmqpError::Encode(format!("{field} is longer than 255 bytes")))
}

/// The routing key and properties of `msg`.
pub(crate) fn encode(
    msg: &Message,
    persistent: bool,
) -> Result<(ShortString, BasicProperties), AmqpError> {
    let routing_key = short("topic", &msg.topic)?;
    let mut headers = headers_table(msg)?;
    let nanos = msg
        .timestamp
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    headers.insert(TIMESTAMP_HEADER.into(), AMQPValue::LongLongInt(nanos));
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(0);
    let mut props = BasicProperties::default()
        .with_message_id(short("message id", &msg.id)?)
        .with_timestamp(seconds)
        .with_delivery_mode(if persistent { PERSISTENT } else { TRANSIENT })
        .with_headers(headers);
    if let Some(v) = &msg.content_type {
        props = props.with_content_type(short("content type", v)?);
    }
    if let Some(v) = &msg.correlation_id {
        props = props.with_correlation_id(short("correlation id", v)?);
    }
    if let Some(v) = &msg.reply_to {
        props = props.with_reply_to(short("reply-to", v)?);
    }
    Ok((routing_key, props))
}

/// The headers table: one key per name (case-insensitively, first spelling kept), a
/// `LongString` for one line, an array of `LongString`s (in order) for several.
fn headers_table(msg: &Message) -> Result<FieldTable, AmqpError> {
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::with_capacity(msg.headers.len());
    for (name, value) in msg.headers.iter() {
        match grouped
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, values)) => values.push(value),
            None => grouped.push((name, vec![value])),
        }
    }
    let mut table = FieldTable::default();
    for (name, values) in grouped {
        let value = match values.as_slice() {
            [one] => long(one),
            many => AMQPValue::FieldArray(FieldArray::from(
                many.iter().map(|v| long(v)).collect::<Vec<_>>(),
            )),
        };
        table.insert(short("header name", name)?, value);
    }
    Ok(table)
}

fn long(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// `props` with header `name` set to `value` (other headers kept).
pub(crate) fn set_header(props: BasicProperties, name: &str, value: AMQPValue) -> BasicProperties {
    let mut table = props.headers().clone().unwrap_or_default();
    if let Ok(name) = ShortString::try_new(name) {
        table.insert(name, value);
    }
    props.with_headers(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_become_one_array_in_order() {
        let mut msg = Message::new("t", "x");
        msg.headers.append("tracestate", "a=1");
        msg.headers.append("x", "y");
        msg.headers.append("TraceState", "b=2");
        let (_, props) = encode(&msg, false).unwrap();
        let table = props.headers().clone().unwrap();
        let Some(AMQPValue::FieldArray(values)) = table.inner().get("tracestate") else {
            panic!("expected an array: {table:?}");
        };
        assert_eq!(
            values.as_slice(),
            [long("a=1"), long("b=2")].as_slice(),
            "lines of one name keep their order"
        );
        assert_eq!(table.inner().get("x"), Some(&long("y")));
        assert_eq!(props.delivery_mode(), &Some(TRANSIENT));
    }

    #[test]
    fn too_long_fields_are_typed_errors() {
        let long_topic = "t".repeat(256);
        let err = encode(&Message::new(long_topic, "x"), true).unwrap_err();
        assert!(matches!(err, AmqpError::Encode(_)));
        let msg = Message::new("t", "x").with_header("n".repeat(300), "v");
        assert!(matches!(encode(&msg, true), Err(AmqpError::Encode(_))));
    }
}
