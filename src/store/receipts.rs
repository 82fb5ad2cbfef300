//! Raw receipts: the exact bytes of every accepted webhook, kept so nothing acknowledged
//! is ever lost and any body can be normalized again.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::Result;
use crate::event::Channel;

/// A receipt about to be stored; its id is chosen before the insert so the events of a
/// batch can refer to it.
#[derive(Debug, Clone)]
pub struct NewReceipt {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url_channel: Option<Channel>,
    pub channel: Option<Channel>,
    pub received_at: DateTime<Utc>,
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
    pub problem: Option<String>,
}

/// A stored receipt, as read back for reprocessing and tests.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Receipt {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub url_channel: Option<String>,
    pub channel: Option<String>,
    pub received_at: DateTime<Utc>,
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
    pub problem: Option<String>,
}

/// Inserts receipts (one or a group-commit batch) inside the ingest transaction.
#[tracing::instrument(skip_all, fields(count = receipts.len()))]
pub async fn insert_receipts(
    tx: &mut Transaction<'_, Postgres>,
    receipts: &[&NewReceipt],
) -> Result<()> {
    let ids: Vec<Uuid> = receipts.iter().map(|r| r.id).collect();
    let tenants: Vec<Uuid> = receipts.iter().map(|r| r.tenant_id).collect();
    let url_channels: Vec<Option<&str>> = receipts
        .iter()
        .map(|r| r.url_channel.map(Channel::as_str))
        .collect();
    let channels: Vec<Option<&str>> = receipts
        .iter()
        .map(|r| r.channel.map(Channel::as_str))
        .collect();
    let received: Vec<DateTime<Utc>> = receipts.iter().map(|r| r.received_at).collect();
    let headers: Vec<&serde_json::Value> = receipts.iter().map(|r| &r.headers).collect();
    let bodies: Vec<&[u8]> = receipts.iter().map(|r| r.body.as_slice()).collect();
    let problems: Vec<Option<&str>> = receipts.iter().map(|r| r.problem.as_deref()).collect();
    sqlx::query(
        "INSERT INTO receipts (id, tenant_id, url_channel, channel, received_at, headers, body, problem)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                              $6::jsonb[], $7::bytea[], $8::text[])",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&url_channels)
    .bind(&channels)
    .bind(&received)
    .bind(&headers)
    .bind(&bodies)
    .bind(&problems)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the result of normalizing a stored receipt again (`switchboard reprocess`).
#[tracing::instrument(skip(tx))]
pub async fn set_receipt_outcome(
    tx: &mut Transaction<'_, Postgres>,
    receipt_id: Uuid,
    channel: Option<Channel>,
    problem: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE receipts SET channel = $2, problem = $3 WHERE id = $1")
        .bind(receipt_id)
        .bind(channel.map(Channel::as_str))
        .bind(problem)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Receipts flagged as unparsable, oldest first, after `after` (keyset), for reprocessing.
#[tracing::instrument(skip(db))]
pub async fn flagged_receipts(
    db: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Receipt>> {
    Ok(sqlx::query_as::<_, Receipt>(
        "SELECT id, tenant_id, url_channel, channel, received_at, headers, body, problem
         FROM receipts WHERE problem IS NOT NULL AND ($1::uuid IS NULL OR id > $1)
         ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// All receipts of a tenant, newest last; used by tests and the admin tools.
#[tracing::instrument(skip(db))]
pub async fn receipts_of_tenant(db: &PgPool, tenant_id: Uuid) -> Result<Vec<Receipt>> {
    Ok(sqlx::query_as::<_, Receipt>(
        "SELECT id, tenant_id, url_channel, channel, received_at, headers, body, problem
         FROM receipts WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?)
}

/// Deletes up to `limit` receipts received before `cutoff` and returns how many went; the
/// events they yielded stay, with `receipt_id` cleared (there is no foreign key to do it).
/// Rows another instance is purging are skipped, so purgers never wait on each other.
#[tracing::instrument(skip(db))]
pub async fn purge_receipts_before(db: &PgPool, cutoff: DateTime<Utc>, limit: i64) -> Result<u64> {
    let purged: i64 = sqlx::query_scalar(
        "WITH gone AS (
             DELETE FROM receipts WHERE id IN (
                 SELECT id FROM receipts WHERE received_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING id
         ), unlinked AS (
             UPDATE events SET receipt_id = NULL WHERE receipt_id IN (SELECT id FROM gone)
         )
         SELECT count(*) FROM gone",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(purged).unwrap_or(0))
}
