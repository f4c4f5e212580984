//! Order's table: one row per order, its lines as JSON.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use sqlx::{Row as _, SqliteConnection, SqlitePool};
use tracewire_contracts::{Order, OrderStatus, PricedLine};
use tracewire_service_kit::db::{self, DbError, Migration};
use tracewire_service_kit::inbox;

const MIGRATIONS: &[Migration] = &[
    inbox::MIGRATION,
    Migration::new(
        2,
        "orders",
        "CREATE TABLE orders (
            id             TEXT PRIMARY KEY,
            customer       TEXT NOT NULL,
            lines          TEXT NOT NULL,
            total_cents    INTEGER NOT NULL,
            status         TEXT NOT NULL,
            reason         TEXT,
            reservation_id TEXT,
            created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        )",
    ),
    // `{trace id}-{span id}` of the operation that last changed the order, so that a
    // stream opened later can still link its first message to the order's trace.
    Migration::new(
        3,
        "orders changed_in",
        "ALTER TABLE orders ADD COLUMN changed_in TEXT",
    ),
];

/// `{trace id}-{span id}` of `cause`, or nothing when it is not a valid span.
fn span_ref(cause: &SpanContext) -> Option<String> {
    cause
        .is_valid()
        .then(|| format!("{}-{}", cause.trace_id(), cause.span_id()))
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("order database")]
    Db(#[from] sqlx::Error),
    /// A stored row does not decode.
    #[error("corrupt order row: {0}")]
    Corrupt(String),
}

/// Opens (and migrates) the order database.
///
/// Cancel-safety: as [`db::open`].
pub async fn open(location: &str) -> Result<SqlitePool, DbError> {
    let pool = db::open(location).await?;
    db::migrate(&pool, MIGRATIONS).await?;
    Ok(pool)
}

/// Stores a new order, placed in the span `cause`.
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    order: &Order,
    cause: &SpanContext,
) -> Result<(), StoreError> {
    let lines =
        serde_json::to_string(&order.lines).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO orders (id, customer, lines, total_cents, status, reason, changed_in) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&order.id)
    .bind(&order.customer)
    .bind(lines)
    .bind(i64::try_from(order.total_cents).unwrap_or(i64::MAX))
    .bind(order.status.as_str())
    .bind(&order.reason)
    .bind(span_ref(cause))
    .execute(conn)
    .await?;
    Ok(())
}

/// The order `id`, if it exists.
pub(crate) async fn find(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<Order>, StoreError> {
    let row = sqlx::query(
        "SELECT id, customer, lines, total_cents, status, reason FROM orders WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let lines: String = row.try_get("lines")?;
    let lines: Vec<PricedLine> =
        serde_json::from_str(&lines).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let status: String = row.try_get("status")?;
    Ok(Some(Order {
        id: row.try_get("id")?,
        customer: row.try_get("customer")?,
        lines,
        total_cents: u64::try_from(row.try_get::<i64, _>("total_cents")?).unwrap_or(0),
        status: OrderStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?,
        reason: row.try_get("reason")?,
    }))
}

/// Sets `id`'s status (and reason, when given), changed in the span `cause`.
pub(crate) async fn set_status(
    conn: &mut SqliteConnection,
    id: &str,
    status: OrderStatus,
    reason: Option<&str>,
    cause: &SpanContext,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE orders SET status = ?, reason = COALESCE(?, reason), \
         changed_in = COALESCE(?, changed_in) WHERE id = ?",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(span_ref(cause))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The span that last changed `id` (placed it or moved its status), when known: a
/// remote span context, good for a link.
pub(crate) async fn changed_in(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<SpanContext>, StoreError> {
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT changed_in FROM orders WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(stored.flatten().as_deref().and_then(parse_span_ref))
}

fn parse_span_ref(text: &str) -> Option<SpanContext> {
    let (trace_id, span_id) = text.split_once('-')?;
    let sc = SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(span_id).ok()?,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// Records the stock hold of `id`.
pub(crate) async fn set_reservation(
    conn: &mut SqliteConnection,
    id: &str,
    reservation_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE orders SET reservation_id = ? WHERE id = ?")
        .bind(reservation_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_refs_round_trip_and_invalid_ones_are_not_stored() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let text = span_ref(&sc).unwrap();
        assert_eq!(text, "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
        let back = parse_span_ref(&text).unwrap();
        assert_eq!(
            (back.trace_id(), back.span_id()),
            (sc.trace_id(), sc.span_id())
        );
        assert_eq!(span_ref(&SpanContext::empty_context()), None);
        for bad in [
            "",
            "-",
            "xyz-00f067aa0ba902b7",
            "00000000000000000000000000000000-00f067aa0ba902b7",
        ] {
            assert!(parse_span_ref(bad).is_none(), "{bad:?}");
        }
    }
}
