//! Fixed-width hexadecimal helpers shared by the codecs.
//!
//! `u128::from_str_radix` accepts any length, a leading `+` and upper-case digits,
//! which is exactly the leniency the W3C grammar forbids (`HEXDIGLC` only, fixed
//! widths), so the codecs parse digit by digit here.

const LOWER: &[u8; 16] = b"0123456789abcdef";

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
    fn push_pads() {
        let mut s = String::new();
        push_lower(&mut s, 0xab, 4);
        assert_eq!(s, "00ab");
    }
}
