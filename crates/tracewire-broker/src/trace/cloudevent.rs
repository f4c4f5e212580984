//! The CloudEvents distributed-tracing extension as a fallback carrier: a CloudEvent
//! published by a producer that does not write trace headers (another SDK, a bridge)
//! still carries `traceparent`/`tracestate` in the event itself.

use serde::Deserialize;

use crate::events::{BINARY_HEADER_PREFIX, STRUCTURED_CONTENT_TYPE};
use crate::{Headers, Message};

const FIELDS: [&str; 2] = ["traceparent", "tracestate"];

/// The extension of a structured-mode event; every other attribute is ignored.
#[derive(Deserialize)]
struct Extension {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

/// `traceparent`/`tracestate` from the CloudEvent in `msg` as plain headers: from the
/// `ce-` headers of a binary-mode event, or from the JSON of a structured-mode event.
/// `None` when `msg` is not a CloudEvent or carries no `traceparent`.
pub(super) fn carrier(msg: &Message) -> Option<Headers> {
    let mut headers = Headers::new();
    if msg.headers.contains("ce-specversion") {
        for field in FIELDS {
            let name = format!("{BINARY_HEADER_PREFIX}{field}");
            for value in msg.headers.get_all(&name) {
                headers.append(field, value);
            }
        }
    } else if msg
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(STRUCTURED_CONTENT_TYPE))
    {
        let ext: Extension = serde_json::from_slice(&msg.payload).ok()?;
        let values = [ext.traceparent, ext.tracestate];
        for (field, value) in FIELDS.into_iter().zip(values) {
            if let Some(value) = value {
                headers.append(field, value);
            }
        }
    }
    headers.contains("traceparent").then_some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_both_modes_and_ignores_the_rest() {
        let structured = Message::new(
            "t",
            format!(
                r#"{{"specversion":"1.0","traceparent":"{TP}","tracestate":"a=1","data":{{}}}}"#
            ),
        )
        .with_content_type("application/cloudevents+json; charset=utf-8");
        let binary = Message::new("t", "{}")
            .with_header("ce-specversion", "1.0")
            .with_header("CE-TraceParent", TP)
            .with_header("ce-tracestate", "a=1");
        for (msg, why) in [(structured, "structured"), (binary, "binary")] {
            let got = carrier(&msg).unwrap_or_default();
            assert_eq!(got.get("traceparent"), Some(TP), "{why}");
            assert_eq!(got.get("tracestate"), Some("a=1"), "{why}");
        }
        let plain_json = Message::new("t", format!(r#"{{"traceparent":"{TP}"}}"#))
            .with_content_type("application/json");
        let no_extension = Message::new("t", r#"{"specversion":"1.0"}"#)
            .with_content_type(STRUCTURED_CONTENT_TYPE);
        let not_json = Message::new("t", "nope").with_content_type(STRUCTURED_CONTENT_TYPE);
        for (msg, why) in [
            (plain_json, "not a CloudEvent"),
            (no_extension, "no traceparent"),
            (not_json, "malformed event"),
        ] {
            assert_eq!(carrier(&msg), None, "{why}");
        }
    }
}
