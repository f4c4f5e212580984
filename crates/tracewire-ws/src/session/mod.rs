//! [`Session`]: a handler with its limits and telemetry, run on any socket.

mod conn;
mod dispatch;
mod gate;
mod run;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{Sink, Stream};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, Tracer, TracerProvider};
use tokio::sync::mpsc;

pub use conn::{CloseInfo, CloseInitiator, ConnectionMeta};

use crate::metrics::{ConnMetrics, OpenConnection, SessionMetrics};
use crate::otel::{Propagation, SharedPropagator, SharedTracer, Telemetry, scope};
use crate::{Handler, WireMessage, WsConfig, WsSender};

/// A [`Handler`] with its [`WsConfig`], propagator, tracer and meter: what the axum server
/// ([`Session::route`], [`Session::upgrade`]) and the client ([`Session::connect`])
/// run for each connection, and what [`Session::run`] runs on any `Sink + Stream`.
///
/// Cheap to clone (the handler is shared).
///
/// Per connection the session opens a connection span (SERVER on the server, CLIENT
/// on the client: `WS {path}`), and per inbound envelope a CONSUMER span
/// `process {type}`: in the envelope's own trace when it carries a `traceparent` (with
/// a link to the connection span), otherwise a child of the connection span. It also
/// records the [`tracewire.websocket.*` metrics](crate::metrics) of every connection.
///
/// # Example: a session over in-memory channels
///
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use tracewire_ws::testing::channel_pair;
/// use tracewire_ws::{BoxError, ConnectionMeta, Envelope, Frame, Responder, Session, close_code};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let session = Session::new(|msg: Envelope, reply: Responder| async move {
///     reply.reply("echo", msg.data).await?;
///     Ok::<_, BoxError>(())
/// });
/// let (socket, mut peer) = channel_pair(8);
/// let conn = tokio::spawn(session.run(socket, ConnectionMeta::server("/ws")));
///
/// peer.send(Frame::Text(r#"{"id":"1","type":"say","data":"hi"}"#.into())).await?;
/// let Some(Ok(Frame::Text(text))) = peer.next().await else { unreachable!() };
/// let reply = Envelope::parse(&text)?;
/// assert_eq!((reply.id.as_deref(), reply.kind.as_str()), (Some("1"), "echo"));
///
/// peer.send(Frame::close(close_code::NORMAL, "bye")).await?;
/// assert_eq!(conn.await?.code, close_code::NORMAL);
/// # Ok(()) }
/// ```
pub struct Session<H> {
    handler: Arc<H>,
    pub(crate) config: WsConfig,
    pub(crate) telemetry: Telemetry,
}

impl<H> std::fmt::Debug for Session<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handler", &std::any::type_name::<H>())
            .field("config", &self.config)
            .field("telemetry", &self.telemetry)
            .finish()
    }
}

impl<H> Clone for Session<H> {
    fn clone(&self) -> Self {
        Self {
            handler: Arc::clone(&self.handler),
            config: self.config.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

impl<H: Handler> Session<H> {
    /// A session running `handler`, with default limits, the global propagator, and the
    /// global tracer and meter providers (the meter is taken now, as the HTTP layers do).
    pub fn new(handler: H) -> Self {
        Self {
            handler: Arc::new(handler),
            config: WsConfig::default(),
            telemetry: Telemetry::default(),
        }
    }

    /// Uses `config` for limits and timers.
    pub fn config(mut self, config: WsConfig) -> Self {
        self.config = config;
        self
    }

    /// Extracts and injects with `propagator` instead of the global one.
    pub fn propagator(mut self, propagator: SharedPropagator) -> Self {
        self.telemetry.propagation = Propagation::Custom(propagator);
        self
    }

    /// Creates spans with a tracer of `provider` instead of the global provider.
    pub fn tracer_provider<T>(mut self, provider: &T) -> Self
    where
        T: TracerProvider,
        T::Tracer: Send + Sync + 'static,
        <T::Tracer as Tracer>::Span: Span + Send + Sync + 'static,
    {
        self.telemetry.tracer = SharedTracer::from_provider(provider, scope());
        self
    }

    /// Records the [metrics](crate::metrics) with a meter of `provider` instead of the
    /// global meter provider (`opentelemetry::metrics::NoopMeterProvider` turns them off).
    ///
    /// ```
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    /// use tracewire_ws::{BoxError, Envelope, Responder, Session};
    ///
    /// let provider = SdkMeterProvider::builder().build();
    /// let session = Session::new(|_msg: Envelope, _reply: Responder| async move {
    ///     Ok::<_, BoxError>(())
    /// })
    /// .meter_provider(&provider);
    /// # let _ = session;
    /// ```
    pub fn meter_provider<M: MeterProvider + ?Sized>(mut self, provider: &M) -> Self {
        self.telemetry.metrics = Arc::new(SessionMetrics::new(&provider.meter_with_scope(scope())));
        self
    }

    /// The limits in use.
    pub fn get_config(&self) -> &WsConfig {
        &self.config
    }

    /// Runs one connection on `socket` until it closes, and returns how it closed.
    ///
    /// `socket` is any `Sink<M> + Stream<Item = Result<M, E>>` of a [`WireMessage`]
    /// type: an axum `WebSocket`, a tungstenite `WebSocketStream`, or channels of
    /// [`Frame`](crate::Frame) in tests. `meta` describes the connection span.
    ///
    /// Cancel-safety: dropping the future drops the socket without a close frame; the
    /// connection span then ends without a close code.
    pub fn run<S, M, E>(
        &self,
        socket: S,
        meta: ConnectionMeta,
    ) -> impl Future<Output = CloseInfo> + Send + 'static
    where
        S: Sink<M> + Stream<Item = Result<M, E>> + Send + Unpin + 'static,
        M: WireMessage,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.start(socket, meta).1
    }

    /// Like [`run`](Self::run), and also returns a [`WsSender`] for messages the
    /// application sends on its own (not as replies). The connection ends when the
    /// returned future completes.
    pub fn start<S, M, E>(
        &self,
        socket: S,
        meta: ConnectionMeta,
    ) -> (WsSender, impl Future<Output = CloseInfo> + Send + 'static)
    where
        S: Sink<M> + Stream<Item = Result<M, E>> + Send + Unpin + 'static,
        M: WireMessage,
        E: std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        let attrs = meta.metric_attributes();
        let conn_cx = meta.start_span(&self.telemetry.tracer);
        self.start_in(socket, conn_cx, attrs, started)
    }

    /// [`start`](Self::start) with the connection span already open in `conn_cx`, since
    /// `started`; `attrs` are the connection's metric attributes.
    pub(crate) fn start_in<S, M, E>(
        &self,
        socket: S,
        conn_cx: opentelemetry::Context,
        attrs: Box<[KeyValue]>,
        started: Instant,
    ) -> (WsSender, impl Future<Output = CloseInfo> + Send + 'static)
    where
        S: Sink<M> + Stream<Item = Result<M, E>> + Send + Unpin + 'static,
        M: WireMessage,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel(self.config.send_queue);
        let metrics = Arc::new(ConnMetrics::new(Arc::clone(&self.telemetry.metrics), attrs));
        let sender = WsSender::new(
            tx,
            self.telemetry.clone(),
            self.config.max_message_size,
            conn_cx.clone(),
            Arc::clone(&metrics),
        );
        let driver = run::Driver {
            handler: Arc::clone(&self.handler),
            config: self.config.clone(),
            telemetry: self.telemetry.clone(),
            sender: sender.clone(),
            conn_cx,
            open: OpenConnection::open(metrics, started),
        };
        (sender, driver.drive(socket, rx))
    }
}
