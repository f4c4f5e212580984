//! `rpc.method` from a gRPC request path (`/package.Service/Method`).

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use opentelemetry::StringValue;
use tracewire_core::intern::Interner;

/// The value used for `rpc.method` (and the span name) when the path is not a gRPC
/// method path; the path itself then goes to `rpc.method_original`.
pub(crate) const OTHER: &str = "_OTHER";

/// `package.Service/Method` for `/package.Service/Method`; `None` for any path that is
/// not exactly two non-empty segments.
pub(crate) fn rpc_method(path: &str) -> Option<&str> {
    let method = path.strip_prefix('/')?;
    let (service, name) = method.split_once('/')?;
    (!service.is_empty() && !name.is_empty() && !name.contains('/')).then_some(method)
}

/// Methods seen by servers, interned process-wide for the span name and `rpc.method`
/// (no allocation per call). Paths are chosen by clients, hence the cap: past it, the
/// strings are built per call as before.
pub(crate) static SERVER_METHODS: Interner = Interner::new(4096);

/// Methods called by clients, interned likewise (apart from the servers' so that
/// clients sending odd paths to a server in this process cannot use up the room).
pub(crate) static CLIENT_METHODS: Interner = Interner::new(4096);

/// The span name and `rpc.method` value of `method` (from [`rpc_method`]; `None` is
/// [`OTHER`]): both the interned string when `methods` has room, else built per call.
pub(crate) fn method_name(
    methods: &'static Interner,
    method: Option<&str>,
) -> (Cow<'static, str>, StringValue) {
    let Some(method) = method else {
        return (Cow::Borrowed(OTHER), StringValue::from(OTHER));
    };
    match interned(methods, method) {
        Some(name) => (Cow::Borrowed(name), StringValue::from(name)),
        None => (
            Cow::Owned(method.to_owned()),
            StringValue::from(Arc::<str>::from(method)),
        ),
    }
}

thread_local! {
    /// The method each interner last answered on this thread (slot 0: servers, 1:
    /// clients): a process usually calls or serves the same method many times in a row,
    /// and comparing with the last one is cheaper than the interner's hashed lookup.
    static LAST: Cell<[Option<&'static str>; 2]> = const { Cell::new([None; 2]) };
}

/// `methods.get("", method)`, answered from [`LAST`] when it is the method this thread
/// last looked up in `methods`.
fn interned(methods: &'static Interner, method: &str) -> Option<&'static str> {
    let slot = usize::from(!std::ptr::eq(methods, &SERVER_METHODS));
    let last = LAST.try_with(Cell::get).ok();
    if let Some(name) = last
        .and_then(|last| last[slot])
        .filter(|name| *name == method)
    {
        return Some(name);
    }
    let name = methods.get("", method)?;
    if let Some(mut last) = last {
        last[slot] = Some(name);
        let _ = LAST.try_with(|cell| cell.set(last));
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            rpc_method("/tracewire.demo.v1.StreamService/ProcessStream"),
            Some("tracewire.demo.v1.StreamService/ProcessStream")
        );
        assert_eq!(rpc_method("/EchoService/Echo"), Some("EchoService/Echo"));
        for bad in ["", "/", "//Echo", "/Echo/", "/a/b/c", "Echo/Echo", "/Echo"] {
            assert_eq!(rpc_method(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_last_method_cache_answers_what_the_interner_would() {
        for method in ["cache.A/One", "cache.A/One", "cache.A/Two", "cache.A/One"] {
            for methods in [&SERVER_METHODS, &CLIENT_METHODS] {
                let (name, value) = method_name(methods, Some(method));
                assert_eq!(name, method);
                assert_eq!(value.as_str(), method);
            }
        }
    }
}

#[cfg(test)]
mod past_the_cap {
    //! A method past the interners' cap still names its spans, on both sides.

    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tonic::Code;

    use super::*;
    use crate::{GrpcClientTraceLayer, GrpcServerTraceLayer};

    fn fill(methods: &'static Interner) {
        // Other tests' methods may hold some of the room.
        for n in 0..methods.cap() {
            let _ = methods.get("", &format!("filler.Service/M{n}"));
        }
        assert_eq!(methods.len(), methods.cap());
    }

    fn method_attr(span: &opentelemetry_sdk::trace::SpanData) -> Option<String> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == "rpc.method")
            .map(|kv| kv.value.as_str().into_owned())
    }

    #[test]
    fn a_method_past_the_cap_still_names_its_spans() {
        fill(&SERVER_METHODS);
        fill(&CLIENT_METHODS);
        let late = "late.Service/Call";
        assert_eq!(SERVER_METHODS.get("", late), None);
        assert_eq!(CLIENT_METHODS.get("", late), None);

        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let (parts, ()) = http::Request::post(format!("http://svc.local:50051/{late}"))
            .body(())
            .unwrap()
            .into_parts();
        let mut server = GrpcServerTraceLayer::new()
            .tracer_provider(&provider)
            .start(&parts);
        server.finish(Code::Ok, "");
        let mut req = http::Request::from_parts(parts, ());
        let mut client = GrpcClientTraceLayer::new()
            .tracer_provider(&provider)
            .start(&mut req);
        client.finish(Code::Ok, "");

        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 2);
        for span in &spans {
            assert_eq!(span.name, late, "{:?}", span.span_kind);
            assert_eq!(
                method_attr(span).as_deref(),
                Some(late),
                "{:?}",
                span.span_kind
            );
        }
        assert_eq!(
            SERVER_METHODS.len(),
            SERVER_METHODS.cap(),
            "nothing more leaked"
        );
    }
}
