//! Route templates and the default span names built from them, interned.
//!
//! Every traced request needs `http.route` (on the span and on the duration metric)
//! and the span name `{METHOD} {route}`. Building those strings per request costs two
//! or three allocations and a `format!`, and the SDK only takes `Cow<'static, str>`
//! span names, so an owned name always allocates. Route templates are few and fixed
//! (axum's `MatchedPath` only ever holds the templates a router was built with), so
//! each distinct template is leaked once, process-wide, with the name for each method
//! it is used with, and looked up afterwards through a per-thread map (no lock, no
//! contention between runtime workers): a [`tracewire_core::intern::Interner`]. Past
//! [`MAX_ROUTES`] templates nothing more is leaked and the strings are built per
//! request as before, so memory stays bounded even for a program that keeps building
//! routers from data.

use std::borrow::Cow;

use opentelemetry::StringValue;
use tracewire_core::intern::Interner;

/// The most route templates interned per process.
const MAX_ROUTES: usize = 4096;

/// Route templates and their `{METHOD} {route}` names; the route is the interned name,
/// the method (a known one, or `HTTP`) its prefix.
static ROUTES: Interner = Interner::new(MAX_ROUTES);

/// `http.route` for `route`: a static string when interned (cheap to clone into the
/// span and the metric attributes), else a shared one.
pub(crate) fn route_value(route: &str) -> StringValue {
    ROUTES.value(route)
}

/// `{method} {route}`; `method` is a known method or `HTTP`.
pub(crate) fn span_name(method: &'static str, route: &str) -> Cow<'static, str> {
    ROUTES.name(method, route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_method_and_route() {
        assert_eq!(span_name("GET", "/orders/{id}"), "GET /orders/{id}");
        assert_eq!(span_name("POST", "/orders/{id}"), "POST /orders/{id}");
        assert_eq!(span_name("GET", "/users/{id}"), "GET /users/{id}");
        assert_eq!(span_name("HTTP", "/users/{id}"), "HTTP /users/{id}");
        // Cached now: the same answers, borrowed.
        assert!(matches!(
            span_name("GET", "/orders/{id}"),
            Cow::Borrowed("GET /orders/{id}")
        ));
        assert_eq!(route_value("/orders/{id}").as_str(), "/orders/{id}");
    }

    #[test]
    fn stops_interning_at_the_cap() {
        let table: &'static Interner = Box::leak(Box::new(Interner::new(1)));
        assert!(table.get("GET", "/a").is_some());
        assert!(
            table.get("GET", "/a").is_some(),
            "known routes still resolve"
        );
        assert!(table.get("GET", "/b").is_none());
        assert_eq!(table.len(), 1);
        // Past the cap the names are built per request, the same text.
        assert_eq!(table.name("GET", "/b"), "GET /b");
    }

    #[test]
    fn other_threads_see_the_same_strings() {
        let here = span_name("PATCH", "/threads/{n}");
        let there = std::thread::spawn(|| span_name("PATCH", "/threads/{n}"))
            .join()
            .unwrap();
        assert_eq!(here, there);
        // One leaked string per (method, route), whichever thread asked first.
        assert!(std::ptr::eq(here.as_ref(), there.as_ref()));
    }
}
