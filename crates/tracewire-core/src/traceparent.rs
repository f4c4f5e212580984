//! The W3C `traceparent` header, Trace Context Level 2.
//!
//! ```text
//! traceparent = version "-" trace-id "-" parent-id "-" trace-flags    ; version 00: exactly 55 chars
//! version     = 2HEXDIGLC    ; ff is forbidden; a later version may append "-" fields
//! trace-id    = 32HEXDIGLC   ; not all zeros
//! parent-id   = 16HEXDIGLC   ; not all zeros
//! trace-flags = 2HEXDIGLC    ; 0x01 sampled, 0x02 random (Level 2)
//! ```
//!
//! Parsed by hand: `u128::from_str_radix` (what the stock propagator uses) takes any
//! length, a sign and upper-case digits, so `0-T-P-01`, a 31-digit id or flags `1`
//! would be accepted. Here every field has a fixed width and lower-case digits only.
//!
//! # Example
//!
//! ```
//! use tracewire_core::traceparent::TraceParent;
//!
//! let tp = TraceParent::parse(" cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0b-future")
//!     .expect("a future version is parsed as version 00");
//! // emitted as version 00; the sampled (0x01) and random (0x02) bits stay, 0x08 goes
//! assert_eq!(tp.to_header(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
//! assert!(TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none());
//! ```

use opentelemetry::trace::{SpanContext, TraceState};
use opentelemetry::{SpanId, TraceFlags, TraceId};

use crate::hex;
use crate::ows::trim_ows;

/// Header name (lower case, as HTTP/2 and gRPC require).
pub const TRACEPARENT: &str = "traceparent";
/// The `sampled` flag.
pub const FLAG_SAMPLED: u8 = 0x01;
/// The Level 2 `random` flag: the trace id's right-most 7 bytes are random.
pub const FLAG_RANDOM: u8 = 0x02;
/// The flags this implementation understands; every other bit is zeroed on output.
pub const KNOWN_FLAGS: u8 = FLAG_SAMPLED | FLAG_RANDOM;
/// Length of a version `00` header.
pub const TRACEPARENT_LEN: usize = 55;

/// A parsed `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The version received (`00`, or a future version parsed by the `00` rules).
    pub version: u8,
    /// The trace id, never [`TraceId::INVALID`] after parsing.
    pub trace_id: TraceId,
    /// The caller's span id, never [`SpanId::INVALID`] after parsing.
    pub parent_id: SpanId,
    /// The flags as received, unknown bits included (see [`Self::known_flags`]).
    pub flags: u8,
}

impl TraceParent {
    /// Parses one header value. Leading and trailing SP/HTAB are optional whitespace and
    /// ignored; anything else outside the grammar yields `None` (restart the trace).
    pub fn parse(value: &str) -> Option<Self> {
        let v = trim_ows(value).as_bytes();
        if v.len() < TRACEPARENT_LEN {
            return None;
        }
        let [version] = hex::decode_lower::<1>(&v[0..2])?;
        if version == 0xff || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return None;
        }
        // Version 00 is exactly 55 characters; a later version may append fields, each
        // introduced by "-". Unknown trailing fields are dropped.
        if v.len() > TRACEPARENT_LEN && (version == 0 || v[TRACEPARENT_LEN] != b'-') {
            return None;
        }
        let trace_id = hex::decode_lower::<16>(&v[3..35])?;
        let parent_id = hex::decode_lower::<8>(&v[36..52])?;
        let [flags] = hex::decode_lower::<1>(&v[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            version,
            trace_id: TraceId::from_bytes(trace_id),
            parent_id: SpanId::from_bytes(parent_id),
            flags,
        })
    }

    /// Parses every line of a received `traceparent`. More than one line is invalid:
    /// combined per RFC 9110 they read `a,b`, which is not a `traceparent`.
    pub fn parse_lines(lines: &[&str]) -> Option<Self> {
        match lines {
            [one] => Self::parse(one),
            _ => None,
        }
    }

    /// The flags this implementation understands (sampled, random); the rest are zero.
    pub const fn known_flags(&self) -> u8 {
        self.flags & KNOWN_FLAGS
    }

    /// The header to send: always version `00`, lower case, 55 characters, unknown flag
    /// bits zeroed.
    pub fn to_header(&self) -> String {
        format_header(self.trace_id, self.parent_id, self.flags)
    }

    /// A remote [`SpanContext`] for this parent, with unknown flag bits zeroed.
    pub fn to_span_context(&self, trace_state: TraceState) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.parent_id,
            TraceFlags::new(self.known_flags()),
            true,
            trace_state,
        )
    }

    /// The `traceparent` describing `span_context`, or `None` when it is invalid.
    pub fn from_span_context(span_context: &SpanContext) -> Option<Self> {
        span_context.is_valid().then(|| Self {
            version: 0,
            trace_id: span_context.trace_id(),
            parent_id: span_context.span_id(),
            flags: span_context.trace_flags().to_u8(),
        })
    }
}

/// Formats a version `00` header (`flags` masked to [`KNOWN_FLAGS`]).
pub(crate) fn format_header(trace_id: TraceId, span_id: SpanId, flags: u8) -> String {
    let mut buf = [b'-'; TRACEPARENT_LEN];
    buf[..2].copy_from_slice(b"00");
    hex::encode_lower(&trace_id.to_bytes(), &mut buf[3..35]);
    hex::encode_lower(&span_id.to_bytes(), &mut buf[36..52]);
    hex::encode_lower(&[flags & KNOWN_FLAGS], &mut buf[53..55]);
    // only ASCII was written, so this never falls back
    std::str::from_utf8(&buf).map_or_else(|_| String::new(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const P: &str = "00f067aa0ba902b7";

    fn tp(version: &str, flags: &str) -> String {
        format!("{version}-{T}-{P}-{flags}")
    }

    /// (input, expected outgoing header with the same parent id, reason)
    #[rustfmt::skip]
    fn valid_data() -> Vec<(String, String, &'static str)> {
        vec![
            (tp("00", "01"), tp("00", "01"), "row 1: sampled"),
            (tp("00", "00"), tp("00", "00"), "row 2: not sampled is still propagated"),
            (format!(" \t{} \t", tp("00", "01")), tp("00", "01"), "row 5: SP/HTAB around the value are OWS"),
            (tp("cc", "01"), tp("00", "01"), "row 17: future version is emitted as 00"),
            (format!("{}-what-the-future-will-be-like", tp("cc", "01")), tp("00", "01"), "row 18: future version drops unknown fields"),
            (tp("00", "09"), tp("00", "01"), "row 22: unknown v00 flag bits zeroed, sampled kept"),
            (tp("00", "02"), tp("00", "02"), "row 23: Level 2 random flag kept"),
            (tp("00", "03"), tp("00", "03"), "random + sampled kept"),
            (tp("00", "ff"), tp("00", "03"), "all unknown bits zeroed"),
        ]
    }

    #[rustfmt::skip]
    fn invalid_data() -> Vec<(String, &'static str)> {
        let zero_t = "0".repeat(32);
        let zero_p = "0".repeat(16);
        vec![
            (String::new(), "row 6: empty value"),
            ("  \t ".to_owned(), "row 6: only OWS"),
            (format!("00-{}-{P}-01", T.to_uppercase()), "row 7: upper-case trace id"),
            (format!("00-{T}-{}-01", P.to_uppercase()), "upper-case parent id"),
            (tp("00", "0A"), "row 8: upper-case flags"),
            (format!("00-{zero_t}-{P}-01"), "row 9: all-zero trace id"),
            (format!("00-{T}-{zero_p}-01"), "row 10: all-zero parent id"),
            (tp("ff", "01"), "row 11: version ff is forbidden"),
            (tp("0", "01"), "row 12: 1-digit version"),
            (tp("000", "01"), "row 12: 3-digit version"),
            (tp(".0", "01"), "row 13: version not hex"),
            (tp("0x", "01"), "row 13: version not hex (0x)"),
            (format!("{}-extra", tp("00", "01")), "row 14: v00 with a fifth field"),
            (format!("{}-", tp("00", "01")), "row 15: v00 with a trailing dash"),
            (format!("{}.", tp("00", "01")), "row 16: v00 with trailing junk"),
            (format!("{}.what", tp("cc", "01")), "row 19: future version, flags not followed by '-'"),
            (format!("00-{}-{P}-01", &T[..31]), "row 20: 31-digit trace id"),
            (format!("00-{T}0-{P}-01"), "row 20: 33-digit trace id"),
            (format!("00-{T}-{}-01", &P[..15]), "row 20: 15-digit parent id"),
            (format!("00-{T}-{P}0-01"), "row 20: 17-digit parent id"),
            (tp("00", "1"), "row 21: 1-digit flags"),
            (tp("00", "001"), "row 21: 3-digit flags"),
            (format!("00_{T}-{P}-01"), "wrong delimiter after the version"),
            (format!("00-{T}_{P}-01"), "wrong delimiter after the trace id"),
            (format!("00-+{}-{P}-01", &T[..31]), "sign inside the trace id"),
            (format!("\u{a0}{}", tp("00", "01")), "only SP and HTAB are OWS, not NBSP"),
            (format!("{}\n", tp("00", "01")), "a line feed is not OWS"),
        ]
    }

    #[test]
    fn valid_headers_continue() {
        for (input, expected, reason) in valid_data() {
            let parsed = TraceParent::parse(&input);
            assert!(parsed.is_some(), "{reason}: {input:?} rejected");
            let parsed = parsed.unwrap();
            assert_eq!(parsed.to_header(), expected, "{reason}");
            assert_eq!(parsed.to_header().len(), TRACEPARENT_LEN, "{reason}");
        }
    }

    #[test]
    fn invalid_headers_restart() {
        for (input, reason) in invalid_data() {
            assert_eq!(TraceParent::parse(&input), None, "{reason}: {input:?}");
        }
    }

    #[test]
    fn repeated_lines_restart() {
        let a = tp("00", "01");
        let b = format!("00-{T}-{}-01", "1".repeat(16));
        assert_eq!(
            TraceParent::parse_lines(&[&a, &b]),
            None,
            "row 24: two traceparent lines combine to an invalid value"
        );
        assert_eq!(
            TraceParent::parse_lines(&[&a, &a]),
            None,
            "row 24: even identical lines"
        );
        assert_eq!(TraceParent::parse_lines(&[]), None, "no line");
        assert!(TraceParent::parse_lines(&[&a]).is_some(), "one line");
    }

    #[test]
    fn span_context_is_remote_with_known_flags() {
        let parsed = TraceParent::parse(&tp("00", "0b")).unwrap();
        let sc = parsed.to_span_context(TraceState::NONE);
        assert!(sc.is_remote() && sc.is_valid() && sc.is_sampled());
        assert_eq!(sc.trace_flags().to_u8(), 0x03);
        assert_eq!(
            TraceParent::from_span_context(&sc).unwrap().to_header(),
            tp("00", "03")
        );
        assert_eq!(TraceParent::from_span_context(&SpanContext::NONE), None);
    }
}
