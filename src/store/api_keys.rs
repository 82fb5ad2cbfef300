//! Tenant API keys, stored as SHA-256 hashes.

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::error::Result;
use crate::tokens;

/// Creates a key for a tenant and returns it in clear: the only time it is ever visible.
#[tracing::instrument(skip(tx))]
pub async fn create_api_key_for_tenant(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
) -> Result<String> {
    let key = tokens::new_api_key();
    sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, prefix) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(tokens::hash_api_key(&key))
        .bind(tokens::key_prefix(&key))
        .execute(&mut **tx)
        .await?;
    Ok(key)
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
