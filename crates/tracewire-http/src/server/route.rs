//! Route templates and the default span names built from them, interned.
//!
//! Every traced request needs `http.route` (on the span and on the duration metric)
//! and the span name `{METHOD} {route}`. Building those strings per request costs two
//! or three allocations and a `format!`, and the SDK only takes `Cow<'static, str>`
//! span names, so an owned name always allocates. Route templates are few and fixed
//! (axum's `MatchedPath` only ever holds the templates a router was built with), so
//! each distinct template is leaked once, process-wide, with the name for every
//! method, and looked up afterwards through a per-thread map (no lock, no contention
//! between runtime workers). Past [`MAX_ROUTES`] templates nothing more is leaked and
//! the strings are built per request as before, so memory stays bounded even for a
//! program that keeps building routers from data.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::StringValue;

/// The most route templates interned per process.
const MAX_ROUTES: usize = 4096;

/// What a span name is prefixed with: the known methods, then `HTTP` for any other
/// (the semantic conventions' name for an unknown method).
const METHODS: [&str; 11] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "QUERY", "HTTP",
];

/// One interned route template and its span names, one per entry of [`METHODS`].
#[derive(Debug)]
struct Interned {
    route: &'static str,
    names: [&'static str; METHODS.len()],
}

impl Interned {
    fn name(&self, method: &str) -> &'static str {
        let index = METHODS.iter().position(|m| *m == method);
        self.names[index.unwrap_or(METHODS.len() - 1)]
    }
}

type Table = HashMap<&'static str, &'static Interned>;

static GLOBAL: Mutex<Option<Table>> = Mutex::new(None);

thread_local! {
    static LOCAL: RefCell<Table> = RefCell::new(HashMap::new());
}

/// The interned entry of `route`, or `None` once [`MAX_ROUTES`] are interned.
fn lookup(route: &str) -> Option<&'static Interned> {
    // `try_with`: during thread teardown the local map is gone; the global one serves.
    let local = LOCAL.try_with(|local| local.borrow().get(route).copied());
    if let Ok(Some(found)) = local {
        return Some(found);
    }
    let found = {
        let mut global = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
        intern(global.get_or_insert_with(HashMap::new), route, MAX_ROUTES)?
    };
    let _ = LOCAL.try_with(|local| local.borrow_mut().insert(found.route, found));
    Some(found)
}

/// The entry of `route` in `table`, leaked and added if new and `table` holds fewer
/// than `cap` entries.
fn intern(table: &mut Table, route: &str, cap: usize) -> Option<&'static Interned> {
    if let Some(found) = table.get(route) {
        return Some(*found);
    }
    if table.len() >= cap {
        return None;
    }
    let route: &'static str = Box::leak(route.into());
    let names = METHODS.map(|m| &*Box::leak(format!("{m} {route}").into_boxed_str()));
    let entry: &'static Interned = Box::leak(Box::new(Interned { route, names }));
    table.insert(route, entry);
    Some(entry)
}

/// `http.route` for `route`: a static string when interned (cheap to clone into the
/// span and the metric attributes), else a shared one.
pub(crate) fn route_value(route: &str) -> StringValue {
    match lookup(route) {
        Some(interned) => StringValue::from(interned.route),
        None => StringValue::from(Arc::<str>::from(route)),
    }
}

/// `{method} {route}`; `method` is a known method or `HTTP`.
pub(crate) fn span_name(method: &'static str, route: &str) -> Cow<'static, str> {
    match lookup(route) {
        Some(interned) => Cow::Borrowed(interned.name(method)),
        None => Cow::Owned(format!("{method} {route}")),
    }
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
        let mut table = Table::new();
        assert!(intern(&mut table, "/a", 1).is_some());
        assert!(
            intern(&mut table, "/a", 1).is_some(),
            "known routes still resolve"
        );
        assert!(intern(&mut table, "/b", 1).is_none());
        assert_eq!(table.len(), 1);
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
