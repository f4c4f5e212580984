//! [`Headers`]: ordered, multi-valued message metadata with case-insensitive reads.

use opentelemetry::propagation::{Extractor, Injector};

/// Message headers: an ordered list of `(name, value)` pairs.
///
/// Names are compared ASCII case-insensitively on every read, a name may appear more
/// than once (every line is kept, in order), and names keep the spelling they were
/// written with. `Headers` implements the OpenTelemetry [`Extractor`] (including
/// [`Extractor::get_all`], so a `tracestate` split over several lines is seen whole)
/// and [`Injector`], so any `TextMapPropagator` reads and writes it directly.
///
/// ```
/// use tracewire_broker::Headers;
///
/// let mut headers = Headers::new();
/// headers.append("TraceState", "a=1");
/// headers.append("tracestate", "b=2");
/// headers.insert("x-tenant", "acme");
/// assert_eq!(headers.get("TRACESTATE"), Some("a=1"));
/// assert_eq!(headers.get_all("tracestate").collect::<Vec<_>>(), ["a=1", "b=2"]);
/// assert_eq!(headers.len(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    pairs: Vec<(String, String)>,
}

impl Headers {
    /// An empty header list.
    pub const fn new() -> Self {
        Self { pairs: Vec::new() }
    }

    /// Sets `name` to `value`, removing every earlier line of `name` (any case).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.pairs.push((name, value.into()));
    }

    /// Adds a line `name: value`, keeping earlier lines of `name`.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((name.into(), value.into()));
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in insertion order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether at least one line of `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Removes every line of `name` (case-insensitive); returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.pairs.len();
        self.pairs.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.pairs.len()
    }

    /// Number of lines (a repeated name counts once per line).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every `(name, value)` line, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self {
            pairs: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        Headers::get(self, key)
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::with_capacity(self.pairs.len());
        for (name, _) in &self.pairs {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                keys.push(name);
            }
        }
        keys
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

impl Injector for Headers {
    /// Replaces every earlier line of `key`, as a propagator expects.
    fn set(&mut self, key: &str, value: String) {
        self.insert(key, value);
    }

    fn reserve(&mut self, additional: usize) {
        self.pairs.reserve(additional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_case_insensitive_and_multi_valued() {
        let mut h = Headers::new();
        h.append("Tracestate", "a=1");
        h.append("x", "y");
        h.append("TRACESTATE", "b=2");
        assert_eq!(
            Extractor::get_all(&h, "tracestate"),
            Some(vec!["a=1", "b=2"])
        );
        assert_eq!(Extractor::keys(&h), vec!["Tracestate", "x"]);
        assert_eq!(Extractor::get_all(&h, "baggage"), None);
        assert!(h.contains("X"));
    }

    #[test]
    fn injector_replaces_every_case_variant() {
        let mut h: Headers = [("Traceparent", "old"), ("traceparent", "older")]
            .into_iter()
            .collect();
        Injector::set(&mut h, "traceparent", "new".to_owned());
        assert_eq!(h.iter().collect::<Vec<_>>(), [("traceparent", "new")]);
        assert_eq!(h.remove("TRACEPARENT"), 1);
        assert!(h.is_empty());
    }
}
