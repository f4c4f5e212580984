//! The tokio-tungstenite client side: [`Session::connect`] and [`WsConnection`].

use std::time::{Duration, Instant};

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tracewire_core::carrier::HeaderInjector;

use crate::otel::attr;
use crate::{CloseInfo, ConnectionMeta, Envelope, Handler, SendError, Session, WsSender};

/// How long [`Session::connect`] waits for the TCP connection and the handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`Session::connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a `ws://` URL tungstenite accepts.
    #[error("invalid WebSocket URL")]
    InvalidUrl(#[source] tokio_tungstenite::tungstenite::Error),
    /// The TCP connection or the WebSocket handshake failed.
    #[error("WebSocket handshake failed")]
    Handshake(#[source] tokio_tungstenite::tungstenite::Error),
    /// No handshake within [`CONNECT_TIMEOUT`].
    #[error("WebSocket handshake timed out")]
    TimedOut,
}

/// A client connection running on its own task: send with [`send`](Self::send),
/// receive through the session's handler, end with [`close`](Self::close).
#[derive(Debug)]
pub struct WsConnection {
    sender: WsSender,
    task: JoinHandle<CloseInfo>,
    cx: Context,
}

impl WsConnection {
    /// Sends `envelope` with the current context injected (see [`WsSender::send`]).
    ///
    /// Cancel-safe: if dropped before completion, nothing was queued.
    ///
    /// # Errors
    ///
    /// As [`WsSender::send`].
    pub async fn send(&self, envelope: Envelope) -> Result<(), SendError> {
        self.sender.send(envelope).await
    }

    /// The connection's sender (cheap to clone, usable from other tasks).
    pub fn sender(&self) -> &WsSender {
        &self.sender
    }

    /// The connection span's context.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Closes with `code` and `reason` after the queued envelopes, and waits for the
    /// connection to end.
    ///
    /// Cancel-safe: dropping the future leaves the close in progress on the
    /// connection's task.
    pub async fn close(self, code: u16, reason: impl Into<String>) -> CloseInfo {
        let _ = self.sender.close(code, reason).await; // already closed: just wait
        self.closed().await
    }

    /// Waits for the connection to end (peer close, limits, errors).
    ///
    /// Cancel-safe: dropping the future leaves the connection running.
    pub async fn closed(self) -> CloseInfo {
        match self.task.await {
            Ok(info) => info,
            Err(_) => CloseInfo::new(
                crate::close_code::ABNORMAL,
                "connection task failed",
                crate::CloseInitiator::Local,
            ),
        }
    }
}

impl<H: Handler> Session<H> {
    /// Connects to `url` (`ws://host:port/path`), and runs this session on the
    /// connection on a new task: inbound envelopes go to the handler.
    ///
    /// A CLIENT span `WS {path}` (a child of the current context) covers the
    /// connection; its context is injected into the handshake headers, so a traced
    /// server continues it. Each envelope sent carries its own context. When the path
    /// holds ids (`/orders/ord-42/events`), use [`Self::connect_route`] so the span name
    /// stays low-cardinality.
    ///
    /// Cancel-safe: dropping the future before it completes abandons the handshake.
    ///
    /// # Errors
    ///
    /// [`ConnectError`]; the connection span then records the failure.
    pub async fn connect(&self, url: &str) -> Result<WsConnection, ConnectError> {
        self.connect_inner(url, None).await
    }

    /// [`Self::connect`], with the CLIENT span named `WS {route}` after a route template
    /// (`/orders/{id}/events`); the concrete path goes in `url.path`.
    ///
    /// Cancel-safe: dropping the future before it completes abandons the handshake.
    ///
    /// # Errors
    ///
    /// [`ConnectError`]; the connection span then records the failure.
    pub async fn connect_route(
        &self,
        url: &str,
        route: &str,
    ) -> Result<WsConnection, ConnectError> {
        self.connect_inner(url, Some(route)).await
    }

    async fn connect_inner(
        &self,
        url: &str,
        route: Option<&str>,
    ) -> Result<WsConnection, ConnectError> {
        let mut request = url
            .into_client_request()
            .map_err(ConnectError::InvalidUrl)?;
        let uri = request.uri().clone();
        let default_port = if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        };
        let host = uri.host().unwrap_or_default().to_owned();
        let meta = match route {
            Some(route) => ConnectionMeta::client(route)
                .url_path(uri.path())
                .templated(true),
            None => ConnectionMeta::client(uri.path()),
        };
        let meta = meta
            .server_address(host, Some(uri.port_u16().unwrap_or(default_port)))
            .parent(Context::current());
        let started = Instant::now();
        let attrs = meta.metric_attributes();
        let conn_cx = meta.start_span(&self.telemetry.tracer);
        self.telemetry
            .propagation
            .inject(&conn_cx, &mut HeaderInjector(request.headers_mut()));

        let config = Some(self.config.tungstenite());
        let handshake = tokio_tungstenite::connect_async_with_config(request, config, true);
        let socket = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Ok(Ok((socket, _response))) => socket,
            Ok(Err(err)) => {
                fail(&conn_cx, "handshake", &err.to_string());
                let metrics = &self.telemetry.metrics;
                metrics.handshake_failed(&attrs, started, "handshake");
                return Err(ConnectError::Handshake(err));
            }
            Err(_) => {
                fail(&conn_cx, "timeout", "handshake timed out");
                let metrics = &self.telemetry.metrics;
                metrics.handshake_failed(&attrs, started, "timeout");
                return Err(ConnectError::TimedOut);
            }
        };
        let (sender, driver) = self.start_in(socket, conn_cx.clone(), attrs, started);
        Ok(WsConnection {
            sender,
            task: tokio::spawn(driver),
            cx: conn_cx,
        })
    }
}

fn fail(conn_cx: &Context, kind: &'static str, reason: &str) {
    let span = conn_cx.span();
    span.set_attribute(KeyValue::new(attr::ERROR_TYPE, kind));
    span.set_status(Status::error(reason.to_owned()));
    span.end();
}
