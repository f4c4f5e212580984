//! [`Envelope`]: the JSON object every text message carries, and the error replies sent
//! for input that is not one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Headers;

/// The longest `type` accepted (bytes): types name spans, so they must stay short.
pub const MAX_TYPE_LEN: usize = 128;

/// The `type` of the error replies this crate sends.
pub const ERROR_TYPE: &str = "error";

/// One WebSocket message: `{"id", "type", "headers", "data"}`.
///
/// * `id` (optional string): correlates a reply, or an error, with its request; replies
///   sent through a [`Responder`](crate::Responder) reuse the id of the message they
///   answer.
/// * `type` (required, 1 to [`MAX_TYPE_LEN`] bytes): what the message is; names the
///   message's span (`process {type}`).
/// * `headers` (optional object of strings): `traceparent`, `tracestate`, `baggage`
///   and anything else; see [`Headers`].
/// * `data` (optional, any JSON): the payload, `null` when absent.
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use tracewire_ws::Envelope;
///
/// let env = Envelope::new("chat.send", json!({"text": "hi"})).with_id("1");
/// let text = serde_json::to_string(&env)?;
/// assert_eq!(text, r#"{"id":"1","type":"chat.send","data":{"text":"hi"}}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The message type (JSON name `type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Trace context and other metadata.
    #[serde(default, skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    /// The payload.
    #[serde(default)]
    pub data: Value,
}

impl Envelope {
    /// An envelope of type `kind` with `data`, no id and no headers.
    pub fn new(kind: impl Into<String>, data: Value) -> Self {
        Self {
            id: None,
            kind: kind.into(),
            headers: Headers::new(),
            data,
        }
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// An error reply (`type` = [`ERROR_TYPE`], `data` = `{"code", "reason"}`).
    pub fn error(id: Option<String>, code: ErrorCode, reason: impl Into<String>) -> Self {
        let data = serde_json::json!({ "code": code.as_str(), "reason": reason.into() });
        Self {
            id,
            kind: ERROR_TYPE.to_owned(),
            headers: Headers::new(),
            data,
        }
    }

    /// Parses and validates one text message.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] with [`ErrorCode::MalformedJson`] when `text` is not JSON, or
    /// [`ErrorCode::InvalidEnvelope`] when it is JSON but not an envelope; the
    /// rejection keeps the message's `id` when one could be read.
    pub fn parse(text: &str) -> Result<Self, Rejection> {
        match serde_json::from_str::<Envelope>(text) {
            Ok(env) => env.validate(),
            Err(err) if err.is_syntax() || err.is_eof() => Err(Rejection {
                id: None,
                code: ErrorCode::MalformedJson,
                reason: err.to_string(),
            }),
            Err(err) => Err(Rejection {
                id: readable_id(text),
                code: ErrorCode::InvalidEnvelope,
                reason: err.to_string(),
            }),
        }
    }

    fn validate(self) -> Result<Self, Rejection> {
        let reason = if self.kind.is_empty() {
            "`type` is empty"
        } else if self.kind.len() > MAX_TYPE_LEN {
            "`type` is longer than 128 bytes"
        } else {
            return Ok(self);
        };
        Err(Rejection {
            id: self.id,
            code: ErrorCode::InvalidEnvelope,
            reason: reason.to_owned(),
        })
    }
}

/// The `id` of a JSON object that is not a valid envelope, if it is a string.
fn readable_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<Value>,
    }
    match serde_json::from_str::<IdOnly>(text).ok()?.id? {
        Value::String(id) => Some(id),
        _ => None,
    }
}

/// The `code` of an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `malformed_json`: the text is not JSON.
    MalformedJson,
    /// `invalid_envelope`: JSON, but not an envelope (missing or bad `type`, non-string
    /// header values, ...).
    InvalidEnvelope,
    /// `handler_error`: the application's handler returned an error.
    HandlerError,
}

impl ErrorCode {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::InvalidEnvelope => "invalid_envelope",
            Self::HandlerError => "handler_error",
        }
    }
}

/// Why a text message was not accepted as an [`Envelope`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", code.as_str())]
pub struct Rejection {
    /// The offending message's id, when it could be read.
    pub id: Option<String>,
    /// What is wrong.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_with_headers() {
        let text = r#"{"id":"7","type":"t","headers":{"traceparent":"x"},"data":[1]}"#;
        let env = Envelope::parse(text).unwrap();
        assert_eq!(env.id.as_deref(), Some("7"));
        assert_eq!(env.headers.get("traceparent"), Some("x"));
        assert_eq!(env.data, json!([1]));
        assert_eq!(serde_json::to_string(&env).unwrap(), text);
    }

    #[test]
    fn minimal_envelope() {
        let env = Envelope::parse(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(
            (env.id, env.kind.as_str(), env.data),
            (None, "ping", Value::Null)
        );
    }

    #[test]
    fn rejections() {
        let cases: &[(&str, ErrorCode, Option<&str>, &str)] = &[
            ("{not json", ErrorCode::MalformedJson, None, "syntax error"),
            (r#"{"id":"1""#, ErrorCode::MalformedJson, None, "truncated"),
            (
                r#"{"id":"2"}"#,
                ErrorCode::InvalidEnvelope,
                Some("2"),
                "no type",
            ),
            (
                r#"{"id":"3","type":""}"#,
                ErrorCode::InvalidEnvelope,
                Some("3"),
                "empty type",
            ),
            (
                r#"{"id":"4","type":5}"#,
                ErrorCode::InvalidEnvelope,
                Some("4"),
                "type not a string",
            ),
            (
                r#"{"id":5,"type":"t"}"#,
                ErrorCode::InvalidEnvelope,
                None,
                "id not a string",
            ),
            (
                r#"{"id":"6","type":"t","headers":{"traceparent":1}}"#,
                ErrorCode::InvalidEnvelope,
                Some("6"),
                "header not a string",
            ),
            ("[1,2]", ErrorCode::InvalidEnvelope, None, "not an object"),
        ];
        for (text, code, id, why) in cases {
            let rej = Envelope::parse(text).expect_err(why);
            assert_eq!(rej.code, *code, "{why}");
            assert_eq!(rej.id.as_deref(), *id, "{why}");
        }
        let long = format!(r#"{{"id":"8","type":"{}"}}"#, "x".repeat(MAX_TYPE_LEN + 1));
        assert_eq!(
            Envelope::parse(&long).unwrap_err().code,
            ErrorCode::InvalidEnvelope
        );
    }

    #[test]
    fn error_envelope_shape() {
        let env = Envelope::error(Some("9".into()), ErrorCode::HandlerError, "boom");
        assert_eq!(
            serde_json::to_value(&env).unwrap(),
            json!({"id":"9","type":"error","data":{"code":"handler_error","reason":"boom"}})
        );
    }
}
