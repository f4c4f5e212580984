//! [`ForwardProxy`]: a traced, mesh-aware forwarding hop (the seed's `proxyRequest`).
//!
//! Put it behind [`ServerTraceLayer`](crate::ServerTraceLayer): the inbound request
//! gets its SERVER span there, and the proxy's outbound request gets a CLIENT span
//! (child of the SERVER span) from its [`ClientTraceLayer`]. It is a real hop in the
//! trace, not a blind pass-through:
//!
//! * end-to-end headers are forwarded; hop-by-hop headers (`Connection`, those named
//!   by `Connection`, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`,
//!   `Upgrade`) and `Host` are not, in either direction;
//! * the mesh tracing headers ([`MESH_TRACING_HEADERS`]:
//!   `x-request-id`, W3C, B3, `x-ot-span-context`, `uber-trace-id`) are copied with
//!   [`forward_mesh_headers`], then the client layer
//!   overwrites the formats its propagator speaks with the CLIENT span's context (the
//!   others, for example B3 when the propagator is W3C only, still reach the sidecar, so
//!   Envoy's spans join the same trace);
//! * the client address is appended to `x-forwarded-for`;
//! * an upstream that cannot be reached answers 502, one that does not answer in time
//!   504, both with the [`ApiError`] JSON body.
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use tracewire_http::{ServerTraceLayer, proxy::ForwardProxy};
//!
//! # fn main() -> Result<(), tracewire_http::proxy::InvalidUpstream> {
//! let proxy = ForwardProxy::new("http://inventory:8080")?;
//! let app: Router = Router::new()
//!     .route_service("/inventory/{*rest}", proxy)
//!     .layer(ServerTraceLayer::new());
//! # let _ = app; Ok(()) }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Uri};
use http::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_layer::Layer;
use tower_service::Service;

use crate::client::{ClientTrace, ClientTraceLayer};
use crate::json::ApiError;
use crate::mesh::{MESH_TRACING_HEADERS, forward_mesh_headers};

/// The default upstream timeout (until the response headers arrive).
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// The upstream given to [`ForwardProxy::new`] is not an absolute `http://` URI.
#[derive(Debug, thiserror::Error)]
#[error("invalid upstream {upstream:?}: expected http://host[:port][/prefix]")]
pub struct InvalidUpstream {
    upstream: String,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus `Host`, which the client sets from the
/// upstream URI, and the legacy `Proxy-Connection`.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Forwards every request it receives to one upstream (`upstream prefix + path +
/// query`), traced as described in the [module docs](self).
#[derive(Clone)]
pub struct ForwardProxy {
    scheme_authority: (http::uri::Scheme, http::uri::Authority),
    prefix: String,
    client: ClientTrace<Client<HttpConnector, Body>>,
    timeout: Duration,
}

impl fmt::Debug for ForwardProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardProxy")
            .field("upstream", &self.scheme_authority.1)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ForwardProxy {
    /// A proxy to `upstream` (`http://host:port`, optionally with a path prefix that
    /// is prepended to every forwarded path), traced with a default
    /// [`ClientTraceLayer`] (global providers).
    pub fn new(upstream: &str) -> Result<Self, InvalidUpstream> {
        let invalid = || InvalidUpstream {
            upstream: upstream.to_owned(),
        };
        let uri: Uri = upstream.parse().map_err(|_| invalid())?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(invalid());
        };
        if scheme != http::uri::Scheme::HTTP {
            // No TLS stack by default: HTTPS upstreams go through the mesh sidecar.
            return Err(invalid());
        }
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        Ok(Self {
            scheme_authority: (scheme, authority),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            client: ClientTraceLayer::new().layer(client),
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
        })
    }

    /// Traces the outbound requests with `layer` (its propagator, providers).
    pub fn client_layer(mut self, layer: &ClientTraceLayer) -> Self {
        self.client = layer.layer(self.client.into_inner());
        self
    }

    /// Answers 504 when the upstream's response headers take longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Forwards `req` and returns the upstream's response, or a 502/504 [`ApiError`]
    /// response. Cancel-safe: dropping the future aborts the upstream request.
    pub async fn forward(&self, req: Request<Body>) -> Response<Body> {
        let outbound = match self.outbound(req) {
            Ok(outbound) => outbound,
            Err(error) => return error.into_response(),
        };
        let mut client = self.client.clone();
        let call = async {
            std::future::poll_fn(|cx| client.poll_ready(cx)).await?;
            client.call(outbound).await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Ok(Err(error)) => {
                ApiError::bad_gateway(format!("upstream request failed: {error}")).into_response()
            }
            Err(_) => ApiError::gateway_timeout(format!(
                "upstream did not answer within {:?}",
                self.timeout
            ))
            .into_response(),
        }
    }

    /// The request to send upstream.
    fn outbound(&self, req: Request<Body>) -> Result<Request<Body>, ApiError> {
        let (parts, body) = req.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
        let target = format!("{}{}", self.prefix, path_and_query);
        let uri = Uri::builder()
            .scheme(self.scheme_authority.0.clone())
            .authority(self.scheme_authority.1.clone())
            .path_and_query(target)
            .build()
            .map_err(|e| ApiError::bad_request(format!("cannot forward this path: {e}")))?;

        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 2);
        let connection_listed = connection_listed(&parts.headers);
        for (name, value) in &parts.headers {
            if name == header::HOST
                || HOP_BY_HOP.contains(name)
                || connection_listed.contains(name)
                || MESH_TRACING_HEADERS.contains(&name.as_str())
            {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        forward_mesh_headers(&parts.headers, &mut headers);
        if let Some(peer) = peer_ip(&parts.extensions) {
            append_forwarded_for(&mut headers, &parts.headers, peer);
        }

        let mut outbound = Request::new(body);
        *outbound.method_mut() = parts.method;
        *outbound.uri_mut() = uri;
        *outbound.headers_mut() = headers;
        Ok(outbound)
    }
}

/// Header names listed in `Connection` (hop-by-hop by declaration).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn peer_ip(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
        .or_else(|| extensions.get::<SocketAddr>().map(SocketAddr::ip))
}

fn append_forwarded_for(out: &mut HeaderMap, inbound: &HeaderMap, peer: std::net::IpAddr) {
    let previous: Vec<&str> = inbound
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let value = if previous.is_empty() {
        peer.to_string()
    } else {
        format!("{}, {peer}", previous.join(", "))
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        out.insert("x-forwarded-for", value);
    }
}

impl Service<Request<Body>> for ForwardProxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let proxy = self.clone();
        Box::pin(async move { Ok(proxy.forward(req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_http_upstreams() {
        assert!(ForwardProxy::new("inventory:8080").is_err());
        assert!(ForwardProxy::new("/relative").is_err());
        assert!(ForwardProxy::new("https://secure").is_err());
        assert!(ForwardProxy::new("http://inventory:8080/api/").is_ok());
    }

    #[tokio::test]
    async fn builds_the_outbound_request() {
        let proxy = ForwardProxy::new("http://upstream:9000/api/").unwrap();
        let mut req = Request::post("/orders?x=1")
            .header("host", "proxy.local")
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "drop me")
            .header("keep-alive", "timeout=5")
            .header("content-type", "application/json")
            .header("x-request-id", "r-1")
            .header("x-b3-traceid", "4bf92f3577b34da6a3ce929d0e0e4736")
            .header("x-forwarded-for", "203.0.113.1")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert("10.1.2.3:4000".parse::<SocketAddr>().unwrap());
        let out = proxy.outbound(req).unwrap();
        assert_eq!(out.uri(), "http://upstream:9000/api/orders?x=1");
        assert_eq!(out.method(), http::Method::POST);
        let h = out.headers();
        assert!(h.get("host").is_none());
        assert!(h.get("connection").is_none());
        assert!(h.get("x-hop").is_none());
        assert!(h.get("keep-alive").is_none());
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["x-request-id"], "r-1");
        assert_eq!(h["x-b3-traceid"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(h["x-forwarded-for"], "203.0.113.1, 10.1.2.3");
    }
}
