//! Order's table: one row per order, its lines as JSON.

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
];

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

/// Stores a new order.
pub(crate) async fn insert(conn: &mut SqliteConnection, order: &Order) -> Result<(), StoreError> {
    let lines =
        serde_json::to_string(&order.lines).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO orders (id, customer, lines, total_cents, status, reason) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&order.id)
    .bind(&order.customer)
    .bind(lines)
    .bind(i64::try_from(order.total_cents).unwrap_or(i64::MAX))
    .bind(order.status.as_str())
    .bind(&order.reason)
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

/// Sets `id`'s status (and reason, when given).
pub(crate) async fn set_status(
    conn: &mut SqliteConnection,
    id: &str,
    status: OrderStatus,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE orders SET status = ?, reason = COALESCE(?, reason) WHERE id = ?")
        .bind(status.as_str())
        .bind(reason)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
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
