//! OTLP-JSON-lines files: the `file` traces exporter writes one OTLP/JSON
//! `ExportTraceServiceRequest` per line; [`read_otlp_json_lines`] reads such a file back
//! into [`SpanRecord`]s for the tree printer (`tracewire view FILE`).
//!
//! The encoding is the one of the OTLP/HTTP JSON protocol (`opentelemetry-proto`'s
//! `with-serde`): camelCase field names, trace and span ids as lower-case hex, enums as
//! integers, 64-bit integers (timestamps) as decimal strings, attribute values as
//! `{"stringValue": ...}`-style objects. A collector's `file` exporter reads it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span as ProtoSpan, status::StatusCode};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::tree::{RecordStatus, SpanRecord};

/// Span exporter appending one OTLP/JSON `ExportTraceServiceRequest` per line to a file.
///
/// Each export is one `write` of a complete line followed by a flush, so a reader never
/// sees half a batch (short of a crash mid-write). Use it behind the batch processor.
#[derive(Debug)]
pub struct OtlpJsonFileExporter {
    path: PathBuf,
    file: Mutex<File>,
    resource: ResourceAttributesWithSchema,
}

impl OtlpJsonFileExporter {
    /// Opens (creating if needed) `path` for appending.
    pub fn create(path: impl Into<PathBuf>) -> std::io::Result<Self> {
        let path = path.into();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            file: Mutex::new(file),
            resource: ResourceAttributesWithSchema::default(),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_batch(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if batch.is_empty() {
            return Ok(());
        }
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let mut line = serde_json::to_string(&request).map_err(|e| {
            OTelSdkError::InternalFailure(format!("OTLP/JSON encoding failed: {e}"))
        })?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| {
                OTelSdkError::InternalFailure(format!("writing {}: {e}", self.path.display()))
            })
    }
}

impl SpanExporter for OtlpJsonFileExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.write_batch(batch)
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.flush().map_err(|e| {
            OTelSdkError::InternalFailure(format!("flushing {}: {e}", self.path.display()))
        })
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// A line of an OTLP-JSON-lines file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading failed.
    #[error("reading OTLP-JSON lines failed")]
    Io(#[from] std::io::Error),
    /// A line is not an OTLP/JSON `ExportTraceServiceRequest`.
    #[error("line {line}: not an OTLP/JSON ExportTraceServiceRequest")]
    Json {
        /// 1-based line number.
        line: usize,
        /// The decoder's complaint.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads every span of an OTLP-JSON-lines stream (blank lines are skipped).
pub fn read_otlp_json_lines(reader: impl BufRead) -> Result<Vec<SpanRecord>, ReadError> {
    let mut records = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let request: ExportTraceServiceRequest =
            serde_json::from_str(&line).map_err(|source| ReadError::Json {
                line: index + 1,
                source,
            })?;
        records.extend(records_from_request(&request));
    }
    Ok(records)
}

/// Converts one decoded `ExportTraceServiceRequest` into [`SpanRecord`]s.
pub fn records_from_request(request: &ExportTraceServiceRequest) -> Vec<SpanRecord> {
    let mut records = Vec::new();
    for resource_spans in &request.resource_spans {
        let service_name = resource_spans.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .map(|kv| any_to_string(kv.value.as_ref()))
        });
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for span in &scope_spans.spans {
                let mut record = record_from_proto(span);
                record.scope.clone_from(&scope);
                record.service_name.clone_from(&service_name);
                records.push(record);
            }
        }
    }
    records
}

/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` and `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

/// Converts one OTLP span (scope and service name left empty).
pub fn record_from_proto(span: &ProtoSpan) -> SpanRecord {
    let status = match span.status.as_ref() {
        Some(s) if s.code == StatusCode::Error as i32 => RecordStatus::Error(s.message.clone()),
        Some(s) if s.code == StatusCode::Ok as i32 => RecordStatus::Ok,
        _ => RecordStatus::Unset,
    };
    SpanRecord {
        trace_id: trace_id(&span.trace_id),
        span_id: span_id(&span.span_id),
        parent_span_id: span_id(&span.parent_span_id),
        parent_is_remote: span.flags & HAS_IS_REMOTE != 0 && span.flags & IS_REMOTE != 0,
        name: span.name.clone(),
        kind: match span.kind {
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        start_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(span.start_time_unix_nano),
        end_time: SystemTime::UNIX_EPOCH + Duration::from_nanos(span.end_time_unix_nano),
        status,
        attributes: span.attributes.iter().map(kv_to_pair).collect(),
        events: span.events.iter().map(|e| e.name.clone()).collect(),
        links: span
            .links
            .iter()
            .map(|l| (trace_id(&l.trace_id), span_id(&l.span_id)))
            .collect(),
        scope: String::new(),
        service_name: None,
    }
}

fn trace_id(bytes: &[u8]) -> TraceId {
    <[u8; 16]>::try_from(bytes).map_or(TraceId::INVALID, TraceId::from_bytes)
}

fn span_id(bytes: &[u8]) -> SpanId {
    <[u8; 8]>::try_from(bytes).map_or(SpanId::INVALID, SpanId::from_bytes)
}

fn kv_to_pair(kv: &ProtoKeyValue) -> (String, String) {
    (kv.key.clone(), any_to_string(kv.value.as_ref()))
}

fn any_to_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| any_to_string(Some(v))).collect();
            format!("[{}]", items.join(","))
        }
        Some(any_value::Value::KvlistValue(list)) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, any_to_string(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        #[allow(unreachable_patterns)]
        Some(_) => String::new(),
    }
}
