//! Shared set-up of the loopback tests: a traced axum server on `127.0.0.1:0`.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracewire_core::TracewirePropagator;
use tracewire_testkit::SpanCapture;
use tracewire_ws::{BoxError, Envelope, Handler, Responder, Session, WsConfig};

pub(crate) const TP_A: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
pub(crate) const TP_B: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

pub(crate) type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A session traced into `cap`, with the strict propagator.
pub(crate) fn traced<H: Handler>(cap: &SpanCapture, handler: H, config: WsConfig) -> Session<H> {
    Session::new(handler)
        .config(config)
        .tracer_provider(&cap.tracer_provider())
        .propagator(Arc::new(TracewirePropagator::default()))
}

/// Replies `echo` with the message's data.
pub(crate) async fn echo(msg: Envelope, reply: Responder) -> Result<(), BoxError> {
    reply.reply("echo", msg.data).await?;
    Ok(())
}

/// Serves `session` on `/ws`; returns the address.
pub(crate) async fn serve<H: Handler>(session: Session<H>) -> SocketAddr {
    let app = Router::new().route("/ws", session.route());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The next text message of a raw client, as an envelope.
pub(crate) async fn next_envelope(socket: &mut RawSocket) -> Envelope {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) => return Envelope::parse(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The close frame a raw client receives next; then reads on until the stream ends,
/// which lets tungstenite send its close reply (the server waits for it).
pub(crate) async fn next_close(socket: &mut RawSocket) -> (u16, String) {
    loop {
        match socket.next().await {
            Some(Ok(Message::Close(Some(f)))) => {
                while socket.next().await.is_some() {}
                return (f.code.into(), f.reason.to_string());
            }
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// A per-test meter provider with an in-memory exporter, read on demand (cumulative).
pub(crate) struct Metrics {
    pub(crate) provider: opentelemetry_sdk::metrics::SdkMeterProvider,
    exporter: opentelemetry_sdk::metrics::InMemoryMetricExporter,
}

/// One data point: its attributes, and the count and sum of a histogram or the value
/// of a sum.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) attributes: Vec<opentelemetry::KeyValue>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) value: i64,
}

impl Point {
    /// Whether the attributes are exactly `attrs` (in any order).
    pub(crate) fn has_exactly(&self, attrs: &[opentelemetry::KeyValue]) -> bool {
        self.attributes.len() == attrs.len() && attrs.iter().all(|a| self.attributes.contains(a))
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_periodic_exporter(exporter.clone())
            .build();
        Self { provider, exporter }
    }

    /// Collects now and returns the points of the instrument `name`.
    pub(crate) fn points(&self, name: &str) -> Vec<Point> {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        self.provider.force_flush().unwrap();
        let exported = self.exporter.get_finished_metrics().unwrap();
        let mut points = Vec::new();
        let Some(last) = exported.last() else {
            return points;
        };
        for scope in last.scope_metrics() {
            assert_eq!(scope.scope().name(), "tracewire-ws");
            for metric in scope.metrics().filter(|m| m.name() == name) {
                match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        points.extend(h.data_points().map(|p| Point {
                            attributes: p.attributes().cloned().collect(),
                            count: p.count(),
                            sum: p.sum(),
                            value: 0,
                        }));
                    }
                    AggregatedMetrics::I64(MetricData::Sum(s)) => {
                        points.extend(s.data_points().map(|p| Point {
                            attributes: p.attributes().cloned().collect(),
                            count: 0,
                            sum: 0.0,
                            value: p.value(),
                        }));
                    }
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        points.extend(s.data_points().map(|p| Point {
                            attributes: p.attributes().cloned().collect(),
                            count: 0,
                            sum: 0.0,
                            value: i64::try_from(p.value()).unwrap(),
                        }));
                    }
                    other => panic!("unexpected data for {name}: {other:?}"),
                }
            }
        }
        points
    }

    /// The point of `name` whose attributes are exactly `attrs`, if any.
    pub(crate) fn point(&self, name: &str, attrs: &[opentelemetry::KeyValue]) -> Option<Point> {
        self.points(name).into_iter().find(|p| p.has_exactly(attrs))
    }

    /// Waits (up to 5 s) until `name` has a point with exactly `attrs` for which `done`
    /// holds, and returns it; panics with every point of `name` otherwise.
    pub(crate) async fn wait_for(
        &self,
        name: &str,
        attrs: &[opentelemetry::KeyValue],
        done: impl Fn(&Point) -> bool,
    ) -> Point {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if let Some(p) = self.point(name, attrs).filter(|p| done(p)) {
                return p;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "no point of {name} with {attrs:?} as expected; points: {:#?}",
                    self.points(name)
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
