//! Span names and attribute values that repeat for ever, leaked once instead of
//! built per message: a bounded, process-wide interner.
//!
//! # Why
//!
//! Every traced request, message or call needs a span name such as `GET /orders/{id}`,
//! `process orders.created` or `pkg.Service/Method`, and usually the bare route, topic,
//! type or method as an attribute value too. The OpenTelemetry SDK takes span names
//! only as `Cow<'static, str>`, so a name built per message is a `format!` and an
//! allocation, which is then freed by the export thread: a cross-thread free, one of the
//! dearer things an allocator does. An owned attribute value is another allocation.
//!
//! Those names come from a small set (routes, topics, message types, methods), so an
//! [`Interner`] leaks each distinct `"{prefix} {name}"` once and hands out the same
//! `&'static str` afterwards: the span name becomes `Cow::Borrowed`, the attribute a
//! [`StringValue`] that clones for free.
//!
//! # Bounded
//!
//! A leak is only acceptable if it is bounded, and some of these names are chosen by
//! the peer (a WebSocket message type, a gRPC path, a topic in a system with one topic
//! per entity). An interner admits at most `cap` distinct names (each no longer than
//! [`MAX_NAME_LEN`] bytes); past that, [`Interner::get`] answers `None` for new names
//! and the callers build their strings per message as before ([`Interner::name`],
//! [`Interner::value`] do that for them). Nothing is ever freed, so a name admitted
//! once stays cheap. Prefixes are `&'static str` from the program (`"send"`, `"GET"`),
//! so a known name may gain a joined string per prefix even past the cap: the leak is
//! at most `cap × (number of prefixes used)` strings.
//!
//! Each interner has its own cap; a transport declares one `static` per kind of name
//! (HTTP routes, WebSocket message types, ...) so a peer that fills one (unknown message
//! types) cannot stop another (routes) from being interned.
//!
//! # Cost
//!
//! Lookups go through a per-thread map first: no lock and no contention between
//! runtime workers once a thread has seen a name. Only a miss on that map takes the
//! interner's mutex (a name new to this thread). Once the interner is full, the set of
//! admitted names is frozen and a name outside it is answered `None` without the
//! mutex, so a peer sending endless new names costs a hash lookup per message, not lock
//! traffic. A poisoned mutex is recovered (the table is never left half-updated), so
//! nothing here panics.
//!
//! # Example
//!
//! ```
//! use std::borrow::Cow;
//! use tracewire_core::intern::Interner;
//!
//! static TOPICS: Interner = Interner::new(1024);
//!
//! let name = TOPICS.name("process", "orders.created");
//! assert_eq!(name, "process orders.created");
//! // The second time, the same leaked string: no allocation.
//! assert!(matches!(TOPICS.name("process", "orders.created"), Cow::Borrowed(_)));
//! assert_eq!(TOPICS.value("orders.created").as_str(), "orders.created");
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use opentelemetry::StringValue;

/// The longest name (in bytes) an [`Interner`] admits; longer names are never
/// interned, so `cap` bounds the leaked bytes too.
pub const MAX_NAME_LEN: usize = 256;

/// One interner's table: each admitted name (leaked) and its joined string per
/// non-empty prefix.
type Table = BTreeMap<&'static str, Vec<(&'static str, &'static str)>>;

/// A bounded set of leaked `"{prefix} {name}"` strings; see the [module docs](self).
///
/// Meant to live in a `static` (lookups take `&'static self`, which keys the
/// per-thread cache); tests can leak one with a small cap
/// (`Box::leak(Box::new(Interner::new(2)))`).
pub struct Interner {
    cap: usize,
    table: Mutex<Table>,
    /// The admitted names, frozen once the table is full: a name that is not among them
    /// can never be interned, so its lookups answer `None` without the mutex (peers
    /// that flood new names must not turn every message into lock traffic).
    full: OnceLock<HashSet<&'static str, Hasher>>,
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interner")
            .field("cap", &self.cap)
            .field("len", &self.len())
            .finish()
    }
}

/// The maps' hasher: foldhash, seeded per process. Every traced request looks names up
/// here, and with SipHash the two lookups of an HTTP request cost ~600 instructions;
/// the seed keeps a peer from choosing colliding names.
type Hasher = foldhash::fast::RandomState;

/// This thread's view of one interner and prefix: name → joined string.
struct Local {
    owner: usize,
    prefix: &'static str,
    names: HashMap<&'static str, &'static str, Hasher>,
}

thread_local! {
    static LOCAL: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

impl Interner {
    /// An empty interner that admits at most `cap` distinct names.
    pub const fn new(cap: usize) -> Self {
        Self {
            cap,
            table: Mutex::new(BTreeMap::new()),
            full: OnceLock::new(),
        }
    }

    /// The most distinct names this interner admits.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many distinct names are interned (at most [`cap`](Self::cap)).
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no name is interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"{prefix} {name}"` (just `name` when `prefix` is empty), leaked once and
    /// shared afterwards; `None` when `name` is new and the interner is full, or
    /// `name` is longer than [`MAX_NAME_LEN`].
    pub fn get(&'static self, prefix: &'static str, name: &str) -> Option<&'static str> {
        let owner = self.key();
        // `try_with`: during thread teardown the local map is gone; the table serves.
        let local = LOCAL.try_with(|local| {
            let local = local.try_borrow().ok()?;
            let entry = local
                .iter()
                .find(|l| l.owner == owner && l.prefix == prefix)?;
            entry.names.get(name).copied()
        });
        if let Ok(Some(found)) = local {
            return Some(found);
        }
        if name.len() > MAX_NAME_LEN
            || self
                .full
                .get()
                .is_some_and(|admitted| !admitted.contains(name))
        {
            return None;
        }
        let (name, joined) = {
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            let found = intern(&mut table, self.cap, prefix, name);
            if table.len() >= self.cap && self.full.get().is_none() {
                let _ = self.full.set(table.keys().copied().collect());
            }
            found?
        };
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            let at = match local
                .iter()
                .position(|l| l.owner == owner && l.prefix == prefix)
            {
                Some(at) => at,
                None => {
                    local.push(Local {
                        owner,
                        prefix,
                        names: HashMap::with_hasher(Hasher::default()),
                    });
                    local.len() - 1
                }
            };
            if let Some(entry) = local.get_mut(at) {
                entry.names.insert(name, joined);
            }
        });
        Some(joined)
    }

    /// A span name `"{prefix} {name}"` (or `name`): borrowed when interned, else
    /// built for this one use.
    pub fn name(&'static self, prefix: &'static str, name: &str) -> Cow<'static, str> {
        match self.get(prefix, name) {
            Some(joined) => Cow::Borrowed(joined),
            None => Cow::Owned(join(prefix, name)),
        }
    }

    /// `name` as an attribute value: static when interned, else a shared copy.
    pub fn value(&'static self, name: &str) -> StringValue {
        match self.get("", name) {
            Some(name) => StringValue::from(name),
            None => StringValue::from(Arc::<str>::from(name)),
        }
    }

    /// This interner's identity in the per-thread maps: its address, stable because
    /// it is `'static` (never moved or freed).
    fn key(&'static self) -> usize {
        std::ptr::from_ref(self) as usize
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix} {name}")
    }
}

/// The leaked name and joined string of `(prefix, name)` in `table`, added if
/// `name` is known or there is room for it.
fn intern(
    table: &mut Table,
    cap: usize,
    prefix: &'static str,
    name: &str,
) -> Option<(&'static str, &'static str)> {
    let bare: &'static str = match table.get_key_value(name) {
        Some((bare, _)) => bare,
        None => {
            if table.len() >= cap || name.len() > MAX_NAME_LEN {
                return None;
            }
            let bare: &'static str = Box::leak(name.into());
            table.insert(bare, Vec::new());
            bare
        }
    };
    if prefix.is_empty() {
        return Some((bare, bare));
    }
    let joined = table.get_mut(bare)?;
    if let Some((_, found)) = joined.iter().find(|(p, _)| *p == prefix) {
        return Some((bare, *found));
    }
    let found: &'static str = Box::leak(join(prefix, bare).into_boxed_str());
    joined.push((prefix, found));
    Some((bare, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(cap: usize) -> &'static Interner {
        Box::leak(Box::new(Interner::new(cap)))
    }

    #[test]
    fn joins_prefix_and_name_once() {
        let names = small(8);
        let first = names.get("send", "orders").unwrap();
        assert_eq!(first, "send orders");
        let again = names.get("send", "orders").unwrap();
        assert!(
            std::ptr::eq(first, again),
            "a hit is the same leaked string"
        );
        assert_eq!(names.get("", "orders"), Some("orders"));
        assert_eq!(names.len(), 1, "one name, whatever the prefixes");
    }

    #[test]
    fn distinct_prefixes_give_distinct_names() {
        let names = small(8);
        assert_eq!(names.get("send", "orders"), Some("send orders"));
        assert_eq!(names.get("process", "orders"), Some("process orders"));
        assert_eq!(names.get("process", "users"), Some("process users"));
        assert_eq!(names.get("", "users"), Some("users"));
        assert_eq!(names.name("send", "orders"), "send orders");
        assert_eq!(names.value("users").as_str(), "users");
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn the_cap_stops_new_names() {
        let names = small(2);
        assert!(names.get("send", "a").is_some());
        assert!(names.get("send", "b").is_some());
        assert_eq!(names.get("send", "c"), None, "past the cap");
        assert_eq!(names.get("", "c"), None, "past the cap, any prefix");
        assert_eq!(names.len(), 2, "nothing more leaked");
        assert_eq!(
            names.get("send", "a"),
            Some("send a"),
            "known names resolve"
        );
        assert_eq!(
            names.get("process", "b"),
            Some("process b"),
            "new prefix, known name"
        );
        assert_eq!(names.len(), 2);
        // The owned fallbacks carry the same content.
        assert!(matches!(names.name("send", "c"), Cow::Owned(n) if n == "send c"));
        assert_eq!(names.name("", "c"), "c");
        assert_eq!(names.value("c").as_str(), "c");
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn past_the_cap_new_names_do_not_take_the_lock() {
        let names = small(1);
        assert!(names.get("send", "a").is_some());
        let held = names.table.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            tx.send(names.get("send", "flood")).unwrap();
        });
        let answer = rx.recv_timeout(std::time::Duration::from_secs(5));
        drop(held);
        worker.join().unwrap();
        assert_eq!(answer, Ok(None), "answered without waiting for the mutex");
        assert_eq!(
            names.get("process", "a"),
            Some("process a"),
            "admitted names still gain prefixes"
        );
    }

    #[test]
    fn long_names_are_never_interned() {
        let names = small(8);
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(names.get("send", &long), None);
        assert_eq!(names.name("send", &long), format!("send {long}"));
        assert!(names.is_empty());
        assert!(names.get("", &long[..MAX_NAME_LEN]).is_some());
    }

    #[test]
    fn interners_do_not_share_caps_or_caches() {
        let full = small(0);
        let roomy = small(1);
        assert_eq!(roomy.get("send", "a"), Some("send a"));
        assert_eq!(
            full.get("send", "a"),
            None,
            "another interner's entry is not this one's"
        );
    }

    #[test]
    fn threads_agree_and_the_cap_holds() {
        let names = small(16);
        let workers: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    // Each thread starts at a different name, so they race for the cap.
                    let pass = || {
                        (0..32)
                            .map(|i| {
                                let n = (i + t * 8) % 32;
                                (n, names.get("process", &format!("type{n}")))
                            })
                            .collect::<BTreeMap<_, _>>()
                    };
                    let first = pass();
                    // The second pass answers from this thread's map: the same.
                    assert_eq!(first, pass());
                    first
                })
            })
            .collect();
        let seen: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(names.len(), 16);
        for n in 0..32 {
            let first = seen[0][&n];
            for other in &seen[1..] {
                match (first, other[&n]) {
                    (Some(a), Some(b)) => assert!(std::ptr::eq(a, b), "type{n}: one string"),
                    (None, None) => {}
                    (a, b) => panic!("type{n}: admitted for one thread only: {a:?} / {b:?}"),
                }
            }
            if let Some(name) = first {
                assert_eq!(name, format!("process type{n}"));
            }
        }
        let admitted = (0..32).filter(|n| seen[0][n].is_some()).count();
        assert_eq!(admitted, 16);
    }
}
