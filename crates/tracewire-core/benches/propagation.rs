//! Extract + inject of a full context (traceparent, a 4-member tracestate, 4 baggage
//! entries): `TracewirePropagator` against the stock `opentelemetry_sdk`
//! `TraceContextPropagator` + `BaggagePropagator` composite, same `HeaderMap` input,
//! plus the floor: the same carrier reads and writes and the `opentelemetry` objects
//! the API requires, built from pre-parsed data (see `fixture::floor`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_main};
use tracewire_core::TracewirePropagator;

mod fixture;

fn bench(c: &mut Criterion) {
    let headers = fixture::incoming();
    let tracewire = TracewirePropagator::default();
    let stock = fixture::stock();
    let parsed = fixture::parsed();
    // all must produce the three headers, or the comparison is meaningless
    assert_eq!(fixture::round_trip(&tracewire, &headers).len(), 3);
    assert_eq!(fixture::round_trip(&stock, &headers).len(), 3);
    assert_eq!(fixture::floor(&parsed, &headers, true).len(), 3);

    let mut group = c.benchmark_group("extract_inject_full_context");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    group.bench_function("tracewire", |b| {
        b.iter(|| fixture::round_trip(black_box(&tracewire), black_box(&headers)))
    });
    group.bench_function("stock_sdk", |b| {
        b.iter(|| fixture::round_trip(black_box(&stock), black_box(&headers)))
    });
    group.bench_function("floor", |b| {
        b.iter(|| fixture::floor(black_box(&parsed), black_box(&headers), false))
    });
    group.bench_function("floor_every_line", |b| {
        b.iter(|| fixture::floor(black_box(&parsed), black_box(&headers), true))
    });
    group.finish();
}

mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
