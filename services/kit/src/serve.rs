//! Serving an axum app on a listener until a shutdown signal, letting requests in
//! flight finish.
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use tokio::sync::watch;
//! use tracewire_service_kit::serve::{Server, bind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (stop, stopped) = watch::channel(false);
//! let listener = bind("127.0.0.1:0").await?;
//! let server = Server::start(listener, Router::new().route("/", get(|| async { "hi" })), stopped)?;
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! stop.send_replace(true);
//! server.stopped().await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Binds `addr` (`127.0.0.1:0` for an ephemeral port).
///
/// Cancel-safety: dropping the future binds nothing.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    /// Serves `app` (HTTP/1 and, for gRPC, HTTP/2 without TLS) on `listener` until
    /// `shutdown` becomes `true`; requests in flight then finish.
    pub fn start(
        listener: TcpListener,
        app: Router,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let mut shutdown = shutdown;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server has shut down.
    ///
    /// Cancel-safety: dropping the future leaves the server running.
    pub async fn stopped(self) -> io::Result<()> {
        self.task.await.map_err(io::Error::other)?
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
///
/// Cancel-safety: cancel-safe.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
