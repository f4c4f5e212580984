//! [`SpanCapture`]: finished spans of one test, isolated from every other test.

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;

use crate::TraceView;

/// Captures the finished spans of one test.
///
/// Each capture owns its own [`SdkTracerProvider`] with an [`InMemorySpanExporter`] behind
/// a simple (synchronous) processor: a span is visible in [`spans`](Self::spans) as soon
/// as it ends, and nothing touches global state, so tests running in parallel never see
/// each other's spans. Code under test must be handed this capture's provider or tracer
/// (or run under [`tracing_subscriber`](Self::tracing_subscriber)).
#[derive(Clone, Debug)]
pub struct SpanCapture {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

impl Default for SpanCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanCapture {
    /// A fresh capture with its own provider and exporter.
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Self { exporter, provider }
    }

    /// This capture's tracer provider (a cheap handle: clones share the pipeline).
    pub fn tracer_provider(&self) -> SdkTracerProvider {
        self.provider.clone()
    }

    /// A tracer of this capture's provider, with instrumentation scope `name`.
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.provider.tracer(name)
    }

    /// Spans finished so far, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        // The in-memory exporter only fails once its mutex is poisoned by a panicking
        // test thread; an empty list then makes the calling assertion fail visibly.
        self.exporter.get_finished_spans().unwrap_or_default()
    }

    /// Forgets the spans captured so far.
    pub fn clear(&self) {
        self.exporter.reset();
    }

    /// A `tracing` subscriber whose spans go to this capture, for
    /// `tracing::subscriber::with_default` / `set_default` in one test.
    ///
    /// The tracing-opentelemetry layer activates OpenTelemetry context: a `tracing` span
    /// created while an OpenTelemetry context is current (for example after
    /// `cx.attach()`) becomes that span's child, and OpenTelemetry spans started inside
    /// an entered `tracing` span become its children.
    pub fn tracing_subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let layer = tracing_opentelemetry::layer().with_tracer(self.tracer("tracewire-testkit"));
        tracing_subscriber::registry().with(layer)
    }

    /// Waits until at least `n` spans have finished (spans often end on other tasks),
    /// then returns all of them.
    ///
    /// # Panics
    ///
    /// After `timeout`, panics with the number of spans seen and their tree.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<SpanData> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= n {
                return spans;
            }
            if Instant::now() >= deadline {
                crate::assert::fail(
                    &format!(
                        "timed out after {timeout:?} waiting for {n} spans, {} finished",
                        spans.len()
                    ),
                    &spans,
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A [`TraceView`] over all captured spans, which must form exactly one trace.
    ///
    /// # Panics
    ///
    /// If the spans belong to zero or several traces (the message prints every tree).
    pub fn trace(&self) -> TraceView {
        TraceView::new(self.spans())
    }

    /// A [`TraceView`] over all captured spans, however many traces they form (for
    /// link-only consumers that start a new trace).
    pub fn all_traces(&self) -> TraceView {
        TraceView::any_traces(self.spans())
    }

    /// The span tree of everything captured so far, as text.
    pub fn tree(&self) -> String {
        tracewire_telemetry::tree::render_traces(&self.spans())
    }
}
