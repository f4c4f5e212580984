//! Carriers over ordered, possibly repeated `(name, value)` pairs: the shape of message
//! headers (NATS, AMQP tables, Kafka records) and of gRPC-style metadata lists.

use opentelemetry::propagation::{Extractor, Injector};

/// Reads propagation fields from a slice of `(name, value)` pairs. Names match ASCII
/// case-insensitively (peers write `traceparent`, some `Traceparent`); repeated names
/// are all returned, in order.
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// use tracewire_core::carrier::PairsExtractor;
///
/// let headers = vec![("Traceparent".to_owned(), "00-…".to_owned())];
/// assert_eq!(PairsExtractor::new(&headers).get("traceparent"), Some("00-…"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PairsExtractor<'a, K, V> {
    pairs: &'a [(K, V)],
}

impl<'a, K, V> PairsExtractor<'a, K, V> {
    /// Wraps `pairs`.
    pub const fn new(pairs: &'a [(K, V)]) -> Self {
        Self { pairs }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extractor for PairsExtractor<'_, K, V> {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(name, _)| name.as_ref().eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_ref())
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::with_capacity(self.pairs.len());
        for (name, _) in self.pairs {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(name.as_ref())) {
                keys.push(name.as_ref());
            }
        }
        keys
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(name, _)| name.as_ref().eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_ref())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes propagation fields into a `Vec` of `(name, value)` pairs, replacing every
/// earlier pair with the same (case-insensitive) name.
#[derive(Debug)]
pub struct PairsInjector<'a> {
    pairs: &'a mut Vec<(String, String)>,
}

impl<'a> PairsInjector<'a> {
    /// Wraps `pairs`.
    pub fn new(pairs: &'a mut Vec<(String, String)>) -> Self {
        Self { pairs }
    }
}

impl Injector for PairsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.pairs
            .retain(|(name, _)| !name.eq_ignore_ascii_case(key));
        self.pairs.push((key.to_owned(), value));
    }

    fn reserve(&mut self, additional: usize) {
        self.pairs.reserve(additional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_and_repeated() {
        let pairs = [("TraceState", "a=1"), ("x", "y"), ("tracestate", "b=2")];
        let carrier = PairsExtractor::new(&pairs);
        assert_eq!(carrier.get_all("tracestate"), Some(vec!["a=1", "b=2"]));
        assert_eq!(carrier.get("TRACESTATE"), Some("a=1"));
        assert_eq!(carrier.keys(), vec!["TraceState", "x"]);
        assert_eq!(carrier.get_all("baggage"), None);
    }

    #[test]
    fn injector_replaces_every_case_variant() {
        let mut pairs = vec![
            ("Traceparent".to_owned(), "old".to_owned()),
            ("traceparent".to_owned(), "older".to_owned()),
            ("other".to_owned(), "kept".to_owned()),
        ];
        PairsInjector::new(&mut pairs).set("traceparent", "new".to_owned());
        assert_eq!(
            pairs,
            vec![
                ("other".to_owned(), "kept".to_owned()),
                ("traceparent".to_owned(), "new".to_owned()),
            ]
        );
    }
}
