//! Forwarding endpoints of tenants, including signing secrets (encrypted at rest when a key
//! is configured: every function here seals and opens them, so callers only see plaintext)
//! and failure tracking.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::encryption::Keyring;
use crate::error::Result;
use crate::event::{Channel, EventType};

const COLUMNS: &str = "id, tenant_id, url, description, event_types, channels, enabled, \
    disabled_reason, secret, previous_secret, previous_secret_expires_at, \
    consecutive_failures, failing_since, created_at, updated_at";

/// An endpoint row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The part of an endpoint that decides which events it receives.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointFilter {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
}

impl EndpointFilter {
    /// True when the endpoint wants events of this type and channel (no filter = all).
    pub fn matches(&self, event_type: EventType, channel: Channel) -> bool {
        let allows = |list: &Option<Vec<String>>, value: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|v| v == value))
        };
        allows(&self.event_types, event_type.as_str()) && allows(&self.channels, channel.as_str())
    }
}

/// Fields of a new or changed endpoint, already validated.
#[derive(Debug, Clone)]
pub struct EndpointFields {
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub enabled: bool,
}

/// An endpoint row with its secrets decrypted for its tenant.
fn opened(keys: &Keyring, e: Endpoint) -> Result<Endpoint> {
    let open = |stored: &str| keys.open(e.tenant_id, stored);
    Ok(Endpoint {
        secret: open(&e.secret)?,
        previous_secret: e.previous_secret.as_deref().map(open).transpose()?,
        ..e
    })
}

/// Decrypts the secrets of an optional row.
fn opened_opt(keys: &Keyring, e: Option<Endpoint>) -> Result<Option<Endpoint>> {
    e.map(|e| opened(keys, e)).transpose()
}

/// Inserts an endpoint with a fresh signing secret.
#[tracing::instrument(skip_all, fields(%tenant_id))]
pub async fn insert_endpoint_for_tenant(
    db: &PgPool,
    keys: &Keyring,
    tenant_id: Uuid,
    fields: &EndpointFields,
    secret: &str,
) -> Result<Endpoint> {
    let row = sqlx::query_as::<_, Endpoint>(&format!(
        "INSERT INTO endpoints (id, tenant_id, url, description, event_types, channels, enabled, secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(&fields.url)
    .bind(&fields.description)
    .bind(&fields.event_types)
    .bind(&fields.channels)
    .bind(fields.enabled)
    .bind(keys.seal(tenant_id, secret)?)
    .fetch_one(db)
    .await?;
    opened(keys, row)
}

/// One endpoint of a tenant; another tenant's id is simply not found.
#[tracing::instrument(skip(db, keys))]
pub async fn get_endpoint_of_tenant(
    db: &PgPool,
    keys: &Keyring,
    tenant_id: Uuid,
    endpoint_id: Uuid,
) -> Result<Option<Endpoint>> {
    let row = sqlx::query_as::<_, Endpoint>(&format!(
        "SELECT {COLUMNS} FROM endpoints WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(endpoint_id)
    .fetch_optional(db)
    .await?;
    opened_opt(keys, row)
}

/// The filters of one endpoint of a tenant, without touching its secrets.
#[tracing::instrument(skip(db))]
pub async fn filter_of_endpoint_of_tenant(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    endpoint_id: Uuid,
) -> Result<Option<EndpointFilter>> {
    Ok(sqlx::query_as::<_, EndpointFilter>(
        "SELECT id, tenant_id, event_types, channels FROM endpoints WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(endpoint_id)
    .fetch_optional(db)
    .await?)
}

/// The tenant an endpoint belongs to, so the operator's views can check a scope.
#[tracing::instrument(skip(db))]
pub async fn tenant_of_endpoint(db: &PgPool, endpoint_id: Uuid) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT tenant_id FROM endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_optional(db)
            .await?,
    )
}

/// A page of a tenant's endpoints in id order.
#[tracing::instrument(skip(db, keys))]
pub async fn list_endpoints_of_tenant(
    db: &PgPool,
    keys: &Keyring,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Endpoint>> {
    let rows = sqlx::query_as::<_, Endpoint>(&format!(
        "SELECT {COLUMNS} FROM endpoints WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(|e| opened(keys, e)).collect()
}

/// Replaces an endpoint's fields. Re-enabling clears the failure streak.
#[tracing::instrument(skip_all, fields(%tenant_id, %endpoint_id))]
pub async fn update_endpoint_of_tenant(
    db: &PgPool,
    keys: &Keyring,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    fields: &EndpointFields,
) -> Result<Option<Endpoint>> {
    let row = sqlx::query_as::<_, Endpoint>(&format!(
        "UPDATE endpoints SET url = $3, description = $4, event_types = $5, channels = $6,
             enabled = $7,
             disabled_reason = CASE WHEN $7 THEN NULL ELSE disabled_reason END,
             consecutive_failures = CASE WHEN $7 AND NOT enabled THEN 0 ELSE consecutive_failures END,
             failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END,
             updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(endpoint_id)
    .bind(&fields.url)
    .bind(&fields.description)
    .bind(&fields.event_types)
    .bind(&fields.channels)
    .bind(fields.enabled)
    .fetch_optional(db)
    .await?;
    opened_opt(keys, row)
}

/// Deletes an endpoint (and, by cascade, its deliveries). True if it existed.
#[tracing::instrument(skip(db))]
pub async fn delete_endpoint_of_tenant(
    db: &PgPool,
    tenant_id: Uuid,
    endpoint_id: Uuid,
) -> Result<bool> {
    let result = sqlx::query("DELETE FROM endpoints WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(endpoint_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Installs a new secret; the current one keeps signing until `grace_until`.
#[tracing::instrument(skip(db, keys, new_secret))]
pub async fn rotate_secret_of_endpoint(
    db: &PgPool,
    keys: &Keyring,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    new_secret: &str,
    grace_until: DateTime<Utc>,
) -> Result<Option<Endpoint>> {
    let row = sqlx::query_as::<_, Endpoint>(&format!(
        "UPDATE endpoints SET previous_secret = secret, previous_secret_expires_at = $4,
             secret = $3, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(endpoint_id)
    .bind(keys.seal(tenant_id, new_secret)?)
    .bind(grace_until)
    .fetch_optional(db)
    .await?;
    opened_opt(keys, row)
}

/// An enabled endpoint as ingest sees it: its filters, to route events, and what a delivery
/// handed straight to the local dispatcher needs to be sent (secrets still sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForwardTarget {
    #[sqlx(flatten)]
    pub filter: EndpointFilter,
    pub url: String,
    pub secret: String,
    /// The pre-rotation secret while its grace period lasts.
    pub previous_secret: Option<String>,
    pub consecutive_failures: i32,
}

/// The enabled endpoints of some tenants, for writing the outbox.
#[tracing::instrument(skip(tx))]
pub async fn enabled_targets_of_tenants(
    tx: &mut Transaction<'_, Postgres>,
    tenant_ids: &[Uuid],
) -> Result<Vec<ForwardTarget>> {
    Ok(sqlx::query_as::<_, ForwardTarget>(
        "SELECT id, tenant_id, event_types, channels, url, secret,
                CASE WHEN previous_secret_expires_at > now() THEN previous_secret END AS previous_secret,
                consecutive_failures
         FROM endpoints WHERE tenant_id = ANY($1) AND enabled",
    )
    .bind(tenant_ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Records the outcome of an attempt on the endpoint's failure streak, and disables it when
/// the streak is longer than allowed (by count, or by time since the first failure).
/// Returns true when this call disabled the endpoint.
#[tracing::instrument(skip(tx))]
pub async fn record_endpoint_outcome(
    tx: &mut Transaction<'_, Postgres>,
    endpoint_id: Uuid,
    succeeded: bool,
    disable_after_failures: u32,
    disable_after: std::time::Duration,
) -> Result<bool> {
    if succeeded {
        sqlx::query(
            "UPDATE endpoints SET consecutive_failures = 0, failing_since = NULL
             WHERE id = $1 AND consecutive_failures <> 0",
        )
        .bind(endpoint_id)
        .execute(&mut **tx)
        .await?;
        return Ok(false);
    }
    let max_failures = i32::try_from(disable_after_failures).unwrap_or(i32::MAX);
    let max_age = chrono::Duration::from_std(disable_after)
        .unwrap_or_else(|_| chrono::Duration::days(36_500));
    let disabled: Option<bool> = sqlx::query_scalar(
        "WITH cur AS (
             SELECT id, enabled, consecutive_failures + 1 AS failures,
                    COALESCE(failing_since, now()) AS since
             FROM endpoints WHERE id = $1 FOR UPDATE
         ), decided AS (
             SELECT cur.*, enabled AND (($2 > 0 AND failures >= $2)
                                        OR since <= now() - $3::interval) AS disable
             FROM cur
         )
         UPDATE endpoints e SET
             consecutive_failures = d.failures,
             failing_since = d.since,
             enabled = e.enabled AND NOT d.disable,
             disabled_reason = CASE WHEN d.disable
                 THEN format('disabled after %s consecutive failed attempts since %s', d.failures, d.since)
                 ELSE e.disabled_reason END,
             updated_at = now()
         FROM decided d WHERE e.id = d.id
         RETURNING d.disable",
    )
    .bind(endpoint_id)
    .bind(max_failures)
    .bind(max_age)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(disabled.unwrap_or(false))
}

/// Rewrites every endpoint secret (current and previous) not yet sealed with the current
/// key. Returns how many values were rewritten.
#[tracing::instrument(skip_all)]
pub async fn reencrypt_endpoint_secrets(
    tx: &mut Transaction<'_, Postgres>,
    keys: &Keyring,
) -> Result<u64> {
    let rows = sqlx::query_as::<_, (Uuid, Uuid, String, Option<String>)>(
        "SELECT id, tenant_id, secret, previous_secret FROM endpoints ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut rewritten = 0;
    for (id, tenant_id, secret, previous) in rows {
        let stale = |s: &String| keys.is_stale(s);
        if !stale(&secret) && !previous.as_ref().is_some_and(stale) {
            continue;
        }
        let reseal = |s: &str| keys.reseal(tenant_id, s);
        sqlx::query("UPDATE endpoints SET secret = $2, previous_secret = $3 WHERE id = $1")
            .bind(id)
            .bind(reseal(&secret)?)
            .bind(previous.as_deref().map(reseal).transpose()?)
            .execute(&mut **tx)
            .await?;
        rewritten += 1 + u64::from(previous.is_some());
    }
    Ok(rewritten)
}
