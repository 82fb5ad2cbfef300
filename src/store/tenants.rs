//! Tenants and their Meta credentials (verify tokens, app secrets, per-channel overrides).

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::encryption::Keyring;
use crate::error::Result;
use crate::event::Channel;

/// A tenant as the API shows it (never with secrets).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What the handshake and signature check need, loaded in one go per request.
#[derive(Debug, Clone)]
pub struct TenantCredentials {
    pub tenant_id: Uuid,
    pub disabled: bool,
    pub verify_token: Option<String>,
    pub channel_tokens: Vec<(Channel, String)>,
    /// `None` channel = tenant-wide secret.
    pub app_secrets: Vec<(Option<Channel>, String)>,
    /// Channels whose media the gateway captures.
    pub media_capture: Vec<Channel>,
}

impl TenantCredentials {
    /// The verify token for a callback URL: the channel's override first, the tenant's as
    /// fallback. The all-channel URL uses the tenant's token.
    pub fn verify_token_for(&self, channel: Option<Channel>) -> Option<&str> {
        channel
            .and_then(|c| {
                self.channel_tokens
                    .iter()
                    .find(|(tc, _)| *tc == c)
                    .map(|(_, t)| t.as_str())
            })
            .or(self.verify_token.as_deref())
    }

    /// The secrets a POST may be signed with. On a channel URL: the channel's own secrets if
    /// it has any, else the tenant's. On the all-channel URL the body's channel is not known
    /// before verification, so every secret of the tenant is tried.
    pub fn app_secrets_for(&self, channel: Option<Channel>) -> Vec<&[u8]> {
        let pick = |want: Option<Channel>| -> Vec<&[u8]> {
            self.app_secrets
                .iter()
                .filter(|(c, _)| *c == want)
                .map(|(_, s)| s.as_bytes())
                .collect()
        };
        match channel {
            None => self.app_secrets.iter().map(|(_, s)| s.as_bytes()).collect(),
            Some(c) => {
                let own = pick(Some(c));
                if own.is_empty() {
                    pick(None)
                } else {
                    own
                }
            }
        }
    }
}

/// Summary of a scope's credentials, safe to show (secrets are write-only).
#[derive(Debug, Clone, Default)]
pub struct CredentialSummary {
    pub verify_token_set: bool,
    pub app_secret_count: usize,
}

impl TenantCredentials {
    /// What is configured for one scope (`None` = tenant-wide), without revealing values.
    pub fn summary(&self, channel: Option<Channel>) -> CredentialSummary {
        let verify_token_set = match channel {
            None => self.verify_token.is_some(),
            Some(c) => self.channel_tokens.iter().any(|(tc, _)| *tc == c),
        };
        CredentialSummary {
            verify_token_set,
            app_secret_count: self
                .app_secrets
                .iter()
                .filter(|(c, _)| *c == channel)
                .count(),
        }
    }
}

/// Inserts a tenant; the caller commits together with its first API key.
#[tracing::instrument(skip_all)]
pub async fn insert_tenant(
    tx: &mut Transaction<'_, Postgres>,
    name: &str,
    verify_token: Option<&str>,
) -> Result<Tenant> {
    let tenant = sqlx::query_as::<_, Tenant>(
        "INSERT INTO tenants (id, name, verify_token) VALUES ($1, $2, $3)
         RETURNING id, name, disabled_at, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(verify_token)
    .fetch_one(&mut **tx)
    .await?;
    Ok(tenant)
}

/// One tenant by id.
#[tracing::instrument(skip(db))]
pub async fn get_tenant(db: impl PgExecutor<'_>, tenant_id: Uuid) -> Result<Option<Tenant>> {
    Ok(sqlx::query_as::<_, Tenant>(
        "SELECT id, name, disabled_at, created_at FROM tenants WHERE id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await?)
}

/// Tenants in id order after `after`, for keyset pagination.
#[tracing::instrument(skip(db))]
pub async fn list_tenants(db: &PgPool, after: Option<Uuid>, limit: i64) -> Result<Vec<Tenant>> {
    Ok(sqlx::query_as::<_, Tenant>(
        "SELECT id, name, disabled_at, created_at FROM tenants
         WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Renames a tenant; `None` if it does not exist.
#[tracing::instrument(skip(db))]
pub async fn rename_tenant(db: &PgPool, tenant_id: Uuid, name: &str) -> Result<Option<Tenant>> {
    Ok(sqlx::query_as::<_, Tenant>(
        "UPDATE tenants SET name = $2, updated_at = now() WHERE id = $1
         RETURNING id, name, disabled_at, created_at",
    )
    .bind(tenant_id)
    .bind(name)
    .fetch_optional(db)
    .await?)
}

/// Disables or re-enables a tenant. A disabled tenant's keys answer 401 and its callbacks
/// are refused, but nothing is deleted. Disabling twice keeps the first time.
#[tracing::instrument(skip(db))]
pub async fn set_tenant_disabled(
    db: &PgPool,
    tenant_id: Uuid,
    disabled: bool,
) -> Result<Option<Tenant>> {
    Ok(sqlx::query_as::<_, Tenant>(
        "UPDATE tenants
         SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, now()) END, updated_at = now()
         WHERE id = $1 RETURNING id, name, disabled_at, created_at",
    )
    .bind(tenant_id)
    .bind(disabled)
    .fetch_optional(db)
    .await?)
}

/// Deletes a tenant and, by cascade, everything it owns (keys, secrets, receipts, events,
/// endpoints, deliveries). `None` if it did not exist.
#[tracing::instrument(skip(db))]
pub async fn delete_tenant(db: &PgPool, tenant_id: Uuid) -> Result<Option<Tenant>> {
    Ok(sqlx::query_as::<_, Tenant>(
        "DELETE FROM tenants WHERE id = $1 RETURNING id, name, disabled_at, created_at",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await?)
}

/// Loads everything the handshake and signature check need, app secrets decrypted;
/// `None` for an unknown tenant.
#[tracing::instrument(skip(db, keys))]
pub async fn credentials_of_tenant(
    db: &PgPool,
    keys: &Keyring,
    tenant_id: Uuid,
) -> Result<Option<TenantCredentials>> {
    let Some((disabled, verify_token)) = sqlx::query_as::<_, (bool, Option<String>)>(
        "SELECT disabled_at IS NOT NULL, verify_token FROM tenants WHERE id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let channel_tokens = sqlx::query_as::<_, (String, String)>(
        "SELECT channel, verify_token FROM tenant_channels
         WHERE tenant_id = $1 AND verify_token IS NOT NULL",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .filter_map(|(c, t)| Some((Channel::parse(&c)?, t)))
    .collect();
    let app_secrets = sqlx::query_as::<_, (Option<String>, String)>(
        "SELECT channel, secret FROM app_secrets WHERE tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|(c, s)| {
        Ok((
            c.as_deref().and_then(Channel::parse),
            keys.open(tenant_id, &s)?,
        ))
    })
    .collect::<Result<_>>()?;
    let media_capture = crate::store::media::capturing_channels(db, tenant_id).await?;
    Ok(Some(TenantCredentials {
        tenant_id,
        disabled,
        verify_token,
        channel_tokens,
        app_secrets,
        media_capture,
    }))
}

/// A change to one scope's credentials; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CredentialUpdate {
    pub verify_token: Option<String>,
    /// Replaces the whole set of active secrets of the scope (two during a rotation).
    pub app_secrets: Option<Vec<String>>,
}

/// Applies `update` to the tenant-wide scope (`channel = None`) or a channel override;
/// app secrets are encrypted with the current key, if any.
#[tracing::instrument(skip_all, fields(%tenant_id, ?channel))]
pub async fn update_credentials_of_tenant(
    tx: &mut Transaction<'_, Postgres>,
    keys: &Keyring,
    tenant_id: Uuid,
    channel: Option<Channel>,
    update: &CredentialUpdate,
) -> Result<()> {
    if let Some(token) = &update.verify_token {
        match channel {
            None => {
                sqlx::query(
                    "UPDATE tenants SET verify_token = $2, updated_at = now() WHERE id = $1",
                )
                .bind(tenant_id)
                .bind(token)
                .execute(&mut **tx)
                .await?;
            }
            Some(c) => {
                sqlx::query(
                    "INSERT INTO tenant_channels (tenant_id, channel, verify_token) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, channel)
                     DO UPDATE SET verify_token = EXCLUDED.verify_token, updated_at = now()",
                )
                .bind(tenant_id)
                .bind(c.as_str())
                .bind(token)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    if let Some(secrets) = &update.app_secrets {
        replace_app_secrets(tx, keys, tenant_id, channel, secrets).await?;
    }
    Ok(())
}

/// Replaces the active secrets of one scope.
async fn replace_app_secrets(
    tx: &mut Transaction<'_, Postgres>,
    keys: &Keyring,
    tenant_id: Uuid,
    channel: Option<Channel>,
    secrets: &[String],
) -> Result<()> {
    delete_app_secrets(tx, tenant_id, channel).await?;
    let channel = channel.map(Channel::as_str);
    for secret in secrets {
        sqlx::query(
            "INSERT INTO app_secrets (id, tenant_id, channel, secret) VALUES ($1, $2, $3, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(channel)
        .bind(keys.seal(tenant_id, secret)?)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Removes a channel's overrides so the tenant-wide values apply again.
#[tracing::instrument(skip(tx))]
pub async fn clear_channel_override_of_tenant(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    channel: Channel,
) -> Result<()> {
    sqlx::query("DELETE FROM tenant_channels WHERE tenant_id = $1 AND channel = $2")
        .bind(tenant_id)
        .bind(channel.as_str())
        .execute(&mut **tx)
        .await?;
    delete_app_secrets(tx, tenant_id, Some(channel)).await
}

/// Removes the secrets of one scope (`None` = tenant-wide).
async fn delete_app_secrets(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    channel: Option<Channel>,
) -> Result<()> {
    sqlx::query("DELETE FROM app_secrets WHERE tenant_id = $1 AND channel IS NOT DISTINCT FROM $2")
        .bind(tenant_id)
        .bind(channel.map(Channel::as_str))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Rewrites every app secret not yet sealed with the current key (plaintext, or an old
/// key). Returns how many were rewritten.
#[tracing::instrument(skip_all)]
pub async fn reencrypt_app_secrets(
    tx: &mut Transaction<'_, Postgres>,
    keys: &Keyring,
) -> Result<u64> {
    let rows = sqlx::query_as::<_, (Uuid, Uuid, String)>(
        "SELECT id, tenant_id, secret FROM app_secrets ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut rewritten = 0;
    for (id, tenant_id, stored) in rows.into_iter().filter(|(_, _, s)| keys.is_stale(s)) {
        sqlx::query("UPDATE app_secrets SET secret = $2 WHERE id = $1")
            .bind(id)
            .bind(keys.reseal(tenant_id, &stored)?)
            .execute(&mut **tx)
            .await?;
        rewritten += 1;
    }
    Ok(rewritten)
}
