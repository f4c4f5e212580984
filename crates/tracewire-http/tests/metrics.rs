//! `http.server.*` metrics of `ServerTraceLayer`, in process
//! (`tower::ServiceExt::oneshot`): names, units, buckets and attributes, and that
//! every request is counted once its attribute sets outnumber the bound series.

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::*;
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracewire_http::ServerTraceLayer;
use tracewire_http::metrics::MAX_BOUND_SERIES;

fn layer(capture: &Capture) -> ServerTraceLayer {
    ServerTraceLayer::new()
        .tracer_provider(&capture.provider)
        .propagator(w3c())
}

fn get_req(uri: &str) -> http::request::Builder {
    Request::get(uri).header("host", "orders.svc:8080")
}

#[tokio::test]
async fn server_metrics_are_recorded() {
    let capture = Capture::new();
    let metrics = Metrics::new();
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .layer(layer(&capture).meter_provider(&metrics.provider));
    for uri in ["/orders/1", "/orders/2", "/fail"] {
        let response = app
            .clone()
            .oneshot(get_req(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let points = metrics.points("http.server.request.duration");
    let orders = points
        .iter()
        .find(|p| {
            point_attr(p, "http.route").map(|v| v.as_str().into_owned())
                == Some("/orders/{id}".into())
        })
        .expect("orders point");
    assert_eq!(orders.count, 2);
    assert_eq!(
        orders.bounds,
        vec![
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
        ]
    );
    assert_eq!(
        point_attr(orders, "http.response.status_code"),
        Some(opentelemetry::Value::I64(200))
    );
    assert_eq!(
        point_attr(orders, "http.request.method").unwrap().as_str(),
        "GET"
    );
    let fail = points
        .iter()
        .find(|p| {
            point_attr(p, "http.route").map(|v| v.as_str().into_owned()) == Some("/fail".into())
        })
        .expect("fail point");
    assert_eq!(point_attr(fail, "error.type").unwrap().as_str(), "503");

    let active = metrics.points("http.server.active_requests");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].value, 0, "every request finished");
}

/// Each attribute set is bound to its series once, up to `MAX_BOUND_SERIES`; sets past
/// that are recorded unbound. Either way every request is counted, in its own series.
#[tokio::test]
async fn attribute_sets_past_the_bound_series_are_still_recorded() {
    let capture = Capture::new();
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move { StatusCode::from_u16(code).unwrap() }),
        )
        .layer(layer(&capture).meter_provider(&metrics.provider));
    // Distinct status codes, so distinct `http.server.request.duration` series.
    let codes: Vec<u16> = (200..=299)
        .chain(300..=999)
        .take(MAX_BOUND_SERIES + 40)
        .collect();
    for round in 0..2 {
        for code in &codes {
            let response = app
                .clone()
                .oneshot(
                    get_req(&format!("/status/{code}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), *code, "round {round}");
            response.into_body().collect().await.unwrap();
        }
    }
    let points = metrics.points("http.server.request.duration");
    assert_eq!(points.len(), codes.len(), "one series per status code");
    for point in &points {
        assert_eq!(point.count, 2, "{:?}", point.attributes);
    }
    let mut seen: Vec<i64> = points
        .iter()
        .map(|p| match point_attr(p, "http.response.status_code") {
            Some(opentelemetry::Value::I64(code)) => code,
            other => panic!("status code attribute {other:?}"),
        })
        .collect();
    seen.sort_unstable();
    let expected: Vec<i64> = codes.iter().map(|c| i64::from(*c)).collect();
    assert_eq!(seen, expected);
    let active = metrics.points("http.server.active_requests");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].value, 0, "every request finished");
}
