//! The gRPC `InventoryService`: `CheckInventory` (unary) and `WatchStock` (server
//! stream with a span per message, linked to the trace that changed the level).

use std::pin::Pin;

use futures_util::{Stream, StreamExt as _, stream};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tonic::{Request, Response, Status};
use tracewire_contracts::inventory_v1::inventory_service_server::{
    InventoryService, InventoryServiceServer,
};
use tracewire_contracts::inventory_v1::{
    CheckInventoryRequest, CheckInventoryResponse, LineAvailability, StockLevel, WatchStockRequest,
};
use tracewire_grpc::{GrpcServerTraceLayer, RpcContext};

use crate::watch::Change;
use crate::{Inventory, store};

/// The gRPC routes, each call a SERVER span `tracewire.inventory.v1.InventoryService/…`.
pub(crate) fn routes(inventory: Inventory) -> axum::Router {
    let layer = GrpcServerTraceLayer::new()
        .tracer_provider(inventory.telemetry.provider())
        .propagator(inventory.telemetry.propagator());
    tonic::service::Routes::new(InventoryServiceServer::new(Grpc(inventory)))
        .into_axum_router()
        .layer(layer)
}

struct Grpc(Inventory);

fn internal(error: &store::StoreError) -> Status {
    Status::internal(format!("inventory store: {error}"))
}

type LevelStream = Pin<Box<dyn Stream<Item = Result<StockLevel, Status>> + Send>>;

#[tonic::async_trait]
impl InventoryService for Grpc {
    async fn check_inventory(
        &self,
        request: Request<CheckInventoryRequest>,
    ) -> Result<Response<CheckInventoryResponse>, Status> {
        let tracer = self.0.telemetry.tracer();
        let mut span = tracer.start("check stock");
        let mut conn = self
            .0
            .pool
            .acquire()
            .await
            .map_err(|e| Status::unavailable(format!("inventory database: {e}")))?;
        let mut lines = Vec::new();
        for line in request.into_inner().lines {
            let item = store::item(&mut conn, &line.sku)
                .await
                .map_err(|e| internal(&e))?;
            lines.push(LineAvailability {
                known: item.is_some(),
                on_hand: item.as_ref().map_or(0, |i| i.on_hand),
                unit_price_cents: item.as_ref().map_or(0, |i| i.unit_price_cents),
                sku: line.sku,
                requested: line.quantity,
            });
        }
        let available = lines.iter().all(|l| l.known && l.on_hand >= l.requested);
        span.set_attribute(KeyValue::new("app.lines", lines.len() as i64));
        span.set_attribute(KeyValue::new("app.available", available));
        span.end();
        Ok(Response::new(CheckInventoryResponse { available, lines }))
    }

    type WatchStockStream = LevelStream;

    async fn watch_stock(
        &self,
        request: Request<WatchStockRequest>,
    ) -> Result<Response<LevelStream>, Status> {
        let rpc = RpcContext::of(&request);
        let WatchStockRequest { sku, max_updates } = request.into_inner();
        // Subscribe before reading the level, so no change falls in between.
        let changes = BroadcastStream::new(self.0.changes.subscribe());
        let mut conn = self
            .0
            .pool
            .acquire()
            .await
            .map_err(|e| Status::unavailable(format!("inventory database: {e}")))?;
        let item = store::item(&mut conn, &sku)
            .await
            .map_err(|e| internal(&e))?
            .ok_or_else(|| Status::not_found(format!("unknown sku {sku}")))?;
        drop(conn);
        let initial = StockLevel {
            sku: sku.clone(),
            on_hand: item.on_hand,
            reason: "initial".into(),
            order_id: String::new(),
        };
        let later = changes.filter_map(move |change| {
            let wanted = match change {
                Ok(change) if change.level.sku == sku => Some(Ok(change)),
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(n)) => Some(Err(Status::data_loss(format!(
                    "the watcher fell behind: {n} level(s) lost"
                )))),
            };
            std::future::ready(wanted)
        });
        let levels = stream::once(std::future::ready(Ok(Change {
            level: initial,
            cx: opentelemetry::Context::new(),
        })))
        .chain(later);
        let limit = if max_updates == 0 {
            usize::MAX
        } else {
            max_updates as usize
        };
        let traced = levels.take(limit).enumerate().map(move |(n, change)| {
            let span = rpc.message_span("send stock level", n as u64 + 1);
            match change {
                Ok(Change { level, cx }) => {
                    let caused_by = cx.span().span_context().clone();
                    if caused_by.is_valid() {
                        span.context().span().add_link(caused_by, Vec::new());
                    }
                    span.context()
                        .span()
                        .set_attribute(KeyValue::new("app.stock.reason", level.reason.clone()));
                    Ok(level)
                }
                Err(status) => {
                    span.record_error(&status);
                    Err(status)
                }
            }
        });
        Ok(Response::new(Box::pin(traced)))
    }
}
