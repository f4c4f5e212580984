//! The processed-message table: a consumer claims a message id inside the transaction
//! that applies the message, so a redelivered message is recognised and skipped, and a
//! failed one (rolled back) is processed again.
//!
//! # Example
//!
//! ```
//! use tracewire_service_kit::{db, inbox};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = db::open("memory").await?;
//! db::migrate(&pool, &[inbox::MIGRATION]).await?;
//! let mut tx = pool.begin().await?;
//! assert!(inbox::claim(&mut tx, "payment", "event-1").await?);  // first delivery: apply it
//! tx.commit().await?;
//! let mut tx = pool.begin().await?;
//! assert!(!inbox::claim(&mut tx, "payment", "event-1").await?); // redelivery: skip it
//! # Ok(()) }
//! ```

use sqlx::SqliteConnection;

use crate::db::Migration;

/// The table, as migration 1 of every service that consumes messages.
pub const MIGRATION: Migration = Migration::new(
    1,
    "processed messages",
    "CREATE TABLE processed_messages (
        consumer     TEXT NOT NULL,
        message_id   TEXT NOT NULL,
        processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (consumer, message_id)
    )",
);

/// Records that `consumer` processes `message_id`: `true` the first time (apply the
/// message in this transaction), `false` if it was processed before (skip it).
///
/// Cancel-safety: the claim is part of the caller's transaction; dropping the future
/// and the transaction leaves nothing claimed.
pub async fn claim(
    conn: &mut SqliteConnection,
    consumer: &str,
    message_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO processed_messages (consumer, message_id) VALUES (?, ?)
         ON CONFLICT (consumer, message_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(message_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    #[tokio::test]
    async fn a_rolled_back_claim_can_be_claimed_again_and_consumers_are_separate() {
        let pool = db::open("memory").await.unwrap();
        db::migrate(&pool, &[MIGRATION]).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        assert!(claim(&mut tx, "order", "m1").await.unwrap());
        tx.rollback().await.unwrap();

        let mut tx = pool.begin().await.unwrap();
        assert!(claim(&mut tx, "order", "m1").await.unwrap());
        assert!(claim(&mut tx, "payment", "m1").await.unwrap());
        assert!(!claim(&mut tx, "order", "m1").await.unwrap());
        tx.commit().await.unwrap();
    }
}
