//! Stable HTTP server semantic-convention attributes, read from the request head.
//!
//! Values that repeat from request to request are built so that they cost no
//! allocation: static strings for the scheme, method and protocol version, interned
//! route templates ([`super::route`]), and the peer address formatted once per
//! address and shared by `client.address` and `network.peer.address`.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::header::{FORWARDED, HOST, USER_AGENT};
use http::request::Parts;
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::otel::{known_method, method_attr, protocol_version};

/// `url.scheme` of a request: the URI's scheme when the server saw an absolute URI
/// (HTTP/2 `:scheme`), else `http` (a TLS-terminating server may override the span
/// name hook; behind a mesh the sidecar terminates TLS and the hop is plain HTTP).
pub(crate) fn scheme(parts: &Parts) -> &str {
    parts.uri.scheme_str().unwrap_or("http")
}

/// [`scheme`] as an attribute value (static for `http` and `https`).
pub(crate) fn scheme_value(parts: &Parts) -> StringValue {
    match scheme(parts) {
        "http" => StringValue::from("http"),
        "https" => StringValue::from("https"),
        other => StringValue::from(other.to_owned()),
    }
}

/// The route template axum matched, when the layer runs inside an axum `Router`.
pub(crate) fn matched_route(parts: &Parts) -> Option<&str> {
    #[cfg(feature = "axum")]
    {
        parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str)
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = parts;
        None
    }
}

/// The peer socket address: axum's `ConnectInfo<SocketAddr>` (from
/// `into_make_service_with_connect_info`), or a plain `SocketAddr` extension (hyper
/// users insert one).
pub(crate) fn peer_addr(parts: &Parts) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    parts.extensions.get::<SocketAddr>().copied()
}

thread_local! {
    /// The last peer address formatted on this thread. Keep-alive connections send
    /// request after request from one address (behind a mesh sidecar, every request
    /// does), and formatting an address costs more than the rest of the attributes.
    static LAST_PEER: RefCell<Option<(IpAddr, Arc<str>)>> = const { RefCell::new(None) };
}

/// `ip` as an attribute value. (`try_with`: during thread teardown the cache is gone
/// and the value is simply built.)
fn ip_value(ip: IpAddr) -> StringValue {
    let cached = LAST_PEER
        .try_with(|last| match &*last.borrow() {
            Some((cached, text)) if *cached == ip => Some(Arc::clone(text)),
            _ => None,
        })
        .ok()
        .flatten();
    if let Some(text) = cached {
        return StringValue::from(text);
    }
    let text: Arc<str> = ip.to_string().into();
    let _ = LAST_PEER.try_with(|last| *last.borrow_mut() = Some((ip, Arc::clone(&text))));
    StringValue::from(text)
}

thread_local! {
    /// The last `Host` header parsed on this thread (a copy of its bytes), with its
    /// host and port: a server answers to a handful of names, and parsing one costs
    /// two allocations. One entry per thread keeps memory bounded whatever clients
    /// send.
    static LAST_HOST: RefCell<Option<CachedHost>> = const { RefCell::new(None) };
}

/// A parsed `Host` header: its bytes, host and port.
struct CachedHost {
    raw: Box<[u8]>,
    host: StringValue,
    port: Option<u16>,
}

/// `(host, port)` from the `Host` header (HTTP/1.1) or the URI authority (HTTP/2).
pub(crate) fn server_host_port(parts: &Parts) -> Option<(StringValue, Option<u16>)> {
    let from_header = parts.headers.get(HOST).and_then(|header| {
        let raw = header.as_bytes();
        let cached = LAST_HOST
            .try_with(|last| {
                let last = last.borrow();
                let cached = last.as_ref().filter(|cached| *cached.raw == *raw)?;
                Some((cached.host.clone(), cached.port))
            })
            .ok()
            .flatten();
        if cached.is_some() {
            return cached;
        }
        let authority = header.to_str().ok()?.parse::<http::uri::Authority>().ok()?;
        let host = StringValue::from(Arc::<str>::from(authority.host()));
        let port = authority.port_u16();
        let _ = LAST_HOST.try_with(|last| {
            *last.borrow_mut() = Some(CachedHost {
                raw: raw.into(),
                host: host.clone(),
                port,
            });
        });
        Some((host, port))
    });
    from_header.or_else(|| {
        let authority = parts.uri.authority()?;
        Some((
            StringValue::from(authority.host().to_owned()),
            authority.port_u16(),
        ))
    })
}

/// The original client: the first `for=` of `Forwarded`, else the first entry of
/// `X-Forwarded-For`, else the peer address.
fn client_address(parts: &Parts, peer: Option<&StringValue>) -> Option<StringValue> {
    let forwarded = parts
        .headers
        .get(FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split([',', ';'])
                .map(str::trim)
                .find_map(|pair| pair.strip_prefix("for=").or(pair.strip_prefix("For=")))
                .map(|v| v.trim_matches('"').to_owned())
        });
    forwarded
        .or_else(|| {
            parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
        .map(StringValue::from)
        .or_else(|| peer.cloned())
}

/// Every attribute known when the request arrives. `route` is the `http.route` value
/// and `scheme` the `url.scheme` value (the caller reuses both for metrics).
pub(crate) fn request_attributes(
    parts: &Parts,
    route: Option<&StringValue>,
    scheme_value: &StringValue,
) -> Vec<KeyValue> {
    // The most this pushes, plus the status code and request id added later, so the
    // span's attribute list never reallocates.
    let mut attrs = Vec::with_capacity(16);
    attrs.push(KeyValue::new(
        semconv::HTTP_REQUEST_METHOD,
        method_attr(&parts.method),
    ));
    if known_method(&parts.method).is_none() {
        attrs.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD_ORIGINAL,
            parts.method.as_str().to_owned(),
        ));
    }
    attrs.push(KeyValue::new(
        semconv::URL_PATH,
        parts.uri.path().to_owned(),
    ));
    if let Some(query) = parts.uri.query() {
        attrs.push(KeyValue::new(
            semconv::URL_QUERY,
            crate::client::redact::redact_query(query),
        ));
    }
    attrs.push(KeyValue::new(semconv::URL_SCHEME, scheme_value.clone()));
    if let Some(route) = route {
        attrs.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
    }
    if let Some((host, port)) = server_host_port(parts) {
        attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host));
        let port = port.or(match scheme(parts) {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        });
        if let Some(port) = port {
            attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
    }
    let peer = peer_addr(parts);
    let peer_ip = peer.map(|p| ip_value(p.ip()));
    if let Some(client) = client_address(parts, peer_ip.as_ref()) {
        attrs.push(KeyValue::new(semconv::CLIENT_ADDRESS, client));
    }
    if let (Some(peer), Some(ip)) = (peer, peer_ip) {
        attrs.push(KeyValue::new(semconv::NETWORK_PEER_ADDRESS, ip));
        attrs.push(KeyValue::new(
            semconv::NETWORK_PEER_PORT,
            i64::from(peer.port()),
        ));
    }
    if let Some(agent) = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()) {
        attrs.push(KeyValue::new(
            semconv::USER_AGENT_ORIGINAL,
            agent.to_owned(),
        ));
    }
    if let Some(version) = protocol_version(parts.version) {
        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(req: http::Request<()>) -> Parts {
        req.into_parts().0
    }

    fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a opentelemetry::Value> {
        attrs
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn reads_the_request_head() {
        let mut p = parts(
            http::Request::get("/users/7?token=abc&x=1")
                .header("host", "orders.svc:8080")
                .header("user-agent", "curl/8")
                .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
                .body(())
                .unwrap(),
        );
        p.extensions
            .insert("10.0.0.1:5555".parse::<SocketAddr>().unwrap());
        let attrs = request_attributes(&p, Some(&"/users/{id}".into()), &scheme_value(&p));
        assert_eq!(get(&attrs, "http.request.method").unwrap().as_str(), "GET");
        assert_eq!(get(&attrs, "url.path").unwrap().as_str(), "/users/7");
        assert_eq!(get(&attrs, "url.query").unwrap().as_str(), "token=abc&x=1");
        assert_eq!(get(&attrs, "url.scheme").unwrap().as_str(), "http");
        assert_eq!(get(&attrs, "http.route").unwrap().as_str(), "/users/{id}");
        assert_eq!(
            get(&attrs, "server.address").unwrap().as_str(),
            "orders.svc"
        );
        assert_eq!(
            get(&attrs, "server.port"),
            Some(&opentelemetry::Value::I64(8080))
        );
        assert_eq!(
            get(&attrs, "client.address").unwrap().as_str(),
            "203.0.113.9"
        );
        assert_eq!(
            get(&attrs, "network.peer.address").unwrap().as_str(),
            "10.0.0.1"
        );
        assert_eq!(
            get(&attrs, "user_agent.original").unwrap().as_str(),
            "curl/8"
        );
        assert_eq!(
            get(&attrs, "network.protocol.version").unwrap().as_str(),
            "1.1"
        );
    }

    #[test]
    fn forwarded_wins_and_default_port_is_filled() {
        let p = parts(
            http::Request::builder()
                .method("PURGE")
                .uri("/")
                .header("host", "example.com")
                .header("forwarded", "for=\"198.51.100.2\";proto=http")
                .body(())
                .unwrap(),
        );
        let attrs = request_attributes(&p, None, &scheme_value(&p));
        assert_eq!(
            get(&attrs, "http.request.method").unwrap().as_str(),
            "_OTHER"
        );
        assert_eq!(
            get(&attrs, "http.request.method_original")
                .unwrap()
                .as_str(),
            "PURGE"
        );
        assert_eq!(
            get(&attrs, "server.port"),
            Some(&opentelemetry::Value::I64(80))
        );
        assert_eq!(
            get(&attrs, "client.address").unwrap().as_str(),
            "198.51.100.2"
        );
        assert!(get(&attrs, "http.route").is_none());
    }
}
