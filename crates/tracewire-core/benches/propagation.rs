//! Extract + inject of a full context (traceparent, a 4-member tracestate, 4 baggage
//! entries): `TracewirePropagator` against the stock `opentelemetry_sdk`
//! `TraceContextPropagator` + `BaggagePropagator` composite, same `HeaderMap` input.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_main};
use http::{HeaderMap, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracewire_core::TracewirePropagator;
use tracewire_core::carrier::{HeaderExtractor, HeaderInjector};

fn incoming() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    headers.insert(
        "tracestate",
        HeaderValue::from_static(
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor=abc123,tenant@sys=on",
        ),
    );
    headers.insert(
        "baggage",
        HeaderValue::from_static(
            "user=alice;ttl=30,tier=gold,region=eu-west-1,session=hello%20world",
        ),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    headers
}

fn round_trip(propagator: &dyn TextMapPropagator, headers: &HeaderMap) -> HeaderMap {
    let cx = propagator.extract_with_context(&Context::new(), &HeaderExtractor(headers));
    let mut out = HeaderMap::new();
    propagator.inject_context(&cx, &mut HeaderInjector(&mut out));
    out
}

fn bench(c: &mut Criterion) {
    let headers = incoming();
    let tracewire = TracewirePropagator::default();
    let stock = TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]);
    // both must produce the three headers, or the comparison is meaningless
    assert_eq!(round_trip(&tracewire, &headers).len(), 3);
    assert_eq!(round_trip(&stock, &headers).len(), 3);

    let mut group = c.benchmark_group("extract_inject_full_context");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    group.bench_function("tracewire", |b| {
        b.iter(|| round_trip(black_box(&tracewire), black_box(&headers)))
    });
    group.bench_function("stock_sdk", |b| {
        b.iter(|| round_trip(black_box(&stock), black_box(&headers)))
    });
    group.finish();
}

mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
