//! [`http::HeaderMap`] carriers (HTTP/1, HTTP/2, and tonic metadata through its
//! underlying header map).

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

use super::UNREADABLE_LINE;

/// The propagation header names, pre-built: a `HeaderMap` lookup or insert with a
/// `HeaderName` skips parsing (and, on insert, allocating) the name from `&str`.
/// Only exact lower-case spellings take this path; any other goes the general way.
fn known_name(key: &str) -> Option<HeaderName> {
    Some(match key {
        "traceparent" => const { HeaderName::from_static("traceparent") },
        "tracestate" => const { HeaderName::from_static("tracestate") },
        "baggage" => const { HeaderName::from_static("baggage") },
        "b3" => const { HeaderName::from_static("b3") },
        "uber-trace-id" => const { HeaderName::from_static("uber-trace-id") },
        _ => return None,
    })
}

/// Reads propagation fields from an [`http::HeaderMap`], every line of a repeated header.
///
/// ```
/// use http::HeaderMap;
/// use opentelemetry::propagation::Extractor;
/// use tracewire_core::carrier::HeaderExtractor;
///
/// let mut headers = HeaderMap::new();
/// headers.append("tracestate", "foo=1".parse().unwrap());
/// headers.append("tracestate", "bar=2".parse().unwrap());
/// let carrier = HeaderExtractor(&headers);
/// assert_eq!(carrier.get_all("TraceState"), Some(vec!["foo=1", "bar=2"]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    /// The first line of `key`. Propagators in this crate use [`Self::get_all`].
    fn get(&self, key: &str) -> Option<&str> {
        let value = match known_name(key) {
            Some(name) => self.0.get(name),
            None => self.0.get(key),
        };
        value.map(|value| value.to_str().unwrap_or(UNREADABLE_LINE))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    /// Every line of `key`, in arrival order. A line that is not visible ASCII is
    /// returned as U+FFFD so that it invalidates the field instead of vanishing.
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all = match known_name(key) {
            Some(name) => self.0.get_all(name),
            None => self.0.get_all(key),
        };
        let lines: Vec<&str> = all
            .iter()
            .map(|value| value.to_str().unwrap_or(UNREADABLE_LINE))
            .collect();
        (!lines.is_empty()).then_some(lines)
    }
}

/// Writes propagation fields into an [`http::HeaderMap`], replacing any earlier lines
/// of the same header. A name or value that HTTP cannot carry is skipped: propagation
/// never fails the request.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let name = match known_name(key) {
            Some(name) => name,
            None => match HeaderName::from_bytes(key.as_bytes()) {
                Ok(name) => name,
                Err(_) => return,
            },
        };
        let Ok(value) = HeaderValue::try_from(value) else {
            return;
        };
        self.0.insert(name, value);
    }

    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_line_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.append("tracestate", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_static("b=2"));
        let carrier = HeaderExtractor(&headers);
        assert_eq!(carrier.get_all("TRACESTATE"), Some(vec!["a=1", "b=2"]));
        assert_eq!(carrier.get("TraceState"), Some("a=1"));
        assert_eq!(carrier.get_all("traceparent"), None);
    }

    #[test]
    fn unreadable_line_is_kept_as_an_invalid_marker() {
        let mut headers = HeaderMap::new();
        headers.append(
            "traceparent",
            HeaderValue::from_bytes(b"\xff\xfe").expect("obs-text is a valid header value"),
        );
        headers.append("traceparent", HeaderValue::from_static("00-ab-cd-01"));
        let carrier = HeaderExtractor(&headers);
        let lines = carrier.get_all("traceparent");
        assert_eq!(lines, Some(vec![UNREADABLE_LINE, "00-ab-cd-01"]));
    }

    #[test]
    fn injector_replaces_and_skips_invalid() {
        let mut headers = HeaderMap::new();
        headers.append("traceparent", HeaderValue::from_static("old-1"));
        headers.append("traceparent", HeaderValue::from_static("old-2"));
        let mut injector = HeaderInjector(&mut headers);
        injector.set("traceparent", "new".to_owned());
        injector.set("bad name", "x".to_owned());
        injector.set("baggage", "line\nbreak".to_owned());
        assert_eq!(headers.get_all("traceparent").iter().count(), 1);
        assert_eq!(headers["traceparent"], "new");
        assert!(headers.get("baggage").is_none());
        assert_eq!(headers.len(), 1);
    }
}
