//! Property tests: arbitrary input never panics; valid values round-trip byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use proptest::prelude::*;
use tracewire_core::TracewirePropagator;
use tracewire_core::b3::{B3Context, B3Single};
use tracewire_core::baggage::BaggageList;
use tracewire_core::carrier::{PairsExtractor, PairsInjector};
use tracewire_core::jaeger::JaegerContext;
use tracewire_core::traceparent::TraceParent;
use tracewire_core::tracestate::{TraceStateList, truncate};

const NAMES: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "uberctx-user",
    "Uberctx-X",
    "TRACEPARENT",
];

/// Text that is often close to a valid header: hex, separators, OWS, `%`, non-ASCII.
fn near_miss() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-fA-F\\-:;,=%@ \\t.]{0,80}",
        "(00|cc|ff|0)-[0-9a-f]{30,34}-[0-9a-f]{14,18}-[0-9a-f]{1,3}(-[a-z]{0,4})?",
        "[0-9a-f]{14,33}-[0-9a-f]{15,17}(-[01d])?(-[0-9a-f]{16})?",
        "[0-9a-fA-F]{1,33}(:|%3A|%3a)[0-9a-f]{1,17}(:|%3A)[0-9]{1,2}(:|%3A)[0-9a-f]{1,3}",
        "([a-z0-9@*/_\\-]{0,10}= ?[ -~]{0,10},?){0,6}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((prop::sample::select(NAMES), near_miss()), 0..12)
        .prop_map(|v| v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn lc_hex(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(b"0123456789abcdef".as_slice()), len)
        .prop_map(|v| v.into_iter().map(char::from).collect())
        .prop_filter("non-zero id", |s: &String| s.bytes().any(|b| b != b'0'))
}

/// A Level 2 key: first char a-z / 0-9, then the key alphabet.
fn ts_key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_*/@\\-]{0,20}"
}

/// A value: printable ASCII but `,` `=`, not ending in a space.
fn ts_value() -> impl Strategy<Value = String> {
    "[ -+\\--<>-~]{0,12}[!-+\\--<>-~]"
}

/// An RFC 9110 token.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$&'*+.^_`|~\\-]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic(input in near_miss(), lines in prop::collection::vec(near_miss(), 0..4)) {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let _ = TraceParent::parse(&input);
        let _ = TraceParent::parse_lines(&refs);
        let _ = TraceStateList::parse_lines(&refs).map(|l| (l.header(), l.to_otel()));
        let list = BaggageList::parse_lines(&refs);
        let _ = (list.header(), list.to_otel());
        let _ = B3Single::parse(&input);
        let _ = B3Context::from_multi(Some(&input), refs.first().copied(), None, refs.get(1).copied(), refs.get(2).copied());
        let _ = JaegerContext::parse(&input);
    }

    #[test]
    fn propagators_never_panic(pairs in headers()) {
        let all = TracewirePropagator::from_list("tracecontext,baggage,b3,b3multi,jaeger").propagator;
        for propagator in [all, TracewirePropagator::default(), TracewirePropagator::builder().jaeger().b3().build()] {
            let cx = propagator.extract_with_context(&Context::new(), &PairsExtractor::new(&pairs));
            let mut out = Vec::new();
            propagator.inject_context(&cx, &mut PairsInjector::new(&mut out));
            // what we send is always valid for the next hop
            for (name, value) in &out {
                match name.as_str() {
                    "traceparent" => prop_assert!(TraceParent::parse(value).is_some(), "{value}"),
                    "tracestate" => prop_assert!(TraceStateList::parse(value).is_some_and(|l| l.as_str() == value), "{value}"),
                    "baggage" => prop_assert_eq!(&BaggageList::parse(value).header(), value),
                    "b3" => prop_assert!(B3Single::parse(value).is_some(), "{value}"),
                    "uber-trace-id" => prop_assert!(JaegerContext::parse(value).is_some(), "{value}"),
                    _ => {}
                }
            }
            if !cx.span().span_context().is_valid() {
                prop_assert!(out.iter().all(|(k, _)| k != "traceparent"));
            }
        }
    }

    #[test]
    fn traceparent_round_trips(trace in lc_hex(32), parent in lc_hex(16), flags in 0u8..4) {
        let header = format!("00-{trace}-{parent}-{flags:02x}");
        prop_assert_eq!(TraceParent::parse(&header).unwrap().to_header(), header);
    }

    #[test]
    fn tracestate_round_trips(members in prop::collection::vec((ts_key(), ts_value()), 1..=32)) {
        let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let list = TraceStateList::parse(&header).unwrap();
        prop_assert_eq!(list.as_str(), header.as_str());
        prop_assert_eq!(list.header(), truncate(&header).into_owned());
        prop_assert!(list.header().len() <= 512);
        // split over lines with OWS: same list
        let spread = members.iter().map(|(k, v)| format!(" \t{k}={v}\t ")).collect::<Vec<_>>();
        let refs: Vec<&str> = spread.iter().map(String::as_str).collect();
        let spread_list = TraceStateList::parse_lines(&refs).unwrap();
        prop_assert_eq!(spread_list.as_str(), header.as_str());
        prop_assert!(list.matches_otel(&list.to_otel()));
    }

    #[test]
    fn baggage_canonical_round_trips(entries in prop::collection::vec((token(), any::<String>(), prop::option::of(token())), 1..10)) {
        let mut list = BaggageList::new();
        for (key, value, property) in &entries {
            list.push(key, value, property.as_deref().unwrap_or(""));
        }
        let header = list.header();
        let again = BaggageList::parse(&header);
        prop_assert_eq!(again.header(), header.clone(), "canonical form is stable");
        let decoded: Vec<(String, String, String)> = again.iter().map(|m| (m.key().to_owned(), m.value().into_owned(), m.properties().to_owned())).collect();
        let original: Vec<(String, String, String)> = list.iter().map(|m| (m.key().to_owned(), m.value().into_owned(), m.properties().to_owned())).collect();
        prop_assert_eq!(decoded, original, "values decode to what was pushed");
        for (key, _, _) in &entries {
            if let Some(m) = again.iter().find(|m| m.key() == key) {
                // last write wins per key
                let last = entries.iter().rev().find(|(k, _, _)| k == key).map(|(_, v, _)| v).unwrap();
                let value = m.value().into_owned();
                prop_assert_eq!(&value, last);
            }
        }
        prop_assert!(again.matches_otel(&again.to_otel()));
    }

    #[test]
    fn b3_round_trips(trace in prop_oneof![lc_hex(16), lc_hex(32).prop_filter("128-bit", |t| !t.starts_with("0000000000000000"))],
                      span in lc_hex(16), sampling in prop::sample::select(vec!["0", "1", "d"]), parent in prop::option::of(lc_hex(16))) {
        let header = match &parent {
            Some(p) => format!("{trace}-{span}-{sampling}-{p}"),
            None => format!("{trace}-{span}-{sampling}"),
        };
        let Some(B3Single::Context(ctx)) = B3Single::parse(&header) else { panic!("valid b3 {header}") };
        prop_assert_eq!(ctx.to_single(), header);
    }

    #[test]
    fn jaeger_round_trips(trace in prop_oneof![lc_hex(16), lc_hex(32).prop_filter("128-bit", |t| !t.starts_with("0000000000000000"))],
                          span in lc_hex(16), flags in 0u8..16) {
        let header = format!("{trace}:{span}:0:{flags:x}");
        prop_assert_eq!(JaegerContext::parse(&header).unwrap().to_header(), header);
    }
}
