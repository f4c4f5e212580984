//! Extract → child span of the real `opentelemetry_sdk` tracer → inject, checking the
//! headers the next hop sees (propagation-cases rows where the SDK matters).
#![cfg(feature = "http")]
// helpers outside #[test] fns are test code too
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderMap, HeaderValue};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire_core::TracewirePropagator;
use tracewire_core::carrier::{HeaderExtractor, HeaderInjector};

const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const P: &str = "00f067aa0ba902b7";

/// One service: extract, start a SERVER-ish child span with the SDK, optionally let
/// the application touch the context, inject into the outgoing request.
fn hop_with(
    provider: &SdkTracerProvider,
    incoming: &HeaderMap,
    app: impl FnOnce(Context) -> Context,
) -> HeaderMap {
    let propagator = TracewirePropagator::default();
    let tracer = provider.tracer("hop");
    let parent = propagator.extract_with_context(&Context::new(), &HeaderExtractor(incoming));
    let span = tracer.start_with_context("handle", &parent);
    let cx = app(parent.with_span(span));
    let mut out = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
    out
}

fn hop(provider: &SdkTracerProvider, incoming: &HeaderMap) -> HeaderMap {
    hop_with(provider, incoming, |cx| cx)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn get<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
    map.get(name).map(|v| v.to_str().unwrap())
}

/// (trace id, parent id, flags) of an outgoing traceparent.
fn parts(map: &HeaderMap) -> (String, String, String) {
    let tp = get(map, "traceparent").expect("a traceparent is always sent by a hop with a span");
    assert_eq!(tp.len(), 55, "outgoing traceparent is 55 chars");
    assert_eq!(
        tp,
        tp.to_ascii_lowercase(),
        "outgoing traceparent is lower case"
    );
    let fields: Vec<&str> = tp.split('-').collect();
    assert_eq!(fields[0], "00", "outgoing version is 00");
    (
        fields[1].to_owned(),
        fields[2].to_owned(),
        fields[3].to_owned(),
    )
}

#[test]
fn flags_through_sdk_children() {
    let provider = SdkTracerProvider::builder().build();
    #[rustfmt::skip]
    let cases = [
        ("01", "01", "row 1: sampled parent, sampled child"),
        ("00", "00", "row 2: unsampled parent, ParentBased keeps it unsampled"),
        ("03", "03", "row 23: random flag kept by a sampled SDK child"),
        ("02", "02", "row 23: random flag kept for the same trace id when the SDK drops the child"),
        ("09", "01", "row 22: unknown bits zeroed, sampled kept"),
        ("0b", "03", "row 22/23: unknown bit zeroed, random and sampled kept"),
    ];
    for (incoming, expected, reason) in cases {
        let out = hop(
            &provider,
            &headers(&[("traceparent", &format!("00-{T}-{P}-{incoming}"))]),
        );
        let (trace, parent, flags) = parts(&out);
        assert_eq!(trace, T, "{reason}: continue");
        assert_ne!(parent, P, "{reason}: our span is the new parent");
        assert_eq!(flags, expected, "{reason}");
    }
}

#[test]
fn restart_cases_start_a_fresh_trace() {
    let provider = SdkTracerProvider::builder().build();
    let other = format!("00-{T}-{}-01", "1".repeat(16));
    let cases: Vec<(HeaderMap, &str)> = vec![
        (
            headers(&[
                ("traceparent", &format!("00-{T}-{P}-01")),
                ("traceparent", &other),
            ]),
            "row 24: two traceparent lines",
        ),
        (
            headers(&[("tracestate", "foo=1")]),
            "row 25: tracestate without traceparent",
        ),
        (
            headers(&[
                ("traceparent", &format!("00-{T}-{P}-1")),
                ("tracestate", "foo=1"),
            ]),
            "row 26: invalid traceparent",
        ),
        (
            headers(&[("trace-parent", &format!("00-{T}-{P}-01"))]),
            "row 4: not our header",
        ),
    ];
    for (incoming, reason) in cases {
        let out = hop(&provider, &incoming);
        let (trace, _, _) = parts(&out);
        assert_ne!(trace, T, "{reason}: restart with a new trace id");
        assert_eq!(
            get(&out, "tracestate"),
            None,
            "{reason}: tracestate not forwarded"
        );
    }
}

#[test]
fn level2_tracestate_keys_survive_an_sdk_child() {
    let provider = SdkTracerProvider::builder().build();
    let state = format!("foo=1,foo@@bar=2,1foo=3,{}@v=4,bar=5", "t".repeat(242));
    let incoming = headers(&[
        ("traceparent", &format!("00-{T}-{P}-01")),
        ("tracestate", &state),
    ]);
    let out = hop(&provider, &incoming);
    assert_eq!(
        get(&out, "tracestate"),
        Some(state.as_str()),
        "rows 36-38: Level 2 keys forwarded in order"
    );

    // the application changes the span's trace state: the SDK's version is sent
    let incoming = headers(&[
        ("traceparent", &format!("00-{T}-{P}-01")),
        ("tracestate", "foo=1,foo@@bar=2"),
    ]);
    let propagator = TracewirePropagator::default();
    let parent = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&incoming));
    let sc = parent.span().span_context().clone();
    let changed = opentelemetry::trace::SpanContext::new(
        sc.trace_id(),
        opentelemetry::SpanId::from(42u64),
        sc.trace_flags(),
        false,
        sc.trace_state().insert("app", "1").unwrap(),
    );
    let mut out = HeaderMap::new();
    propagator.inject_context(
        &parent.with_remote_span_context(changed),
        &mut HeaderInjector(&mut out),
    );
    assert_eq!(
        get(&out, "tracestate"),
        Some("app=1,foo=1"),
        "a changed TraceState wins; L1 members kept"
    );
}

#[test]
fn baggage_order_and_properties_survive() {
    let provider = SdkTracerProvider::builder().build();
    let incoming = headers(&[
        ("traceparent", &format!("00-{T}-{P}-01")),
        ("baggage", "z=1,user=alice;ttl=30"),
        ("baggage", "k=hello%20world%2C%3B,a=2"),
    ]);
    let out = hop(&provider, &incoming);
    assert_eq!(
        get(&out, "baggage"),
        Some("z=1,user=alice;ttl=30,k=hello%20world%2C%3B,a=2"),
        "rows 43/44: order, properties and encoding kept"
    );

    let out = hop_with(&provider, &incoming, |cx| {
        let mut entries: Vec<KeyValue> = cx
            .baggage()
            .iter()
            .map(|(k, (v, _))| KeyValue::new(k.clone(), v.to_string()))
            .collect();
        entries.push(KeyValue::new("added", "yes"));
        cx.with_baggage(entries)
    });
    assert_eq!(
        get(&out, "baggage"),
        Some("a=2,added=yes,k=hello%20world%2C%3B,user=alice,z=1"),
        "an application-changed baggage is sent sorted (its own metadata only)"
    );

    let out = hop(&provider, &headers(&[("baggage", "user=alice")]));
    assert_eq!(
        get(&out, "baggage"),
        Some("user=alice"),
        "row 45: baggage without traceparent"
    );
    assert_ne!(parts(&out).0, T, "row 45: new trace");
}

#[test]
fn three_hops_keep_one_trace() {
    let provider = SdkTracerProvider::builder().build();
    let state = "foo=1,foo@@bar=2";
    let mut current = headers(&[
        ("traceparent", &format!("00-{T}-{P}-03")),
        ("tracestate", state),
        ("baggage", "z=1,a=2;p"),
    ]);
    let mut parents = vec![P.to_owned()];
    for hop_number in 1..=3 {
        current = hop(&provider, &current);
        let (trace, parent, flags) = parts(&current);
        assert_eq!(trace, T, "hop {hop_number}: one trace");
        assert!(
            !parents.contains(&parent),
            "hop {hop_number}: a new parent id each hop"
        );
        parents.push(parent);
        assert_eq!(
            flags, "03",
            "hop {hop_number}: random and sampled flags kept"
        );
        assert_eq!(
            get(&current, "tracestate"),
            Some(state),
            "hop {hop_number}: tracestate kept"
        );
        assert_eq!(
            get(&current, "baggage"),
            Some("z=1,a=2;p"),
            "hop {hop_number}: baggage kept"
        );
    }
}
