//! Headers a service-mesh hop (Istio/Envoy) must copy from an incoming request to its
//! outgoing requests.
//!
//! Envoy creates spans for the sidecars but cannot know which outgoing request belongs
//! to which incoming one; the application must copy these headers. The list follows
//! Istio's "Distributed Tracing" FAQ (trace context propagation): `x-request-id`, the
//! W3C headers, the B3 headers, `x-ot-span-context` (Lightstep/OpenTracing) and
//! `uber-trace-id` (Jaeger). `uberctx-*` baggage headers are per key and not listed.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use http::HeaderMap;
//! use tracewire_core::mesh::forward_mesh_headers;
//!
//! let mut incoming = HeaderMap::new();
//! incoming.append("x-request-id", "42".parse().unwrap());
//! incoming.append("tracestate", "a=1".parse().unwrap());
//! incoming.append("tracestate", "b=2".parse().unwrap());
//! incoming.append("cookie", "secret".parse().unwrap());
//! let mut outgoing = HeaderMap::new();
//! forward_mesh_headers(&incoming, &mut outgoing);
//! assert_eq!(outgoing.get_all("tracestate").iter().count(), 2);
//! assert!(outgoing.get("cookie").is_none());
//! # }
//! ```

/// The headers to forward, lower case.
pub const MESH_TRACING_HEADERS: &[&str] = &[
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "uber-trace-id",
];

/// Copies every line of each of [`MESH_TRACING_HEADERS`] from `from` to `to`,
/// replacing what `to` had under those names. Other headers are left alone.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub fn forward_mesh_headers(from: &http::HeaderMap, to: &mut http::HeaderMap) {
    for name in MESH_TRACING_HEADERS {
        let mut lines = from.get_all(*name).iter();
        let Some(first) = lines.next() else {
            continue;
        };
        to.insert(*name, first.clone());
        for line in lines {
            to.append(*name, line.clone());
        }
    }
}

#[cfg(all(test, feature = "http"))]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn copies_every_line_and_replaces() {
        let mut from = HeaderMap::new();
        for name in MESH_TRACING_HEADERS {
            from.append(*name, HeaderValue::from_static("1"));
            from.append(*name, HeaderValue::from_static("2"));
        }
        from.append("authorization", HeaderValue::from_static("x"));
        let mut to = HeaderMap::new();
        to.append("b3", HeaderValue::from_static("stale"));
        to.append("accept", HeaderValue::from_static("*/*"));
        forward_mesh_headers(&from, &mut to);
        for name in MESH_TRACING_HEADERS {
            let lines: Vec<_> = to.get_all(*name).iter().collect();
            assert_eq!(
                lines,
                ["1", "2"],
                "{name}: every line, in order, stale ones replaced"
            );
        }
        assert!(to.get("authorization").is_none(), "only tracing headers");
        assert_eq!(to["accept"], "*/*", "other outgoing headers kept");
    }

    #[test]
    fn names_are_lowercase_and_unique() {
        for (i, name) in MESH_TRACING_HEADERS.iter().enumerate() {
            assert_eq!(*name, name.to_ascii_lowercase(), "row 46: lower-case keys");
            assert!(
                !MESH_TRACING_HEADERS[i + 1..].contains(name),
                "{name} listed twice"
            );
        }
    }
}
