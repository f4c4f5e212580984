//! Propagator-level cases: propagation-cases.md rows through extract → inject.
#![allow(clippy::type_complexity)] // the case tables

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::{Context, KeyValue, SpanId, TraceId};

use super::*;
use crate::carrier::{PairsExtractor, PairsInjector};

const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const P: &str = "00f067aa0ba902b7";

fn tp(flags: &str) -> String {
    format!("00-{T}-{P}-{flags}")
}

/// Extract `incoming` with `propagator`, inject the result, return the outgoing pairs.
fn hop(propagator: &TracewirePropagator, incoming: &[(&str, String)]) -> Vec<(String, String)> {
    let cx = propagator.extract_with_context(&Context::new(), &PairsExtractor::new(incoming));
    let mut out = Vec::new();
    propagator.inject_context(&cx, &mut PairsInjector::new(&mut out));
    out
}

fn header<'a>(out: &'a [(String, String)], name: &str) -> Option<&'a str> {
    out.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

type Row = (
    Vec<(&'static str, String)>,
    Option<String>,
    Option<String>,
    &'static str,
);

/// (incoming headers, outgoing traceparent, outgoing tracestate, reason). A hop that
/// injects the extracted remote context forwards the same parent id; `None` for
/// traceparent means "restart" (nothing extracted, nothing injected).
#[rustfmt::skip]
fn w3c_rows() -> Vec<Row> {
    let s = |v: &str| v.to_owned();
    let l2_key = format!("{}@v", "t".repeat(242));
    vec![
        (vec![("traceparent", tp("01"))], Some(tp("01")), None, "row 1: continue, sampled"),
        (vec![("traceparent", tp("00"))], Some(tp("00")), None, "row 2: continue, not sampled"),
        (vec![("TRACEPARENT", tp("01"))], Some(tp("01")), None, "row 3: upper-case header name"),
        (vec![("TrAcEpArEnT", tp("01"))], Some(tp("01")), None, "row 3 / 47: mixed-case header name"),
        (vec![("trace-parent", tp("01"))], None, None, "row 4: trace-parent is not our header"),
        (vec![("trace.parent", tp("01"))], None, None, "row 4: trace.parent is not our header"),
        (vec![("traceparent", format!(" \t{} \t", tp("01")))], Some(tp("01")), None, "row 5: OWS"),
        (vec![("traceparent", s(""))], None, None, "row 6: empty value"),
        (vec![("traceparent", format!("00-{}-{P}-01", T.to_uppercase()))], None, None, "row 7: upper-case trace id"),
        (vec![("traceparent", tp("0A"))], None, None, "row 8: upper-case flags"),
        (vec![("traceparent", format!("00-{}-{P}-01", "0".repeat(32)))], None, None, "row 9: zero trace id"),
        (vec![("traceparent", format!("00-{T}-{}-01", "0".repeat(16)))], None, None, "row 10: zero parent id"),
        (vec![("traceparent", format!("ff-{T}-{P}-01"))], None, None, "row 11: version ff"),
        (vec![("traceparent", format!("0-{T}-{P}-01"))], None, None, "row 12: 1-digit version"),
        (vec![("traceparent", format!("000-{T}-{P}-01"))], None, None, "row 12: 3-digit version"),
        (vec![("traceparent", format!(".0-{T}-{P}-01"))], None, None, "row 13: version not hex"),
        (vec![("traceparent", format!("{}-extra", tp("01")))], None, None, "row 14: v00 extra field"),
        (vec![("traceparent", format!("{}-", tp("01")))], None, None, "row 15: v00 trailing dash"),
        (vec![("traceparent", format!("{}.", tp("01")))], None, None, "row 16: v00 trailing junk"),
        (vec![("traceparent", format!("cc-{T}-{P}-01"))], Some(tp("01")), None, "row 17: future version emitted as 00"),
        (vec![("traceparent", format!("cc-{T}-{P}-01-what-the-future-will-be-like"))], Some(tp("01")), None, "row 18: future fields dropped"),
        (vec![("traceparent", format!("cc-{T}-{P}-01.what"))], None, None, "row 19: future version, no '-' after flags"),
        (vec![("traceparent", format!("00-{}-{P}-01", &T[..31]))], None, None, "row 20: short trace id"),
        (vec![("traceparent", format!("00-{T}-{}-01", &P[..15]))], None, None, "row 20: short parent id"),
        (vec![("traceparent", tp("1"))], None, None, "row 21: 1-digit flags"),
        (vec![("traceparent", tp("09"))], Some(tp("01")), None, "row 22: unknown flags zeroed"),
        (vec![("traceparent", tp("02"))], Some(tp("02")), None, "row 23: random flag kept"),
        (vec![("traceparent", tp("01")), ("traceparent", format!("00-{T}-{}-01", "1".repeat(16)))], None, None, "row 24: two traceparent lines"),
        (vec![("tracestate", s("foo=1"))], None, None, "row 25: tracestate without traceparent"),
        (vec![("traceparent", tp("1")), ("tracestate", s("foo=1"))], None, None, "row 26: invalid traceparent, valid tracestate"),
        (vec![("traceparent", tp("00")), ("tracestate", s("FOO=1"))], Some(tp("00")), None, "row 27: invalid tracestate dropped, trace continues"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo =1"))], Some(tp("00")), None, "row 27: space before '='"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo.bar=1"))], Some(tp("00")), None, "row 27: '.' in key"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=1,bar=2")), ("tracestate", s("rojo=1,congo=2")), ("tracestate", s("baz=3"))],
            Some(tp("00")), Some(s("foo=1,bar=2,rojo=1,congo=2,baz=3")), "row 28: lines combined in order"),
        (vec![("traceparent", tp("00")), ("tracestate", s("")), ("tracestate", s("foo=1"))], Some(tp("00")), Some(s("foo=1")), "row 29: empty line first"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=1")), ("tracestate", s(""))], Some(tp("00")), Some(s("foo=1")), "row 29: empty line last"),
        (vec![("traceparent", tp("00")), ("tracestate", s(""))], Some(tp("00")), None, "row 29: never forward an empty tracestate"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=1 \t , \t bar=2,\t baz=3"))], Some(tp("00")), Some(s("foo=1,bar=2,baz=3")), "row 30: OWS"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=1,,bar=2,"))], Some(tp("00")), Some(s("foo=1,bar=2")), "row 31: empty members"),
        (vec![("traceparent", tp("00")), ("tracestate", (0..32).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join(","))],
            Some(tp("00")), Some((0..32).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join(",")), "row 32: 32 members"),
        (vec![("traceparent", tp("00")), ("tracestate", (0..16).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join(",")), ("tracestate", (16..33).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join(","))],
            Some(tp("00")), None, "row 33: 33 members over two lines dropped, trace continues"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=1,foo=2"))], Some(tp("00")), Some(s("foo=1,foo=2")), "row 34: duplicates forwarded as-is"),
        (vec![("traceparent", tp("00")), ("tracestate", format!("{}=1", "z".repeat(257)))], Some(tp("00")), None, "row 35: 257-char key"),
        (vec![("traceparent", tp("00")), ("tracestate", format!("{l2_key}=1,t@{}=2", "v".repeat(15)))], Some(tp("00")), Some(format!("{l2_key}=1,t@{}=2", "v".repeat(15))), "row 36: L2 long tenant / system id forwarded"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo@=1,bar=2,foo@@bar=1,foo@bar@baz=1"))], Some(tp("00")), Some(s("foo@=1,bar=2,foo@@bar=1,foo@bar@baz=1")), "row 37: L2 '@' keys forwarded"),
        (vec![("traceparent", tp("00")), ("tracestate", s("@foo=1,bar=2"))], Some(tp("00")), None, "row 37: '@foo' drops the tracestate"),
        (vec![("traceparent", tp("00")), ("tracestate", s("1foo=1"))], Some(tp("00")), Some(s("1foo=1")), "row 38: digit-first key (L2)"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=,bar=3"))], Some(tp("00")), None, "row 39: empty value"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo=bar=baz"))], Some(tp("00")), None, "row 39: '=' in value"),
        (vec![("traceparent", tp("00")), ("tracestate", s("foo= 1"))], Some(tp("00")), Some(s("foo= 1")), "row 40: leading space kept"),
    ]
}

#[test]
fn w3c_rows_through_the_propagator() {
    let propagator = TracewirePropagator::default();
    for (incoming, traceparent, tracestate, reason) in w3c_rows() {
        let out = hop(&propagator, &incoming);
        assert_eq!(
            header(&out, "traceparent"),
            traceparent.as_deref(),
            "{reason}"
        );
        assert_eq!(
            header(&out, "tracestate"),
            tracestate.as_deref(),
            "{reason}"
        );
        if let Some(tp) = header(&out, "traceparent") {
            assert_eq!(tp.len(), 55, "{reason}: outgoing traceparent is 55 chars");
            assert!(tp.starts_with("00-"), "{reason}: outgoing version 00");
        }
        assert!(
            out.iter().all(|(k, _)| *k == k.to_ascii_lowercase()),
            "{reason}: row 46: lower-case keys"
        );
    }
}

#[test]
fn row_42_truncates_on_output() {
    let members: Vec<String> = (0..10)
        .map(|i| format!("k{i}={}", "v".repeat(60)))
        .collect();
    let out = hop(
        &TracewirePropagator::default(),
        &[("traceparent", tp("01")), ("tracestate", members.join(","))],
    );
    let ts = header(&out, "tracestate").unwrap();
    assert!(ts.len() <= 512, "row 42: at most 512 chars");
    assert_eq!(
        ts,
        members[..8].join(","),
        "row 42: whole entries dropped from the right (8 × 63 + 7 = 511)"
    );
}

#[rustfmt::skip]
#[test]
fn baggage_rows() {
    let propagator = TracewirePropagator::default();
    let cases: Vec<(Vec<(&str, String)>, Option<&str>, Option<&str>, &str)> = vec![
        (vec![("traceparent", tp("01")), ("baggage", "user=alice;ttl=30,tier=gold".into())], Some("user=alice;ttl=30,tier=gold"), Some("alice"), "row 43: property stays attached"),
        (vec![("traceparent", tp("01")), ("baggage", "k=hello%20world%2C%3B,user=alice".into())], Some("k=hello%20world%2C%3B,user=alice"), Some("alice"), "row 44: decoded, re-encoded"),
        (vec![("baggage", "user=alice,z=1,a=2".into())], Some("user=alice,z=1,a=2"), Some("alice"), "row 45: baggage without traceparent, order kept"),
        (vec![("Baggage", "user=alice".into()), ("baggage", "b=2".into())], Some("user=alice,b=2"), Some("alice"), "repeated baggage lines, case-insensitive name"),
        (vec![("baggage", "bad key=1".into())], None, None, "only invalid entries: nothing"),
    ];
    for (incoming, baggage, user, reason) in cases {
        let cx = propagator.extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
        assert_eq!(cx.baggage().get("user").map(|v| v.as_str().to_owned()).as_deref(), user, "{reason}");
        let out = hop(&propagator, &incoming);
        assert_eq!(header(&out, "baggage"), baggage, "{reason}");
        if !incoming.iter().any(|(k, _)| *k == "traceparent") {
            assert_eq!(header(&out, "traceparent"), None, "{reason}: no trace context invented");
        }
    }
    let cx = propagator.extract_with_context(&Context::new(), &PairsExtractor::new(&[("baggage", "k=hello%20world%2C%3B")]));
    assert_eq!(cx.baggage().get("k").map(|v| v.as_str().to_owned()).as_deref(), Some("hello world,;"), "row 44: decoded in the Context");
    assert_eq!(cx.baggage().get_with_metadata("k").map(|(_, m)| m.as_str().to_owned()).as_deref(), Some(""));
}

#[test]
fn invalid_input_returns_the_incoming_context() {
    let existing = SpanContext::new(
        TraceId::from(7u128),
        SpanId::from(9u64),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let cx = Context::new().with_remote_span_context(existing.clone());
    let propagator = TracewirePropagator::builder()
        .trace_context()
        .b3()
        .b3_multi()
        .jaeger()
        .baggage()
        .build();
    let bad = [
        ("traceparent", "junk"),
        ("b3", "junk"),
        ("x-b3-traceid", "zz"),
        ("uber-trace-id", "0:0:0:0"),
        ("baggage", "="),
    ];
    let out = propagator.extract_with_context(&cx, &PairsExtractor::new(&bad));
    assert_eq!(
        out.span().span_context(),
        &existing,
        "invalid input leaves the Context unchanged"
    );
    assert!(out.get::<Forwarded>().is_none());
}

#[test]
fn extracted_context_is_remote_and_keeps_level2_state_beside_otel() {
    let incoming = [
        ("traceparent", tp("03")),
        ("tracestate", "foo=1,foo@@bar=2,1foo=3".to_owned()),
    ];
    let cx = TracewirePropagator::default()
        .extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
    let sc = cx.span().span_context().clone();
    assert!(sc.is_remote(), "extracted span context is remote");
    assert_eq!(
        sc.trace_flags().to_u8(),
        0x03,
        "random flag kept in the SpanContext"
    );
    assert_eq!(
        sc.trace_state().header(),
        "foo=1,1foo=3",
        "OTel TraceState holds what its Level 1 rule accepts"
    );
}

#[test]
fn changed_or_foreign_trace_state_uses_the_sdk_one() {
    let propagator = TracewirePropagator::default();
    let incoming = [
        ("traceparent", tp("01")),
        ("tracestate", "foo=1,foo@@bar=2".to_owned()),
    ];
    let cx = propagator.extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
    let sc = cx.span().span_context().clone();

    // the application changed the trace state: the SDK's wins
    let changed = sc.trace_state().insert("app", "x").unwrap();
    let child = SpanContext::new(
        sc.trace_id(),
        SpanId::from(5u64),
        sc.trace_flags(),
        false,
        changed,
    );
    let mut out = Vec::new();
    propagator.inject_context(
        &cx.with_remote_span_context(child),
        &mut PairsInjector::new(&mut out),
    );
    assert_eq!(
        header(&out, "tracestate"),
        Some("app=x,foo=1"),
        "changed TraceState is emitted as the SDK has it"
    );

    // another trace id: the kept list does not apply
    let other = SpanContext::new(
        TraceId::from(1u128),
        SpanId::from(5u64),
        TraceFlags::SAMPLED,
        false,
        sc.trace_state().clone(),
    );
    let mut out = Vec::new();
    propagator.inject_context(
        &cx.with_remote_span_context(other),
        &mut PairsInjector::new(&mut out),
    );
    assert_eq!(
        header(&out, "tracestate"),
        Some("foo=1"),
        "different trace id: SDK TraceState"
    );

    // invalid span context: no trace headers at all
    let mut out = Vec::new();
    propagator.inject_context(&Context::new(), &mut PairsInjector::new(&mut out));
    assert!(out.is_empty(), "nothing to inject");
}

#[test]
fn changed_baggage_is_sent_sorted() {
    let propagator = TracewirePropagator::default();
    let cx = propagator.extract_with_context(
        &Context::new(),
        &PairsExtractor::new(&[("baggage", "z=1,a=2")]),
    );
    let mut out = Vec::new();
    propagator.inject_context(&cx, &mut PairsInjector::new(&mut out));
    assert_eq!(
        header(&out, "baggage"),
        Some("z=1,a=2"),
        "unchanged: received order"
    );

    let changed = cx.with_baggage(
        cx.baggage()
            .iter()
            .map(|(k, (v, _))| KeyValue::new(k.clone(), v.to_string()))
            .chain([KeyValue::new("m", "3")])
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::new();
    propagator.inject_context(&changed, &mut PairsInjector::new(&mut out));
    assert_eq!(
        header(&out, "baggage"),
        Some("a=2,m=3,z=1"),
        "changed: sorted by key"
    );

    let cleared = cx.with_cleared_baggage();
    let mut out = Vec::new();
    propagator.inject_context(&cleared, &mut PairsInjector::new(&mut out));
    assert_eq!(header(&out, "baggage"), None, "cleared: nothing sent");
}

#[test]
fn first_trace_format_in_the_list_wins() {
    let b3_trace = "a3ce929d0e0e4736a3ce929d0e0e4736";
    let incoming = [
        ("b3", format!("{b3_trace}-{P}-1")),
        ("traceparent", tp("01")),
    ];
    let pick = |p: TracewirePropagator| {
        let cx = p.extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
        cx.span().span_context().trace_id().to_string()
    };
    assert_eq!(
        pick(TracewirePropagator::builder().b3().trace_context().build()),
        b3_trace,
        "b3 listed first"
    );
    assert_eq!(
        pick(TracewirePropagator::builder().trace_context().b3().build()),
        T,
        "tracecontext listed first"
    );
    let incoming = [("b3", "junk".to_owned()), ("traceparent", tp("01"))];
    let cx = TracewirePropagator::builder()
        .b3()
        .trace_context()
        .build()
        .extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
    assert_eq!(
        cx.span().span_context().trace_id().to_string(),
        T,
        "an invalid first format falls through"
    );
}

#[rustfmt::skip]
#[test]
fn b3_and_jaeger_through_the_propagator() {
    let all = TracewirePropagator::from_list("b3,b3multi,jaeger,tracecontext,baggage").propagator;
    let cases: Vec<(Vec<(&str, String)>, &str, &str, &str, &str)> = vec![
        (vec![("b3", format!("{T}-{P}-d"))], "d", "1", "3", "b3 debug kept for the same trace"),
        (vec![("b3", format!("{T}-{P}-1-a2fb4a1d1a96d312"))], "1", "", "1", "b3 with parent"),
        (vec![("x-b3-traceid", T.into()), ("X-B3-SpanId", P.into()), ("x-b3-sampled", "0".into())], "0", "", "0", "b3 multi, case-insensitive names"),
        (vec![("uber-trace-id", format!("{T}%3A{P}%3A0%3A1"))], "1", "", "1", "jaeger URL-encoded"),
        (vec![("uber-trace-id", format!("{T}:{P}:0:3"))], "d", "1", "3", "jaeger debug"),
    ];
    for (incoming, b3_sampling, multi_flags, jaeger_flags, reason) in cases {
        let out = hop(&all, &incoming);
        assert_eq!(header(&out, "b3"), Some(format!("{T}-{P}-{b3_sampling}").as_str()), "{reason}");
        assert_eq!(header(&out, "x-b3-traceid"), Some(T), "{reason}");
        assert_eq!(header(&out, "x-b3-spanid"), Some(P), "{reason}");
        assert_eq!(header(&out, "x-b3-flags").unwrap_or(""), multi_flags, "{reason}");
        assert_eq!(header(&out, "uber-trace-id"), Some(format!("{T}:{P}:0:{jaeger_flags}").as_str()), "{reason}");
        let w3c_flags = if b3_sampling == "0" { "00" } else { "01" };
        assert_eq!(header(&out, "traceparent"), Some(tp(w3c_flags).as_str()), "{reason}: W3C written too");
    }
    // sampling-only b3 carries no ids
    assert!(hop(&all, &[("b3", "1".into())]).is_empty(), "b3: 1 alone starts a new trace");
    // 64-bit B3 trace id: padded inside, 16 hex on the B3 wire, 32 on W3C
    let out = hop(&all, &[("b3", format!("a3ce929d0e0e4736-{P}-1"))]);
    assert_eq!(header(&out, "b3"), Some(format!("a3ce929d0e0e4736-{P}-1").as_str()));
    assert_eq!(header(&out, "traceparent"), Some(format!("00-0000000000000000a3ce929d0e0e4736-{P}-01").as_str()));
}

#[test]
fn jaeger_baggage_both_ways() {
    let jaeger = TracewirePropagator::builder().jaeger().build();
    let incoming = [
        ("uber-trace-id", format!("{T}:{P}:0:1")),
        ("UberCtx-User", "alice%20b".to_owned()),
    ];
    let cx = jaeger.extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
    assert_eq!(
        cx.baggage()
            .get("user")
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some("alice b")
    );
    let mut out = Vec::new();
    jaeger.inject_context(&cx, &mut PairsInjector::new(&mut out));
    assert_eq!(header(&out, "uberctx-user"), Some("alice%20b"));
    assert_eq!(
        header(&out, "baggage"),
        None,
        "W3C baggage only when configured"
    );
}

#[test]
fn noop_and_fields() {
    let none = TracewirePropagator::from_list("none").propagator;
    assert!(none.is_noop());
    assert!(
        hop(
            &none,
            &[("traceparent", tp("01")), ("baggage", "a=1".into())]
        )
        .is_empty()
    );
    assert_eq!(none.fields().count(), 0);
    let default = TracewirePropagator::default();
    let fields: Vec<&str> = default.fields().collect();
    assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
}

#[test]
fn handle_is_send_sync_clone_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    check::<TracewirePropagator>();
    check::<PropagatorSelection>();
}
