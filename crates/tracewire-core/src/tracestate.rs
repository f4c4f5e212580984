//! The W3C `tracestate` header, Trace Context Level 2 (editor's draft grammar).
//!
//! ```text
//! list        = list-member 0*31( OWS "," OWS list-member )   ; empty members allowed
//! list-member = key "=" value / OWS
//! key         = ( lcalpha / DIGIT ) 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@" )
//! value       = 0*255( chr ) nblk-chr                          ; chr = %x20 / nblk-chr
//! nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E                    ; printable ASCII but "," "="
//! ```
//!
//! **Key grammar: Level 2 draft, not Level 1.** Level 1 splits a key into
//! `tenant-id@system-id` (≤ 241 + 14 characters) and requires a simple key to start with
//! a letter. The Level 2 draft (W3C `trace-context` `main`, harness ≥ `acab820`) makes `@`
//! a plain key character: `foo@@bar`, `foo@=`, `1foo` and a 242-character tenant are
//! valid, `@foo` is not, and only the total of 256 characters counts
//! (propagation-cases rows 36–38). `opentelemetry::trace::TraceState` validates with the
//! Level 1 rule, so the propagator keeps this parsed list beside the SDK's `TraceState`
//! (see [`crate::propagator`]).
//!
//! Parsed by hand: the stock parser does not trim OWS per member, accepts empty values
//! and does not count members across lines.
//!
//! # Example
//!
//! ```
//! use tracewire_core::tracestate::TraceStateList;
//!
//! let list = TraceStateList::parse_lines(&["foo=1 \t, \t bar=2,", "", "1foo@@x=3"])
//!     .expect("valid under the Level 2 grammar");
//! assert_eq!(list.header(), "foo=1,bar=2,1foo@@x=3");
//! assert!(TraceStateList::parse("FOO=1").is_none());
//! ```

use std::borrow::Cow;

use opentelemetry::trace::TraceState;

use crate::chars;
use crate::ows::{Cursor, SplitByte, find_byte, split_once_byte, trim_end_ows};

/// Header name.
pub const TRACESTATE: &str = "tracestate";
/// At most this many list-members; a longer list is dropped entirely.
pub const MAX_MEMBERS: usize = 32;
/// Longest key and longest value.
pub const MAX_KEY_LEN: usize = 256;
/// Longest value.
pub const MAX_VALUE_LEN: usize = 256;
/// Outgoing `tracestate` longer than this is truncated by whole entries.
pub const TRUNCATE_AT: usize = 512;
/// Entries longer than this are the first to go when truncating.
pub const LARGE_MEMBER: usize = 128;

/// A valid, non-empty `tracestate` list in its normalised form: members in received
/// order, OWS and empty members removed, joined by `,`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TraceStateList {
    header: String,
    len: usize,
    /// bit `i` set: member `i` is accepted by `opentelemetry`'s `TraceState`
    otel_mask: u32,
}

impl TraceStateList {
    /// Parses one header value. `None` when it is invalid or has no member.
    pub fn parse(value: &str) -> Option<Self> {
        Self::parse_lines(&[value])
    }

    /// Parses every line of a received `tracestate`, combined in order (RFC 9110 list
    /// semantics). Any invalid member, or more than [`MAX_MEMBERS`] members in total,
    /// invalidates the whole list; an empty result is `None` (never forward an empty
    /// header).
    pub fn parse_lines(lines: &[&str]) -> Option<Self> {
        let mut members = [("", ""); MAX_MEMBERS];
        let (len, otel_mask) = scan(lines, &mut members)?;
        Some(Self::from_valid(&members[..len], otel_mask))
    }

    /// The normalised list of members that [`scan`] accepted.
    fn from_valid(members: &[(&str, &str)], otel_mask: u32) -> Self {
        let capacity = members
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
        let mut header = String::with_capacity(capacity.saturating_sub(1));
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        Self {
            header,
            len: members.len(),
            otel_mask,
        }
    }

    /// Builds a list from key/value pairs; `None` if any pair is invalid, there are
    /// more than [`MAX_MEMBERS`], or none.
    pub fn from_members<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut header = String::new();
        let mut len = 0;
        let mut otel_mask = 0u32;
        for (key, value) in members {
            if !is_valid_key(key) || !is_valid_value(value) || len == MAX_MEMBERS {
                return None;
            }
            if otel_accepts(key) {
                otel_mask |= 1 << len;
            }
            len += 1;
            if !header.is_empty() {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        (len > 0).then_some(Self {
            header,
            len,
            otel_mask,
        })
    }

    /// Number of members (1 to 32).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: an empty list is represented by `None`.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The members in order, duplicates included.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        SplitByte::new(&self.header, b',').filter_map(|m| split_once_byte(m, b'='))
    }

    /// The normalised list, untruncated.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The header to send: the list truncated to [`TRUNCATE_AT`] characters.
    pub fn header(&self) -> String {
        truncate(&self.header).into_owned()
    }

    /// The members an `opentelemetry` [`TraceState`] can hold (its Level 1 key rule), in
    /// order. Level-2-only keys are left out here and kept by this list.
    pub fn to_otel(&self) -> TraceState {
        TraceState::from_key_value(self.otel_members()).unwrap_or_default()
    }

    /// `true` when `state` is exactly what [`Self::to_otel`] returns, i.e. nobody
    /// changed the SDK's trace state since this list was extracted.
    pub fn matches_otel(&self, state: &TraceState) -> bool {
        self.otel_members().eq(state)
    }

    fn otel_members(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mask = self.otel_mask;
        self.members()
            .enumerate()
            .filter(move |(i, _)| mask & (1 << i) != 0)
            .map(|(_, member)| member)
    }
}

/// Checks every line under the Level 2 grammar, storing the members in order: their
/// count (1 to [`MAX_MEMBERS`]) and the mask of those `opentelemetry` accepts, or
/// `None` when any member is invalid or there are too many or none.
fn scan<'a>(
    lines: &[&'a str],
    members: &mut [(&'a str, &'a str); MAX_MEMBERS],
) -> Option<(usize, u32)> {
    let mut len = 0;
    let mut otel_mask = 0u32;
    for line in lines {
        // one pass per line: `OWS [key "=" value] OWS` between commas, where a value
        // keeps its leading spaces and loses its trailing OWS
        let mut cursor = Cursor::new(line);
        loop {
            cursor.skip_ows();
            match cursor.peek() {
                None => break,
                Some(b',') => {
                    cursor.eat(b',');
                    continue;
                }
                Some(_) => {}
            }
            let key = cursor.take(chars::TS_KEY);
            if !cursor.eat(b'=') {
                return None;
            }
            let value = trim_end_ows(cursor.take(chars::TS_VALUE));
            cursor.skip_ows();
            if !cursor.eat(b',') && cursor.peek().is_some() {
                return None;
            }
            if !key
                .as_bytes()
                .first()
                .is_some_and(|&b| chars::is(b, chars::TS_KEY_START))
                || key.len() > MAX_KEY_LEN
                || value.is_empty()
                || value.len() > MAX_VALUE_LEN
            {
                return None;
            }
            *members.get_mut(len)? = (key, value);
            if otel_accepts(key) {
                otel_mask |= 1 << len;
            }
            len += 1;
        }
    }
    (len > 0).then_some((len, otel_mask))
}

/// The extract path: the received lines as an `opentelemetry` [`TraceState`] (the
/// members its Level 1 rule accepts, built straight from the lines), plus the full
/// list only when that `TraceState` cannot hold all of it. When it can, the
/// `TraceState` serialises to exactly the normalised list, so nothing else is kept.
/// `None` when the lines are invalid or empty.
pub(crate) fn parse_for_otel(lines: &[&str]) -> Option<(TraceState, Option<TraceStateList>)> {
    let mut members = [("", ""); MAX_MEMBERS];
    let (len, otel_mask) = scan(lines, &mut members)?;
    let members = &members[..len];
    let all = u32::MAX >> (32 - len);
    let state = if otel_mask == all {
        TraceState::from_key_value(members.iter().copied())
    } else {
        TraceState::from_key_value(
            members
                .iter()
                .enumerate()
                .filter(|(i, _)| otel_mask & (1 << i) != 0)
                .map(|(_, member)| *member),
        )
    }
    .unwrap_or_default();
    let list = (otel_mask != all).then(|| TraceStateList::from_valid(members, otel_mask));
    Some((state, list))
}

/// `state.header()` (members joined by `,`), built in one exact-size allocation
/// instead of one `format!` per member.
pub(crate) fn otel_header(state: &TraceState) -> String {
    let capacity = state
        .into_iter()
        .map(|(key, value)| key.len() + value.len() + 2)
        .sum::<usize>();
    let mut header = String::with_capacity(capacity.saturating_sub(1));
    for (i, (key, value)) in state.into_iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        header.push_str(key);
        header.push('=');
        header.push_str(value);
    }
    header
}

/// A Level 2 key (see the module docs).
pub fn is_valid_key(key: &str) -> bool {
    match key.as_bytes() {
        [first, rest @ ..] => {
            key.len() <= MAX_KEY_LEN
                && chars::is(*first, chars::TS_KEY_START)
                && chars::all(rest, chars::TS_KEY)
        }
        [] => false,
    }
}

/// A value: 1 to 256 printable ASCII characters except `,` and `=`, not ending in a
/// space (leading spaces belong to the value, trailing ones are OWS).
pub fn is_valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    match b.last() {
        Some(b' ') | None => return false,
        Some(_) => {}
    }
    b.len() <= MAX_VALUE_LEN && chars::all(b, chars::TS_VALUE)
}

/// Truncates a valid serialised list to at most [`TRUNCATE_AT`] characters by dropping
/// whole entries: first those longer than [`LARGE_MEMBER`] characters (right-most
/// first), then from the right. A list that fits is returned unchanged.
pub fn truncate(header: &str) -> Cow<'_, str> {
    if header.len() <= TRUNCATE_AT {
        return Cow::Borrowed(header);
    }
    let mut members: Vec<&str> = header.split(',').collect();
    let mut total = header.len();
    while total > TRUNCATE_AT {
        let index = members
            .iter()
            .rposition(|m| m.len() > LARGE_MEMBER)
            .unwrap_or(members.len().saturating_sub(1));
        if members.is_empty() {
            break;
        }
        let removed = members.remove(index);
        // the member plus one separator (none when it was the only one left)
        total -= removed.len() + usize::from(!members.is_empty());
    }
    Cow::Owned(members.join(","))
}

/// The `opentelemetry` crate's own key/value rule (Level 1, mirrored from
/// `TraceState::valid_key`), so that [`TraceStateList::to_otel`] never fails and
/// [`TraceStateList::matches_otel`] compares like with like.
///
/// For a member that is valid here: values agree (both ≤ 256 characters without `,`
/// and `=`), and keys without `@` agree too, so only a key with `@` needs the Level 1
/// check.
fn otel_accepts(key: &str) -> bool {
    find_byte(key, b'@').is_none() || otel_valid_key(key)
}

fn otel_valid_key(key: &str) -> bool {
    if key.len() > 256 {
        return false;
    }
    let allowed_special = |b: u8| b == b'_' || b == b'-' || b == b'*' || b == b'/';
    let mut vendor_start = None;
    for (i, &b) in key.as_bytes().iter().enumerate() {
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || allowed_special(b) || b == b'@') {
            return false;
        }
        if i == 0 && (!b.is_ascii_lowercase() && !b.is_ascii_digit()) {
            return false;
        } else if b == b'@' {
            if vendor_start.is_some() || i + 14 < key.len() {
                return false;
            }
            vendor_start = Some(i);
        } else if let Some(start) = vendor_start
            && i == start + 1
            && !(b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (lines, expected normalised list or None = dropped, reason)
    #[rustfmt::skip]
    fn data() -> Vec<(Vec<String>, Option<String>, &'static str)> {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let n = |count: usize| (0..count).map(|i| format!("k{i}=v{i}")).collect::<Vec<_>>().join(",");
        let all_key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@a-z0-9_-*/";
        let all_value: String = (0x20u8..=0x7e).filter(|c| ![b',', b'=', b' '].contains(c)).map(char::from).collect();
        let all_value = format!(" {all_value}");
        vec![
            (s(&["FOO=1"]), None, "row 27: upper-case key"),
            (s(&["foo =1"]), None, "row 27: space inside the member before '='"),
            (s(&["foo.bar=1"]), None, "row 27: '.' is not a key char"),
            (s(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]), Some("foo=1,bar=2,rojo=1,congo=2,baz=3".into()), "row 28: lines combined in order"),
            (s(&["", "foo=1"]), Some("foo=1".into()), "row 29: empty line first"),
            (s(&["foo=1", ""]), Some("foo=1".into()), "row 29: empty line last"),
            (s(&[""]), None, "row 29: never forward an empty header"),
            (s(&["foo=1 \t , \t bar=2,\t baz=3"]), Some("foo=1,bar=2,baz=3".into()), "row 30: OWS around members"),
            (s(&["foo=1\t"]), Some("foo=1".into()), "row 30: trailing tab"),
            (s(&["foo=1,,bar=2,"]), Some("foo=1,bar=2".into()), "row 31: empty members"),
            (vec![n(32)], Some(n(32)), "row 32: exactly 32 members"),
            (vec![n(20), (20..33).map(|i| format!("x{i}=1")).collect::<Vec<_>>().join(",")], None, "row 33: 33 members over two lines"),
            (s(&["foo=1,foo=2"]), Some("foo=1,foo=2".into()), "row 34: duplicate keys forwarded as-is"),
            (s(&["foo=1", "foo=2"]), Some("foo=1,foo=2".into()), "row 34: duplicate keys on two lines"),
            (vec![format!("{}=1", "z".repeat(256))], Some(format!("{}=1", "z".repeat(256))), "row 35: 256-char key kept"),
            (vec![format!("{}=1", "z".repeat(257))], None, "row 35: 257-char key dropped"),
            (vec![format!("{}@{}=1", "t".repeat(241), "v".repeat(14))], Some(format!("{}@{}=1", "t".repeat(241), "v".repeat(14))), "row 36: L1 multi-tenant key"),
            (vec![format!("{}@v=1", "t".repeat(242))], Some(format!("{}@v=1", "t".repeat(242))), "row 36: L2 keeps a 242-char tenant"),
            (vec![format!("t@{}=1", "v".repeat(15))], Some(format!("t@{}=1", "v".repeat(15))), "row 36: L2 keeps a 15-char system id"),
            (s(&["foo@=1,bar=2"]), Some("foo@=1,bar=2".into()), "row 37: L2 'foo@' valid"),
            (s(&["foo@@bar=1"]), Some("foo@@bar=1".into()), "row 37: L2 'foo@@bar' valid"),
            (s(&["foo@bar@baz=1"]), Some("foo@bar@baz=1".into()), "row 37: L2 'foo@bar@baz' valid"),
            (s(&["@foo=1,bar=2"]), None, "row 37: '@foo' invalid (must start with a letter or digit)"),
            (s(&["1foo=1"]), Some("1foo=1".into()), "row 38: L2 key may start with a digit"),
            (s(&["foo=,bar=3"]), None, "row 39: empty value"),
            (s(&["foo=bar=baz"]), None, "row 39: '=' in a value"),
            (s(&["foo= 1"]), Some("foo= 1".into()), "row 40: leading space is part of the value"),
            (vec![format!("{all_key}={all_value}")], Some(format!("{all_key}={all_value}")), "row 41: all allowed characters"),
            (s(&["foo"]), None, "member without '='"),
            (vec![format!("foo={}", "v".repeat(257))], None, "value over 256 chars"),
            (s(&["foo=a\tb"]), None, "tab inside a value"),
            (s(&["\u{fffd}"]), None, "unreadable header line"),
        ]
    }

    #[test]
    fn table() {
        for (lines, expected, reason) in data() {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let got = TraceStateList::parse_lines(&refs);
            assert_eq!(
                got.as_ref().map(TraceStateList::as_str),
                expected.as_deref(),
                "{reason}"
            );
        }
    }

    #[test]
    fn row_42_truncation() {
        let big = format!("big={}", "b".repeat(200));
        let small: Vec<String> = (0..40)
            .map(|i| format!("k{i:02}={}", "v".repeat(12)))
            .collect();
        // 20 small members (16 chars) + one big (204) in the middle = 544 chars
        let mut members: Vec<&str> = small[..10].iter().map(String::as_str).collect();
        members.push(&big);
        members.extend(small[10..20].iter().map(String::as_str));
        let list =
            TraceStateList::from_members(members.iter().filter_map(|m| m.split_once('='))).unwrap();
        assert!(list.as_str().len() > TRUNCATE_AT);
        let out = list.header();
        assert_eq!(
            out,
            small[..20].join(","),
            "row 42: entries > 128 chars go first"
        );

        // 32 members of 20 chars = 671 chars: removed from the right until ≤ 512 (24 fit)
        let small: Vec<String> = (0..32)
            .map(|i| format!("k{i:02}={}", "v".repeat(16)))
            .collect();
        let list =
            TraceStateList::from_members(small.iter().filter_map(|m| m.split_once('='))).unwrap();
        let out = list.header();
        assert!(out.len() <= TRUNCATE_AT, "row 42: at most 512");
        assert_eq!(out, small[..24].join(","), "row 42: then from the right");
        assert!(
            out.len() >= TRUNCATE_AT - 16,
            "row 42: forward as much as fits"
        );
    }

    /// The straightforward split-based parser the single-pass scanner replaced.
    fn reference(lines: &[&str]) -> Option<(String, TraceState)> {
        let key_ok = |key: &str| {
            let b = key.as_bytes();
            b.first()
                .is_some_and(|f| f.is_ascii_lowercase() || f.is_ascii_digit())
                && b.len() <= MAX_KEY_LEN
                && b[1..].iter().all(|&c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
                })
        };
        let value_ok = |value: &str| {
            let b = value.as_bytes();
            !matches!(b.last(), Some(b' ') | None)
                && b.len() <= MAX_VALUE_LEN
                && b.iter()
                    .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        };
        let mut members = Vec::new();
        for line in lines {
            for member in line.split(',') {
                let member = member.trim_matches([' ', '\t']);
                if member.is_empty() {
                    continue;
                }
                let (key, value) = member.split_once('=')?;
                if !key_ok(key) || !value_ok(value) || members.len() == MAX_MEMBERS {
                    return None;
                }
                members.push((key, value));
            }
        }
        let header = members
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let otel = TraceState::from_key_value(
            members
                .iter()
                .copied()
                .filter(|(k, v)| otel_valid_key(k) && v.len() <= 256 && !v.contains([',', '='])),
        )
        .unwrap_or_default();
        (!members.is_empty()).then_some((header, otel))
    }

    #[test]
    fn single_pass_scanner_matches_the_reference() {
        let alphabet = ["a", "1", "@", "=", ",", " ", "\t", "A", "é"];
        let mut inputs = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            inputs.extend(last.iter().cloned());
        }
        for input in &inputs {
            let lines = [input.as_str()];
            let got =
                TraceStateList::parse_lines(&lines).map(|l| (l.as_str().to_owned(), l.to_otel()));
            assert_eq!(got, reference(&lines), "{input:?}");
            let two = [input.as_str(), "b=2 "];
            let got =
                TraceStateList::parse_lines(&two).map(|l| (l.as_str().to_owned(), l.to_otel()));
            assert_eq!(got, reference(&two), "{input:?} + second line");
        }
    }

    #[test]
    fn extract_path_agrees_with_the_list() {
        for (lines, _, reason) in data() {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let list = TraceStateList::parse_lines(&refs);
            let fast = parse_for_otel(&refs);
            assert_eq!(list.is_some(), fast.is_some(), "{reason}");
            if let (Some(list), Some((state, kept))) = (list, fast) {
                assert_eq!(state, list.to_otel(), "{reason}");
                assert_eq!(otel_header(&state), state.header(), "{reason}");
                match kept {
                    Some(kept) => assert_eq!(kept, list, "{reason}"),
                    None => assert_eq!(otel_header(&state), list.as_str(), "{reason}"),
                }
            }
        }
        assert_eq!(otel_header(&TraceState::NONE), "");
    }

    #[test]
    fn otel_view_keeps_level1_members_in_order() {
        let list = TraceStateList::parse("foo=1,1foo=2,foo@@bar=3,rojo=4").unwrap();
        let otel = list.to_otel();
        assert_eq!(
            otel.header(),
            "foo=1,1foo=2,rojo=4",
            "OTel keeps digit-first keys, not '@@'"
        );
        assert!(list.matches_otel(&otel));
        let changed = otel.insert("app", "x").unwrap();
        assert!(
            !list.matches_otel(&changed),
            "an inserted member is a change"
        );
        assert!(!list.matches_otel(&TraceState::NONE));
    }
}
