//! Span trees as text: one tree per trace, children ordered by start time, each line with
//! the span's name, kind, duration, status and key attributes.
//!
//! Used by `tracewire-testkit` (assertion failures print the tree), by `tracewire demo`
//! and, through [`SpanRecord`], by `tracewire view` on OTLP-JSON files.

mod record;
mod render;
mod waterfall;

pub use record::{RecordStatus, SpanRecord};
pub use render::{
    AttributeMode, KEY_ATTRIBUTES, RenderOptions, kind_label, render_records, render_traces,
    render_traces_with,
};
