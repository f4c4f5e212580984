//! Service-mesh hop (Istio/Envoy): the propagator that speaks both W3C and B3, and the
//! header forwarding a hop needs. See `docs/mesh.md` for the deployment side.
//!
//! Envoy (Istio's sidecar) creates its own spans and propagates B3 (`x-b3-*`, and
//! `traceparent` with the OpenTelemetry tracer). A tracewire service that extracts and
//! injects **W3C + baggage + B3 single + B3 multi** continues whatever trace the
//! sidecar started and hands the next sidecar a context it understands, so the
//! sidecar spans and the tracewire spans form one trace.
//!
//! # Example
//!
//! ```
//! use tracewire_http::{ClientTraceLayer, ServerTraceLayer, mesh::mesh_propagator};
//!
//! let server = ServerTraceLayer::new().propagator(mesh_propagator());
//! let client = ClientTraceLayer::new().propagator(mesh_propagator());
//! # let _ = (server, client);
//! ```

use std::sync::Arc;

use tracewire_core::TracewirePropagator;
pub use tracewire_core::mesh::{MESH_TRACING_HEADERS, forward_mesh_headers};

use crate::SharedPropagator;

/// W3C Trace Context + W3C Baggage + B3 single header + B3 multi header: extracts
/// whichever the caller sent (W3C first), injects all of them.
pub fn mesh_propagator() -> SharedPropagator {
    Arc::new(
        TracewirePropagator::builder()
            .trace_context()
            .baggage()
            .b3()
            .b3_multi()
            .build(),
    )
}
