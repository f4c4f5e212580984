//! The `tracing` bridge: `tracing` spans join the current OpenTelemetry trace, log lines
//! carry trace ids, dependency spans stay out, the filter is honoured.
#![allow(clippy::unwrap_used, reason = "test helpers fail the test loudly")]

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracewire_telemetry::{ConfigError, bridge};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

struct Setup {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    logs: Buf,
}

fn setup() -> Setup {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    Setup {
        exporter,
        provider,
        logs: Buf::default(),
    }
}

impl Setup {
    fn run(&self, filter: &str, f: impl FnOnce()) {
        let logs = self.logs.clone();
        let subscriber =
            bridge::subscriber(&self.provider, filter, false, move || logs.clone()).unwrap();
        tracing::subscriber::with_default(subscriber, f);
    }

    fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(
            found.len(),
            1,
            "one {name:?} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        found[0].clone()
    }
}

#[test]
fn tracing_spans_inside_an_otel_server_span_join_its_trace() {
    let s = setup();
    let tracer = s.provider.test_tracer();
    s.run("info", || {
        let server = tracer
            .span_builder("GET /orders/{id}")
            .with_kind(SpanKind::Server)
            .start(&tracer);
        let _cx = Context::current_with_span(server).attach();
        #[tracing::instrument]
        fn load_order(id: u32) {
            tracing::info!(id, "loading");
        }
        let work = tracing::info_span!("handle order");
        let _entered = work.enter();
        load_order(7);
    });
    let server = s.span("GET /orders/{id}");
    let handle = s.span("handle order");
    let load = s.span("load_order");
    let trace_id = server.span_context.trace_id();
    assert_eq!(handle.span_context.trace_id(), trace_id);
    assert_eq!(handle.parent_span_id, server.span_context.span_id());
    assert_eq!(load.span_context.trace_id(), trace_id);
    assert_eq!(load.parent_span_id, handle.span_context.span_id());
}

#[test]
fn log_events_carry_the_current_trace_and_span_ids() {
    let s = setup();
    let tracer = s.provider.test_tracer();
    s.run("info", || {
        let server = tracer.start("server");
        let _cx = Context::current_with_span(server).attach();
        tracing::info!("in the otel span");
        let child = tracing::info_span!("child");
        let _entered = child.enter();
        tracing::info!("in the tracing span");
    });
    let server = s.span("server");
    let child = s.span("child");
    let logs = s.logs.text();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2, "{logs}");
    let trace = server.span_context.trace_id();
    assert!(
        lines[0].starts_with(&format!(
            "trace_id={trace} span_id={} ",
            server.span_context.span_id()
        )),
        "{logs}"
    );
    assert!(lines[0].contains("in the otel span"));
    assert!(
        lines[1].starts_with(&format!(
            "trace_id={trace} span_id={} ",
            child.span_context.span_id()
        )),
        "{logs}"
    );
}

#[test]
fn events_outside_any_trace_have_no_ids() {
    let s = setup();
    s.run("info", || tracing::info!("plain"));
    let logs = s.logs.text();
    assert!(
        logs.contains("plain") && !logs.contains("trace_id="),
        "{logs}"
    );
}

#[test]
fn dependency_spans_never_reach_the_trace() {
    let s = setup();
    let tracer = s.provider.test_tracer();
    s.run("trace", || {
        tracer.in_span("request", |_| {
            let conn = tracing::info_span!(target: "h2::proto::connection", "h2 connection");
            let _c = conn.enter();
            let export = tracing::info_span!(target: "opentelemetry_otlp", "export");
            let _e = export.enter();
            let mine = tracing::info_span!(target: "orders::db", "query");
            let _m = mine.enter();
        });
    });
    let names: Vec<String> = s.spans().iter().map(|s| s.name.to_string()).collect();
    assert!(
        names.contains(&"query".to_owned()) && names.contains(&"request".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "h2 connection" || n == "export"),
        "{names:?}"
    );
    // and the user span nests under `request`, not under the excluded ones
    assert_eq!(
        s.span("query").parent_span_id,
        s.span("request").span_context.span_id()
    );
}

#[test]
fn the_filter_is_honoured() {
    let s = setup();
    s.run("warn", || {
        let span = tracing::info_span!("too quiet");
        let _e = span.enter();
        tracing::info!("hidden");
        tracing::warn!("shown");
    });
    assert!(s.spans().is_empty());
    let logs = s.logs.text();
    assert!(logs.contains("shown") && !logs.contains("hidden"), "{logs}");
}

#[test]
fn the_default_filter_keeps_returned_message_contents_out_of_the_logs() {
    let s = setup();
    s.run(tracewire_telemetry::DEFAULT_LOG_FILTER, || {
        tracing::warn!(target: "lapin::returned_messages", "returned: s3cret-payload");
        tracing::warn!(target: "lapin::channels", "lapin warning kept");
        tracing::info!(target: "lapin::channels", "lapin info hidden");
        tracing::info!(target: "my_service", "service info kept");
    });
    let logs = s.logs.text();
    assert!(!logs.contains("s3cret-payload"), "{logs}");
    assert!(!logs.contains("lapin info hidden"), "{logs}");
    assert!(logs.contains("lapin warning kept"), "{logs}");
    assert!(logs.contains("service info kept"), "{logs}");
}

#[test]
fn a_bad_filter_is_a_typed_error() {
    let s = setup();
    let err = bridge::subscriber(&s.provider, "info,=[", false, std::io::sink)
        .err()
        .unwrap();
    assert!(matches!(err, ConfigError::LogFilter { .. }), "{err}");
}

/// Shorthand so each test names its tracer the same way.
trait TracerHelper {
    fn test_tracer(&self) -> opentelemetry_sdk::trace::SdkTracer;
}

impl TracerHelper for SdkTracerProvider {
    fn test_tracer(&self) -> opentelemetry_sdk::trace::SdkTracer {
        opentelemetry::trace::TracerProvider::tracer(self, "bridge-test")
    }
}
