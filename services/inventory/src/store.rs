//! Inventory's tables: stock per SKU and one reservation (hold) per order.

use sqlx::{Row as _, SqliteConnection, SqlitePool};
use tracewire_contracts::LineItem;
use tracewire_contracts::reserve::ReserveReply;
use tracewire_service_kit::db::{self, DbError, Migration};
use tracewire_service_kit::inbox;

const MIGRATIONS: &[Migration] = &[
    inbox::MIGRATION,
    Migration::new(
        2,
        "stock and reservations",
        "CREATE TABLE stock (
            sku              TEXT PRIMARY KEY,
            on_hand          INTEGER NOT NULL CHECK (on_hand >= 0),
            unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0)
        );
        CREATE TABLE reservations (
            order_id       TEXT PRIMARY KEY,
            reservation_id TEXT NOT NULL,
            status         TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
            items          TEXT NOT NULL
        );",
    ),
];

/// One SKU on the shelf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockItem {
    /// Stock keeping unit.
    pub sku: String,
    /// Units on hand.
    pub on_hand: u32,
    /// Price of one unit in cents.
    pub unit_price_cents: u64,
}

/// A new stock level, after a hold or a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Level {
    pub(crate) sku: String,
    pub(crate) on_hand: u32,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("inventory database")]
    Db(#[from] sqlx::Error),
    /// A stored reservation's items do not decode.
    #[error("corrupt reservation row")]
    Corrupt(#[from] serde_json::Error),
}

/// Opens (and migrates) the inventory database.
///
/// Cancel-safety: as [`db::open`].
pub async fn open(location: &str) -> Result<SqlitePool, DbError> {
    let pool = db::open(location).await?;
    db::migrate(&pool, MIGRATIONS).await?;
    Ok(pool)
}

/// Puts `items` on the shelf where their SKU is not stocked yet (a restarted service
/// keeps its levels).
pub(crate) async fn seed(pool: &SqlitePool, items: &[StockItem]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for item in items {
        sqlx::query(
            "INSERT INTO stock (sku, on_hand, unit_price_cents) VALUES (?, ?, ?)
             ON CONFLICT (sku) DO NOTHING",
        )
        .bind(&item.sku)
        .bind(i64::from(item.on_hand))
        .bind(cents(item.unit_price_cents))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn cents(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn stock_item(row: &sqlx::sqlite::SqliteRow) -> Result<StockItem, sqlx::Error> {
    Ok(StockItem {
        sku: row.try_get("sku")?,
        on_hand: u32::try_from(row.try_get::<i64, _>("on_hand")?).unwrap_or(0),
        unit_price_cents: u64::try_from(row.try_get::<i64, _>("unit_price_cents")?).unwrap_or(0),
    })
}

/// The SKU's row, if inventory sells it.
pub(crate) async fn item(
    conn: &mut SqliteConnection,
    sku: &str,
) -> Result<Option<StockItem>, StoreError> {
    let row = sqlx::query("SELECT sku, on_hand, unit_price_cents FROM stock WHERE sku = ?")
        .bind(sku)
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(stock_item).transpose()?)
}

/// Every SKU, by name.
pub(crate) async fn all(pool: &SqlitePool) -> Result<Vec<StockItem>, StoreError> {
    let rows = sqlx::query("SELECT sku, on_hand, unit_price_cents FROM stock ORDER BY sku")
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(stock_item).collect::<Result<_, _>>()?)
}

async fn add(conn: &mut SqliteConnection, sku: &str, delta: i64) -> Result<Level, StoreError> {
    let on_hand: i64 = sqlx::query_scalar(
        "UPDATE stock SET on_hand = on_hand + ? WHERE sku = ? RETURNING on_hand",
    )
    .bind(delta)
    .bind(sku)
    .fetch_one(conn)
    .await?;
    Ok(Level {
        sku: sku.to_owned(),
        on_hand: u32::try_from(on_hand).unwrap_or(0),
    })
}

/// Holds `items` for `order_id`: all lines or none. Asking again for the same order
/// answers the existing hold and changes nothing.
pub(crate) async fn reserve(
    conn: &mut SqliteConnection,
    order_id: &str,
    items: &[LineItem],
) -> Result<(ReserveReply, Vec<Level>), StoreError> {
    let existing: Option<String> =
        sqlx::query_scalar("SELECT reservation_id FROM reservations WHERE order_id = ?")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(reservation_id) = existing {
        return Ok((ReserveReply::Held { reservation_id }, Vec::new()));
    }
    for line in items {
        match item(conn, &line.sku).await? {
            None => {
                return Ok((
                    ReserveReply::UnknownSku {
                        sku: line.sku.clone(),
                    },
                    Vec::new(),
                ));
            }
            Some(stock) if stock.on_hand < line.quantity => {
                let reply = ReserveReply::Insufficient {
                    sku: line.sku.clone(),
                    on_hand: stock.on_hand,
                    requested: line.quantity,
                };
                return Ok((reply, Vec::new()));
            }
            Some(_) => {}
        }
    }
    let mut levels = Vec::new();
    for line in items {
        levels.push(add(conn, &line.sku, -i64::from(line.quantity)).await?);
    }
    let reservation_id = format!("res-{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO reservations (order_id, reservation_id, status, items) VALUES (?, ?, 'held', ?)",
    )
    .bind(order_id)
    .bind(&reservation_id)
    .bind(serde_json::to_string(items)?)
    .execute(&mut *conn)
    .await?;
    Ok((ReserveReply::Held { reservation_id }, levels))
}

async fn reservation(
    conn: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<(String, Vec<LineItem>)>, StoreError> {
    let row = sqlx::query("SELECT status, items FROM reservations WHERE order_id = ?")
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let items: String = row.try_get("items")?;
    Ok(Some((
        row.try_get("status")?,
        serde_json::from_str(&items)?,
    )))
}

async fn set_status(
    conn: &mut SqliteConnection,
    order_id: &str,
    status: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE reservations SET status = ? WHERE order_id = ?")
        .bind(status)
        .bind(order_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Commits `order_id`'s hold: its items, or `None` when there is no hold to commit
/// (never held, already committed, or released first).
pub(crate) async fn commit(
    conn: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<Vec<LineItem>>, StoreError> {
    match reservation(conn, order_id).await? {
        Some((status, items)) if status == "held" => {
            set_status(conn, order_id, "committed").await?;
            Ok(Some(items))
        }
        _ => Ok(None),
    }
}

/// Releases `order_id`'s stock (held or committed): its items and the new levels, or
/// `None` when there is nothing to release.
pub(crate) async fn release(
    conn: &mut SqliteConnection,
    order_id: &str,
) -> Result<Option<(Vec<LineItem>, Vec<Level>)>, StoreError> {
    match reservation(conn, order_id).await? {
        Some((status, items)) if status != "released" => {
            set_status(conn, order_id, "released").await?;
            let mut levels = Vec::new();
            for line in &items {
                levels.push(add(conn, &line.sku, i64::from(line.quantity)).await?);
            }
            Ok(Some((items, levels)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str, quantity: u32) -> LineItem {
        LineItem {
            sku: sku.into(),
            quantity,
        }
    }

    async fn shelf() -> SqlitePool {
        let pool = open("memory").await.unwrap();
        let items = [StockItem {
            sku: "lamp".into(),
            on_hand: 10,
            unit_price_cents: 4_500,
        }];
        seed(&pool, &items).await.unwrap();
        pool
    }

    async fn on_hand(pool: &SqlitePool) -> u32 {
        all(pool).await.unwrap()[0].on_hand
    }

    #[tokio::test]
    async fn a_hold_is_taken_once_per_order() {
        let pool = shelf().await;
        let mut conn = pool.acquire().await.unwrap();
        let (first, levels) = reserve(&mut conn, "o1", &[line("lamp", 3)]).await.unwrap();
        assert_eq!(
            levels,
            [Level {
                sku: "lamp".into(),
                on_hand: 7
            }]
        );
        let (again, levels) = reserve(&mut conn, "o1", &[line("lamp", 3)]).await.unwrap();
        assert_eq!(first, again);
        assert!(levels.is_empty());
        drop(conn);
        assert_eq!(on_hand(&pool).await, 7);
    }

    #[tokio::test]
    async fn short_and_unknown_lines_hold_nothing() {
        let pool = shelf().await;
        let mut conn = pool.acquire().await.unwrap();
        let (reply, _) = reserve(&mut conn, "o1", &[line("lamp", 11)]).await.unwrap();
        assert_eq!(
            reply,
            ReserveReply::Insufficient {
                sku: "lamp".into(),
                on_hand: 10,
                requested: 11
            }
        );
        let (reply, _) = reserve(&mut conn, "o2", &[line("lamp", 1), line("sofa", 1)])
            .await
            .unwrap();
        assert_eq!(reply, ReserveReply::UnknownSku { sku: "sofa".into() });
        drop(conn);
        assert_eq!(on_hand(&pool).await, 10);
    }

    #[tokio::test]
    async fn commit_and_release_happen_once_and_release_wins_over_a_late_commit() {
        let pool = shelf().await;
        let mut conn = pool.acquire().await.unwrap();
        reserve(&mut conn, "o1", &[line("lamp", 4)]).await.unwrap();
        assert!(commit(&mut conn, "o1").await.unwrap().is_some());
        assert!(commit(&mut conn, "o1").await.unwrap().is_none());
        let (items, levels) = release(&mut conn, "o1").await.unwrap().unwrap();
        assert_eq!(items, [line("lamp", 4)]);
        assert_eq!(levels[0].on_hand, 10);
        assert!(release(&mut conn, "o1").await.unwrap().is_none());

        reserve(&mut conn, "o2", &[line("lamp", 2)]).await.unwrap();
        assert!(release(&mut conn, "o2").await.unwrap().is_some());
        assert!(
            commit(&mut conn, "o2").await.unwrap().is_none(),
            "released first"
        );
        drop(conn);
        assert_eq!(on_hand(&pool).await, 10);
    }
}
