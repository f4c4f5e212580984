//! Payment's table: one payment per order.

use serde::Serialize;
use sqlx::{Row as _, SqliteConnection, SqlitePool};
use tracewire_service_kit::db::{self, DbError, Migration};
use tracewire_service_kit::inbox;

const MIGRATIONS: &[Migration] = &[
    inbox::MIGRATION,
    Migration::new(
        2,
        "payments",
        "CREATE TABLE payments (
            order_id     TEXT PRIMARY KEY,
            payment_id   TEXT NOT NULL,
            amount_cents INTEGER NOT NULL,
            status       TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
            reason       TEXT
        )",
    ),
];

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[error("payment database")]
pub struct StoreError(#[from] sqlx::Error);

/// A payment as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PaymentRecord {
    /// The order paid for.
    pub order_id: String,
    /// The payment's id.
    pub payment_id: String,
    /// The amount, in cents.
    pub amount_cents: u64,
    /// `completed` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Opens (and migrates) the payment database.
///
/// Cancel-safety: as [`db::open`].
pub async fn open(location: &str) -> Result<SqlitePool, DbError> {
    let pool = db::open(location).await?;
    db::migrate(&pool, MIGRATIONS).await?;
    Ok(pool)
}

/// The payment for `order_id`, if any.
pub(crate) async fn find(
    conn: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<PaymentRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT order_id, payment_id, amount_cents, status, reason FROM payments WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(PaymentRecord {
        order_id: row.try_get("order_id")?,
        payment_id: row.try_get("payment_id")?,
        amount_cents: u64::try_from(row.try_get::<i64, _>("amount_cents")?).unwrap_or(0),
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
    }))
}

/// Stores `payment` (one per order: the first one stays).
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    payment: &PaymentRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO payments (order_id, payment_id, amount_cents, status, reason)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(&payment.order_id)
    .bind(&payment.payment_id)
    .bind(i64::try_from(payment.amount_cents).unwrap_or(i64::MAX))
    .bind(&payment.status)
    .bind(&payment.reason)
    .execute(conn)
    .await?;
    Ok(())
}
