//! What the demo checks and prints after the run: one trace per order, no orphans.

use std::collections::{BTreeSet, HashSet};

use opentelemetry::trace::{SpanId, TraceId};
use tracewire_telemetry::tree::SpanRecord;

/// Counts over every captured span.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) traces: usize,
    pub(crate) spans: usize,
    pub(crate) services: BTreeSet<String>,
    /// Spans whose parent is not among the captured spans: a broken hop.
    pub(crate) orphans: usize,
    pub(crate) errors: usize,
}

impl Summary {
    pub(crate) fn of(records: &[SpanRecord]) -> Self {
        let ids: HashSet<(TraceId, SpanId)> =
            records.iter().map(|r| (r.trace_id, r.span_id)).collect();
        Self {
            traces: records
                .iter()
                .map(|r| r.trace_id)
                .collect::<HashSet<_>>()
                .len(),
            spans: records.len(),
            services: records
                .iter()
                .filter_map(|r| r.service_name.clone())
                .collect(),
            orphans: records
                .iter()
                .filter(|r| r.has_parent() && !ids.contains(&(r.trace_id, r.parent_span_id)))
                .count(),
            errors: records
                .iter()
                .filter(|r| matches!(r.status, tracewire_telemetry::tree::RecordStatus::Error(_)))
                .count(),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let services: Vec<&str> = self.services.iter().map(String::as_str).collect();
        write!(
            f,
            "traces: {}  spans: {}  services: {} ({})  errors: {}  orphans: {}",
            self.traces,
            self.spans,
            self.services.len(),
            services.join(", "),
            self.errors,
            self.orphans
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use opentelemetry::trace::SpanKind;
    use tracewire_telemetry::tree::RecordStatus;

    use super::*;

    fn record(trace: u128, span: u64, parent: u64, service: &str) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from(trace),
            span_id: SpanId::from(span),
            parent_span_id: SpanId::from(parent),
            parent_is_remote: false,
            name: format!("span {span}"),
            kind: SpanKind::Internal,
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            status: RecordStatus::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            scope: "test".to_owned(),
            service_name: Some(service.to_owned()),
        }
    }

    #[test]
    fn counts_traces_services_and_orphans() {
        let records = [
            record(1, 1, 0, "a"),
            record(1, 2, 1, "b"),
            record(2, 3, 0, "a"),
            // parent 9 was never captured: a broken hop
            record(2, 4, 9, "c"),
            // the right span id, but in another trace: still an orphan
            record(3, 5, 1, "c"),
        ];
        let summary = Summary::of(&records);
        assert_eq!(summary.traces, 3);
        assert_eq!(summary.spans, 5);
        assert_eq!(summary.services.len(), 3);
        assert_eq!(summary.orphans, 2);
    }
}
