//! Character classes of the header grammars as one 256-entry table: a class test is
//! one load and one mask instead of a chain of range comparisons.

/// `tracestate` key character (Level 2): `lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
pub(crate) const TS_KEY: u8 = 1;
/// First character of a `tracestate` key: `lcalpha / DIGIT`.
pub(crate) const TS_KEY_START: u8 = 2;
/// `tracestate` value character: printable ASCII and space, but `,` and `=`.
pub(crate) const TS_VALUE: u8 = 4;
/// RFC 9110 `tchar`.
pub(crate) const TOKEN: u8 = 8;
/// W3C Baggage `baggage-octet`.
pub(crate) const BAGGAGE_OCTET: u8 = 16;

const fn class_of(b: u8) -> u8 {
    let mut class = 0;
    if b.is_ascii_lowercase() || b.is_ascii_digit() {
        class |= TS_KEY | TS_KEY_START;
    }
    if matches!(b, b'_' | b'-' | b'*' | b'/' | b'@') {
        class |= TS_KEY;
    }
    if b >= 0x20 && b <= 0x7e && b != b',' && b != b'=' {
        class |= TS_VALUE;
    }
    if b.is_ascii_alphanumeric()
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
    {
        class |= TOKEN;
    }
    if matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) {
        class |= BAGGAGE_OCTET;
    }
    class
}

static CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = class_of(i as u8);
        i += 1;
    }
    table
};

/// `true` when `b` is in `class` (one of the constants above).
#[inline]
pub(crate) fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

/// `true` when every byte of `s` is in `class`.
#[inline]
pub(crate) fn all(s: &[u8], class: u8) -> bool {
    s.iter().all(|&b| is(b, class))
}
