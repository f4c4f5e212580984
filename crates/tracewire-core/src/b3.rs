//! B3 propagation (Zipkin), single header and multi header.
//!
//! ```text
//! b3: {traceid}-{spanid}[-{sampling}[-{parentspanid}]]     or   b3: {sampling}
//!     traceid 16 or 32 lower-hex, spanid / parentspanid 16 lower-hex, sampling 0 | 1 | d
//! x-b3-traceid, x-b3-spanid, x-b3-parentspanid, x-b3-sampled (0|1, legacy true|false),
//! x-b3-flags: 1 (debug, implies sampled)
//! ```
//!
//! A 64-bit trace id is left-padded with zeros to 128 bits on extract (the B3 spec's
//! rule); on inject a trace id whose upper 64 bits are zero is written as 16 hex digits,
//! as Zipkin and Brave do, so a 64-bit trace stays 64-bit across a hop; any other id is
//! written with 32. A header repeated on several lines is invalid.
//!
//! Parsed by hand for the same reasons as `traceparent` (fixed widths, lower-case hex).
//!
//! # Example
//!
//! ```
//! use tracewire_core::b3::{B3Context, B3Sampling, B3Single};
//!
//! let Some(B3Single::Context(b3)) = B3Single::parse("463ac35c9f6413ad-a2fb4a1d1a96d312-1") else {
//!     panic!("valid b3");
//! };
//! assert_eq!(b3.sampling, B3Sampling::Accept);
//! assert_eq!(b3.to_single(), "463ac35c9f6413ad-a2fb4a1d1a96d312-1");
//! assert_eq!(B3Single::parse("d"), Some(B3Single::SamplingOnly(B3Sampling::Debug)));
//! ```

use opentelemetry::{SpanId, TraceId};

use crate::hex;
use crate::ows::trim_ows;

/// Single-header name.
pub const B3: &str = "b3";
/// Multi-header: trace id.
pub const X_B3_TRACE_ID: &str = "x-b3-traceid";
/// Multi-header: span id.
pub const X_B3_SPAN_ID: &str = "x-b3-spanid";
/// Multi-header: parent span id.
pub const X_B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// Multi-header: sampling decision.
pub const X_B3_SAMPLED: &str = "x-b3-sampled";
/// Multi-header: debug flag.
pub const X_B3_FLAGS: &str = "x-b3-flags";

/// A B3 sampling state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum B3Sampling {
    /// `0`: not sampled.
    Deny,
    /// `1`: sampled.
    Accept,
    /// `d`: debug (implies sampled).
    Debug,
    /// absent: the receiver decides. Mapped to "not sampled" in OpenTelemetry, as the
    /// other OpenTelemetry B3 propagators do.
    Defer,
}

impl B3Sampling {
    /// `true` for [`Self::Accept`] and [`Self::Debug`].
    pub const fn is_sampled(self) -> bool {
        matches!(self, Self::Accept | Self::Debug)
    }

    fn parse_single(s: &str) -> Option<Self> {
        match s {
            "0" => Some(Self::Deny),
            "1" => Some(Self::Accept),
            "d" => Some(Self::Debug),
            _ => None,
        }
    }

    const fn as_single(self) -> Option<&'static str> {
        match self {
            Self::Deny => Some("0"),
            Self::Accept => Some("1"),
            Self::Debug => Some("d"),
            Self::Defer => None,
        }
    }
}

/// Trace identifiers carried by B3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct B3Context {
    /// Trace id (a 64-bit id is zero-padded on the left).
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Sampling state.
    pub sampling: B3Sampling,
    /// Parent span id, if sent.
    pub parent_span_id: Option<SpanId>,
}

/// A parsed single `b3` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum B3Single {
    /// Only a sampling decision (`b3: 0`, `1` or `d`): no trace identifiers.
    SamplingOnly(B3Sampling),
    /// Trace identifiers.
    Context(B3Context),
}

impl B3Single {
    /// Parses one `b3` value (OWS trimmed).
    pub fn parse(value: &str) -> Option<Self> {
        let value = trim_ows(value);
        let mut parts = value.split('-');
        let first = parts.next()?;
        let Some(span) = parts.next() else {
            return B3Sampling::parse_single(first).map(Self::SamplingOnly);
        };
        let trace_id = parse_trace_id(first)?;
        let span_id = parse_span_id(span)?;
        let sampling = match parts.next() {
            Some(s) => B3Sampling::parse_single(s)?,
            None => B3Sampling::Defer,
        };
        let parent_span_id = match parts.next() {
            Some(p) => Some(parse_span_id(p)?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self::Context(B3Context {
            trace_id,
            span_id,
            sampling,
            parent_span_id,
        }))
    }

    /// Parses every line of a received `b3`; more than one line is invalid.
    pub fn parse_lines(lines: &[&str]) -> Option<Self> {
        match lines {
            [one] => Self::parse(one),
            _ => None,
        }
    }
}

impl B3Context {
    /// Builds from the multi-header values (each `None` when absent). Trace id and span
    /// id are required; `x-b3-flags: 1` means debug; `x-b3-sampled` accepts `0`/`1` and
    /// the legacy `true`/`false`.
    pub fn from_multi(
        trace_id: Option<&str>,
        span_id: Option<&str>,
        parent_span_id: Option<&str>,
        sampled: Option<&str>,
        flags: Option<&str>,
    ) -> Option<Self> {
        let trace_id = parse_trace_id(trim_ows(trace_id?))?;
        let span_id = parse_span_id(trim_ows(span_id?))?;
        let parent_span_id = match parent_span_id {
            Some(p) => Some(parse_span_id(trim_ows(p))?),
            None => None,
        };
        let debug = match flags.map(trim_ows) {
            Some("1") => true,
            Some("0") | None => false,
            Some(_) => return None,
        };
        let sampling = match sampled.map(trim_ows) {
            _ if debug => B3Sampling::Debug,
            Some("1" | "true") => B3Sampling::Accept,
            Some("0" | "false") => B3Sampling::Deny,
            None => B3Sampling::Defer,
            Some(_) => return None,
        };
        Some(Self {
            trace_id,
            span_id,
            sampling,
            parent_span_id,
        })
    }

    /// The single-header value `{traceid}-{spanid}[-{sampling}][-{parentspanid}]`.
    pub fn to_single(&self) -> String {
        let mut out = String::with_capacity(68);
        push_trace_id(&mut out, self.trace_id);
        out.push('-');
        push_span_id(&mut out, self.span_id);
        if let Some(s) = self.sampling.as_single() {
            out.push('-');
            out.push_str(s);
            if let Some(parent) = self.parent_span_id {
                out.push('-');
                push_span_id(&mut out, parent);
            }
        }
        out
    }

    /// The multi-header `(name, value)` pairs. Debug is sent as `x-b3-flags: 1`
    /// without `x-b3-sampled` (debug implies sampled).
    pub fn to_multi(&self) -> Vec<(&'static str, String)> {
        let mut trace = String::with_capacity(32);
        push_trace_id(&mut trace, self.trace_id);
        let mut span = String::with_capacity(16);
        push_span_id(&mut span, self.span_id);
        let mut out = vec![(X_B3_TRACE_ID, trace), (X_B3_SPAN_ID, span)];
        if let Some(parent) = self.parent_span_id {
            let mut p = String::with_capacity(16);
            push_span_id(&mut p, parent);
            out.push((X_B3_PARENT_SPAN_ID, p));
        }
        match self.sampling {
            B3Sampling::Debug => out.push((X_B3_FLAGS, "1".to_owned())),
            B3Sampling::Accept => out.push((X_B3_SAMPLED, "1".to_owned())),
            B3Sampling::Deny => out.push((X_B3_SAMPLED, "0".to_owned())),
            B3Sampling::Defer => {}
        }
        out
    }
}

fn parse_trace_id(s: &str) -> Option<TraceId> {
    let bytes = s.as_bytes();
    let id = match bytes.len() {
        16 | 32 => hex::parse_lower_exact(bytes, bytes.len())?,
        _ => return None,
    };
    (id != 0).then(|| TraceId::from(id))
}

fn parse_span_id(s: &str) -> Option<SpanId> {
    let id = hex::parse_lower_exact(s.as_bytes(), 16)? as u64;
    (id != 0).then(|| SpanId::from(id))
}

fn push_trace_id(out: &mut String, id: TraceId) {
    let id = u128::from_be_bytes(id.to_bytes());
    let width = if id >> 64 == 0 { 16 } else { 32 };
    hex::push_lower(out, id, width);
}

fn push_span_id(out: &mut String, id: SpanId) {
    hex::push_lower(out, u128::from(u64::from_be_bytes(id.to_bytes())), 16);
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const T64: &str = "a3ce929d0e0e4736";
    const S: &str = "00f067aa0ba902b7";
    const PARENT: &str = "a2fb4a1d1a96d312";

    #[rustfmt::skip]
    fn single_valid() -> Vec<(String, B3Sampling, bool, String, &'static str)> {
        vec![
            (format!("{T}-{S}-1"), B3Sampling::Accept, false, format!("{T}-{S}-1"), "128-bit, sampled"),
            (format!("{T}-{S}-0"), B3Sampling::Deny, false, format!("{T}-{S}-0"), "not sampled"),
            (format!("{T}-{S}-d"), B3Sampling::Debug, false, format!("{T}-{S}-d"), "debug"),
            (format!("{T}-{S}"), B3Sampling::Defer, false, format!("{T}-{S}"), "deferred"),
            (format!("{T}-{S}-1-{PARENT}"), B3Sampling::Accept, true, format!("{T}-{S}-1-{PARENT}"), "with parent"),
            (format!("{T64}-{S}-1"), B3Sampling::Accept, false, format!("{T64}-{S}-1"), "64-bit trace id stays 64-bit"),
            (format!(" {T}-{S}-1\t"), B3Sampling::Accept, false, format!("{T}-{S}-1"), "OWS"),
        ]
    }

    #[rustfmt::skip]
    fn single_invalid() -> Vec<(String, &'static str)> {
        vec![
            (String::new(), "empty"),
            ("2".into(), "unknown sampling-only value"),
            ("true".into(), "single header allows only 0, 1, d"),
            (format!("{}-{S}-1", T.to_uppercase()), "upper-case trace id"),
            (format!("{}-{S}-1", &T[..31]), "31-digit trace id"),
            (format!("{}-{S}-1", &T64[..15]), "15-digit trace id"),
            (format!("{}-{S}-1", "0".repeat(32)), "all-zero trace id"),
            (format!("{T}-{}-1", "0".repeat(16)), "all-zero span id"),
            (format!("{T}-{}-1", &S[..15]), "short span id"),
            (format!("{T}-{S}-x"), "unknown sampling"),
            (format!("{T}-{S}-1-{PARENT}-x"), "fifth field"),
            (format!("{T}-{S}-1-"), "trailing dash"),
            (format!("{T}-{S}-1-abc"), "short parent"),
        ]
    }

    #[test]
    fn single_table() {
        for (input, sampling, has_parent, out, reason) in single_valid() {
            let Some(B3Single::Context(b3)) = B3Single::parse(&input) else {
                panic!("{reason}: {input:?} rejected");
            };
            assert_eq!(b3.sampling, sampling, "{reason}");
            assert_eq!(b3.parent_span_id.is_some(), has_parent, "{reason}");
            assert_eq!(b3.to_single(), out, "{reason}");
        }
        for (input, reason) in single_invalid() {
            assert_eq!(B3Single::parse(&input), None, "{reason}: {input:?}");
        }
        for (input, sampling) in [
            ("0", B3Sampling::Deny),
            ("1", B3Sampling::Accept),
            ("d", B3Sampling::Debug),
        ] {
            assert_eq!(
                B3Single::parse(input),
                Some(B3Single::SamplingOnly(sampling)),
                "sampling-only {input}"
            );
        }
        let line = format!("{T}-{S}-1");
        assert_eq!(
            B3Single::parse_lines(&[&line, &line]),
            None,
            "repeated b3 lines"
        );
    }

    #[test]
    fn sixty_four_bit_id_is_left_padded() {
        let Some(B3Single::Context(b3)) = B3Single::parse(&format!("{T64}-{S}-1")) else {
            panic!("valid");
        };
        assert_eq!(b3.trace_id.to_string(), format!("{}{T64}", "0".repeat(16)));
    }

    #[rustfmt::skip]
    #[test]
    #[allow(clippy::type_complexity)]
    fn multi_table() {
        let cases: Vec<(Option<&str>, Option<&str>, Option<&str>, Option<&str>, Option<&str>, Option<B3Sampling>, &str)> = vec![
            (Some(T), Some(S), None, Some("1"), None, Some(B3Sampling::Accept), "sampled"),
            (Some(T), Some(S), None, Some("true"), None, Some(B3Sampling::Accept), "legacy true"),
            (Some(T), Some(S), None, Some("false"), None, Some(B3Sampling::Deny), "legacy false"),
            (Some(T), Some(S), Some(PARENT), Some("0"), None, Some(B3Sampling::Deny), "with parent"),
            (Some(T), Some(S), None, None, Some("1"), Some(B3Sampling::Debug), "x-b3-flags: 1 is debug"),
            (Some(T), Some(S), None, Some("0"), Some("1"), Some(B3Sampling::Debug), "debug wins over sampled 0"),
            (Some(T64), Some(S), None, None, None, Some(B3Sampling::Defer), "64-bit, deferred"),
            (None, Some(S), None, Some("1"), None, None, "trace id missing"),
            (Some(T), None, None, Some("1"), None, None, "span id missing"),
            (Some(T), Some(S), None, Some("yes"), None, None, "bad sampled"),
            (Some(T), Some(S), None, None, Some("2"), None, "bad flags"),
            (Some(T), Some(S), Some("xyz"), None, None, None, "bad parent"),
        ];
        for (t, s, p, sampled, flags, expected, reason) in cases {
            let got = B3Context::from_multi(t, s, p, sampled, flags);
            assert_eq!(got.map(|c| c.sampling), expected, "{reason}");
            if let Some(ctx) = got {
                let pairs = ctx.to_multi();
                let get = |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
                let again = B3Context::from_multi(get(X_B3_TRACE_ID), get(X_B3_SPAN_ID), get(X_B3_PARENT_SPAN_ID), get(X_B3_SAMPLED), get(X_B3_FLAGS));
                assert_eq!(again, Some(ctx), "{reason}: multi round trip");
                assert_eq!(get(X_B3_TRACE_ID), t, "{reason}: trace id width kept");
            }
        }
    }
}
