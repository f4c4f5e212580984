//! A self-describing binary encoding of [`Message`], for transports that carry only
//! bytes (or a message stored to disk). Headers, and so the trace context, are part of
//! the encoding: a message that is encoded and decoded keeps its trace.
//!
//! Layout (all integers big-endian): the magic `TWM\x01`; `id`, `topic`; the header
//! count (`u32`) and each name and value; the payload; `content_type`, `reply_to`,
//! `correlation_id` (each a presence byte then a string); the timestamp in nanoseconds
//! since the Unix epoch (`u64`); the delivery attempt (`u32`). Strings and the payload
//! are a `u32` length followed by the bytes.

use std::time::{Duration, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{Headers, Message};

const MAGIC: &[u8; 4] = b"TWM\x01";

/// Why bytes could not be decoded into a [`Message`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input does not start with the tracewire message magic and version.
    #[error("not a tracewire message (bad magic or unsupported version)")]
    BadMagic,
    /// The input ended in the middle of a field.
    #[error("truncated message: {0} missing")]
    Truncated(&'static str),
    /// A string field is not UTF-8.
    #[error("field {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Bytes are left over after the last field.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

impl Message {
    /// Encodes the whole message (see the [module docs](crate::wire) for the layout).
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64 + self.payload.len());
        buf.put_slice(MAGIC);
        put_str(&mut buf, &self.id);
        put_str(&mut buf, &self.topic);
        put_len(&mut buf, self.headers.len());
        for (name, value) in self.headers.iter() {
            put_str(&mut buf, name);
            put_str(&mut buf, value);
        }
        put_len(&mut buf, self.payload.len());
        buf.put_slice(&self.payload);
        for field in [&self.content_type, &self.reply_to, &self.correlation_id] {
            match field {
                Some(value) => {
                    buf.put_u8(1);
                    put_str(&mut buf, value);
                }
                None => buf.put_u8(0),
            }
        }
        let nanos = self
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        buf.put_u64(nanos);
        buf.put_u32(self.delivery_attempt);
        buf.freeze()
    }

    /// Decodes bytes written by [`Message::to_bytes`].
    pub fn from_bytes(mut bytes: Bytes) -> Result<Self, DecodeError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        bytes.advance(MAGIC.len());
        let buf = &mut bytes;
        let id = get_str(buf, "id")?;
        let topic = get_str(buf, "topic")?;
        let count = get_u32(buf, "header count")?;
        let mut headers = Headers::new();
        for _ in 0..count {
            let name = get_str(buf, "header name")?;
            let value = get_str(buf, "header value")?;
            headers.append(name, value);
        }
        let payload = get_bytes(buf, "payload")?;
        let content_type = get_opt(buf, "content_type")?;
        let reply_to = get_opt(buf, "reply_to")?;
        let correlation_id = get_opt(buf, "correlation_id")?;
        if buf.remaining() < 12 {
            return Err(DecodeError::Truncated("timestamp and attempt"));
        }
        let timestamp = UNIX_EPOCH + Duration::from_nanos(buf.get_u64());
        let delivery_attempt = buf.get_u32();
        if buf.has_remaining() {
            return Err(DecodeError::Trailing(buf.remaining()));
        }
        Ok(Self {
            id,
            topic,
            headers,
            payload,
            content_type,
            reply_to,
            correlation_id,
            timestamp,
            delivery_attempt,
        })
    }
}

fn put_len(buf: &mut BytesMut, len: usize) {
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
}

fn put_str(buf: &mut BytesMut, s: &str) {
    put_len(buf, s.len());
    buf.put_slice(s.as_bytes());
}

fn get_u32(buf: &mut Bytes, field: &'static str) -> Result<u32, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError::Truncated(field));
    }
    Ok(buf.get_u32())
}

fn get_bytes(buf: &mut Bytes, field: &'static str) -> Result<Bytes, DecodeError> {
    let len = get_u32(buf, field)? as usize;
    if buf.remaining() < len {
        return Err(DecodeError::Truncated(field));
    }
    Ok(buf.split_to(len))
}

fn get_str(buf: &mut Bytes, field: &'static str) -> Result<String, DecodeError> {
    let bytes = get_bytes(buf, field)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8(field))
}

fn get_opt(buf: &mut Bytes, field: &'static str) -> Result<Option<String>, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::Truncated(field));
    }
    match buf.get_u8() {
        0 => Ok(None),
        _ => get_str(buf, field).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let mut msg = Message::new("orders.created", "payload")
            .with_content_type("text/plain")
            .with_reply_to("_INBOX.x")
            .with_correlation_id("c-1");
        msg.headers.append("tracestate", "a=1");
        msg.headers.append("TraceState", "b=2");
        msg.delivery_attempt = 3;
        assert_eq!(Message::from_bytes(msg.to_bytes()), Ok(msg));
    }

    #[test]
    fn rejects_malformed_input() {
        let good = Message::new("t", "p").to_bytes();
        let mut trailing = BytesMut::from(&good[..]);
        trailing.put_u8(0);
        for (input, want, why) in [
            (
                Bytes::from_static(b"nope"),
                DecodeError::BadMagic,
                "wrong magic",
            ),
            (
                good.slice(..good.len() - 1),
                DecodeError::Truncated("timestamp and attempt"),
                "cut short",
            ),
            (trailing.freeze(), DecodeError::Trailing(1), "extra byte"),
        ] {
            assert_eq!(Message::from_bytes(input), Err(want), "{why}");
        }
    }
}
