//! Starting the demo's services: each one is an axum app behind a `ServerTraceLayer`,
//! with its own tracer provider (so its spans carry its own `service.name`), served on
//! an ephemeral loopback port.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracewire_http::ServerTraceLayer;
use tracewire_telemetry::{MetricsExporter, TelemetryConfig, TelemetryGuard, TracesExporter, init};

/// One in-process service's telemetry: its own providers, spans kept in memory.
pub(crate) fn telemetry(service: &str) -> anyhow::Result<TelemetryGuard> {
    let config = TelemetryConfig::new(service)
        .with_service_version(env!("CARGO_PKG_VERSION"))
        .with_traces_exporter(TracesExporter::InMemory)
        .with_metrics_exporter(MetricsExporter::None)
        .with_tracing_subscriber(false)
        .with_install_globals(false);
    init(config).with_context(|| format!("telemetry for {service}"))
}

/// A running service.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits for the server to finish its graceful shutdown.
    pub(crate) async fn stopped(self) -> anyhow::Result<()> {
        self.task.await.context("server task")?.context("server")
    }
}

/// Serves `app`, traced by `telemetry`'s providers, until `shutdown` flips to `true`.
pub(crate) async fn serve(
    app: Router,
    telemetry: &TelemetryGuard,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let app = app.layer(
        ServerTraceLayer::new()
            .tracer_provider(telemetry.tracer_provider())
            .meter_provider(telemetry.meter_provider()),
    );
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("bind a loopback port")?;
    let addr = listener.local_addr()?;
    let mut shutdown = shutdown;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok(Running { addr, task })
}
