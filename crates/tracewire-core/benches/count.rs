//! Instruction-count driver (run under `valgrind --tool=callgrind`): `N` round trips
//! of one propagator, or of the floor, on the criterion bench's input.
//!
//! ```text
//! cargo bench -p tracewire-core --bench count --no-run
//! valgrind --tool=callgrind target/release/deps/count-* tracewire 10000
//! ```
//! `which`: `tracewire`, `stock`, `floor`, `floor-lines` (the floor reading
//! every line) or `none` (setup only, to subtract).

use std::hint::black_box;

use tracewire_core::TracewirePropagator;

mod fixture;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let which = args.next().unwrap_or_else(|| "tracewire".to_owned());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let headers = fixture::incoming();
    let tracewire = TracewirePropagator::default();
    let stock = fixture::stock();
    let parsed = fixture::parsed();
    let mut total = 0;
    for _ in 0..n {
        let out = match which.as_str() {
            "tracewire" => fixture::round_trip(black_box(&tracewire), black_box(&headers)),
            "stock" => fixture::round_trip(black_box(&stock), black_box(&headers)),
            "floor" => fixture::floor(black_box(&parsed), black_box(&headers), false),
            "floor-lines" => fixture::floor(black_box(&parsed), black_box(&headers), true),
            _ => http::HeaderMap::new(),
        };
        total += out.len();
    }
    println!("{which}: {n} iterations, {total} headers");
}
