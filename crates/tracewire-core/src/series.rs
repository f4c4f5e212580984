//! Metric series resolved once and reused: a bounded map from a small key (a route,
//! method and status, say) to an instrument bound to that key's attribute set.
//!
//! # Why
//!
//! `Histogram::record(value, &attributes)` makes the SDK sort the attributes, hash them
//! with SipHash and look the series up under a lock on every measurement: about 1 500
//! instructions per measurement, ~4 600 of the HTTP layer's ~20 000 per request.
//! OpenTelemetry 0.33's bound instruments (`Histogram::bind`, `Counter::bind`, ...)
//! resolve the series once; recording through one is an atomic update. A request's
//! attribute set is one of few (routes × methods × status codes), so each transport
//! keeps one [`SeriesCache`] per instrument: the key is a `Copy` summary of the
//! attributes (static strings, small integers) that is cheap to hash, and the value
//! the bound instrument.
//!
//! # Bounded
//!
//! Series are never released while cached (a bound instrument keeps its series alive
//! in the SDK, through delta collections too), so a cache admits at most `cap` keys.
//! Past that, [`SeriesCache::with`] answers `false` and the caller records through the
//! unbound instrument as before: nothing is lost, the new series only costs the SDK's
//! lookup. Keys made of peer-chosen values should be bounded before they get here (the
//! transports use [`crate::intern`] for routes and types).
//!
//! A bound series counts toward the SDK's cardinality limit (2 000 per instrument by
//! default) for as long as it is cached, with delta temporality too (the SDK keeps bound
//! series across collections; only those updated since the last collection are
//! exported). A key bound after that limit was reached stays bound to the SDK's overflow
//! series (`otel.metric.overflow = true`), as unbound measurements past the limit are.
//!
//! # Example
//!
//! ```
//! use opentelemetry::metrics::{BoundCounter, MeterProvider as _};
//! use opentelemetry::KeyValue;
//! use tracewire_core::series::SeriesCache;
//!
//! let meter = opentelemetry::global::meter_provider().meter("example");
//! let requests = meter.u64_counter("requests").build();
//! let cache: SeriesCache<(&'static str, u16), BoundCounter<u64>> = SeriesCache::new(64);
//!
//! let key = ("GET", 200);
//! let recorded = cache.with(
//!     key,
//!     || requests.bind(&[KeyValue::new("method", key.0), KeyValue::new("status", i64::from(key.1))]),
//!     |bound| bound.add(1),
//! );
//! assert!(recorded);
//! assert_eq!(cache.len(), 1);
//! ```

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Histogram};

/// foldhash, seeded per process: the keys are a few short strings and integers, where
/// SipHash alone cost about as much as the measurement it replaced. The seed keeps
/// collisions unpredictable, and a cache holds at most `cap` keys anyway.
type Hasher = foldhash::fast::RandomState;

/// A bounded map from a key to a bound instrument; see the [module docs](self).
pub struct SeriesCache<K, B> {
    cap: usize,
    series: RwLock<HashMap<K, B, Hasher>>,
}

impl<K, B> fmt::Debug for SeriesCache<K, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesCache")
            .field("cap", &self.cap)
            .field("len", &self.len())
            .finish()
    }
}

impl<K: Hash + Eq, B> SeriesCache<K, B> {
    /// An empty cache that binds at most `cap` series.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            series: RwLock::new(HashMap::with_hasher(Hasher::default())),
        }
    }

    /// Runs `record` with the instrument bound for `key`, binding it with `bind` the
    /// first time. `false` (and neither closure called) when `key` is new and the
    /// cache is full: the caller records through the unbound instrument.
    pub fn with(&self, key: K, bind: impl FnOnce() -> B, record: impl FnOnce(&B)) -> bool {
        let record = match self.lookup(&key, record) {
            Lookup::Recorded => return true,
            Lookup::Full => return false,
            Lookup::Missing(record) => record,
        };
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        let full = series.len() >= self.cap;
        match series.entry(key) {
            Entry::Occupied(found) => record(found.get()),
            Entry::Vacant(_) if full => return false,
            Entry::Vacant(slot) => record(slot.insert(bind())),
        }
        true
    }

    /// [`with`](Self::with) for keys looked up by reference (an attribute slice for a
    /// `Box<[KeyValue]>` key, say): `own` makes the key only when a series is bound.
    pub fn with_borrowed<Q>(
        &self,
        key: &Q,
        own: impl FnOnce() -> K,
        bind: impl FnOnce() -> B,
        record: impl FnOnce(&B),
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let record = match self.lookup(key, record) {
            Lookup::Recorded => return true,
            Lookup::Full => return false,
            Lookup::Missing(record) => record,
        };
        let mut series = self.series.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = series.get(key) {
            record(found);
        } else if series.len() >= self.cap {
            return false;
        } else {
            record(series.entry(own()).or_insert_with(bind));
        }
        true
    }

    /// Records through `key`'s series under the read lock, if it is bound.
    fn lookup<Q, R: FnOnce(&B)>(&self, key: &Q, record: R) -> Lookup<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // A poisoned lock only means a `bind` panicked elsewhere; the map itself is
        // never left half-updated.
        let series = self.series.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(bound) = series.get(key) {
            record(bound);
            Lookup::Recorded
        } else if series.len() >= self.cap {
            // Full: no write lock for keys that can never be bound.
            Lookup::Full
        } else {
            Lookup::Missing(record)
        }
    }
}

/// What a read-locked lookup found.
enum Lookup<R> {
    Recorded,
    Full,
    Missing(R),
}

impl<K, B> SeriesCache<K, B> {
    /// How many series are bound.
    pub fn len(&self) -> usize {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no series is bound yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most series this cache binds.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

/// A histogram whose attribute lists are each bound to their series on first use (up
/// to `cap` lists; later ones are recorded unbound). For instruments whose attribute
/// list is assembled per measurement (an RPC's method and status, say): the list
/// itself is the key, so it must come in a fixed order.
#[derive(Clone)]
pub struct BoundHistograms(Arc<BoundHistogramsInner>);

struct BoundHistogramsInner {
    histogram: Histogram<f64>,
    series: SeriesCache<Box<[KeyValue]>, BoundHistogram<f64>>,
}

impl fmt::Debug for BoundHistograms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundHistograms")
            .field("series", &self.0.series)
            .finish()
    }
}

impl BoundHistograms {
    /// Binds the attribute lists of `histogram`, at most `cap` of them.
    pub fn new(histogram: Histogram<f64>, cap: usize) -> Self {
        Self(Arc::new(BoundHistogramsInner {
            histogram,
            series: SeriesCache::new(cap),
        }))
    }

    /// Records `value` in the series of `attrs`.
    pub fn record(&self, value: f64, attrs: &[KeyValue]) {
        let BoundHistogramsInner { histogram, series } = &*self.0;
        let bound = series.with_borrowed(
            attrs,
            || attrs.into(),
            || histogram.bind(attrs),
            |series| series.record(value),
        );
        if !bound {
            histogram.record(value, attrs);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn binds_once_per_key_and_reuses() {
        let cache: SeriesCache<u16, Cell<u32>> = SeriesCache::new(4);
        let binds = Cell::new(0);
        for _ in 0..3 {
            assert!(cache.with(
                200,
                || {
                    binds.set(binds.get() + 1);
                    Cell::new(0)
                },
                |n| n.set(n.get() + 1)
            ));
        }
        assert_eq!(binds.get(), 1);
        let mut total = 0;
        assert!(cache.with(200, || unreachable!(), |n| total = n.get()));
        assert_eq!(total, 3);
    }

    #[test]
    fn a_full_cache_refuses_new_keys_and_keeps_serving_known_ones() {
        let cache: SeriesCache<u16, Cell<u32>> = SeriesCache::new(2);
        assert!(cache.with(1, || Cell::new(0), |_| {}));
        assert!(cache.with(2, || Cell::new(0), |_| {}));
        let mut called = false;
        assert!(!cache.with(3, || Cell::new(0), |_| called = true));
        assert!(!called, "a refused key records nothing through the cache");
        assert!(cache.with(1, || unreachable!(), |n| n.set(7)));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.cap(), 2);
    }

    #[test]
    fn borrowed_keys_are_owned_only_when_bound() {
        let cache: SeriesCache<Box<[u8]>, Cell<u32>> = SeriesCache::new(1);
        let owned = Cell::new(0);
        for _ in 0..3 {
            assert!(cache.with_borrowed(
                &[1_u8, 2][..],
                || {
                    owned.set(owned.get() + 1);
                    Box::from([1_u8, 2])
                },
                || Cell::new(0),
                |n| n.set(n.get() + 1),
            ));
        }
        assert_eq!(owned.get(), 1);
        assert!(!cache.with_borrowed(&[3_u8][..], || unreachable!(), || unreachable!(), |_| {}));
        let mut total = 0;
        assert!(cache.with(Box::from([1_u8, 2]), || unreachable!(), |n| total = n.get()));
        assert_eq!(total, 3);
    }

    #[test]
    fn a_zero_cap_cache_binds_nothing() {
        let cache: SeriesCache<u16, u8> = SeriesCache::new(0);
        assert!(!cache.with(1, || 0, |_| {}));
        assert!(cache.is_empty());
    }
}
