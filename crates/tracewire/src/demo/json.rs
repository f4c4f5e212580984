//! `tracewire demo --json`: the summary, each order's outcome and every span, as one
//! JSON document on stdout.

use serde::Serialize;
use tracewire_telemetry::tree::{RecordStatus, SpanRecord, kind_label};

use super::client::Outcome;
use super::summary::Summary;

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    summary: SummaryJson<'a>,
    orders: Vec<OrderJson<'a>>,
    spans: Vec<SpanJson<'a>>,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    traces: usize,
    spans: usize,
    services: Vec<&'a str>,
    errors: usize,
    orphans: usize,
}

#[derive(Serialize)]
struct OrderJson<'a> {
    n: u32,
    customer: &'a str,
    order_id: Option<&'a str>,
    total_cents: Option<u64>,
    status: Option<&'static str>,
    reason: Option<&'a str>,
    /// What the order's status stream sent, in order.
    stream: Vec<&'static str>,
    stream_error: Option<&'a str>,
}

#[derive(Serialize)]
struct SpanJson<'a> {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    service: Option<&'a str>,
    name: &'a str,
    kind: &'static str,
    start_unix_nanos: u128,
    duration_nanos: u128,
    error: Option<&'a str>,
}

/// The document (`ok` tells whether every check passed).
pub(crate) fn render(
    summary: &Summary,
    outcomes: &[Outcome],
    records: &[SpanRecord],
    ok: bool,
) -> serde_json::Result<String> {
    let report = Report {
        ok,
        summary: SummaryJson {
            traces: summary.traces,
            spans: summary.spans,
            services: summary.services.iter().map(String::as_str).collect(),
            errors: summary.errors,
            orphans: summary.orphans,
        },
        orders: outcomes
            .iter()
            .map(|o| OrderJson {
                n: o.n,
                customer: &o.request.customer,
                order_id: o.placed.as_ref().map(|p| p.id.as_str()),
                total_cents: o.placed.as_ref().map(|p| p.total_cents),
                status: o.status.map(|s| s.as_str()),
                reason: o.reason.as_deref(),
                stream: o.streamed.iter().map(|s| s.as_str()).collect(),
                stream_error: o.stream_error.as_deref(),
            })
            .collect(),
        spans: records
            .iter()
            .map(|r| SpanJson {
                trace_id: r.trace_id.to_string(),
                span_id: r.span_id.to_string(),
                parent_span_id: r.has_parent().then(|| r.parent_span_id.to_string()),
                service: r.service_name.as_deref(),
                name: &r.name,
                kind: kind_label(&r.kind),
                start_unix_nanos: r
                    .start_time
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos(),
                duration_nanos: r.duration().as_nanos(),
                error: match &r.status {
                    RecordStatus::Error(message) => Some(message.as_str()),
                    _ => None,
                },
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report)
}
