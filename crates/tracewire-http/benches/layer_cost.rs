//! The CPU cost of `ServerTraceLayer` per request, without sockets: the same axum
//! router, plain or traced, called in-process (`tower::ServiceExt::oneshot`) on one
//! thread, with the request head `axum::serve` would build (host, traceparent,
//! `ConnectInfo`). Meant for instruction counts, which a shared machine cannot blur:
//!
//! ```text
//! cargo bench -p tracewire-http --bench layer_cost --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary> traced 20000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <bench binary> plain 20000
//! ```
//!
//! (traced − plain) / requests is the layer's cost, batch export included: the run
//! ends with a flush, and callgrind counts the exporter thread too. Without valgrind it
//! prints wall time per request, which is only indicative. A third argument `unsampled`
//! sends a parent with the sampled flag off, so the (parent-based) sampler drops every
//! span: the cost of the layer for requests that are not sampled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use tower::ServiceExt;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let mode = args.next().unwrap_or_else(|| "traced".to_owned());
    let requests: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let traceparent = match args.next().as_deref() {
        None | Some("sampled") => support::TRACEPARENT,
        Some("unsampled") => "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        Some(other) => panic!("third argument is `sampled` or `unsampled`, not {other:?}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Both modes build the whole pipeline, so only the per-request work differs.
    let pipeline = support::Pipeline::new();
    let app = match mode.as_str() {
        "plain" => support::app(),
        "traced" => support::app().layer(pipeline.layer()),
        other => panic!("mode is `plain` or `traced`, not {other:?}"),
    };
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        for i in 0..requests {
            let mut req = http::Request::get(format!("/orders/{i}"))
                .header("host", "bench.local")
                .header("traceparent", traceparent)
                .body(Body::empty())
                .unwrap();
            req.extensions_mut().insert(ConnectInfo(peer));
            let response = app.clone().oneshot(req).await.unwrap();
            assert!(response.status().is_success());
            response.into_body().collect().await.unwrap();
        }
    });
    let elapsed = started.elapsed();
    pipeline.tracer_provider.force_flush().unwrap();
    println!(
        "{mode}: {requests} requests, {:.2} us/request (wall), {} spans exported ({} bytes)",
        elapsed.as_secs_f64() * 1e6 / requests as f64,
        pipeline.exporter.spans(),
        pipeline.exporter.bytes(),
    );
}
