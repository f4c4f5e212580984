//! SQLite through sqlx: a file (kept across restarts) or memory, migrated on open.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("orders.db");
//! let pool = tracewire_service_kit::db::open(path.to_str().ok_or("path")?).await?;
//! assert!(path.exists());
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::str::FromStr as _;
use std::time::Duration;

use futures_core::future::BoxFuture;
use sqlx::SqlitePool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, MigrationSource, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The location is not a SQLite URL or path, or the file cannot be opened.
    #[error("cannot open database {location:?}")]
    Open {
        /// What was asked for.
        location: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed (or the database is newer than this build).
    #[error("cannot migrate the database")]
    Migrate(#[source] MigrateError),
}

/// Opens the database at `location`: `memory` (or `sqlite::memory:`) for a private
/// in-memory database, else a file path or a `sqlite:` URL; a missing file is created.
///
/// A file runs in WAL mode with a few connections; memory uses a single connection that
/// lives as long as the pool (a memory database dies with its last connection).
///
/// Cancel-safety: dropping the future leaves nothing open.
pub async fn open(location: &str) -> Result<SqlitePool, DbError> {
    let memory = matches!(location, "memory" | ":memory:" | "sqlite::memory:");
    let options = if memory {
        SqliteConnectOptions::from_str("sqlite::memory:")
    } else if location.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(location)
    } else {
        Ok(SqliteConnectOptions::new().filename(location))
    };
    let error = |source| DbError::Open {
        location: location.to_owned(),
        source,
    };
    let options = options
        .map_err(error)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = if memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
    } else {
        SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.journal_mode(SqliteJournalMode::Wal))
            .await
    };
    pool.map_err(error)
}

/// One embedded migration: applied once, in version order, recorded in
/// `_sqlx_migrations` (so the sqlx CLI understands the database too).
#[derive(Clone, Debug)]
pub struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

impl Migration {
    /// Migration `version` (unique, increasing) that runs `sql`.
    pub const fn new(version: i64, description: &'static str, sql: &'static str) -> Self {
        Self {
            version,
            description,
            sql,
        }
    }
}

#[derive(Debug)]
struct Embedded<'a>(&'a [Migration]);

impl<'s> MigrationSource<'s> for Embedded<'s> {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<sqlx::migrate::Migration>, BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|m| {
                sqlx::migrate::Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    Cow::Borrowed(m.sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// Applies the `migrations` not applied yet. A migration that was applied with other
/// SQL is an error (its checksum differs), as with `sqlx migrate`.
///
/// Cancel-safety: each migration runs in a transaction; dropping the future leaves the
/// database at some migration boundary.
pub async fn migrate(pool: &SqlitePool, migrations: &[Migration]) -> Result<(), DbError> {
    let migrator = Migrator::new(Embedded(migrations))
        .await
        .map_err(DbError::Migrate)?;
    migrator.run(pool).await.map_err(DbError::Migrate)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[
        Migration::new(1, "notes", "CREATE TABLE notes (text TEXT NOT NULL)"),
        Migration::new(
            2,
            "notes author",
            "ALTER TABLE notes ADD COLUMN author TEXT",
        ),
    ];

    #[tokio::test]
    async fn a_file_database_keeps_its_rows_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kit.db");
        let location = path.to_str().unwrap();
        let pool = open(location).await.unwrap();
        migrate(&pool, MIGRATIONS).await.unwrap();
        sqlx::query("INSERT INTO notes (text, author) VALUES ('kept', 'ada')")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let pool = open(location).await.unwrap();
        migrate(&pool, MIGRATIONS).await.unwrap(); // already applied: a no-op
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 1);
    }

    #[tokio::test]
    async fn memory_databases_are_private_to_their_pool() {
        let a = open("memory").await.unwrap();
        let b = open("memory").await.unwrap();
        migrate(&a, MIGRATIONS).await.unwrap();
        let missing = sqlx::query("SELECT * FROM notes").fetch_all(&b).await;
        assert!(missing.is_err());
    }

    #[tokio::test]
    async fn changed_sql_for_an_applied_version_is_refused() {
        let pool = open("memory").await.unwrap();
        migrate(&pool, &MIGRATIONS[..1]).await.unwrap();
        let changed = [Migration::new(1, "notes", "CREATE TABLE notes (body TEXT)")];
        let err = migrate(&pool, &changed).await.unwrap_err();
        assert!(matches!(err, DbError::Migrate(_)), "{err:?}");
    }
}
