//! Running routes: one task per route, one task per message in flight.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt};
use opentelemetry_semantic_conventions::attribute as semconv;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::BoxHandler;
use crate::{Broker, Delivery, Subscription};

/// A running router. [`shutdown`](Self::shutdown) stops it gracefully; dropping the
/// handle stops it too, without waiting.
#[derive(Debug)]
pub struct RouterHandle {
    stop: watch::Sender<bool>,
    routes: Vec<JoinHandle<()>>,
}

impl RouterHandle {
    pub(super) fn start<B: Broker>(
        broker: &B,
        routes: Vec<(B::Subscription, BoxHandler, usize)>,
    ) -> Self {
        let (stop, _) = watch::channel(false);
        let routes = routes
            .into_iter()
            .map(|(sub, handler, concurrency)| {
                tokio::spawn(run_route(
                    broker.clone(),
                    sub,
                    handler,
                    concurrency,
                    stop.subscribe(),
                ))
            })
            .collect();
        Self { stop, routes }
    }

    /// Stops taking messages, lets the messages in flight finish (each is acked or
    /// nacked), then returns. Messages still queued in the broker stay there for other
    /// members of a queue group; to lose nothing on a full stop, close (drain) the broker
    /// first and call this afterwards.
    ///
    /// Cancel-safety: dropping the future leaves the routes stopping in the background.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for route in self.routes {
            let _ = route.await;
        }
    }

    /// Waits until every route has ended by itself (its subscription closed, for
    /// example because the broker was closed), without stopping anything.
    ///
    /// Cancel-safety: dropping the future stops the router.
    pub async fn wait(mut self) {
        for route in std::mem::take(&mut self.routes) {
            let _ = route.await;
        }
    }
}

async fn run_route<B: Broker>(
    broker: B,
    mut sub: B::Subscription,
    handler: BoxHandler,
    concurrency: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut in_flight = JoinSet::new();
    loop {
        let permit = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            permit = Arc::clone(&slots).acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let delivery = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            delivery = sub.next() => delivery,
        };
        let Some(delivery) = delivery else { break };
        while in_flight.try_join_next().is_some() {}
        in_flight.spawn(process(
            broker.clone(),
            delivery,
            Arc::clone(&handler),
            permit,
        ));
    }
    while in_flight.join_next().await.is_some() {}
}

async fn process<B: Broker, D: Delivery>(
    broker: B,
    delivery: D,
    handler: BoxHandler,
    _slot: OwnedSemaphorePermit,
) {
    let cx = delivery.context();
    let msg = delivery.message().clone();
    // The handler is *called* inside the context too, not only polled: a span the
    // handler creates before its first `.await` (`info_span!(..)` then `.instrument`)
    // must be a child of the `process` span as well.
    let call = async move { handler(msg).await };
    let failure = match call.with_context(cx.clone()).await {
        Ok(produced) => {
            let mut failed = None;
            for out in produced {
                if let Err(err) = broker.publish(out).with_context(cx.clone()).await {
                    failed = Some(("publish", err.to_string()));
                    break;
                }
            }
            failed
        }
        Err(err) => Some((err.kind(), err.to_string())),
    };
    match failure {
        None => {
            let _ = delivery.ack().with_context(cx).await;
        }
        Some((kind, text)) => {
            let span = cx.span();
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, kind));
            span.set_status(Status::error(text));
            let _ = delivery.nack().with_context(cx.clone()).await;
        }
    }
}
