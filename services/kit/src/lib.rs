//! What the reference services share at run time (not a toolkit crate: the services
//! own it, and nothing under `crates/` depends on it):
//!
//! - [`db`]: SQLite through sqlx, a file or memory, with embedded migrations;
//! - [`inbox`]: the processed-message table that makes consumers idempotent;
//! - [`Telemetry`]: one service's tracer provider and propagator, and the traced
//!   broker, HTTP layer and clients built from them;
//! - [`serve`]: an axum app on a listener, traced, with graceful shutdown.
//!
//! # Example
//!
//! ```
//! use tracewire_service_kit::db::{Migration, open};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = open("memory").await?;
//! let migrations = [Migration::new(1, "greetings", "CREATE TABLE greetings (text TEXT NOT NULL)")];
//! tracewire_service_kit::db::migrate(&pool, &migrations).await?;
//! sqlx::query("INSERT INTO greetings (text) VALUES ('hello')").execute(&pool).await?;
//! # Ok(()) }
//! ```

pub mod db;
pub mod inbox;
pub mod serve;
mod telemetry;

pub use telemetry::{SharedPropagator, Telemetry};
