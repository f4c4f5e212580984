//! CloudEvents 1.0 to and from [`Message`]s: structured JSON mode and binary mode.

use chrono::{DateTime, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use serde::de::DeserializeOwned;

use crate::{Headers, Message};

/// Content type of a structured-mode CloudEvent.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Header prefix of binary-mode attributes.
pub const BINARY_HEADER_PREFIX: &str = "ce-";

/// How events are put into messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// The whole event as JSON in the payload (works on every transport; default).
    #[default]
    Structured,
    /// Attributes as `ce-*` headers, `data` as the payload (transports with headers).
    Binary,
}

/// Why a message is not a usable event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeEventError {
    /// Neither structured (content type) nor binary (`ce-specversion` header).
    #[error("message is not a CloudEvent")]
    NotACloudEvent,
    /// The CloudEvent envelope is malformed.
    #[error("invalid CloudEvent: {0}")]
    Invalid(String),
    /// The event's `type` is not the one the handler expects.
    #[error("unexpected event type {found:?}, expected {expected:?}")]
    WrongType {
        /// The handler's type.
        expected: &'static str,
        /// The event's type.
        found: String,
    },
    /// `data` does not decode into the handler's type.
    #[error("event data does not decode: {0}")]
    Data(String),
}

pub(crate) fn encode(event: &Event, topic: &str, mode: Mode) -> Result<Message, serde_json::Error> {
    let mut msg = match mode {
        Mode::Structured => Message::new(topic, serde_json::to_vec(event)?)
            .with_content_type(STRUCTURED_CONTENT_TYPE),
        Mode::Binary => {
            let payload = match event.data() {
                Some(Data::Json(v)) => serde_json::to_vec(v)?,
                Some(Data::String(s)) => s.clone().into_bytes(),
                Some(Data::Binary(b)) => b.clone(),
                None => Vec::new(),
            };
            let mut msg = Message::new(topic, payload);
            msg.content_type = event.datacontenttype().map(str::to_owned);
            for (name, value) in event.iter() {
                if name != "datacontenttype" {
                    msg.headers
                        .insert(format!("{BINARY_HEADER_PREFIX}{name}"), value.to_string());
                }
            }
            msg
        }
    };
    msg.id = event.id().to_owned();
    if let Some(ExtensionValue::String(correlation)) = event.extension("correlationid") {
        msg.correlation_id = Some(correlation.clone());
    }
    Ok(msg)
}

pub(crate) fn decode(msg: &Message) -> Result<Event, DecodeEventError> {
    let structured = msg
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(STRUCTURED_CONTENT_TYPE));
    if structured {
        return serde_json::from_slice(&msg.payload)
            .map_err(|e| DecodeEventError::Invalid(e.to_string()));
    }
    if msg.headers.contains("ce-specversion") {
        return decode_binary(&msg.headers, msg);
    }
    Err(DecodeEventError::NotACloudEvent)
}

fn decode_binary(headers: &Headers, msg: &Message) -> Result<Event, DecodeEventError> {
    if headers.get("ce-specversion") != Some("1.0") {
        return Err(DecodeEventError::Invalid(
            "ce-specversion is not 1.0".into(),
        ));
    }
    let mut builder = EventBuilderV10::new();
    for (name, value) in headers.iter() {
        let lower = name.to_ascii_lowercase();
        let Some(attr) = lower.strip_prefix(BINARY_HEADER_PREFIX) else {
            continue;
        };
        builder = match attr {
            "specversion" => builder,
            "id" => builder.id(value),
            "source" => builder.source(value),
            "type" => builder.ty(value),
            "subject" => builder.subject(value),
            "time" => {
                let time: DateTime<Utc> = value
                    .parse()
                    .map_err(|e: chrono::ParseError| DecodeEventError::Invalid(e.to_string()))?;
                builder.time(time)
            }
            _ => builder.extension(attr, value),
        };
    }
    if !msg.payload.is_empty() {
        let ct = msg
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let data = if ct.contains("json") {
            serde_json::from_slice(&msg.payload)
                .map(Data::Json)
                .map_err(|e| DecodeEventError::Invalid(e.to_string()))?
        } else {
            Data::Binary(msg.payload.to_vec())
        };
        builder = builder.data(ct, data);
    }
    builder
        .build()
        .map_err(|e| DecodeEventError::Invalid(e.to_string()))
}

pub(crate) fn data_as<E: DeserializeOwned>(event: &Event) -> Result<E, DecodeEventError> {
    let result = match event.data() {
        Some(Data::Json(v)) => serde_json::from_value(v.clone()),
        Some(Data::String(s)) => serde_json::from_str(s),
        Some(Data::Binary(b)) => serde_json::from_slice(b),
        None => serde_json::from_value(serde_json::Value::Null),
    };
    result.map_err(|e| DecodeEventError::Data(e.to_string()))
}
