//! The axum server side: [`Session::route`] and [`Session::upgrade`].

use axum::extract::MatchedPath;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use http::{HeaderMap, Uri, header};
use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use tracewire_core::carrier::HeaderExtractor;

use std::future::Future;

use crate::{ConnectionMeta, Handler, Session, WsSender};

impl<H: Handler> Session<H> {
    /// A `GET` route that upgrades to WebSocket and runs this session on the
    /// connection.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use axum::Router;
    /// use tracewire_ws::{BoxError, Envelope, Responder, Session};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let chat = Session::new(|msg: Envelope, reply: Responder| async move {
    ///     reply.reply("chat.ack", msg.data).await?;
    ///     Ok::<_, BoxError>(())
    /// });
    /// let app: Router = Router::new().route("/chat", chat.route());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// axum::serve(listener, app).await
    /// # }
    /// ```
    pub fn route<S>(&self) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let session = self.clone();
        get(
            move |ws: WebSocketUpgrade,
                  matched: Option<MatchedPath>,
                  headers: HeaderMap,
                  uri: Uri| {
                let session = session.clone();
                async move {
                    session.upgrade(
                        ws,
                        &headers,
                        &uri,
                        matched.as_ref().map(MatchedPath::as_str),
                    )
                }
            },
        )
    }

    /// Upgrades one request and runs this session on the connection: for axum
    /// handlers that extract more than [`route`](Self::route) does (state,
    /// authentication) before upgrading.
    ///
    /// The connection span (SERVER, `WS {route}`, `route` defaulting to the path) is a
    /// child of the handshake's context: the current span when a tracing layer such as
    /// `tracewire-http`'s `ServerTraceLayer` wraps the route, otherwise the context
    /// extracted from the request headers. The socket is configured with the session's
    /// maximum message and frame sizes.
    pub fn upgrade(
        &self,
        ws: WebSocketUpgrade,
        headers: &HeaderMap,
        uri: &Uri,
        route: Option<&str>,
    ) -> Response {
        self.upgrade_with(ws, headers, uri, route, |_sender| async {})
    }

    /// Like [`upgrade`](Self::upgrade), and once the connection is open runs
    /// `on_open(sender)` next to it: the server side of [`start`](Self::start), for
    /// streams the server pushes on its own (with [`WsSender::send_linked`] for
    /// messages caused by operations in other traces).
    ///
    /// `on_open`'s future is dropped when the connection ends; when it completes first,
    /// the connection stays open (inbound messages still reach the handler) until
    /// either side closes it, for example with [`WsSender::close`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// use axum::Router;
    /// use axum::extract::ws::WebSocketUpgrade;
    /// use axum::http::{HeaderMap, Uri};
    /// use axum::routing::get;
    /// use opentelemetry::Context;
    /// use serde_json::json;
    /// use tracewire_ws::{BoxError, Envelope, Responder, Session, close_code};
    ///
    /// let ticks = Session::new(|_msg: Envelope, _reply: Responder| async move {
    ///     Err::<(), BoxError>("this stream takes no messages".into())
    /// });
    /// let app: Router = Router::new().route(
    ///     "/ticks",
    ///     get(move |ws: WebSocketUpgrade, headers: HeaderMap, uri: Uri| async move {
    ///         ticks.upgrade_with(ws, &headers, &uri, None, |sender| async move {
    ///             for n in 0..3 {
    ///                 // The cause would be the context of the operation behind the tick.
    ///                 let tick = Envelope::new("tick", json!(n));
    ///                 if sender.send_linked(tick, &Context::new()).await.is_err() {
    ///                     return; // the client went away
    ///                 }
    ///             }
    ///             let _ = sender.close(close_code::NORMAL, "done").await;
    ///         })
    ///     }),
    /// );
    /// ```
    pub fn upgrade_with<F, Fut>(
        &self,
        ws: WebSocketUpgrade,
        headers: &HeaderMap,
        uri: &Uri,
        route: Option<&str>,
        on_open: F,
    ) -> Response
    where
        F: FnOnce(WsSender) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let current = Context::current();
        let parent = if current.has_active_span() {
            current
        } else {
            self.telemetry
                .propagation
                .extract_with(&Context::new(), &HeaderExtractor(headers))
        };
        // Without a route template the path names the span, but no metric carries it.
        let mut meta = ConnectionMeta::server(route.unwrap_or(uri.path()))
            .url_path(uri.path())
            .templated(route.is_some())
            .parent(parent);
        if let Some((host, port)) = host_and_port(headers, uri) {
            meta = meta.server_address(host, port);
        }
        let session = self.clone();
        ws.max_message_size(self.config.max_message_size)
            .max_frame_size(self.config.max_frame_size)
            .read_buffer_size(self.config.read_buffer_size)
            .on_upgrade(move |socket| async move {
                let (sender, connection) = session.start(socket, meta);
                let app = on_open(sender);
                tokio::pin!(connection);
                tokio::select! {
                    biased;
                    _closed = &mut connection => {}
                    () = app => {
                        connection.await;
                    }
                }
            })
    }
}

/// `server.address`/`server.port` from the `Host` header (or the URI authority).
fn host_and_port(headers: &HeaderMap, uri: &Uri) -> Option<(String, Option<u16>)> {
    let authority = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    Some(match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => match port.parse::<u16>() {
            Ok(port) => (host.to_owned(), Some(port)),
            Err(_) => (authority.to_owned(), None),
        },
        _ => (authority.to_owned(), None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_is_split() {
        let uri: Uri = "/ws".parse().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(host_and_port(&headers, &uri), None);
        headers.insert(header::HOST, "example.com:8080".parse().unwrap());
        assert_eq!(
            host_and_port(&headers, &uri),
            Some(("example.com".into(), Some(8080)))
        );
        headers.insert(header::HOST, "example.com".parse().unwrap());
        assert_eq!(
            host_and_port(&headers, &uri),
            Some(("example.com".into(), None))
        );
        headers.insert(header::HOST, "[::1]:9".parse().unwrap());
        assert_eq!(
            host_and_port(&headers, &uri),
            Some(("[::1]".into(), Some(9)))
        );
    }
}
