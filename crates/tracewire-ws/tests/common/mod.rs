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
