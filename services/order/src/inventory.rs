//! Order's gRPC client for inventory: every call a CLIENT span, context in metadata.

use tonic::transport::{Channel, Endpoint};
use tower_layer::Layer as _;
use tracewire_contracts::LineItem;
use tracewire_contracts::inventory_v1::inventory_service_client::InventoryServiceClient;
use tracewire_contracts::inventory_v1::{CheckInventoryRequest, CheckInventoryResponse, Line};
use tracewire_grpc::GrpcClientTraceLayer;
use tracewire_grpc::client::GrpcClientTrace;
use tracewire_service_kit::Telemetry;

/// A traced client of inventory's `InventoryService`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct InventoryClient {
    client: InventoryServiceClient<GrpcClientTrace<Channel>>,
}

impl InventoryClient {
    /// A client of the inventory at `url` (`http://host:port`); it connects on first use.
    pub fn connect_lazy(url: &str, telemetry: &Telemetry) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(url.to_owned())?.connect_lazy();
        let layer = GrpcClientTraceLayer::new()
            .tracer_provider(telemetry.provider())
            .propagator(telemetry.propagator());
        Ok(Self {
            client: InventoryServiceClient::new(layer.layer(channel)),
        })
    }

    /// Asks whether `items` are in stock, with their prices.
    ///
    /// Cancel-safety: dropping the future cancels the call.
    pub async fn check(&self, items: &[LineItem]) -> Result<CheckInventoryResponse, tonic::Status> {
        let request = CheckInventoryRequest {
            lines: items
                .iter()
                .map(|i| Line {
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                })
                .collect(),
        };
        let mut client = self.client.clone();
        Ok(client.check_inventory(request).await?.into_inner())
    }
}
