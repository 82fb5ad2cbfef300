//! Tenant API keys, stored as SHA-256 hashes. Revoked keys are kept (with `revoked_at`) so
//! the operator can still see which key was used when, and a revocation cannot be undone.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::error::Result;
use crate::tokens;

const COLUMNS: &str = "id, tenant_id, prefix, created_at, revoked_at";

/// A key as the operator may see it: never the key itself, only its first characters.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the row, and the key in clear (the only time it is ever visible).
pub struct CreatedApiKey {
    pub row: ApiKey,
    pub key: String,
}

/// Creates a key for a tenant and returns it in clear with its row.
#[tracing::instrument(skip(tx))]
pub async fn create_api_key_for_tenant(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
) -> Result<CreatedApiKey> {
    let key = tokens::new_api_key();
    let row = sqlx::query_as::<_, ApiKey>(&format!(
        "INSERT INTO api_keys (id, tenant_id, key_hash, prefix) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(tokens::hash_api_key(&key))
    .bind(tokens::key_prefix(&key))
    .fetch_one(&mut **tx)
    .await?;
    Ok(CreatedApiKey { row, key })
}

/// A page of a tenant's keys, revoked ones included, in id order after `after`.
#[tracing::instrument(skip(db))]
pub async fn list_api_keys_of_tenant(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ApiKey>> {
    Ok(sqlx::query_as::<_, ApiKey>(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Revokes one key of a tenant; revoking twice keeps the first time. `None` if no such key.
#[tracing::instrument(skip(db))]
pub async fn revoke_api_key_of_tenant(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    key_id: Uuid,
) -> Result<Option<ApiKey>> {
    Ok(sqlx::query_as::<_, ApiKey>(&format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(key_id)
    .fetch_optional(db)
    .await?)
}

/// The tenant a key belongs to, if the key exists, is not revoked and the tenant is enabled.
#[tracing::instrument(skip_all)]
pub async fn tenant_of_api_key(db: &sqlx::PgPool, key: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar::<_, Uuid>(
        "SELECT k.tenant_id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND t.disabled_at IS NULL",
    )
    .bind(tokens::hash_api_key(key))
    .fetch_optional(db)
    .await?)
}
