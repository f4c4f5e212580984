//! [`SpanRecord`]: the transport-neutral span model the tree printer renders.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;

/// Outcome of a span, without the SDK's borrowed string types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RecordStatus {
    /// No status was set.
    #[default]
    Unset,
    /// Explicitly marked successful.
    Ok,
    /// Failed, with the recorded description (possibly empty).
    Error(String),
}

/// One finished span, reduced to what the tree printer and `tracewire view` need.
///
/// Built from SDK [`SpanData`] (`From<&SpanData>`) or, with the `file` feature, from an
/// OTLP/JSON line (see [`crate::file::read_otlp_json_lines`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    /// Trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// Parent span id, [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    /// Whether the parent lives in another process (extracted from a carrier).
    pub parent_is_remote: bool,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start time.
    pub start_time: SystemTime,
    /// End time.
    pub end_time: SystemTime,
    /// Status.
    pub status: RecordStatus,
    /// Attributes as `(key, rendered value)` pairs, in recording order.
    pub attributes: Vec<(String, String)>,
    /// Names of the span's events, in recording order.
    pub events: Vec<String>,
    /// Links as `(trace id, span id)` of the linked span contexts.
    pub links: Vec<(TraceId, SpanId)>,
    /// Name of the instrumentation scope (tracer name).
    pub scope: String,
    /// The `service.name` resource attribute, when known.
    pub service_name: Option<String>,
}

impl SpanRecord {
    /// Duration of the span (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        self.end_time
            .duration_since(self.start_time)
            .unwrap_or_default()
    }

    /// Whether the span has a parent span id at all (local or remote).
    pub fn has_parent(&self) -> bool {
        self.parent_span_id != SpanId::INVALID
    }

    /// The rendered value of attribute `key`, if recorded.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl From<&SpanData> for SpanRecord {
    fn from(span: &SpanData) -> Self {
        let status = match &span.status {
            Status::Unset => RecordStatus::Unset,
            Status::Ok => RecordStatus::Ok,
            Status::Error { description } => RecordStatus::Error(description.to_string()),
        };
        Self {
            trace_id: span.span_context.trace_id(),
            span_id: span.span_context.span_id(),
            parent_span_id: span.parent_span_id,
            parent_is_remote: span.parent_span_is_remote,
            name: span.name.to_string(),
            kind: span.span_kind.clone(),
            start_time: span.start_time,
            end_time: span.end_time,
            status,
            attributes: span
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect(),
            events: span
                .events
                .events
                .iter()
                .map(|e| e.name.to_string())
                .collect(),
            links: span
                .links
                .links
                .iter()
                .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
                .collect(),
            scope: span.instrumentation_scope.name().to_owned(),
            service_name: None,
        }
    }
}

impl From<SpanData> for SpanRecord {
    fn from(span: SpanData) -> Self {
        Self::from(&span)
    }
}
