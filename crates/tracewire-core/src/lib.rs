//! Strict context propagation for OpenTelemetry: W3C Trace Context (Level 2), W3C
//! Baggage, B3 and Jaeger, with carriers that see every line of a repeated header.
//!
//! The stock `opentelemetry_sdk` propagators accept malformed `traceparent` values,
//! drop the Level 2 random flag, read only the first of repeated header lines and do not
//! trim OWS in `tracestate`. [`TracewirePropagator`] parses and validates exactly, and
//! plugs into any OpenTelemetry set-up as a
//! [`TextMapPropagator`](opentelemetry::propagation::TextMapPropagator).
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use http::HeaderMap;
//! use opentelemetry::baggage::BaggageExt;
//! use opentelemetry::propagation::TextMapPropagator;
//! use opentelemetry::trace::TraceContextExt;
//! use opentelemetry::Context;
//! use tracewire_core::carrier::{HeaderExtractor, HeaderInjector};
//! use tracewire_core::TracewirePropagator;
//!
//! let propagator = TracewirePropagator::default(); // tracecontext,baggage
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03".parse().unwrap());
//! incoming.append("tracestate", "rojo=00f067aa0ba902b7".parse().unwrap());
//! incoming.append("tracestate", "congo=t61rcWkgMzE, 1tenant@@vendor=x".parse().unwrap());
//! incoming.insert("baggage", "user=alice;ttl=30,tier=gold".parse().unwrap());
//!
//! let cx = propagator.extract_with_context(&Context::new(), &HeaderExtractor(&incoming));
//! let remote = cx.span().span_context().clone();
//! assert!(remote.is_remote() && remote.is_sampled());
//! assert_eq!(cx.baggage().get("tier").map(|v| v.as_str()), Some("gold"));
//!
//! // A real service would start a child span here; injecting the remote context
//! // forwards what was received (repeated lines combined, Level 2 keys kept).
//! let mut outgoing = HeaderMap::new();
//! propagator.inject_context(&cx, &mut HeaderInjector(&mut outgoing));
//! assert_eq!(outgoing["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
//! assert_eq!(outgoing["tracestate"], "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,1tenant@@vendor=x");
//! assert_eq!(outgoing["baggage"], "user=alice;ttl=30,tier=gold");
//! # }
//! ```
//!
//! # Modules
//!
//! | module | what |
//! |---|---|
//! | [`propagator`] | [`TracewirePropagator`], its builder, `OTEL_PROPAGATORS` |
//! | [`traceparent`], [`tracestate`] | W3C Trace Context Level 2 codecs |
//! | [`baggage`] | W3C Baggage codec |
//! | [`b3`], [`jaeger`] | B3 (single and multi) and Jaeger codecs |
//! | [`carrier`] | `HeaderMap` and `(name, value)` pair carriers |
//! | [`mesh`] | headers an Istio/Envoy hop must forward |
//! | [`instrument`] | where a layer's propagator and tracer come from (global or its own) |
//! | [`intern`] | span names and attribute values leaked once per distinct name, bounded |
//!
//! # Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `http` | yes | [`carrier::HeaderExtractor`], [`carrier::HeaderInjector`], [`mesh::forward_mesh_headers`] for [`http::HeaderMap`] |
//!
//! The guide `docs/propagation.md` describes the formats, `OTEL_PROPAGATORS` and
//! every place where this crate is stricter than the stock propagators.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod b3;
pub mod baggage;
pub mod carrier;
mod chars;
mod hex;
pub mod instrument;
pub mod intern;
pub mod jaeger;
pub mod mesh;
mod ows;
pub mod propagator;
pub mod series;
pub mod traceparent;
pub mod tracestate;

pub use propagator::{
    PropagatorKind, PropagatorSelection, TracewirePropagator, TracewirePropagatorBuilder,
};
