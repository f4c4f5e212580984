//! [`Headers`]: the `headers` object of an [`Envelope`](crate::Envelope), a carrier for
//! trace context.

use std::fmt;

use opentelemetry::propagation::{Extractor, Injector};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tracewire_core::carrier::PairsInjector;

/// The `headers` object of an envelope: string names to string values, in the order
/// received, as an OpenTelemetry [`Extractor`] and [`Injector`] (the same semantics as
/// `tracewire_core::carrier::PairsExtractor`/`PairsInjector`, which it uses).
///
/// Names are read ASCII case-insensitively, and a name that occurs more than once (a
/// JSON object with `"traceparent"` and `"TraceParent"`, or the same key twice) is seen
/// by the propagator as repeated header lines: two `traceparent` values restart the
/// trace, several `tracestate` values are combined in order. Setting a name replaces
/// every case variant of it.
///
/// # Example
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// use tracewire_ws::Headers;
///
/// let headers: Headers = serde_json::from_str(r#"{"TraceState": "a=1", "tracestate": "b=2"}"#)?;
/// assert_eq!(headers.get_all("tracestate"), Some(vec!["a=1", "b=2"]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`, replacing every case variant of `name`.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl Into<String>) {
        PairsInjector::new(&mut self.0).set(name.as_ref(), value.into());
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The headers as `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        Headers::get(self, key)
    }

    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::with_capacity(self.0.len());
        for (name, _) in &self.0 {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                keys.push(name);
            }
        }
        keys
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let all: Vec<&str> = self
            .0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .collect();
        (!all.is_empty()).then_some(all)
    }
}

impl Injector for Headers {
    fn set(&mut self, key: &str, value: String) {
        PairsInjector::new(&mut self.0).set(key, value);
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Headers;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string header values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(3).min(16));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    pairs.push((k, v));
                }
                Ok(Headers(pairs))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Headers, E> {
                Ok(Headers::new()) // `"headers": null` means none
            }
        }

        deserializer.deserialize_any(PairsVisitor)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_kept_in_order() {
        let h: Headers =
            serde_json::from_str(r#"{"traceparent":"a","TraceParent":"b","x":"y"}"#).unwrap();
        assert_eq!(h.get_all("traceparent"), Some(vec!["a", "b"]));
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"traceparent":"a","TraceParent":"b","x":"y"}"#
        );
    }

    #[test]
    fn null_is_empty_and_non_strings_are_rejected() {
        let h: Headers = serde_json::from_str("null").unwrap();
        assert!(h.is_empty());
        assert!(serde_json::from_str::<Headers>(r#"{"traceparent": 1}"#).is_err());
        assert!(serde_json::from_str::<Headers>(r#"["traceparent"]"#).is_err());
    }

    #[test]
    fn insert_replaces_case_variants() {
        let mut h: Headers = [("TraceParent", "old"), ("baggage", "k=v")]
            .into_iter()
            .collect();
        h.insert("traceparent", "new");
        assert_eq!(h.get_all("traceparent"), Some(vec!["new"]));
        assert_eq!(h.get("BAGGAGE"), Some("k=v"));
    }
}
