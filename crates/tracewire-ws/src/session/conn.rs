//! The connection span: [`ConnectionMeta`] opens it, [`CloseInfo`] closes it.

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::frame::close_code;
use crate::otel::{SharedTracer, attr};

/// Describes a connection for its span: kind, path, server address, parent context.
///
/// # Example
///
/// ```
/// use tracewire_ws::ConnectionMeta;
///
/// let meta = ConnectionMeta::server("/chat").server_address("example.com", Some(443));
/// # let _ = meta;
/// ```
#[derive(Clone, Debug)]
pub struct ConnectionMeta {
    client: bool,
    route: String,
    /// Whether `route` is a template (low-cardinality), so a metric attribute.
    templated: bool,
    path: Option<String>,
    address: Option<(String, Option<u16>)>,
    parent: Context,
}

impl ConnectionMeta {
    /// The server side of a connection on `route` (a SERVER span `WS {route}`). The
    /// route is a template (`/rooms/{id}`): it is also the metrics' `http.route`.
    pub fn server(route: impl Into<String>) -> Self {
        Self::new(false, route.into(), true)
    }

    /// The client side of a connection to `path` (a CLIENT span `WS {path}`). The path
    /// may hold ids, so the metrics carry no route.
    pub fn client(path: impl Into<String>) -> Self {
        Self::new(true, path.into(), false)
    }

    fn new(client: bool, route: String, templated: bool) -> Self {
        Self {
            client,
            route,
            templated,
            path: None,
            address: None,
            parent: Context::new(),
        }
    }

    /// The concrete `url.path` when it differs from the route (`/rooms/7` for
    /// `/rooms/{id}`).
    pub fn url_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// `server.address` and `server.port`.
    pub fn server_address(mut self, host: impl Into<String>, port: Option<u16>) -> Self {
        self.address = Some((host.into(), port));
        self
    }

    /// The parent of the connection span: the handshake's extracted context on the
    /// server, the caller's context on the client. Default: none (a new trace).
    pub fn parent(mut self, cx: Context) -> Self {
        self.parent = cx;
        self
    }

    /// Marks the route as a template (`true`) or a concrete path (`false`), which
    /// decides whether the metrics carry it.
    #[cfg(any(feature = "axum", feature = "client"))]
    pub(crate) fn templated(mut self, templated: bool) -> Self {
        self.templated = templated;
        self
    }

    /// The attributes every metric of the connection carries: `websocket.role` and,
    /// when the route is a template, `http.route` (server) or `url.template` (client).
    pub(crate) fn metric_attributes(&self) -> Box<[KeyValue]> {
        let mut attrs = Vec::with_capacity(2);
        let (role, route_key) = if self.client {
            ("client", attr::URL_TEMPLATE)
        } else {
            ("server", attr::HTTP_ROUTE)
        };
        attrs.push(KeyValue::new(attr::ROLE, role));
        if self.templated {
            attrs.push(KeyValue::new(route_key, self.route.clone()));
        }
        attrs.into_boxed_slice()
    }

    /// Starts the connection span; the returned context holds it (and the parent's
    /// baggage).
    pub(crate) fn start_span(self, tracer: &SharedTracer) -> Context {
        let kind = if self.client {
            SpanKind::Client
        } else {
            SpanKind::Server
        };
        let mut attrs = vec![
            KeyValue::new(attr::PROTOCOL, "websocket"),
            KeyValue::new(
                attr::URL_PATH,
                self.path.unwrap_or_else(|| self.route.clone()),
            ),
        ];
        if let Some((host, port)) = self.address {
            attrs.push(KeyValue::new(attr::SERVER_ADDRESS, host));
            if let Some(port) = port {
                attrs.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
            }
        }
        let span = tracer
            .span_builder(format!("WS {}", self.route))
            .with_kind(kind)
            .with_attributes(attrs)
            .start_with_context(&**tracer, &self.parent);
        self.parent.with_span(span)
    }
}

/// Which side sent the first close frame (or dropped the connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseInitiator {
    /// This side (limits, timeouts, bad input, [`WsSender::close`](crate::WsSender::close)).
    Local,
    /// The peer.
    Remote,
}

impl CloseInitiator {
    fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
        }
    }
}

/// How a connection ended; also recorded on the connection span
/// (`websocket.close.code`, `websocket.close.reason`, `websocket.close.initiator`;
/// error status unless the code [is normal](crate::close_code::is_normal)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code (1006 when the connection dropped without a close frame).
    pub code: u16,
    /// The close reason.
    pub reason: String,
    /// Who closed.
    pub initiator: CloseInitiator,
}

impl CloseInfo {
    pub(crate) fn new(code: u16, reason: impl Into<String>, initiator: CloseInitiator) -> Self {
        Self {
            code,
            reason: reason.into(),
            initiator,
        }
    }

    /// Records the close on the connection span and ends it.
    pub(crate) fn finish(&self, conn_cx: &Context) {
        let span = conn_cx.span();
        span.set_attributes([
            KeyValue::new(attr::CLOSE_CODE, i64::from(self.code)),
            KeyValue::new(attr::CLOSE_REASON, self.reason.clone()),
            KeyValue::new(attr::CLOSE_INITIATOR, self.initiator.as_str()),
        ]);
        if !close_code::is_normal(self.code) {
            span.set_attribute(KeyValue::new(attr::ERROR_TYPE, self.code.to_string()));
            let reason = if self.reason.is_empty() {
                format!("closed with code {}", self.code)
            } else {
                format!("closed with code {}: {}", self.code, self.reason)
            };
            span.set_status(Status::error(reason));
        }
        span.end();
    }
}
