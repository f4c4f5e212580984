//! OTLP protobuf encoding of span batches, written straight from `&[SpanData]`.
//!
//! # Why hand-written
//!
//! The upstream path (`opentelemetry-otlp` 0.33) first converts a batch into the
//! `opentelemetry-proto` message tree with `group_spans_by_resource_and_scope`, then
//! encodes that tree with prost and frees it. Under callgrind one exported span cost
//! about 27 400 instructions on the batch export thread: 11 100 to convert (a fresh
//! `String` for every attribute key and string value, a `Vec` for every id), 10 100
//! to encode, 5 300 to free the tree. That was the largest single tracing cost in
//! every benchmark of `BENCHMARKS.md`.
//!
//! [`TraceRequestEncoder`] writes the same protobuf bytes without the tree: one pass
//! over the spans, strings and ids copied once into a caller-supplied `Vec<u8>` that
//! is cleared and reused from batch to batch, the resource encoded once when it is
//! set. Nested messages get a one-byte length placeholder that is widened (the content
//! moved right) only when the message turns out to be 128 bytes or longer, so every
//! length is a canonical minimal varint. The figures are in `BENCHMARKS.md`, section
//! "OTLP export (tracewire-telemetry)".
//!
//! # Same bytes as upstream
//!
//! Every field is encoded as `opentelemetry-proto` 0.33 sets it: ids as bytes (the
//! parent id empty when invalid), `trace_state` in header form (`k=v,k2=v2`), `flags`
//! = W3C trace flags | `CONTEXT_HAS_IS_REMOTE` | `CONTEXT_IS_REMOTE` when the parent
//! (for links: the linked context) is remote, times as unix nanoseconds (0 before
//! the epoch), status always present, default proto3 values omitted, fields in
//! prost's order (by field number). Spans are grouped by instrumentation scope in order of first
//! appearance, as upstream does; the tests in this module and in
//! `tests/otlp_encode.rs` compare our bytes with upstream's byte for byte. Scope order
//! carries no meaning in OTLP: receivers must not rely on it.
//!
//! Value variants added to `opentelemetry` after 0.33 (`Value` and `Array` are
//! non-exhaustive) are sent as their string form, where upstream would panic.
//!
//! ```
//! use opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::Resource;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use tracewire_telemetry::otlp::TraceRequestEncoder;
//!
//! let spans = InMemorySpanExporter::default();
//! let provider = SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build();
//! provider.tracer("checkout").in_span("charge card", |_| {});
//!
//! let resource = Resource::builder_empty().with_service_name("orders").build();
//! let mut encoder = TraceRequestEncoder::new(&resource);
//! let mut body = Vec::new(); // reuse it for every batch
//! encoder.encode(&spans.get_finished_spans()?, &mut body);
//! // `body` is an `ExportTraceServiceRequest`, ready to POST to `/v1/traces`
//! assert!(body.windows(11).any(|w| w == b"charge card"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status, TraceState};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use prost::encoding::{encode_varint, encoded_len_varint};

// Protobuf keys: (field number << 3) | wire type. Wire types: 0 varint, 1 fixed64,
// 2 length-delimited, 5 fixed32.
const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const FIXED32: u8 = 5;

const fn key(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

// ExportTraceServiceRequest
const REQUEST_RESOURCE_SPANS: u8 = key(1, LEN);
// ResourceSpans
const RESOURCE_SPANS_RESOURCE: u8 = key(1, LEN);
const RESOURCE_SPANS_SCOPE_SPANS: u8 = key(2, LEN);
const RESOURCE_SPANS_SCHEMA_URL: u8 = key(3, LEN);
// Resource
const RESOURCE_ATTRIBUTES: u8 = key(1, LEN);
// ScopeSpans
const SCOPE_SPANS_SCOPE: u8 = key(1, LEN);
const SCOPE_SPANS_SPANS: u8 = key(2, LEN);
const SCOPE_SPANS_SCHEMA_URL: u8 = key(3, LEN);
// InstrumentationScope
const SCOPE_NAME: u8 = key(1, LEN);
const SCOPE_VERSION: u8 = key(2, LEN);
const SCOPE_ATTRIBUTES: u8 = key(3, LEN);
// Span
const SPAN_TRACE_ID: u8 = key(1, LEN);
const SPAN_SPAN_ID: u8 = key(2, LEN);
const SPAN_TRACE_STATE: u8 = key(3, LEN);
const SPAN_PARENT_SPAN_ID: u8 = key(4, LEN);
/// Field 16 (fixed32) does not fit one key byte: its varint key is `0x85 0x01`.
const SPAN_FLAGS: [u8; 2] = [0x85, 0x01];
const SPAN_NAME: u8 = key(5, LEN);
const SPAN_KIND: u8 = key(6, VARINT);
const SPAN_START: u8 = key(7, FIXED64);
const SPAN_END: u8 = key(8, FIXED64);
const SPAN_ATTRIBUTES: u8 = key(9, LEN);
const SPAN_DROPPED_ATTRIBUTES: u8 = key(10, VARINT);
const SPAN_EVENTS: u8 = key(11, LEN);
const SPAN_DROPPED_EVENTS: u8 = key(12, VARINT);
const SPAN_LINKS: u8 = key(13, LEN);
const SPAN_DROPPED_LINKS: u8 = key(14, VARINT);
const SPAN_STATUS: u8 = key(15, LEN);
// Span.Event
const EVENT_TIME: u8 = key(1, FIXED64);
const EVENT_NAME: u8 = key(2, LEN);
const EVENT_ATTRIBUTES: u8 = key(3, LEN);
const EVENT_DROPPED_ATTRIBUTES: u8 = key(4, VARINT);
// Span.Link
const LINK_TRACE_ID: u8 = key(1, LEN);
const LINK_SPAN_ID: u8 = key(2, LEN);
const LINK_TRACE_STATE: u8 = key(3, LEN);
const LINK_ATTRIBUTES: u8 = key(4, LEN);
const LINK_DROPPED_ATTRIBUTES: u8 = key(5, VARINT);
const LINK_FLAGS: u8 = key(6, FIXED32);
// Status
const STATUS_MESSAGE: u8 = key(2, LEN);
const STATUS_CODE: u8 = key(3, VARINT);
// KeyValue
const KV_KEY: u8 = key(1, LEN);
const KV_VALUE: u8 = key(2, LEN);
// AnyValue (a oneof: set members are always written, even when zero or empty)
const ANY_STRING: u8 = key(1, LEN);
const ANY_BOOL: u8 = key(2, VARINT);
const ANY_INT: u8 = key(3, VARINT);
const ANY_DOUBLE: u8 = key(4, FIXED64);
const ANY_ARRAY: u8 = key(5, LEN);
// ArrayValue
const ARRAY_VALUES: u8 = key(1, LEN);

/// `SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: upstream always sets it.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// `SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const FLAG_IS_REMOTE: u32 = 0x200;

/// Encodes batches of spans as OTLP `ExportTraceServiceRequest` protobuf.
///
/// Holds the resource, encoded once by [`new`](Self::new) or
/// [`set_resource`](Self::set_resource), and a small scratch area, so that encoding a
/// batch into a reused buffer does not allocate once the buffer has grown to the
/// batch size. See the [module documentation](self) for the format guarantees.
#[derive(Debug, Clone)]
pub struct TraceRequestEncoder {
    /// `ResourceSpans.resource` (key, length, `Resource` message).
    resource: Vec<u8>,
    /// `ResourceSpans.schema_url` (key, length, text), empty when there is none.
    schema_url: Vec<u8>,
    /// Per distinct scope in order of first appearance: the index of its first span.
    scopes: Vec<usize>,
    /// Per span of the batch: the index of its scope in `scopes`.
    span_scope: Vec<usize>,
}

impl Default for TraceRequestEncoder {
    /// An encoder with an empty resource (what an exporter has before
    /// `set_resource`).
    fn default() -> Self {
        Self {
            resource: vec![RESOURCE_SPANS_RESOURCE, 0],
            schema_url: Vec::new(),
            scopes: Vec::new(),
            span_scope: Vec::new(),
        }
    }
}

impl TraceRequestEncoder {
    /// An encoder whose requests carry `resource`.
    pub fn new(resource: &Resource) -> Self {
        let mut encoder = Self::default();
        encoder.set_resource(resource);
        encoder
    }

    /// Replaces the resource (attributes and schema URL) of the requests that follow.
    pub fn set_resource(&mut self, resource: &Resource) {
        self.resource.clear();
        let start = begin(&mut self.resource, RESOURCE_SPANS_RESOURCE);
        for (k, v) in resource.iter() {
            key_value(&mut self.resource, RESOURCE_ATTRIBUTES, k.as_str(), v);
        }
        end(&mut self.resource, start);
        self.schema_url.clear();
        if let Some(url) = resource.schema_url() {
            string(&mut self.schema_url, RESOURCE_SPANS_SCHEMA_URL, url);
        }
    }

    /// Encodes `batch` as one `ExportTraceServiceRequest` into `out`, replacing its
    /// contents (its capacity is kept: pass the same buffer for every batch).
    ///
    /// The request has one `ResourceSpans` (this encoder's resource) holding one
    /// `ScopeSpans` per distinct instrumentation scope, in order of first appearance;
    /// an empty batch gives a `ResourceSpans` with the resource and no scopes, as
    /// upstream's conversion does.
    pub fn encode(&mut self, batch: &[SpanData], out: &mut Vec<u8>) {
        out.clear();
        self.group_by_scope(batch);
        let resource_spans = begin(out, REQUEST_RESOURCE_SPANS);
        out.extend_from_slice(&self.resource);
        for (scope_index, &first) in self.scopes.iter().enumerate() {
            let Some(first) = batch.get(first) else {
                continue;
            };
            let scope_spans = begin(out, RESOURCE_SPANS_SCOPE_SPANS);
            scope(out, &first.instrumentation_scope);
            for (span_data, _) in batch
                .iter()
                .zip(&self.span_scope)
                .filter(|&(_, &s)| s == scope_index)
            {
                span(out, span_data);
            }
            if let Some(url) = first.instrumentation_scope.schema_url() {
                string(out, SCOPE_SPANS_SCHEMA_URL, url);
            }
            end(out, scope_spans);
        }
        out.extend_from_slice(&self.schema_url);
        end(out, resource_spans);
    }

    /// Fills `scopes` and `span_scope`. Linear in spans × distinct scopes, with the
    /// previous span's scope tried first: a batch holds spans of a handful of
    /// tracers, mostly in runs, and comparing two scopes is cheaper than hashing one.
    fn group_by_scope(&mut self, batch: &[SpanData]) {
        self.scopes.clear();
        self.span_scope.clear();
        let mut last: Option<(usize, &InstrumentationScope)> = None;
        for (i, span_data) in batch.iter().enumerate() {
            let current = &span_data.instrumentation_scope;
            let index = match last {
                Some((index, scope)) if scope == current => index,
                _ => {
                    let found = self.scopes.iter().position(|&first| {
                        batch
                            .get(first)
                            .is_some_and(|s| &s.instrumentation_scope == current)
                    });
                    match found {
                        Some(index) => index,
                        None => {
                            self.scopes.push(i);
                            self.scopes.len() - 1
                        }
                    }
                }
            };
            last = Some((index, current));
            self.span_scope.push(index);
        }
    }
}

/// Encodes `batch` with `resource` into `out` (replacing its contents): a one-off
/// [`TraceRequestEncoder::encode`]. An exporter should keep one encoder instead, so
/// that the resource is encoded once.
pub fn encode_export_trace_request(resource: &Resource, batch: &[SpanData], out: &mut Vec<u8>) {
    TraceRequestEncoder::new(resource).encode(batch, out);
}

/// Starts a length-delimited field: writes its key and a one-byte length placeholder
/// and returns where the content starts (for [`end`]).
#[inline]
fn begin(out: &mut Vec<u8>, field_key: u8) -> usize {
    out.push(field_key);
    out.push(0);
    out.len()
}

/// Ends the field begun at `start`: writes the content length into the placeholder,
/// widening it (moving the content right) when it needs more than one byte.
#[inline]
fn end(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    if len < 0x80 {
        if let Some(slot) = out.get_mut(start - 1) {
            *slot = len as u8;
        }
        return;
    }
    let width = encoded_len_varint(len as u64);
    let extra = width - 1;
    out.resize(out.len() + extra, 0);
    out.copy_within(start..start + len, start + extra);
    let mut length = [0u8; 10];
    let mut slice = &mut length[..];
    encode_varint(len as u64, &mut slice);
    out[start - 1..start - 1 + width].copy_from_slice(&length[..width]);
}

#[inline]
fn varint_field(out: &mut Vec<u8>, field_key: u8, value: u64) {
    out.push(field_key);
    encode_varint(value, out);
}

/// A proto3 string or bytes field: omitted when empty.
#[inline]
fn bytes(out: &mut Vec<u8>, field_key: u8, value: &[u8]) {
    if !value.is_empty() {
        out.push(field_key);
        encode_varint(value.len() as u64, out);
        out.extend_from_slice(value);
    }
}

#[inline]
fn string(out: &mut Vec<u8>, field_key: u8, value: &str) {
    bytes(out, field_key, value.as_bytes());
}

/// A proto3 uint32 field: omitted when zero.
#[inline]
fn count(out: &mut Vec<u8>, field_key: u8, value: u32) {
    if value != 0 {
        varint_field(out, field_key, u64::from(value));
    }
}

/// A proto3 fixed64 field: omitted when zero.
#[inline]
fn fixed64(out: &mut Vec<u8>, field_key: u8, value: u64) {
    if value != 0 {
        out.push(field_key);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `TraceState::header()` (`k=v` entries joined by `,`) without building the string.
fn trace_state(out: &mut Vec<u8>, field_key: u8, state: &TraceState) {
    let mut len = 0;
    let mut entries = 0;
    for (k, v) in state {
        len += k.len() + 1 + v.len();
        entries += 1;
    }
    if entries == 0 {
        return;
    }
    len += entries - 1;
    out.push(field_key);
    encode_varint(len as u64, out);
    for (i, (k, v)) in state.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
}

fn scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    let start = begin(out, SCOPE_SPANS_SCOPE);
    string(out, SCOPE_NAME, scope.name());
    string(out, SCOPE_VERSION, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        attribute(out, SCOPE_ATTRIBUTES, kv);
    }
    end(out, start);
}

fn span(out: &mut Vec<u8>, span: &SpanData) {
    let start = begin(out, SCOPE_SPANS_SPANS);
    let context = &span.span_context;
    bytes(out, SPAN_TRACE_ID, &context.trace_id().to_bytes());
    bytes(out, SPAN_SPAN_ID, &context.span_id().to_bytes());
    trace_state(out, SPAN_TRACE_STATE, context.trace_state());
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        bytes(out, SPAN_PARENT_SPAN_ID, &span.parent_span_id.to_bytes());
    }
    string(out, SPAN_NAME, &span.name);
    varint_field(out, SPAN_KIND, span_kind(&span.span_kind));
    fixed64(out, SPAN_START, nanos(span.start_time));
    fixed64(out, SPAN_END, nanos(span.end_time));
    for kv in &span.attributes {
        attribute(out, SPAN_ATTRIBUTES, kv);
    }
    count(out, SPAN_DROPPED_ATTRIBUTES, span.dropped_attributes_count);
    for event in &span.events.events {
        let start = begin(out, SPAN_EVENTS);
        fixed64(out, EVENT_TIME, nanos(event.timestamp));
        string(out, EVENT_NAME, &event.name);
        for kv in &event.attributes {
            attribute(out, EVENT_ATTRIBUTES, kv);
        }
        count(
            out,
            EVENT_DROPPED_ATTRIBUTES,
            event.dropped_attributes_count,
        );
        end(out, start);
    }
    count(out, SPAN_DROPPED_EVENTS, span.events.dropped_count);
    for link in &span.links.links {
        let start = begin(out, SPAN_LINKS);
        let linked = &link.span_context;
        bytes(out, LINK_TRACE_ID, &linked.trace_id().to_bytes());
        bytes(out, LINK_SPAN_ID, &linked.span_id().to_bytes());
        trace_state(out, LINK_TRACE_STATE, linked.trace_state());
        for kv in &link.attributes {
            attribute(out, LINK_ATTRIBUTES, kv);
        }
        count(out, LINK_DROPPED_ATTRIBUTES, link.dropped_attributes_count);
        let flags = span_flags(linked.is_remote(), linked.trace_flags().to_u8());
        out.push(LINK_FLAGS);
        out.extend_from_slice(&flags.to_le_bytes());
        end(out, start);
    }
    count(out, SPAN_DROPPED_LINKS, span.links.dropped_count);
    let status = begin(out, SPAN_STATUS);
    let code = match &span.status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error { description } => {
            string(out, STATUS_MESSAGE, description);
            2
        }
    };
    if code != 0 {
        varint_field(out, STATUS_CODE, code);
    }
    end(out, status);
    // field 16 last: prost writes fields in field-number order
    let flags = span_flags(span.parent_span_is_remote, context.trace_flags().to_u8());
    out.extend_from_slice(&SPAN_FLAGS);
    out.extend_from_slice(&flags.to_le_bytes());
    end(out, start);
}

/// Upstream's `build_span_flags`: W3C flags, "has is_remote" always, "is remote" when
/// the parent (or linked) context is remote.
fn span_flags(remote: bool, trace_flags: u8) -> u32 {
    let mut flags = u32::from(trace_flags) | FLAG_HAS_IS_REMOTE;
    if remote {
        flags |= FLAG_IS_REMOTE;
    }
    flags
}

fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

#[inline]
fn attribute(out: &mut Vec<u8>, field_key: u8, kv: &KeyValue) {
    key_value(out, field_key, kv.key.as_str(), &kv.value);
}

/// A `KeyValue` message (the value is always present).
fn key_value(out: &mut Vec<u8>, field_key: u8, k: &str, v: &Value) {
    let start = begin(out, field_key);
    string(out, KV_KEY, k);
    any_value(out, KV_VALUE, v);
    end(out, start);
}

/// An `AnyValue` message with its oneof member set.
fn any_value(out: &mut Vec<u8>, field_key: u8, value: &Value) {
    let start = begin(out, field_key);
    match value {
        Value::Bool(b) => varint_field(out, ANY_BOOL, u64::from(*b)),
        Value::I64(i) => varint_field(out, ANY_INT, *i as u64),
        Value::F64(f) => any_double(out, *f),
        Value::String(s) => any_string(out, s.as_str()),
        Value::Array(array) => {
            let values = begin(out, ANY_ARRAY);
            match array {
                Array::Bool(items) => {
                    for b in items {
                        let item = begin(out, ARRAY_VALUES);
                        varint_field(out, ANY_BOOL, u64::from(*b));
                        end(out, item);
                    }
                }
                Array::I64(items) => {
                    for i in items {
                        let item = begin(out, ARRAY_VALUES);
                        varint_field(out, ANY_INT, *i as u64);
                        end(out, item);
                    }
                }
                Array::F64(items) => {
                    for f in items {
                        let item = begin(out, ARRAY_VALUES);
                        any_double(out, *f);
                        end(out, item);
                    }
                }
                Array::String(items) => {
                    for s in items {
                        let item = begin(out, ARRAY_VALUES);
                        any_string(out, s.as_str());
                        end(out, item);
                    }
                }
                other => {
                    // an array kind newer than opentelemetry 0.33: its string form
                    out.truncate(values - 2);
                    any_string(out, &other.to_string());
                    end(out, start);
                    return;
                }
            }
            end(out, values);
        }
        other => any_string(out, &other.to_string()),
    }
    end(out, start);
}

/// `AnyValue.string_value`: a oneof member, written even when empty.
#[inline]
fn any_string(out: &mut Vec<u8>, s: &str) {
    out.push(ANY_STRING);
    encode_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

#[inline]
fn any_double(out: &mut Vec<u8>, f: f64) {
    out.push(ANY_DOUBLE);
    out.extend_from_slice(&f.to_le_bytes());
}

#[cfg(test)]
mod tests;
