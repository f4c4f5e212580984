//! Optional whitespace (RFC 9110 `OWS`): SP and HTAB only, and the byte-level list
//! splitting the header codecs share.
//!
//! The list delimiters (`,` `;` `=`) are ASCII, so plain byte loops find them; the
//! `str` pattern machinery (`split`, `split_once`, `trim_matches`) goes through
//! `memchr` and char decoding, which costs more than the short members it scans.

#[inline]
const fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims leading and trailing SP/HTAB. Other whitespace (line feeds, NBSP, Unicode
/// spaces) is not OWS and stays, so it invalidates the field as the grammars require.
#[inline]
pub(crate) fn trim_ows(s: &str) -> &str {
    let b = s.as_bytes();
    let Some(start) = b.iter().position(|&c| !is_ows(c)) else {
        return "";
    };
    let end = b.iter().rposition(|&c| !is_ows(c)).map_or(start, |i| i + 1);
    // both ends sit next to an ASCII byte, so they are char boundaries
    s.get(start..end).unwrap_or("")
}

/// Position of the first `byte` (ASCII) in `s`.
#[inline]
pub(crate) fn find_byte(s: &str, byte: u8) -> Option<usize> {
    s.as_bytes().iter().position(|&c| c == byte)
}

/// `s` split at the first `byte` (ASCII), the byte itself dropped.
#[inline]
pub(crate) fn split_once_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, byte)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The pieces of `s` between `byte`s (ASCII), like `str::split` with a char.
#[derive(Clone, Debug)]
pub(crate) struct SplitByte<'a> {
    rest: Option<&'a str>,
    byte: u8,
}

impl<'a> SplitByte<'a> {
    #[inline]
    pub(crate) const fn new(s: &'a str, byte: u8) -> Self {
        Self {
            rest: Some(s),
            byte,
        }
    }
}

impl<'a> Iterator for SplitByte<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match split_once_byte(rest, self.byte) {
            Some((piece, tail)) => {
                self.rest = Some(tail);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `s` without trailing SP/HTAB.
#[inline]
pub(crate) fn trim_end_ows(s: &str) -> &str {
    let end = s
        .as_bytes()
        .iter()
        .rposition(|&c| !is_ows(c))
        .map_or(0, |i| i + 1);
    s.get(..end).unwrap_or("")
}

/// A position in a header line, for single-pass scanners. Every method stops only
/// next to an ASCII byte, so the slices it returns fall on char boundaries.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) const fn new(s: &'a str) -> Self {
        Self { s, i: 0 }
    }

    /// The next byte, if any.
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    /// Consumes `byte` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.i += usize::from(next);
        next
    }

    /// Skips SP/HTAB.
    #[inline]
    pub(crate) fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.i += 1;
        }
    }

    /// Consumes and returns the longest run of bytes in `class` (see [`crate::chars`]).
    #[inline]
    pub(crate) fn take(&mut self, class: u8) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|b| crate::chars::is(b, class)) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or("")
    }

    /// Skips past the next `byte`, or to the end.
    #[inline]
    pub(crate) fn skip_past(&mut self, byte: u8) {
        let rest = self.s.as_bytes().get(self.i..).unwrap_or_default();
        self.i += rest
            .iter()
            .position(|&c| c == byte)
            .map_or(rest.len(), |at| at + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_the_str_methods() {
        for s in [
            "",
            ",",
            "a",
            " \t a=1 , b=2;p \t,,",
            "\t\t",
            "x\u{a0} ",
            "é=è,ü",
            ";;=;",
        ] {
            assert_eq!(trim_ows(s), s.trim_matches([' ', '\t']), "{s:?}");
            assert_eq!(trim_end_ows(s), s.trim_end_matches([' ', '\t']), "{s:?}");
            for byte in [b',', b';', b'='] {
                let c = char::from(byte);
                assert_eq!(
                    SplitByte::new(s, byte).collect::<Vec<_>>(),
                    s.split(c).collect::<Vec<_>>(),
                    "{s:?} / {c}"
                );
                assert_eq!(split_once_byte(s, byte), s.split_once(c), "{s:?} / {c}");
            }
        }
    }
}
