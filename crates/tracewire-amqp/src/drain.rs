//! [`close`]: the graceful shutdown of [`AmqpBroker::close`](crate::AmqpBroker).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::options::{BasicCancelOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use tokio::time::Instant;

use crate::AmqpError;
use crate::broker::Inner;
use crate::error::timed;
use crate::session::close_link;
use crate::subscription::SubState;

const POLL: Duration = Duration::from_millis(20);

/// Waits until `done` holds, or fails at `deadline`.
async fn until(deadline: Instant, mut done: impl FnMut() -> bool) -> Result<(), ()> {
    while !done() {
        if Instant::now() >= deadline {
            return Err(());
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Stops publishing, drains every subscription, closes the connection.
pub(crate) async fn close(inner: &Inner) -> Result<(), AmqpError> {
    inner.closed.store(true, Ordering::Release);
    let timeout = inner.config.drain_timeout;
    let deadline = Instant::now() + timeout;
    let subs: Vec<Arc<SubState>> = inner
        .subscriptions()
        .iter()
        .filter_map(std::sync::Weak::upgrade)
        .collect();
    let drained = drain(inner, &subs, deadline).await;
    // The subscriptions' channels are closed here rather than by lapin when their last
    // handle goes: that auto-close could race the connection's close and fail it.
    let op = inner.config.operation_timeout;
    for sub in &subs {
        if let Some(consuming) = sub.set_consuming(None) {
            let close = consuming.channel.close(200, "closed".into());
            let _ = timed("channel.close", op, close).await;
        }
    }
    // No more reconnections; a reconnection in progress is abandoned.
    if let Some(link) = inner.session.shut() {
        close_link(&link, inner.config.operation_timeout).await?;
    }
    drained.map_err(|()| AmqpError::timed_out("drain", timeout))
}

async fn drain(inner: &Inner, subs: &[Arc<SubState>], deadline: Instant) -> Result<(), ()> {
    until(deadline, || inner.in_flight.load(Ordering::Acquire) == 0).await?;
    let op = inner.config.operation_timeout;
    // While reconnecting, wait for the connection (the subscriptions consume again on it).
    let link = inner.session.link(0, Some(deadline)).await.map_err(drop)?;
    // A channel of its own for the passive declares: a failed one closes its channel.
    let probe = timed("channel.open", op, link.connection.create_channel())
        .await
        .map_err(drop)?;
    for sub in subs {
        if sub.finished.load(Ordering::Acquire) {
            continue;
        }
        // Let the consumer take every ready message, then stop it: its stream yields
        // what the client already holds, then ends.
        loop {
            let passive = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let declare = probe.queue_declare(sub.queue.clone(), passive, FieldTable::default());
            match timed("queue.declare", op, declare).await {
                Ok(queue) if queue.message_count() > 0 => {}
                _ => break,
            }
            if Instant::now() >= deadline {
                return Err(());
            }
            tokio::time::sleep(POLL).await;
        }
        if let Some(consuming) = sub.consuming() {
            let cancel = consuming
                .channel
                .basic_cancel(consuming.tag, BasicCancelOptions::default());
            let _ = timed("basic.cancel", op, cancel).await;
        }
    }
    let _ = probe.close(200, "drained".into()).await;
    until(deadline, || subs.iter().all(|s| s.idle())).await
}
