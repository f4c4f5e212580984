//! Choosing and installing the global text-map propagator.

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use tracewire_core::TracewirePropagator;

use crate::config::{PropagatorChoice, SharedPropagator};

/// A shared propagator usable where a concrete `TextMapPropagator` is required
/// (`opentelemetry::global::set_text_map_propagator`).
#[derive(Clone)]
pub(crate) struct Shared(pub(crate) SharedPropagator);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shared")
            .field(&self.0.fields().collect::<Vec<_>>())
            .finish()
    }
}

impl TextMapPropagator for Shared {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// The resolved propagator, its description and the unknown names.
pub(crate) fn resolve(choice: &PropagatorChoice) -> (Shared, String, Vec<String>) {
    match choice {
        PropagatorChoice::List(list) => {
            let selection = TracewirePropagator::from_list(list);
            let described = selection.propagator.to_string();
            (
                Shared(std::sync::Arc::new(selection.propagator)),
                described,
                selection.unknown_names,
            )
        }
        PropagatorChoice::Custom(p) => (Shared(p.clone()), "custom".to_owned(), Vec::new()),
    }
}
