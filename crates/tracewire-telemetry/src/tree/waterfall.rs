//! Waterfall bars: each span's place and length within its trace, drawn in a fixed
//! number of columns to the left of the tree, so the timeline reads top to bottom.

use std::time::{Duration, SystemTime};

use super::record::{RecordStatus, SpanRecord};

/// The time window of one trace: its earliest start and its length.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    start: SystemTime,
    length: Duration,
}

impl Window {
    /// The window spanning `spans` (`None` when there are none).
    pub(super) fn of(spans: &[&SpanRecord]) -> Option<Self> {
        let start = spans.iter().map(|s| s.start_time).min()?;
        let end = spans.iter().map(|s| s.end_time).max()?;
        Some(Self {
            start,
            length: end.duration_since(start).unwrap_or_default(),
        })
    }

    /// The span's bar, `width` columns between `│` marks: blanks before its start,
    /// `█` while it runs (at least one column), blanks after. Failed spans use `▓`, so
    /// errors stand out without colour too.
    pub(super) fn bar(&self, span: &SpanRecord, width: usize) -> String {
        let width = width.max(1);
        let total = self.length.as_nanos();
        let column = |t: SystemTime| -> usize {
            if total == 0 {
                return 0;
            }
            let offset = t.duration_since(self.start).unwrap_or_default().as_nanos();
            // A column is a bucket of time: integer division, exact.
            let col = offset.saturating_mul(width as u128) / total;
            usize::try_from(col).unwrap_or(usize::MAX).min(width - 1)
        };
        let from = column(span.start_time);
        let to = column(span.end_time).max(from);
        let fill = if matches!(span.status, RecordStatus::Error(_)) {
            '▓'
        } else {
            '█'
        };
        let mut bar = String::with_capacity(width * 3 + 2);
        bar.push('│');
        for col in 0..width {
            bar.push(if (from..=to).contains(&col) {
                fill
            } else {
                ' '
            });
        }
        bar.push('│');
        bar
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, SpanKind, TraceId};

    use super::*;

    fn span(start_ms: u64, end_ms: u64, status: RecordStatus) -> SpanRecord {
        let at = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        SpanRecord {
            trace_id: TraceId::from(1_u128),
            span_id: SpanId::from(1_u64),
            parent_span_id: SpanId::INVALID,
            parent_is_remote: false,
            name: "s".into(),
            kind: SpanKind::Internal,
            start_time: at(start_ms),
            end_time: at(end_ms),
            status,
            attributes: vec![],
            events: vec![],
            links: vec![],
            scope: "test".into(),
            service_name: None,
        }
    }

    #[test]
    fn bars_sit_where_their_span_ran_and_errors_are_shaded() {
        let root = span(0, 100, RecordStatus::Unset);
        let late = span(50, 75, RecordStatus::Error("x".into()));
        let instant = span(10, 10, RecordStatus::Unset);
        let window = Window::of(&[&root, &late, &instant]).unwrap();
        assert_eq!(window.bar(&root, 8), "│████████│");
        assert_eq!(window.bar(&late, 8), "│    ▓▓▓ │");
        assert_eq!(window.bar(&instant, 8), "│█       │");
    }

    #[test]
    fn a_zero_length_trace_draws_one_column() {
        let only = span(5, 5, RecordStatus::Unset);
        let window = Window::of(&[&only]).unwrap();
        assert_eq!(window.bar(&only, 4), "│█   │");
    }
}
