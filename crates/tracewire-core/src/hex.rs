//! Fixed-width hexadecimal helpers shared by the codecs.
//!
//! `u128::from_str_radix` accepts any length, a leading `+` and upper-case digits,
//! which is exactly the leniency the W3C grammar forbids (`HEXDIGLC` only, fixed
//! widths), so the codecs parse digit by digit here.

const LOWER: &[u8; 16] = b"0123456789abcdef";

/// Marks a byte that is not a lower-case hex digit in [`LOWER_VALUE`].
const NOT_LOWER: u8 = 0x10;

/// The value of every byte read as a lower-case hex digit, [`NOT_LOWER`] if it is not.
static LOWER_VALUE: [u8; 256] = {
    let mut table = [NOT_LOWER; 256];
    let mut i = 0;
    while i < 16 {
        table[LOWER[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Exactly `2 * N` lower-case hex digits into `N` bytes, big-endian (one table look-up
/// per digit, one check at the end).
#[inline]
pub(crate) fn decode_lower<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let high = LOWER_VALUE[usize::from(pair[0])];
        let low = LOWER_VALUE[usize::from(pair[1])];
        bad |= high | low;
        *byte = (high << 4) | low;
    }
    (bad & NOT_LOWER == 0).then_some(out)
}

/// Writes `bytes` as lower-case hex into `out` (`out.len() == 2 * bytes.len()`).
#[inline]
pub(crate) fn encode_lower(bytes: &[u8], out: &mut [u8]) {
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = LOWER[usize::from(byte >> 4)];
        pair[1] = LOWER[usize::from(byte & 0xf)];
    }
}

/// Value of one lower-case hex digit.
#[inline]
pub(crate) const fn lower_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Value of one hex digit of either case.
#[inline]
pub(crate) const fn any_digit(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => lower_digit(b),
    }
}

/// Parses 1 to 32 hex digits with `digit` into a `u128`.
#[inline]
fn parse_with(s: &[u8], digit: fn(u8) -> Option<u8>) -> Option<u128> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    let mut value: u128 = 0;
    for &b in s {
        value = (value << 4) | u128::from(digit(b)?);
    }
    Some(value)
}

/// Exactly `width` lower-case hex digits (`width` ≤ 32).
#[inline]
pub(crate) fn parse_lower_exact(s: &[u8], width: usize) -> Option<u128> {
    if s.len() != width {
        return None;
    }
    parse_with(s, lower_digit)
}

/// 1 to 32 hex digits of either case.
#[inline]
pub(crate) fn parse_any_case(s: &[u8]) -> Option<u128> {
    parse_with(s, any_digit)
}

/// Appends the `width` low-order hex digits of `value`, lower case, zero-padded.
#[inline]
pub(crate) fn push_lower(out: &mut String, value: u128, width: usize) {
    for i in (0..width).rev() {
        let nibble = ((value >> (i * 4)) & 0xf) as usize;
        out.push(char::from(LOWER[nibble]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_lower_only() {
        assert_eq!(parse_lower_exact(b"0a", 2), Some(10));
        assert_eq!(
            parse_lower_exact(b"0A", 2),
            None,
            "upper case is not HEXDIGLC"
        );
        assert_eq!(parse_lower_exact(b"a", 2), None, "too short");
        assert_eq!(parse_lower_exact(b"+a", 2), None, "sign is not a digit");
        assert_eq!(parse_any_case(b"Ab"), Some(0xab));
        assert_eq!(parse_any_case(b""), None);
        assert_eq!(parse_any_case(&[b'f'; 33]), None, "more than 128 bits");
    }

    #[test]
    fn table_decoding_matches_the_digit_rule() {
        assert_eq!(decode_lower::<2>(b"0aff"), Some([0x0a, 0xff]));
        assert_eq!(decode_lower::<1>(b"0A"), None, "upper case is not HEXDIGLC");
        assert_eq!(decode_lower::<1>(b"+a"), None);
        assert_eq!(decode_lower::<2>(b"0a"), None, "wrong width");
        for b in 0..=255u8 {
            let pair = [b'0', b];
            assert_eq!(
                decode_lower::<1>(&pair).map(|v| v[0]),
                lower_digit(b),
                "byte {b:#04x}"
            );
        }
        let mut out = [0u8; 4];
        encode_lower(&[0x0a, 0xf0], &mut out);
        assert_eq!(&out, b"0af0");
    }

    #[test]
    fn push_pads() {
        let mut s = String::new();
        push_lower(&mut s, 0xab, 4);
        assert_eq!(s, "00ab");
    }
}
