//! [`TraceView`]: assertions on the shape of a distributed trace.
// Panicking is this module's job: every assertion reports failure by panicking with the
// printed span tree, like `assert!` does, so the test that called it fails with context.
#![allow(clippy::panic)]

use std::collections::{BTreeSet, HashSet};

use opentelemetry::Value;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use tracewire_telemetry::tree::{AttributeMode, RenderOptions, render_traces_with};

/// Panics with `message` followed by the tree of `spans`.
pub(crate) fn fail(message: &str, spans: &[SpanData]) -> ! {
    let options = RenderOptions::new()
        .with_attributes(AttributeMode::All)
        .with_span_ids(true);
    panic!(
        "{message}\n\nspan tree:\n{}",
        render_traces_with(spans, &options)
    );
}

/// Finished spans of a distributed trace, with assertions on its shape.
///
/// Every assertion panics on failure with a message that includes the printed span tree,
/// and returns `&Self` on success so assertions chain:
///
/// ```
/// use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
/// use opentelemetry::{Context, KeyValue};
/// use tracewire_testkit::SpanCapture;
///
/// let capture = SpanCapture::new();
/// let tracer = capture.tracer("doc");
/// let server = tracer
///     .span_builder("GET /orders/{id}")
///     .with_kind(SpanKind::Server)
///     .with_attributes([KeyValue::new("http.route", "/orders/{id}")])
///     .start(&tracer);
/// let cx = Context::current_with_span(server);
/// tracer.start_with_context("load order", &cx);
/// drop(cx);
///
/// capture
///     .trace()
///     .assert_kind("GET /orders/{id}", SpanKind::Server)
///     .assert_attr("GET /orders/{id}", "http.route", "/orders/{id}")
///     .assert_child_of("load order", "GET /orders/{id}")
///     .assert_no_orphans();
/// ```
#[derive(Clone, Debug)]
pub struct TraceView {
    spans: Vec<SpanData>,
}

impl TraceView {
    /// A view over `spans`, which must all belong to exactly one trace.
    ///
    /// # Panics
    ///
    /// If `spans` is empty or spans several trace ids; the message prints every trace.
    pub fn new(spans: Vec<SpanData>) -> Self {
        let ids: BTreeSet<String> = spans
            .iter()
            .map(|s| s.span_context.trace_id().to_string())
            .collect();
        match ids.len() {
            1 => Self { spans },
            0 => fail("expected exactly one trace, but no spans finished", &spans),
            n => fail(
                &format!("expected exactly one trace, found {n}: {ids:?}"),
                &spans,
            ),
        }
    }

    /// A view over `spans` from any number of traces (for link-only consumers, which
    /// start a new trace linked to the producer's). Assertions look spans up by name
    /// across all of them.
    pub fn any_traces(spans: Vec<SpanData>) -> Self {
        Self { spans }
    }

    /// Every span in the view, in the order they ended.
    pub fn spans(&self) -> &[SpanData] {
        &self.spans
    }

    /// The trace id (of the first span, for a multi-trace view).
    ///
    /// # Panics
    ///
    /// If the view is empty.
    pub fn trace_id(&self) -> TraceId {
        match self.spans.first() {
            Some(span) => span.span_context.trace_id(),
            None => fail("the view holds no spans", &self.spans),
        }
    }

    /// The span tree as text (all attributes, with span ids).
    pub fn tree(&self) -> String {
        let options = RenderOptions::new()
            .with_attributes(AttributeMode::All)
            .with_span_ids(true);
        render_traces_with(&self.spans, &options)
    }

    /// The only span called `name`.
    ///
    /// # Panics
    ///
    /// If no span or several spans have that name.
    pub fn span(&self, name: &str) -> &SpanData {
        let found = self.spans_named(name);
        match found.as_slice() {
            [one] => one,
            [] => self.fail(&format!("no span named {name:?}")),
            many => self.fail(&format!(
                "expected one span named {name:?}, found {}",
                many.len()
            )),
        }
    }

    /// Every span called `name` (possibly none), in the order they ended.
    pub fn spans_named(&self, name: &str) -> Vec<&SpanData> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    /// The spans whose parent is the only span called `parent`, ordered by start time.
    pub fn children_of(&self, parent: &str) -> Vec<&SpanData> {
        let parent_id = self.span(parent).span_context.span_id();
        let mut kids: Vec<&SpanData> = self
            .spans
            .iter()
            .filter(|s| s.parent_span_id == parent_id)
            .collect();
        kids.sort_by_key(|s| s.start_time);
        kids
    }

    /// Asserts that span `child` is a direct child of span `parent` (same trace, parent
    /// span id matches).
    pub fn assert_child_of(&self, child: &str, parent: &str) -> &Self {
        let c = self.span(child);
        let p = self.span(parent);
        if c.span_context.trace_id() != p.span_context.trace_id() {
            self.fail(&format!(
                "{child:?} is not a child of {parent:?}: they are in different traces ({} vs {})",
                c.span_context.trace_id(),
                p.span_context.trace_id()
            ));
        }
        if c.parent_span_id != p.span_context.span_id() {
            let actual = self
                .spans
                .iter()
                .find(|s| s.span_context.span_id() == c.parent_span_id)
                .map_or_else(
                    || format!("parent span id {} (not captured)", c.parent_span_id),
                    |s| format!("{:?}", s.name),
                );
            self.fail(&format!(
                "{child:?} is not a child of {parent:?}: its parent is {actual}"
            ));
        }
        self
    }

    /// Asserts the kind of the only span called `name`.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "`assert_kind(name, SpanKind::Server)` reads better than a reference"
    )]
    pub fn assert_kind(&self, name: &str, kind: SpanKind) -> &Self {
        let span = self.span(name);
        if span.span_kind != kind {
            self.fail(&format!(
                "span {name:?} has kind {:?}, expected {kind:?}",
                span.span_kind
            ));
        }
        self
    }

    /// Asserts that the only span called `name` has attribute `key` equal to `value`
    /// (type included: `200_i64` does not equal `"200"`).
    pub fn assert_attr(&self, name: &str, key: &str, value: impl Into<Value>) -> &Self {
        let expected = value.into();
        let span = self.span(name);
        match span.attributes.iter().find(|kv| kv.key.as_str() == key) {
            Some(kv) if kv.value == expected => self,
            Some(kv) => self.fail(&format!(
                "span {name:?}: attribute {key:?} is {:?}, expected {expected:?}",
                kv.value
            )),
            None => self.fail(&format!(
                "span {name:?} has no attribute {key:?} (expected {expected:?})"
            )),
        }
    }

    /// Asserts that the only span called `name` has no attribute `key`.
    pub fn assert_no_attr(&self, name: &str, key: &str) -> &Self {
        let span = self.span(name);
        if let Some(kv) = span.attributes.iter().find(|kv| kv.key.as_str() == key) {
            self.fail(&format!(
                "span {name:?} has attribute {key:?} = {:?}, expected none",
                kv.value
            ));
        }
        self
    }

    /// Asserts that the only span called `name` carries a link to the only span called
    /// `to` (matching trace id and span id).
    pub fn assert_link(&self, name: &str, to: &str) -> &Self {
        let span = self.span(name);
        let target = &self.span(to).span_context;
        let linked = span.links.links.iter().any(|l| {
            l.span_context.trace_id() == target.trace_id()
                && l.span_context.span_id() == target.span_id()
        });
        if !linked {
            let have: Vec<String> = span
                .links
                .links
                .iter()
                .map(|l| format!("{}/{}", l.span_context.trace_id(), l.span_context.span_id()))
                .collect();
            self.fail(&format!(
                "span {name:?} has no link to {to:?} ({}/{}); its links: {have:?}",
                target.trace_id(),
                target.span_id()
            ));
        }
        self
    }

    /// Asserts that the only span called `name` has status `Error`.
    pub fn assert_status_error(&self, name: &str) -> &Self {
        let span = self.span(name);
        if !matches!(span.status, Status::Error { .. }) {
            self.fail(&format!(
                "span {name:?} has status {:?}, expected Error",
                span.status
            ));
        }
        self
    }

    /// Asserts that the only span called `name` does not have status `Error`.
    pub fn assert_status_not_error(&self, name: &str) -> &Self {
        let span = self.span(name);
        if let Status::Error { description } = &span.status {
            self.fail(&format!(
                "span {name:?} has status Error({description:?}), expected Unset or Ok"
            ));
        }
        self
    }

    /// Asserts that every span's parent is in the view: no span points at a parent that
    /// was lost (not exported, or context dropped on the way).
    pub fn assert_no_orphans(&self) -> &Self {
        self.check_orphans(None)
    }

    /// Like [`assert_no_orphans`](Self::assert_no_orphans), but allows spans whose parent
    /// is `remote_root`: the span id of a caller outside the capture (for example the
    /// `traceparent` a test sent in a request).
    pub fn assert_no_orphans_except(&self, remote_root: SpanId) -> &Self {
        self.check_orphans(Some(remote_root))
    }

    fn check_orphans(&self, allowed: Option<SpanId>) -> &Self {
        let ids: HashSet<SpanId> = self
            .spans
            .iter()
            .map(|s| s.span_context.span_id())
            .collect();
        let orphans: Vec<String> = self
            .spans
            .iter()
            .filter(|s| {
                s.parent_span_id != SpanId::INVALID
                    && !ids.contains(&s.parent_span_id)
                    && Some(s.parent_span_id) != allowed
            })
            .map(|s| format!("{:?} (parent {})", s.name, s.parent_span_id))
            .collect();
        if !orphans.is_empty() {
            self.fail(&format!(
                "{} span(s) whose parent is not captured: {}",
                orphans.len(),
                orphans.join(", ")
            ));
        }
        self
    }

    fn fail(&self, message: &str) -> ! {
        fail(message, &self.spans)
    }
}
