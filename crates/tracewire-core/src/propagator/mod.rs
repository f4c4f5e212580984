//! [`TracewirePropagator`]: every format of this crate behind one
//! [`TextMapPropagator`].
//!
//! # Semantics
//!
//! - **Extract never fails.** Missing or invalid input returns the incoming
//!   [`Context`] unchanged. An extracted span context is remote.
//! - **Several trace formats:** the first format *in the configured order* that yields a
//!   valid context wins; later ones are not consulted for the trace (W3C first in the
//!   default). Baggage (`baggage`, and `uberctx-*` when Jaeger is on) is independent of
//!   the trace context and extracted even when no trace context is.
//! - **Inject** writes every configured format from `cx.span().span_context()`, and
//!   nothing trace-related when that is invalid; baggage from `cx.baggage()`.
//! - **Forwarding what was received.** `opentelemetry`'s `TraceState` cannot hold
//!   Level-2-only keys and its `Baggage` has no order, so extract also keeps the parsed
//!   `tracestate` (tagged with its trace id) and the parsed baggage list in the
//!   [`Context`]. Inject sends the kept `tracestate` when the span being injected has
//!   the same trace id and its `TraceState` is still the one extracted (an SDK child
//!   inherits it); otherwise the SDK's `TraceState`. Likewise the kept baggage list is
//!   sent, in received order, while `cx.baggage()` still holds exactly its entries;
//!   a changed baggage is sent sorted by key.
//! - The Level 2 random flag (0x02) is kept on extract, so SDK children (which copy the
//!   parent's flags when sampled or recording) carry it on; unknown flag bits are
//!   zeroed. Because the flag describes the trace id, inject also sets it for the trace
//!   id it arrived with: the SDK resets a dropped (unsampled) child's flags to `00`.
//!
//! # Example
//!
//! ```
//! use opentelemetry::propagation::TextMapPropagator;
//! use opentelemetry::trace::TraceContextExt;
//! use opentelemetry::Context;
//! use tracewire_core::carrier::{PairsExtractor, PairsInjector};
//! use tracewire_core::TracewirePropagator;
//!
//! let propagator = TracewirePropagator::from_list("b3, tracecontext").propagator;
//! let incoming = [("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1")];
//! let cx = propagator.extract_with_context(&Context::new(), &PairsExtractor::new(&incoming));
//! assert!(cx.span().span_context().is_remote());
//!
//! let mut outgoing = Vec::new();
//! propagator.inject_context(&cx, &mut PairsInjector::new(&mut outgoing));
//! assert_eq!(outgoing[1], (
//!     "traceparent".to_owned(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
//! ));
//! ```

mod builder;
mod env;
mod state;

use std::fmt;

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};

pub use builder::TracewirePropagatorBuilder;
pub use env::{OTEL_PROPAGATORS, PropagatorSelection};

use crate::b3::{self, B3Context, B3Sampling, B3Single};
use crate::baggage::{BAGGAGE, BaggageList, decode_value};
use crate::jaeger::{self, JaegerContext, UBER_TRACE_ID, UBERCTX_PREFIX};
use crate::traceparent::{FLAG_RANDOM, TRACEPARENT, TraceParent, format_header};
use crate::tracestate::{self, TRACESTATE, TraceStateList};
use state::Forwarded;

/// One propagation format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropagatorKind {
    /// W3C Trace Context (`tracecontext`).
    TraceContext,
    /// W3C Baggage (`baggage`).
    Baggage,
    /// B3 single header (`b3`).
    B3,
    /// B3 multi header (`b3multi`).
    B3Multi,
    /// Jaeger (`jaeger`).
    Jaeger,
}

impl PropagatorKind {
    /// The `OTEL_PROPAGATORS` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TraceContext => "tracecontext",
            Self::Baggage => "baggage",
            Self::B3 => "b3",
            Self::B3Multi => "b3multi",
            Self::Jaeger => "jaeger",
        }
    }

    /// The kind named `name` (ASCII case-insensitive, not trimmed).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::TraceContext,
            Self::Baggage,
            Self::B3,
            Self::B3Multi,
            Self::Jaeger,
        ]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// The header names this format writes (`uberctx-*` headers are per baggage key
    /// and not listed).
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            Self::TraceContext => &[TRACEPARENT, TRACESTATE],
            Self::Baggage => &[BAGGAGE],
            Self::B3 => &[b3::B3],
            Self::B3Multi => &[
                b3::X_B3_TRACE_ID,
                b3::X_B3_SPAN_ID,
                b3::X_B3_PARENT_SPAN_ID,
                b3::X_B3_SAMPLED,
                b3::X_B3_FLAGS,
            ],
            Self::Jaeger => &[UBER_TRACE_ID],
        }
    }
}

/// The strict composite propagator. [`Default`] is `tracecontext,baggage`.
#[derive(Clone, Debug)]
pub struct TracewirePropagator {
    kinds: Vec<PropagatorKind>,
    fields: Vec<String>,
}

impl Default for TracewirePropagator {
    fn default() -> Self {
        Self::from_kinds(vec![PropagatorKind::TraceContext, PropagatorKind::Baggage])
    }
}

impl fmt::Display for TracewirePropagator {
    /// The `OTEL_PROPAGATORS` list this propagator stands for (`none` when empty).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kinds.is_empty() {
            return f.write_str("none");
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl TracewirePropagator {
    /// A builder; formats are used in the order added.
    pub fn builder() -> TracewirePropagatorBuilder {
        TracewirePropagatorBuilder::new()
    }

    /// Reads `OTEL_PROPAGATORS` (see [`Self::from_list`]).
    pub fn from_env() -> PropagatorSelection {
        env::from_env()
    }

    /// Parses a propagator list such as `"tracecontext,baggage,b3,b3multi,jaeger"`:
    /// empty = `tracecontext,baggage`, `none` = no-op, names trimmed and
    /// case-insensitive, duplicates ignored, unknown names reported.
    pub fn from_list(list: &str) -> PropagatorSelection {
        env::from_list(list)
    }

    /// The formats, in order.
    pub fn kinds(&self) -> &[PropagatorKind] {
        &self.kinds
    }

    /// `true` for the no-op propagator (`none`).
    pub fn is_noop(&self) -> bool {
        self.kinds.is_empty()
    }

    pub(crate) fn from_kinds(kinds: Vec<PropagatorKind>) -> Self {
        let fields = kinds
            .iter()
            .flat_map(|k| k.fields().iter().map(|f| (*f).to_owned()))
            .collect();
        Self { kinds, fields }
    }

    fn has(&self, kind: PropagatorKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A span context found by one trace format.
struct Found {
    span_context: SpanContext,
    trace_state: Option<TraceStateList>,
    debug: bool,
    random: bool,
}

impl TextMapPropagator for TracewirePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let forwarded = cx.get::<Forwarded>();
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            let debug = forwarded.and_then(|f| f.debug) == Some(sc.trace_id());
            for kind in &self.kinds {
                match kind {
                    PropagatorKind::TraceContext => inject_w3c(sc, forwarded, injector),
                    PropagatorKind::B3 => injector.set(b3::B3, b3_context(sc, debug).to_single()),
                    PropagatorKind::B3Multi => {
                        for (name, value) in b3_context(sc, debug).to_multi() {
                            injector.set(name, value);
                        }
                    }
                    PropagatorKind::Jaeger => {
                        let flags = if debug {
                            jaeger::FLAG_SAMPLED | jaeger::FLAG_DEBUG
                        } else {
                            u8::from(sc.is_sampled())
                        };
                        let ctx = JaegerContext {
                            trace_id: sc.trace_id(),
                            span_id: sc.span_id(),
                            parent_span_id: 0,
                            flags,
                        };
                        injector.set(UBER_TRACE_ID, ctx.to_header());
                    }
                    PropagatorKind::Baggage => {}
                }
            }
        }

        let w3c_baggage = self.has(PropagatorKind::Baggage);
        let jaeger_baggage = self.has(PropagatorKind::Jaeger);
        let baggage = cx.baggage();
        if baggage.is_empty() || !(w3c_baggage || jaeger_baggage) {
            return;
        }
        let owned;
        let list = match forwarded.and_then(|f| f.baggage.as_ref()) {
            Some(list) if list.matches_otel(baggage) => list,
            _ => {
                owned = BaggageList::from_otel(baggage);
                &owned
            }
        };
        if list.is_empty() {
            return;
        }
        if jaeger_baggage {
            for member in list.iter() {
                let mut name = String::with_capacity(UBERCTX_PREFIX.len() + member.key().len());
                name.push_str(UBERCTX_PREFIX);
                name.push_str(member.key());
                injector.set(&name, member.encoded_value().to_owned());
            }
        }
        if w3c_baggage {
            injector.set(BAGGAGE, list.header());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut found: Option<Found> = None;
        let mut baggage: Option<BaggageList> = None;
        for kind in &self.kinds {
            match kind {
                PropagatorKind::Baggage => {
                    if let Some(lines) = extractor.get_all(BAGGAGE) {
                        let list = BaggageList::parse_lines(&lines);
                        merge_baggage(&mut baggage, list);
                    }
                }
                PropagatorKind::Jaeger => {
                    if found.is_none() {
                        found = extract_jaeger(extractor);
                    }
                    merge_baggage(&mut baggage, extract_uberctx(extractor));
                }
                _ if found.is_some() => {}
                PropagatorKind::TraceContext => found = extract_w3c(extractor),
                PropagatorKind::B3 => found = extract_b3_single(extractor),
                PropagatorKind::B3Multi => found = extract_b3_multi(extractor),
            }
        }
        if found.is_none() && baggage.is_none() {
            return cx.clone();
        }

        let previous = cx.get::<Forwarded>();
        let mut forwarded = Forwarded::default();
        let mut out = match found {
            Some(found) => {
                let trace_id = found.span_context.trace_id();
                forwarded.trace_state = found.trace_state.map(|list| (trace_id, list));
                forwarded.debug = found.debug.then_some(trace_id);
                forwarded.random = found.random.then_some(trace_id);
                cx.with_remote_span_context(found.span_context)
            }
            None => {
                if let Some(previous) = previous {
                    forwarded.trace_state.clone_from(&previous.trace_state);
                    forwarded.debug = previous.debug;
                    forwarded.random = previous.random;
                }
                cx.clone()
            }
        };
        match baggage {
            Some(list) => {
                out = out.with_baggage(list.to_otel());
                forwarded.baggage = Some(list);
            }
            None => forwarded.baggage = previous.and_then(|p| p.baggage.clone()),
        }
        if forwarded.trace_state.is_some()
            || forwarded.debug.is_some()
            || forwarded.random.is_some()
            || forwarded.baggage.is_some()
        {
            out = out.with_value(forwarded);
        }
        out
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

fn merge_baggage(into: &mut Option<BaggageList>, list: BaggageList) {
    if list.is_empty() {
        return;
    }
    match into {
        None => *into = Some(list),
        Some(existing) => {
            for member in list.iter() {
                existing.push(member.key(), &member.value(), member.properties());
            }
        }
    }
}

fn inject_w3c(sc: &SpanContext, forwarded: Option<&Forwarded>, injector: &mut dyn Injector) {
    let mut flags = sc.trace_flags().to_u8();
    if forwarded.and_then(|f| f.random) == Some(sc.trace_id()) {
        flags |= FLAG_RANDOM;
    }
    injector.set(
        TRACEPARENT,
        format_header(sc.trace_id(), sc.span_id(), flags),
    );
    let kept = forwarded
        .and_then(|f| f.trace_state.as_ref())
        .filter(|(trace_id, list)| {
            *trace_id == sc.trace_id() && list.matches_otel(sc.trace_state())
        });
    match kept {
        Some((_, list)) => injector.set(TRACESTATE, list.header()),
        None => {
            let header = tracestate::otel_header(sc.trace_state());
            if header.len() > tracestate::TRUNCATE_AT {
                injector.set(TRACESTATE, tracestate::truncate(&header).into_owned());
            } else if !header.is_empty() {
                injector.set(TRACESTATE, header);
            }
        }
    }
}

fn extract_w3c(extractor: &dyn Extractor) -> Option<Found> {
    let parent = TraceParent::parse_lines(&extractor.get_all(TRACEPARENT)?)?;
    // An invalid tracestate is dropped without affecting traceparent. The list is kept
    // beside the SDK's TraceState only when that cannot hold all of it.
    let (otel_state, trace_state) = extractor
        .get_all(TRACESTATE)
        .and_then(|lines| tracestate::parse_for_otel(&lines))
        .unwrap_or_default();
    Some(Found {
        span_context: parent.to_span_context(otel_state),
        trace_state,
        debug: false,
        random: parent.flags & FLAG_RANDOM != 0,
    })
}

fn b3_found(ctx: B3Context) -> Found {
    Found {
        span_context: SpanContext::new(
            ctx.trace_id,
            ctx.span_id,
            TraceFlags::new(u8::from(ctx.sampling.is_sampled())),
            true,
            Default::default(),
        ),
        trace_state: None,
        debug: ctx.sampling == B3Sampling::Debug,
        random: false,
    }
}

fn b3_context(sc: &SpanContext, debug: bool) -> B3Context {
    B3Context {
        trace_id: sc.trace_id(),
        span_id: sc.span_id(),
        sampling: if debug {
            B3Sampling::Debug
        } else if sc.is_sampled() {
            B3Sampling::Accept
        } else {
            B3Sampling::Deny
        },
        parent_span_id: None,
    }
}

fn extract_b3_single(extractor: &dyn Extractor) -> Option<Found> {
    // A sampling-only `b3: 0|1|d` carries no ids: OpenTelemetry cannot represent a
    // decision without a trace, so a new trace starts and the sampler decides.
    match B3Single::parse_lines(&extractor.get_all(b3::B3)?)? {
        B3Single::Context(ctx) => Some(b3_found(ctx)),
        B3Single::SamplingOnly(_) => None,
    }
}

fn extract_b3_multi(extractor: &dyn Extractor) -> Option<Found> {
    // Each multi header must appear at most once.
    fn one<'a>(extractor: &'a dyn Extractor, name: &str) -> Result<Option<&'a str>, ()> {
        match extractor.get_all(name).as_deref() {
            None => Ok(None),
            Some([value]) => Ok(Some(value)),
            Some(_) => Err(()),
        }
    }
    let ctx = B3Context::from_multi(
        one(extractor, b3::X_B3_TRACE_ID).ok()?,
        one(extractor, b3::X_B3_SPAN_ID).ok()?,
        one(extractor, b3::X_B3_PARENT_SPAN_ID).ok()?,
        one(extractor, b3::X_B3_SAMPLED).ok()?,
        one(extractor, b3::X_B3_FLAGS).ok()?,
    )?;
    Some(b3_found(ctx))
}

fn extract_jaeger(extractor: &dyn Extractor) -> Option<Found> {
    let ctx = JaegerContext::parse_lines(&extractor.get_all(UBER_TRACE_ID)?)?;
    Some(Found {
        span_context: SpanContext::new(
            ctx.trace_id,
            ctx.span_id,
            TraceFlags::new(u8::from(ctx.is_sampled())),
            true,
            Default::default(),
        ),
        trace_state: None,
        debug: ctx.is_debug(),
        random: false,
    })
}

fn extract_uberctx(extractor: &dyn Extractor) -> BaggageList {
    let mut list = BaggageList::new();
    for name in extractor.keys() {
        let Some(prefix) = name.get(..UBERCTX_PREFIX.len()) else {
            continue;
        };
        if !prefix.eq_ignore_ascii_case(UBERCTX_PREFIX) {
            continue;
        }
        let key = &name[UBERCTX_PREFIX.len()..];
        if let Some([value]) = extractor.get_all(name).as_deref() {
            list.push(
                &key.to_ascii_lowercase(),
                &decode_value(crate::ows::trim_ows(value)),
                "",
            );
        }
    }
    list
}

#[cfg(test)]
mod tests;
