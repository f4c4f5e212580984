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

use crate::chars;
use crate::ows::{Cursor, SplitByte, find_byte, split_once_byte, trim_ows};

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
        for line in lines {
            // one pass per line; each member is checked and written out canonically
            let mut cursor = Cursor::new(line);
            loop {
                cursor.skip_ows();
                match cursor.peek() {
                    None => break,
                    Some(b',') => {
                        cursor.eat(b',');
                    }
                    Some(_) => list.push_received(&mut cursor),
                }
            }
        }
        list
    }

    /// Reads one received list-member (through its comma) and appends its canonical
    /// form, written straight into the header (what [`Self::push_canonical`] does,
    /// without the intermediate copy). An invalid member is skipped.
    fn push_received(&mut self, cursor: &mut Cursor<'_>) {
        let mark = self.header.len();
        if !self.spans.is_empty() {
            self.header.push(',');
        }
        let start = self.header.len();
        let Some((key_len, value_len)) = canonical_member(cursor, &mut self.header) else {
            self.header.truncate(mark);
            cursor.skip_past(b',');
            return;
        };
        let key = self.header.get(start..start + key_len).unwrap_or("");
        if self.spans.iter().any(|span| self.key_at(span) == key) {
            // a later duplicate replaces the earlier entry: the general path
            let member = self.header.split_off(start);
            self.header.truncate(mark);
            self.push_canonical(&member, key_len, value_len);
            return;
        }
        if self.spans.len() >= MAX_MEMBERS || self.header.len() > MAX_BYTES {
            self.header.truncate(mark);
            return;
        }
        self.spans.push(MemberSpan {
            start,
            key_end: start + key_len,
            value_end: start + key_len + 1 + value_len,
            end: self.header.len(),
        });
    }

    fn key_at(&self, span: &MemberSpan) -> &str {
        self.header.get(span.start..span.key_end).unwrap_or("")
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
        let key = member.get(..key_len).unwrap_or("");
        if self.spans.iter().any(|span| self.key_at(span) == key) {
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
            .map(|m| {
                KeyValueMetadata::new(
                    m.key.to_owned(),
                    decode_owned(m.encoded_value),
                    m.properties,
                )
            })
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
    ///
    /// Keys are unique on both sides, so with equal lengths it is enough that every
    /// entry of `baggage` has its twin here. Walking `baggage` and looking keys up in
    /// this (short) list needs no hashing, and values are compared by decoding on the
    /// fly, without allocating.
    pub fn matches_otel(&self, baggage: &Baggage) -> bool {
        baggage.len() == self.spans.len()
            && baggage.iter().all(|(key, (value, metadata))| {
                self.spans.iter().any(|span| {
                    self.key_at(span) == key.as_str() && {
                        let m = span.view(&self.header);
                        m.properties == metadata.as_str()
                            && decodes_to(m.encoded_value, value.as_str())
                    }
                })
            })
    }
}

/// Validates one received list-member and appends its canonical form to `out`;
/// returns the key and encoded value lengths, or `None` when the member is invalid.
fn canonical_member(cursor: &mut Cursor<'_>, out: &mut String) -> Option<(usize, usize)> {
    let key = cursor.take(chars::TOKEN);
    if key.is_empty() {
        return None;
    }
    cursor.skip_ows();
    if !cursor.eat(b'=') {
        return None;
    }
    cursor.skip_ows();
    let value = cursor.take(chars::BAGGAGE_OCTET);
    cursor.skip_ows();
    out.push_str(key);
    out.push('=');
    let value_start = out.len();
    if find_byte(value, b'%').is_none() || is_canonical(value) {
        out.push_str(value);
    } else {
        out.extend(utf8_percent_encode(&decode_value(value), VALUE_ENCODE));
    }
    let value_len = out.len() - value_start;
    // properties: `key` or `key OWS "=" OWS value`, OWS removed
    while cursor.eat(b';') {
        out.push(';');
        cursor.skip_ows();
        let prop_key = cursor.take(chars::TOKEN);
        if prop_key.is_empty() {
            return None;
        }
        out.push_str(prop_key);
        cursor.skip_ows();
        if cursor.eat(b'=') {
            cursor.skip_ows();
            out.push('=');
            out.push_str(cursor.take(chars::BAGGAGE_OCTET));
            cursor.skip_ows();
        }
    }
    // the member ends at a comma or at the end of the line
    if !cursor.eat(b',') && cursor.peek().is_some() {
        return None;
    }
    Some((key.len(), value_len))
}

/// RFC 9110 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && chars::all(s.as_bytes(), chars::TOKEN)
}

/// `baggage-octet`.
#[inline]
fn is_baggage_octet(b: u8) -> bool {
    chars::is(b, chars::BAGGAGE_OCTET)
}

/// Validates a property list and appends it normalised (OWS removed around `;` and
/// `=`) to `out`; `false` when a property is invalid.
fn normalize_properties(props: &str, out: &mut String) -> bool {
    for (i, prop) in SplitByte::new(props, b';').enumerate() {
        let prop = trim_ows(prop);
        if i > 0 {
            out.push(';');
        }
        match split_once_byte(prop, b'=') {
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

/// The octets [`VALUE_ENCODE`] encodes, for ASCII `b`.
const fn encoded_in_canonical(b: u8) -> bool {
    b < 0x20 || matches!(b, 0x7f | b' ' | b'"' | b',' | b';' | b'\\' | b'%')
}

/// The value of two hex digits of either case (as `percent_decode` reads them).
fn hex_pair(pair: &[u8]) -> Option<u8> {
    match pair {
        [high, low] => Some(crate::hex::any_digit(*high)? << 4 | crate::hex::any_digit(*low)?),
        _ => None,
    }
}

/// `true` when a received value (baggage-octets only) is already in canonical form,
/// i.e. decoding and re-encoding it gives it back: every `%` starts an upper-case
/// escape of an ASCII octet that must be escaped. Conservative: an escaped non-ASCII
/// octet (UTF-8) answers `false` and takes the general path.
fn is_canonical(value: &str) -> bool {
    let b = value.as_bytes();
    let mut i = 0;
    while let Some(offset) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(|&c| c == b'%'))
    {
        let at = i + offset;
        let escape = b.get(at + 1..at + 3);
        let upper = escape.is_some_and(|e| {
            e.iter()
                .all(|c| c.is_ascii_digit() || matches!(c, b'A'..=b'F'))
        });
        match escape.and_then(hex_pair) {
            Some(octet) if upper && octet < 0x80 && encoded_in_canonical(octet) => i = at + 3,
            _ => return false,
        }
    }
    true
}

/// `decode_value(encoded) == decoded`, without allocating. `encoded` is a canonical
/// value of a list (its decoding is valid UTF-8, so bytes compare like strings).
fn decodes_to(encoded: &str, decoded: &str) -> bool {
    let (e, d) = (encoded.as_bytes(), decoded.as_bytes());
    if find_byte(encoded, b'%').is_none() {
        return e == d;
    }
    let (mut i, mut j) = (0, 0);
    while i < e.len() {
        let octet = match e
            .get(i + 1..i + 3)
            .filter(|_| e[i] == b'%')
            .and_then(hex_pair)
        {
            Some(octet) => {
                i += 3;
                octet
            }
            None => {
                i += 1;
                e[i - 1]
            }
        };
        if d.get(j) != Some(&octet) {
            return false;
        }
        j += 1;
    }
    j == d.len()
}

/// `decode_value(encoded).into_owned()` in one exact-size allocation (an OTel
/// `StringValue` takes a `Box<str>`, so spare capacity would be reallocated away).
fn decode_owned(encoded: &str) -> String {
    if find_byte(encoded, b'%').is_none() {
        return encoded.to_owned();
    }
    // pass 1: the decoded length; pass 2: copy the runs between escapes
    let mut decoded_len = encoded.len();
    for_each_escape(encoded.as_bytes(), |_, octet| {
        if octet.is_some() {
            decoded_len -= 2;
        }
    });
    let mut out = Vec::with_capacity(decoded_len);
    let rest = for_each_escape(encoded.as_bytes(), |run, octet| {
        out.extend_from_slice(run);
        out.push(octet.unwrap_or(b'%'));
    });
    out.extend_from_slice(rest);
    String::from_utf8(out)
        .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
}

/// Calls `f(run, octet)` for every `%` of `e`: `run` is the text before it since the
/// previous escape, `octet` the escaped octet, or `None` for a `%` that does not start
/// an escape (a literal `%`). Returns the text after the last one.
fn for_each_escape<'a>(e: &'a [u8], mut f: impl FnMut(&'a [u8], Option<u8>)) -> &'a [u8] {
    let mut rest = e;
    while let Some(at) = rest.iter().position(|&c| c == b'%') {
        let (run, tail) = rest.split_at(at);
        match tail.get(1..3).and_then(hex_pair) {
            Some(octet) => {
                f(run, Some(octet));
                rest = tail.get(3..).unwrap_or_default();
            }
            None => {
                f(run, None);
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    rest
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
mod tests;
