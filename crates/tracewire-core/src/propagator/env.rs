//! Choosing formats from `OTEL_PROPAGATORS`, as every OpenTelemetry SDK does.
//!
//! - unset or empty: `tracecontext,baggage`;
//! - `none` (alone): a no-op propagator;
//! - names are trimmed and case-insensitive; duplicates are ignored; empty items are
//!   skipped;
//! - unknown names (including `xray`, `ottrace`, which this crate does not implement)
//!   are reported in [`PropagatorSelection::unknown_names`] and the known ones used.
//!   `none` together with other names is ignored (the others win).

use super::{PropagatorKind, TracewirePropagator};

/// The environment variable.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";

/// The result of reading a propagator list.
#[derive(Clone, Debug)]
pub struct PropagatorSelection {
    /// The propagator built from the known names.
    pub propagator: TracewirePropagator,
    /// Names that were not recognised, as written (trimmed), in order.
    pub unknown_names: Vec<String>,
}

pub(super) fn from_env() -> PropagatorSelection {
    match std::env::var(OTEL_PROPAGATORS) {
        Ok(list) => from_list(&list),
        Err(_) => from_list(""),
    }
}

pub(super) fn from_list(list: &str) -> PropagatorSelection {
    let mut kinds = Vec::new();
    let mut unknown_names = Vec::new();
    let mut saw_any = false;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        saw_any = true;
        if name.eq_ignore_ascii_case("none") {
            // contributes no format; alone it yields the no-op
        } else if let Some(kind) = PropagatorKind::from_name(name) {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        } else if !unknown_names
            .iter()
            .any(|n: &String| n.eq_ignore_ascii_case(name))
        {
            unknown_names.push(name.to_owned());
        }
    }
    if !saw_any {
        kinds = vec![PropagatorKind::TraceContext, PropagatorKind::Baggage];
    }
    PropagatorSelection {
        propagator: TracewirePropagator::from_kinds(kinds),
        unknown_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn table() {
        let cases: Vec<(&str, &str, Vec<&str>, &str)> = vec![
            ("", "tracecontext,baggage", vec![], "empty means the default"),
            ("  ,  ", "tracecontext,baggage", vec![], "only separators means the default"),
            ("none", "none", vec![], "none is a no-op"),
            (" NONE ", "none", vec![], "none is case-insensitive"),
            ("b3, TraceContext ,b3multi", "b3,tracecontext,b3multi", vec![], "trimmed, case-insensitive, order kept"),
            ("jaeger,jaeger,baggage", "jaeger,baggage", vec![], "duplicates ignored"),
            ("tracecontext,xray,foo,Foo", "tracecontext", vec!["xray", "foo"], "unknown names reported once, known ones used"),
            ("none,b3", "b3", vec![], "none with others: the others win"),
            ("bogus", "none", vec!["bogus"], "only unknown names: a no-op"),
        ];
        for (list, expected, unknown, reason) in cases {
            let selection = from_list(list);
            assert_eq!(selection.propagator.to_string(), expected, "{reason}");
            assert_eq!(selection.unknown_names, unknown, "{reason}");
        }
    }
}
