//! Jaeger propagation: `uber-trace-id` and `uberctx-*` baggage.
//!
//! ```text
//! uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}
//!     trace-id 1–32 hex, span-id 1–16 hex, parent-span-id 1–16 hex (deprecated, "0"),
//!     flags 1–2 hex: 0x01 sampled, 0x02 debug (implies sampled)
//! uberctx-{key}: {percent-encoded value}
//! ```
//!
//! Jaeger clients write ids without leading zeros and in either case, so this codec
//! accepts 1 to 32 (16) hex digits of either case, rejects all-zero ids, and accepts
//! the URL-encoded form (`%3A` for `:`) some HTTP stacks produce. It writes the
//! canonical form: lower case, a 16-digit trace id when its upper 64 bits are zero
//! (else 32), a 16-digit span id, parent `0`, one flag digit.
//!
//! The deprecated `opentelemetry-jaeger-propagator` crate is pinned to an older
//! `opentelemetry`, hence this small codec.
//!
//! # Example
//!
//! ```
//! use tracewire_core::jaeger::JaegerContext;
//!
//! let ctx = JaegerContext::parse("4bf92f3577b34da6%3Aa3ce929d0e0e4736%3A0%3A1").unwrap();
//! assert!(ctx.is_sampled());
//! assert_eq!(ctx.to_header(), "4bf92f3577b34da6:a3ce929d0e0e4736:0:1");
//! ```

use opentelemetry::{SpanId, TraceId};

use crate::hex;
use crate::ows::trim_ows;

/// Header name.
pub const UBER_TRACE_ID: &str = "uber-trace-id";
/// Prefix of baggage headers (`uberctx-{key}`).
pub const UBERCTX_PREFIX: &str = "uberctx-";
/// Flag: sampled.
pub const FLAG_SAMPLED: u8 = 0x01;
/// Flag: debug.
pub const FLAG_DEBUG: u8 = 0x02;

/// A parsed `uber-trace-id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JaegerContext {
    /// Trace id (shorter ids are zero-padded on the left).
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id (0 when not sent; deprecated in Jaeger).
    pub parent_span_id: u64,
    /// Flags.
    pub flags: u8,
}

impl JaegerContext {
    /// Parses one value; `None` when invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let value = trim_ows(value);
        if value.contains('%') {
            let decoded = decode_colons(value)?;
            return Self::parse_decoded(&decoded);
        }
        Self::parse_decoded(value)
    }

    /// Parses every line of a received `uber-trace-id`; more than one is invalid.
    pub fn parse_lines(lines: &[&str]) -> Option<Self> {
        match lines {
            [one] => Self::parse(one),
            _ => None,
        }
    }

    fn parse_decoded(value: &str) -> Option<Self> {
        let mut parts = value.split(':');
        let trace = hex::parse_any_case(parts.next()?.as_bytes())?;
        let span = parse_u64(parts.next()?)?;
        let parent = parse_u64(parts.next()?)?;
        let flags_str = parts.next()?;
        if parts.next().is_some() || flags_str.len() > 2 {
            return None;
        }
        let flags = hex::parse_any_case(flags_str.as_bytes())? as u8;
        if trace == 0 || span == 0 {
            return None;
        }
        Some(Self {
            trace_id: TraceId::from(trace),
            span_id: SpanId::from(span),
            parent_span_id: parent,
            flags,
        })
    }

    /// Sampled or debug.
    pub const fn is_sampled(&self) -> bool {
        self.flags & (FLAG_SAMPLED | FLAG_DEBUG) != 0
    }

    /// Debug flag set.
    pub const fn is_debug(&self) -> bool {
        self.flags & FLAG_DEBUG != 0
    }

    /// The canonical header value.
    pub fn to_header(&self) -> String {
        let mut out = String::with_capacity(52);
        let trace = u128::from_be_bytes(self.trace_id.to_bytes());
        hex::push_lower(&mut out, trace, if trace >> 64 == 0 { 16 } else { 32 });
        out.push(':');
        hex::push_lower(
            &mut out,
            u128::from(u64::from_be_bytes(self.span_id.to_bytes())),
            16,
        );
        out.push(':');
        if self.parent_span_id == 0 {
            out.push('0');
        } else {
            hex::push_lower(&mut out, u128::from(self.parent_span_id), 16);
        }
        out.push(':');
        hex::push_lower(
            &mut out,
            u128::from(self.flags),
            if self.flags > 0xf { 2 } else { 1 },
        );
        out
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.len() > 16 {
        return None;
    }
    hex::parse_any_case(s.as_bytes()).map(|v| v as u64)
}

/// Replaces `%3A`/`%3a` with `:`; any other `%` sequence is invalid.
fn decode_colons(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if after.len() < 2 || !after.as_bytes()[..2].eq_ignore_ascii_case(b"3a") {
            return None;
        }
        out.push(':');
        rest = &after[2..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    fn valid() -> Vec<(&'static str, &'static str, bool, &'static str)> {
        vec![
            ("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1", "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1", true, "128-bit, sampled"),
            ("a3ce929d0e0e4736:00f067aa0ba902b7:0:0", "a3ce929d0e0e4736:00f067aa0ba902b7:0:0", false, "64-bit, not sampled"),
            ("abc:def:0:1", "0000000000000abc:0000000000000def:0:1", true, "short ids zero-padded"),
            ("ABC:DEF:0:01", "0000000000000abc:0000000000000def:0:1", true, "upper case and 2-digit flags"),
            ("abc%3Adef%3a0%3A3", "0000000000000abc:0000000000000def:0:3", true, "URL-encoded colons; debug"),
            ("abc:def:123:2", "0000000000000abc:0000000000000def:0000000000000123:2", true, "parent kept; debug implies sampled"),
        ]
    }

    #[rustfmt::skip]
    fn invalid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("", "empty"),
            ("abc:def:0", "three fields"),
            ("abc:def:0:1:x", "five fields"),
            ("0:def:0:1", "zero trace id"),
            ("abc:0:0:1", "zero span id"),
            ("xyz:def:0:1", "not hex"),
            ("abc:def:0:100", "flags over one byte"),
            ("abc%3Bdef:0:1", "only %3A is decoded"),
            ("abc:def:0:1%", "truncated escape"),
            ("4bf92f3577b34da6a3ce929d0e0e47361:def:0:1", "33-digit trace id"),
            ("abc:00f067aa0ba902b71:0:1", "17-digit span id"),
        ]
    }

    #[test]
    fn table() {
        for (input, out, sampled, reason) in valid() {
            let ctx = JaegerContext::parse(input);
            assert!(ctx.is_some(), "{reason}: {input:?} rejected");
            let ctx = ctx.unwrap();
            assert_eq!(ctx.to_header(), out, "{reason}");
            assert_eq!(ctx.is_sampled(), sampled, "{reason}");
        }
        for (input, reason) in invalid() {
            assert_eq!(JaegerContext::parse(input), None, "{reason}");
        }
        assert_eq!(
            JaegerContext::parse_lines(&["abc:def:0:1", "abc:def:0:1"]),
            None,
            "repeated lines"
        );
    }
}
