//! Hooks that customise [`ServerTraceLayer`](super::ServerTraceLayer), tower-http style:
//! each is a trait implemented for closures, plus a ready-made default.
//!
//! Hooks see the request head ([`http::request::Parts`]), never the body, so a closure
//! needs no body type: `|req: &Parts| req.uri.path() != "/healthz"`.

use std::borrow::Cow;
use std::fmt;

use http::request::Parts;

/// Decides whether a request is traced at all. Untraced requests get no span, no
/// metrics and no extracted context (the request id is still handled).
pub trait RequestFilter: Clone {
    /// `true` to trace `req`.
    fn should_trace(&self, req: &Parts) -> bool;
}

/// Traces every request (the default).
impl RequestFilter for () {
    fn should_trace(&self, _req: &Parts) -> bool {
        true
    }
}

impl<F> RequestFilter for F
where
    F: Fn(&Parts) -> bool + Clone,
{
    fn should_trace(&self, req: &Parts) -> bool {
        self(req)
    }
}

/// Skips requests whose path is exactly one of a fixed list (health and readiness probes).
///
/// ```
/// use tracewire_http::{ServerTraceLayer, server::SkipPaths};
///
/// let layer = ServerTraceLayer::new().filter(SkipPaths::new(["/healthz", "/readyz"]));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct SkipPaths {
    paths: Vec<Cow<'static, str>>,
}

impl SkipPaths {
    /// Skips each of `paths` (exact match on the URI path).
    pub fn new<I, P>(paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Cow<'static, str>>,
    {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
        }
    }
}

impl RequestFilter for SkipPaths {
    fn should_trace(&self, req: &Parts) -> bool {
        let path = req.uri.path();
        !self.paths.iter().any(|skip| skip == path)
    }
}

/// Names the SERVER span of a request.
pub trait MakeSpanName: Clone {
    /// The span name for `req`; `route` is the matched route template when known
    /// (axum's `MatchedPath`).
    fn span_name(&self, req: &Parts, route: Option<&str>) -> Cow<'static, str>;
}

/// `{METHOD} {route}`, or `{METHOD}` when no route is known, as the HTTP semantic
/// conventions ask (an unknown method is named `HTTP`).
///
/// The names are built once per route template and kept for the life of the process
/// (at most 4096 templates; past that they are built per request), so naming a span
/// costs no allocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultSpanName;

impl MakeSpanName for DefaultSpanName {
    fn span_name(&self, req: &Parts, route: Option<&str>) -> Cow<'static, str> {
        let method = crate::otel::known_method(&req.method).unwrap_or("HTTP");
        match route {
            // Interned per route: no allocation per request.
            Some(route) => super::route::span_name(method, route),
            None => Cow::Borrowed(method),
        }
    }
}

impl<F> MakeSpanName for F
where
    F: Fn(&Parts, Option<&str>) -> Cow<'static, str> + Clone,
{
    fn span_name(&self, req: &Parts, route: Option<&str>) -> Cow<'static, str> {
        self(req, route)
    }
}

/// Decides whether a request comes from outside the trust boundary. For a public
/// request the inbound trace context (and baggage) is not trusted: the SERVER span
/// starts a new trace and carries a link to the inbound context instead.
pub trait PublicEndpoint: Clone {
    /// `true` if `req` must not continue the caller's trace.
    fn is_public(&self, req: &Parts) -> bool;
}

/// `true`: every request is public; `false` (the default): none is.
impl PublicEndpoint for bool {
    fn is_public(&self, _req: &Parts) -> bool {
        *self
    }
}

impl<F> PublicEndpoint for F
where
    F: Fn(&Parts) -> bool + Clone,
{
    fn is_public(&self, req: &Parts) -> bool {
        self(req)
    }
}

/// Wraps a hook for `Debug` output without requiring `Debug` of closures.
#[derive(Clone)]
pub(crate) struct Hook<T>(pub(crate) T);

impl<T> fmt::Debug for Hook<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::any::type_name::<T>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str) -> Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn default_span_name_follows_semconv() {
        let get = parts("GET", "/users/7");
        assert_eq!(
            DefaultSpanName.span_name(&get, Some("/users/{id}")),
            "GET /users/{id}"
        );
        assert_eq!(DefaultSpanName.span_name(&get, None), "GET");
        let purge = parts("PURGE", "/x");
        assert_eq!(DefaultSpanName.span_name(&purge, None), "HTTP");
    }

    #[test]
    fn skip_paths_matches_exactly() {
        let skip = SkipPaths::new(["/healthz"]);
        assert!(!skip.should_trace(&parts("GET", "/healthz")));
        assert!(skip.should_trace(&parts("GET", "/healthz/deep")));
        assert!(skip.should_trace(&parts("GET", "/orders")));
    }

    #[test]
    fn closures_are_hooks() {
        let only_api = |req: &Parts| req.uri.path().starts_with("/api");
        assert!(RequestFilter::should_trace(
            &only_api,
            &parts("GET", "/api/x")
        ));
        assert!(!PublicEndpoint::is_public(&false, &parts("GET", "/")));
        assert!(PublicEndpoint::is_public(&true, &parts("GET", "/")));
    }
}
