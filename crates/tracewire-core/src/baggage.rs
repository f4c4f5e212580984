//! The W3C `baggage` header.
//!
//! ```text
//! baggage-string = list-member 0*179( OWS "," OWS list-member )
//! list-member    = key OWS "=" OWS value *( OWS ";" OWS property )
//! property       = key OWS "=" OWS value / key OWS
//! key            = token                                       ; RFC 9110
//! value          = *baggage-octet                              ; percent-encoded UTF-8
//! baggage-octet  = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
//! ```
//!
//! Values are percent-decoded on extract and percent-encoded on inject (every octet
//! outside `baggage-octet`, and `%` itself, upper-case hex). Properties stay attached to
//! their entry as written (`user=alice;ttl=30` is forwarded as such, never folded into
//! the value). An invalid list-member is dropped on its own; parsing never fails.
//! Limits: at most [`MAX_MEMBERS`] entries and [`MAX_BYTES`] bytes of serialised header;
//! entries that do not fit are dropped.
//!
//! Parsed by hand: the stock propagator splits on `=` and `;` without checking the
//! grammar, so invalid members slip through and properties are percent-decoded.
//!
//! # Example
//!
//! ```
//! use tracewire_core::baggage::BaggageList;
//!
//! let list = BaggageList::parse("user=alice;ttl=30, k=hello%20world%2C%3B, bad key=1");
//! assert_eq!(list.len(), 2);
//! assert_eq!(list.iter().nth(1).map(|m| m.value().into_owned()).as_deref(), Some("hello world,;"));
//! assert_eq!(list.header(), "user=alice;ttl=30,k=hello%20world%2C%3B");
//! ```

use std::borrow::Cow;

use opentelemetry::baggage::{Baggage, KeyValueMetadata};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::ows::trim_ows;

/// Header name.
pub const BAGGAGE: &str = "baggage";
/// At most this many entries.
pub const MAX_MEMBERS: usize = 64;
/// At most this many bytes in the serialised header.
pub const MAX_BYTES: usize = 8192;

/// Octets that are not `baggage-octet`, plus `%`: percent-encoded in values.
pub(crate) const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// One entry of a [`BaggageList`], borrowed from its serialised form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BaggageMember<'a> {
    key: &'a str,
    encoded_value: &'a str,
    properties: &'a str,
}

impl<'a> BaggageMember<'a> {
    /// The key.
    pub const fn key(&self) -> &'a str {
        self.key
    }

    /// The decoded value.
    pub fn value(&self) -> Cow<'a, str> {
        decode_value(self.encoded_value)
    }

    /// The value as sent (canonical percent-encoding).
    pub const fn encoded_value(&self) -> &'a str {
        self.encoded_value
    }

    /// The properties, normalised (`k=v` or `k`, joined by `;`), or `""`.
    pub const fn properties(&self) -> &'a str {
        self.properties
    }
}

/// Where one member sits in [`BaggageList::header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MemberSpan {
    start: usize,
    key_end: usize,
    value_end: usize,
    end: usize,
}

impl MemberSpan {
    fn view<'a>(&self, header: &'a str) -> BaggageMember<'a> {
        BaggageMember {
            key: &header[self.start..self.key_end],
            encoded_value: &header[self.key_end + 1..self.value_end],
            properties: header.get(self.value_end + 1..self.end).unwrap_or(""),
        }
    }
}

/// An ordered baggage list within the limits, one entry per key (a later entry with
/// the same key replaces the earlier one, as in `opentelemetry`'s `Baggage`), stored in
/// its canonical serialised form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BaggageList {
    header: String,
    spans: Vec<MemberSpan>,
}

impl BaggageList {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            header: String::new(),
            spans: Vec::new(),
        }
    }

    /// Parses one header value, dropping invalid members and those beyond the limits.
    pub fn parse(value: &str) -> Self {
        Self::parse_lines(&[value])
    }

    /// Parses every line of a received `baggage`, combined in order.
    pub fn parse_lines(lines: &[&str]) -> Self {
        let mut list = Self::new();
        list.header.reserve(lines.iter().map(|l| l.len() + 1).sum());
        let mut scratch = String::new();
        for line in lines {
            for member in line.split(',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                scratch.clear();
                if let Some((key_len, value_len)) = canonical_member(member, &mut scratch) {
                    list.push_canonical(&scratch, key_len, value_len);
                }
            }
        }
        list
    }

    /// Appends an entry (replacing an entry with the same key) if it is valid and the
    /// limits allow; returns whether it was kept. `value` is the decoded value,
    /// `properties` the `;`-separated property list without a leading `;` or `""`.
    pub fn push(&mut self, key: &str, value: &str, properties: &str) -> bool {
        if !is_token(key) {
            return false;
        }
        let mut member = String::with_capacity(key.len() + value.len() + properties.len() + 2);
        member.push_str(key);
        member.push('=');
        member.extend(utf8_percent_encode(value, VALUE_ENCODE));
        let value_len = member.len() - key.len() - 1;
        if !properties.is_empty() {
            member.push(';');
            if !normalize_properties(properties, &mut member) {
                return false;
            }
        }
        self.push_canonical(&member, key.len(), value_len)
    }

    fn push_canonical(&mut self, member: &str, key_len: usize, value_len: usize) -> bool {
        let key = &member[..key_len];
        if self.iter().any(|m| m.key == key) {
            self.remove(key);
        }
        let separator = usize::from(!self.spans.is_empty());
        if self.spans.len() >= MAX_MEMBERS
            || self.header.len() + separator + member.len() > MAX_BYTES
        {
            return false;
        }
        if separator == 1 {
            self.header.push(',');
        }
        let start = self.header.len();
        self.header.push_str(member);
        self.spans.push(MemberSpan {
            start,
            key_end: start + key_len,
            value_end: start + key_len + 1 + value_len,
            end: self.header.len(),
        });
        true
    }

    fn remove(&mut self, key: &str) {
        let old = std::mem::take(self);
        for span in &old.spans {
            let m = span.view(&old.header);
            if m.key != key {
                let member = &old.header[span.start..span.end];
                self.push_canonical(member, m.key.len(), m.encoded_value.len());
            }
        }
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = BaggageMember<'_>> + '_ {
        self.spans.iter().map(|span| span.view(&self.header))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// `true` when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The header to send (canonical form: values percent-encoded, upper-case hex,
    /// only where needed; properties as received, OWS removed).
    pub fn header(&self) -> String {
        self.header.clone()
    }

    /// The header to send, borrowed.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The same entries as an `opentelemetry` [`Baggage`] (properties become metadata).
    pub fn to_otel(&self) -> Baggage {
        self.iter()
            .map(|m| KeyValueMetadata::new(m.key.to_owned(), m.value().into_owned(), m.properties))
            .collect()
    }

    /// The entries of an `opentelemetry` [`Baggage`], sorted by key (a `Baggage` has no
    /// order), entries that are invalid or beyond the limits dropped.
    pub fn from_otel(baggage: &Baggage) -> Self {
        let mut entries: Vec<_> = baggage.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let mut list = Self::new();
        for (key, (value, metadata)) in entries {
            list.push(key.as_str(), value.as_str(), metadata.as_str().trim());
        }
        list
    }

    /// `true` when `baggage` holds exactly these entries (values and metadata).
    pub fn matches_otel(&self, baggage: &Baggage) -> bool {
        baggage.len() == self.spans.len()
            && self.iter().all(|m| {
                baggage
                    .get_with_metadata(m.key)
                    .is_some_and(|(value, metadata)| {
                        metadata.as_str() == m.properties && m.value() == value.as_str()
                    })
            })
    }
}

/// Validates one received list-member and appends its canonical form to `out`;
/// returns the key and encoded value lengths, or `None` when the member is invalid.
fn canonical_member(member: &str, out: &mut String) -> Option<(usize, usize)> {
    let (key_value, properties) = match member.split_once(';') {
        Some((kv, props)) => (kv, Some(props)),
        None => (member, None),
    };
    let (key, value) = key_value.split_once('=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    out.push_str(key);
    out.push('=');
    if value.contains('%') {
        out.extend(utf8_percent_encode(&decode_value(value), VALUE_ENCODE));
    } else {
        // every baggage-octet but '%' is canonical as it is
        out.push_str(value);
    }
    let value_len = out.len() - key.len() - 1;
    if let Some(props) = properties {
        out.push(';');
        if !normalize_properties(props, out) {
            return None;
        }
    }
    Some((key.len(), value_len))
}

/// RFC 9110 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`.
const fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Validates a property list and appends it normalised (OWS removed around `;` and
/// `=`) to `out`; `false` when a property is invalid.
fn normalize_properties(props: &str, out: &mut String) -> bool {
    for (i, prop) in props.split(';').enumerate() {
        let prop = trim_ows(prop);
        if i > 0 {
            out.push(';');
        }
        match prop.split_once('=') {
            Some((key, value)) => {
                let (key, value) = (trim_ows(key), trim_ows(value));
                if !is_token(key) || !value.bytes().all(is_baggage_octet) {
                    return false;
                }
                out.push_str(key);
                out.push('=');
                out.push_str(value);
            }
            None => {
                if !is_token(prop) {
                    return false;
                }
                out.push_str(prop);
            }
        }
    }
    true
}

/// Percent-encodes a baggage value.
pub fn encode_value(value: &str) -> Cow<'_, str> {
    utf8_percent_encode(value, VALUE_ENCODE).into()
}

/// Percent-decodes a baggage value (invalid UTF-8 becomes U+FFFD).
pub fn decode_value(value: &str) -> Cow<'_, str> {
    if !value.contains('%') {
        return Cow::Borrowed(value);
    }
    percent_decode_str(value).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::StringValue;

    /// (header, expected (key, decoded value, properties) list, expected header out, reason)
    #[rustfmt::skip]
    #[allow(clippy::type_complexity)]
    fn data() -> Vec<(String, Vec<(&'static str, &'static str, &'static str)>, &'static str, &'static str)> {
        vec![
            ("user=alice;ttl=30,tier=gold".into(), vec![("user", "alice", "ttl=30"), ("tier", "gold", "")], "user=alice;ttl=30,tier=gold", "row 43: property stays attached to its entry"),
            ("k=hello%20world%2C%3B".into(), vec![("k", "hello world,;", "")], "k=hello%20world%2C%3B", "row 44: percent-decoded, re-encoded on output"),
            ("a = 1 ; p ; q = 2 , b=2".into(), vec![("a", "1", "p;q=2"), ("b", "2", "")], "a=1;p;q=2,b=2", "OWS around '=', ';' and ','"),
            ("bad key=1,good=2".into(), vec![("good", "2", "")], "good=2", "invalid key dropped alone"),
            ("a=\"q\",b=2".into(), vec![("b", "2", "")], "b=2", "DQUOTE is not a baggage-octet"),
            ("a=1;,b=2".into(), vec![("b", "2", "")], "b=2", "empty property invalidates its entry"),
            ("a=1;bad prop,b=2".into(), vec![("b", "2", "")], "b=2", "invalid property invalidates its entry"),
            ("novalue,b=2".into(), vec![("b", "2", "")], "b=2", "member without '=' dropped"),
            ("e=,b=2".into(), vec![("e", "", ""), ("b", "2", "")], "e=,b=2", "empty value allowed"),
            ("a=1,,b=2,".into(), vec![("a", "1", ""), ("b", "2", "")], "a=1,b=2", "empty members ignored"),
            ("a=1,a=2".into(), vec![("a", "2", "")], "a=2", "later duplicate replaces the earlier one"),
            ("k=x=y".into(), vec![("k", "x=y", "")], "k=x=y", "'=' is a baggage-octet"),
            ("k=%E2%82%AC".into(), vec![("k", "€", "")], "k=%E2%82%AC", "UTF-8 decoded and re-encoded"),
            ("k=%zz".into(), vec![("k", "%zz", "")], "k=%25zz", "a stray '%' is literal and encoded on output"),
            ("\u{fffd}".into(), vec![], "", "unreadable line"),
        ]
    }

    #[test]
    fn table() {
        for (input, expected, out, reason) in data() {
            let list = BaggageList::parse(&input);
            let got: Vec<(String, String, String)> = list
                .iter()
                .map(|e| {
                    (
                        e.key().to_owned(),
                        e.value().into_owned(),
                        e.properties().to_owned(),
                    )
                })
                .collect();
            let expected: Vec<(String, String, String)> = expected
                .iter()
                .map(|(k, v, p)| ((*k).to_owned(), (*v).to_owned(), (*p).to_owned()))
                .collect();
            assert_eq!(got, expected, "{reason}");
            assert_eq!(list.header(), out, "{reason}");
        }
    }

    #[test]
    fn lines_combined_in_order() {
        let list = BaggageList::parse_lines(&["a=1", "", "b=2,c=3"]);
        assert_eq!(
            list.header(),
            "a=1,b=2,c=3",
            "repeated baggage lines are one list"
        );
    }

    #[test]
    fn limits() {
        let many: Vec<String> = (0..70).map(|i| format!("k{i}=v")).collect();
        let list = BaggageList::parse(&many.join(","));
        assert_eq!(list.len(), MAX_MEMBERS, "entries beyond 64 are dropped");
        assert_eq!(
            list.iter().last().map(|m| m.key()),
            Some("k63"),
            "the first 64 are kept"
        );

        let big = format!("big={}", "x".repeat(5000));
        let list = BaggageList::parse(&format!("a=1,{big},{big}2,b=2"));
        assert!(list.header().len() <= MAX_BYTES, "at most 8192 bytes");
        let keys: Vec<&str> = list.iter().map(|m| m.key()).collect();
        assert_eq!(
            keys,
            ["a", "big", "b"],
            "an entry that does not fit is dropped, later small ones kept"
        );
    }

    #[test]
    fn otel_round_trip() {
        let list = BaggageList::parse("user=alice;ttl=30,tier=gold");
        let otel = list.to_otel();
        assert_eq!(
            otel.get_with_metadata("user")
                .map(|(v, m)| (v.as_str(), m.as_str())),
            Some(("alice", "ttl=30"))
        );
        assert!(list.matches_otel(&otel));
        let mut changed = list.to_otel();
        changed.insert("tier", "silver");
        assert!(!list.matches_otel(&changed), "changed value");
        assert_eq!(changed.get("tier"), Some(&StringValue::from("silver")));
        assert_eq!(
            BaggageList::from_otel(&otel).header(),
            "tier=gold,user=alice;ttl=30",
            "sorted by key"
        );
    }
}
