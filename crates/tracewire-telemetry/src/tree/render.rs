//! Text rendering of span trees.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::SpanData;

use super::record::{RecordStatus, SpanRecord};
use super::waterfall::Window;

/// Attributes shown by default next to each span (when present).
pub const KEY_ATTRIBUTES: &[&str] = &[
    "http.request.method",
    "http.route",
    "url.full",
    "http.response.status_code",
    "rpc.system.name",
    "rpc.method",
    "rpc.response.status_code",
    "messaging.system",
    "messaging.operation.type",
    "messaging.destination.name",
    "messaging.message.id",
    "messaging.message.conversation_id",
    "error.type",
];

/// Which attributes the renderer prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttributeMode {
    /// Only [`KEY_ATTRIBUTES`] (the default).
    #[default]
    Key,
    /// Every attribute.
    All,
    /// No attributes.
    None,
}

/// Options for [`render_traces_with`] and [`render_records`].
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    color: bool,
    attributes: AttributeMode,
    show_ids: bool,
    waterfall: Option<usize>,
}

impl RenderOptions {
    /// Plain text, key attributes only, no span ids (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Colour the output with ANSI escapes (for terminals).
    #[must_use]
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// Choose which attributes are printed.
    #[must_use]
    pub fn with_attributes(mut self, mode: AttributeMode) -> Self {
        self.attributes = mode;
        self
    }

    /// Draw a waterfall: a bar `width` columns wide left of each line, placing the span
    /// within its trace's time window (failed spans shaded `▓`, red with colour).
    #[must_use]
    pub fn with_waterfall(mut self, width: usize) -> Self {
        self.waterfall = Some(width.max(1));
        self
    }

    /// Print each span's id (useful to match spans against logs).
    #[must_use]
    pub fn with_span_ids(mut self, show: bool) -> Self {
        self.show_ids = show;
        self
    }
}

/// Renders SDK spans as one tree per trace, with default [`RenderOptions`].
///
/// ```
/// use opentelemetry::trace::{Tracer, TracerProvider as _};
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
///
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let tracer = provider.tracer("doc");
/// tracer.in_span("parent", |_| tracer.in_span("child", |_| {}));
/// let text = tracewire_telemetry::tree::render_traces(&exporter.get_finished_spans().unwrap());
/// assert!(text.contains("└─ parent"));
/// assert!(text.contains("   └─ child"));
/// ```
pub fn render_traces(spans: &[SpanData]) -> String {
    render_traces_with(spans, &RenderOptions::default())
}

/// Renders SDK spans as one tree per trace.
pub fn render_traces_with(spans: &[SpanData], options: &RenderOptions) -> String {
    let records: Vec<SpanRecord> = spans.iter().map(SpanRecord::from).collect();
    render_records(&records, options)
}

/// Renders [`SpanRecord`]s as one tree per trace: traces ordered by their first span's
/// start, children by start time. A span whose parent is not in the set is printed as a
/// root with a note saying whether the parent is remote or missing.
pub fn render_records(records: &[SpanRecord], options: &RenderOptions) -> String {
    let mut traces: Vec<(TraceId, Vec<&SpanRecord>)> = Vec::new();
    for record in records {
        match traces.iter_mut().find(|(id, _)| *id == record.trace_id) {
            Some((_, spans)) => spans.push(record),
            None => traces.push((record.trace_id, vec![record])),
        }
    }
    for (_, spans) in &mut traces {
        spans.sort_by_key(|s| s.start_time);
    }
    traces.sort_by_key(|(_, spans)| spans.first().map(|s| s.start_time));

    let mut out = String::new();
    if traces.is_empty() {
        out.push_str("(no spans)\n");
    }
    for (trace_id, spans) in &traces {
        render_one_trace(&mut out, *trace_id, spans, options);
    }
    out
}

fn render_one_trace(out: &mut String, trace_id: TraceId, spans: &[&SpanRecord], o: &RenderOptions) {
    let plural = if spans.len() == 1 { "" } else { "s" };
    let header = format!("trace {trace_id} ({} span{plural})", spans.len());
    let _ = writeln!(out, "{}", paint(o, BOLD, &header));

    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<SpanId, Vec<&SpanRecord>> = HashMap::new();
    let mut roots: Vec<&SpanRecord> = Vec::new();
    for span in spans {
        if span.has_parent()
            && ids.contains(&span.parent_span_id)
            && span.parent_span_id != span.span_id
        {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            roots.push(span);
        }
    }
    let window = o.waterfall.and_then(|_| Window::of(spans));
    let mut visited = HashSet::new();
    let count = roots.len();
    for (i, root) in roots.into_iter().enumerate() {
        render_span(
            out,
            root,
            &children,
            "",
            i + 1 == count,
            true,
            (o, window),
            &mut visited,
        );
    }
    // Anything unreachable from a root is part of a parent cycle: show it flat.
    for span in spans {
        if !visited.contains(&span.span_id) {
            let _ = writeln!(out, "?? {} (parent cycle)", line(span, false, o));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn render_span(
    out: &mut String,
    span: &SpanRecord,
    children: &HashMap<SpanId, Vec<&SpanRecord>>,
    prefix: &str,
    last: bool,
    is_root: bool,
    (o, window): (&RenderOptions, Option<Window>),
    visited: &mut HashSet<SpanId>,
) {
    if !visited.insert(span.span_id) {
        return;
    }
    let branch = if last { "└─ " } else { "├─ " };
    let bar = match (window, o.waterfall) {
        (Some(window), Some(width)) => {
            let bar = window.bar(span, width);
            let colour = if matches!(span.status, RecordStatus::Error(_)) {
                RED
            } else {
                CYAN
            };
            format!("{} ", paint(o, colour, &bar))
        }
        _ => String::new(),
    };
    let _ = writeln!(out, "{bar}{prefix}{branch}{}", line(span, is_root, o));
    let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    if let Some(kids) = children.get(&span.span_id) {
        let count = kids.len();
        for (i, kid) in kids.iter().enumerate() {
            render_span(
                out,
                kid,
                children,
                &child_prefix,
                i + 1 == count,
                false,
                (o, window),
                visited,
            );
        }
    }
}

fn line(span: &SpanRecord, is_root: bool, o: &RenderOptions) -> String {
    // The service comes first: in a distributed trace "which process?" is the first question.
    let mut text = match &span.service_name {
        Some(service) => format!("{} ", paint(o, YELLOW, &format!("[{service}]"))),
        None => String::new(),
    };
    text.push_str(&paint(o, BOLD, &span.name));
    let _ = write!(text, "  {}", paint(o, CYAN, kind_label(&span.kind)));
    let _ = write!(text, "  {}", format_duration(span.duration()));
    match &span.status {
        RecordStatus::Unset => {}
        RecordStatus::Ok => {
            let _ = write!(text, "  {}", paint(o, GREEN, "OK"));
        }
        RecordStatus::Error(description) if description.is_empty() => {
            let _ = write!(text, "  {}", paint(o, RED, "ERROR"));
        }
        RecordStatus::Error(description) => {
            let _ = write!(
                text,
                "  {}",
                paint(o, RED, &format!("ERROR: {description}"))
            );
        }
    }
    if o.show_ids {
        let _ = write!(
            text,
            "  {}",
            paint(o, DIM, &format!("span={}", span.span_id))
        );
    }
    if is_root && span.has_parent() {
        let whose = if span.parent_is_remote {
            "remote parent"
        } else {
            "missing parent"
        };
        let _ = write!(
            text,
            "  {}",
            paint(o, YELLOW, &format!("({whose} {})", span.parent_span_id))
        );
    }
    if !span.links.is_empty() {
        let links: Vec<String> = span.links.iter().map(|(_, id)| id.to_string()).collect();
        let _ = write!(
            text,
            "  {}",
            paint(o, DIM, &format!("links=[{}]", links.join(",")))
        );
    }
    let attrs: Vec<String> = span
        .attributes
        .iter()
        .filter(|(k, _)| match o.attributes {
            AttributeMode::All => true,
            AttributeMode::Key => KEY_ATTRIBUTES.contains(&k.as_str()),
            AttributeMode::None => false,
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !attrs.is_empty() {
        let _ = write!(text, "  {}", paint(o, DIM, &attrs.join(" ")));
    }
    text
}

/// Lower-case label for a span kind, as printed in trees.
pub fn kind_label(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.1}ms", d.as_secs_f64() * 1_000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

const BOLD: &str = "1";
const DIM: &str = "2";
const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const CYAN: &str = "36";

fn paint(o: &RenderOptions, code: &str, text: &str) -> String {
    if o.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn record(name: &str, id: u64, parent: u64, start_ms: u64) -> SpanRecord {
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms);
        SpanRecord {
            trace_id: TraceId::from(7_u128),
            span_id: SpanId::from(id),
            parent_span_id: SpanId::from(parent),
            parent_is_remote: false,
            name: name.to_owned(),
            kind: SpanKind::Internal,
            start_time: start,
            end_time: start + Duration::from_millis(2),
            status: RecordStatus::Unset,
            attributes: vec![
                ("http.route".into(), "/x".into()),
                ("other".into(), "1".into()),
            ],
            events: vec![],
            links: vec![],
            scope: "test".into(),
            service_name: None,
        }
    }

    #[test]
    fn children_are_ordered_by_start_time_and_indented() {
        let records = vec![
            record("late", 3, 1, 30),
            record("root", 1, 0, 0),
            record("early", 2, 1, 10),
            record("grandchild", 4, 2, 11),
        ];
        let text = render_records(&records, &RenderOptions::new());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "trace 00000000000000000000000000000007 (4 spans)");
        assert!(lines[1].starts_with("└─ root  internal  2.0ms"), "{text}");
        assert!(lines[2].starts_with("   ├─ early"), "{text}");
        assert!(lines[3].starts_with("   │  └─ grandchild"), "{text}");
        assert!(lines[4].starts_with("   └─ late"), "{text}");
        assert!(
            lines[1].contains("http.route=/x") && !lines[1].contains("other=1"),
            "{text}"
        );
    }

    #[test]
    fn missing_and_remote_parents_are_marked() {
        let mut remote = record("server", 1, 9, 0);
        remote.parent_is_remote = true;
        let missing = record("lost", 2, 8, 5);
        let text = render_records(&[remote, missing], &RenderOptions::new());
        assert!(text.contains("(remote parent 0000000000000009)"), "{text}");
        assert!(text.contains("(missing parent 0000000000000008)"), "{text}");
    }

    #[test]
    fn colour_and_all_attributes_are_options() {
        let mut span = record("x", 1, 0, 0);
        span.status = RecordStatus::Error("boom".into());
        let plain = render_records(std::slice::from_ref(&span), &RenderOptions::new());
        assert!(
            !plain.contains('\x1b') && plain.contains("ERROR: boom"),
            "{plain}"
        );
        let opts = RenderOptions::new()
            .with_color(true)
            .with_attributes(AttributeMode::All);
        let coloured = render_records(&[span], &opts);
        assert!(
            coloured.contains("\x1b[31mERROR: boom\x1b[0m"),
            "{coloured}"
        );
        assert!(coloured.contains("other=1"), "{coloured}");
    }

    #[test]
    fn parent_cycles_do_not_loop() {
        let a = record("a", 1, 2, 0);
        let b = record("b", 2, 1, 1);
        let text = render_records(&[a, b], &RenderOptions::new());
        assert_eq!(text.matches("(parent cycle)").count(), 2, "{text}");
    }

    #[test]
    fn service_name_leads_the_line_when_known() {
        let mut span = record("POST /checkout", 1, 0, 0);
        span.service_name = Some("checkout".into());
        let text = render_records(&[span], &RenderOptions::new());
        assert!(
            text.contains("└─ [checkout] POST /checkout  internal"),
            "{text}"
        );
    }

    #[test]
    fn waterfall_bars_lead_each_line_in_one_column() {
        let records = vec![record("root", 1, 0, 0), record("child", 2, 1, 2)];
        let text = render_records(&records, &RenderOptions::new().with_waterfall(4));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("│███ │ └─ root"), "{text}");
        assert!(lines[2].starts_with("│  ██│    └─ child"), "{text}");
    }

    #[test]
    fn empty_input_says_so() {
        assert_eq!(render_records(&[], &RenderOptions::new()), "(no spans)\n");
    }
}
