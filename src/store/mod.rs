//! Database access: one module per table family. Functions take a pool or a transaction,
//! tenant-scoped ones take the tenant id and filter on it, and their names say so.

pub mod api_keys;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod media;
pub mod receipts;
pub mod stats;
pub mod tenants;

use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgExecutor, PgPool, Postgres};

use crate::config::DatabaseArgs;
use crate::encryption::Keyring;
use crate::error::Result;

/// The migrations in `migrations/`, embedded in the binary so a deploy is one file.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Creates the database if it does not exist yet, so a fresh machine needs no manual step.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    if !Postgres::database_exists(url).await? {
        tracing::info!("database does not exist yet; creating it");
        Postgres::create_database(url).await?;
    }
    Ok(())
}

/// A pool with a short acquire timeout: when Postgres is down, requests fail fast with 503.
pub fn pool_options(args: &DatabaseArgs) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(args.db_max_connections)
        .acquire_timeout(Duration::from_millis(args.db_acquire_timeout_ms))
}

/// Creates the database if needed, connects and applies pending migrations.
pub async fn connect_and_migrate(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    ensure_database(&args.database_url).await?;
    let pool = pool_options(args).connect(&args.database_url).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Versions of the embedded migrations that the database has not applied successfully:
/// empty when the schema is what this binary expects. Newer migrations applied by a newer
/// instance (a rolling deploy) do not count against it.
#[tracing::instrument(skip(db))]
pub async fn pending_migrations(db: &PgPool) -> Result<Vec<i64>> {
    let applied: Vec<i64> =
        match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(db)
            .await
        {
            Ok(applied) => applied,
            // No bookkeeping table yet: nothing was ever migrated.
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P01") => Vec::new(),
            Err(err) => return Err(err.into()),
        };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .map(|m| m.version)
        .collect())
}

/// Rewrites every stored secret (app secrets, endpoint secrets) that is not sealed with the
/// current key, in one transaction: after a commit no row needs an old key any more.
/// Returns how many values were rewritten.
pub async fn reencrypt_secrets(pool: &PgPool, keys: &Keyring) -> crate::error::Result<u64> {
    let mut tx = pool.begin().await?;
    let app = tenants::reencrypt_app_secrets(&mut tx, keys).await?;
    let endpoint = endpoints::reencrypt_endpoint_secrets(&mut tx, keys).await?;
    tx.commit().await?;
    Ok(app + endpoint)
}

/// Wakes the workers listening on `channel` (LISTEN/NOTIFY); inside a transaction the
/// notification goes out at commit, so workers never look before the rows are visible.
pub async fn notify(db: impl PgExecutor<'_>, channel: &str) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel)
        .execute(db)
        .await?;
    Ok(())
}
