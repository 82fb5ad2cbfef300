//! Normalized events. The unique index on (tenant_id, dedup_key) is what makes Meta's
//! retries and duplicates harmless: a second copy is silently skipped.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::channels::Normalized;
use crate::error::Result;
use crate::event::Event;

/// An event about to be stored, with its owner and the receipt it came from.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub tenant_id: Uuid,
    pub receipt_id: Uuid,
    pub normalized: &'a Normalized,
}

/// A new event as stored, with its payload exactly as written: what is forwarded, so a
/// delivery handed straight to the dispatcher need not read it back.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event: Event,
    pub payload: String,
}

/// Inserts events of any number of receipts and tenants in one statement. Returns, for each
/// row, the stored event (id and tenant filled in) if it was new, `None` if it was a
/// duplicate (same tenant and dedup key, in this batch or stored before): duplicates create
/// no second event and no second delivery.
#[tracing::instrument(skip_all, fields(count = rows.len()))]
pub async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[EventRow<'_>],
) -> Result<Vec<Option<StoredEvent>>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<Event> = rows
        .iter()
        .map(|row| Event {
            id: Some(Uuid::now_v7()),
            tenant_id: Some(row.tenant_id),
            ..row.normalized.event.clone()
        })
        .collect();
    let ids: Vec<Uuid> = events.iter().filter_map(|e| e.id).collect();
    let tenants: Vec<Uuid> = rows.iter().map(|r| r.tenant_id).collect();
    let receipts: Vec<Uuid> = rows.iter().map(|r| r.receipt_id).collect();
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| r.normalized.dedup_key.as_str())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let channels: Vec<&str> = events.iter().map(|e| e.channel.as_str()).collect();
    let contacts: Vec<Option<&str>> = events.iter().map(|e| e.contact.as_deref()).collect();
    let occurred: Vec<DateTime<Utc>> = events.iter().map(occurred_at).collect();
    let payloads = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)?;
    let inserted: HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO events (id, tenant_id, receipt_id, dedup_key, event_type, channel, contact, occurred_at, payload)
         SELECT u.id, u.tenant_id, u.receipt_id, u.key, u.type, u.channel, u.contact, u.occurred, u.payload::json
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::timestamptz[], $9::text[])
              AS u(id, tenant_id, receipt_id, key, type, channel, contact, occurred, payload)
         ON CONFLICT (tenant_id, dedup_key) DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&receipts)
    .bind(&keys)
    .bind(&types)
    .bind(&channels)
    .bind(&contacts)
    .bind(&occurred)
    .bind(&payloads)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    Ok(events
        .into_iter()
        .zip(payloads)
        .map(|(event, payload)| {
            event
                .id
                .is_some_and(|id| inserted.contains(&id))
                .then_some(StoredEvent { event, payload })
        })
        .collect())
}

/// The event's own time as a timestamp, falling back to the epoch for absurd values.
fn occurred_at(event: &Event) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(event.timestamp_ms).unwrap_or_default()
}

/// Filters of the event list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub channel: Option<String>,
    pub event_type: Option<String>,
    pub contact: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A page of a tenant's events (without `raw`), oldest first, after the `after` cursor.
#[tracing::instrument(skip(db))]
pub async fn list_events_of_tenant(
    db: &PgPool,
    tenant_id: Uuid,
    filter: &EventFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows: Vec<Json<Event>> = sqlx::query_scalar(
        "SELECT payload::jsonb - 'raw' FROM events
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2)
           AND ($3::text IS NULL OR channel = $3) AND ($4::text IS NULL OR event_type = $4)
           AND ($5::text IS NULL OR contact = $5)
           AND ($6::timestamptz IS NULL OR occurred_at >= $6)
           AND ($7::timestamptz IS NULL OR occurred_at < $7)
         ORDER BY id LIMIT $8",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(&filter.channel)
    .bind(&filter.event_type)
    .bind(&filter.contact)
    .bind(filter.since)
    .bind(filter.until)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|j| j.0).collect())
}

/// One event of a tenant, with `raw`.
#[tracing::instrument(skip(db))]
pub async fn get_event_of_tenant(
    db: &PgPool,
    tenant_id: Uuid,
    event_id: Uuid,
) -> Result<Option<Event>> {
    let row: Option<Json<Event>> =
        sqlx::query_scalar("SELECT payload FROM events WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(event_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|j| j.0))
}

/// Stores a gateway-made event (the endpoint test ping) outside of any receipt.
#[tracing::instrument(skip_all, fields(%tenant_id))]
pub async fn insert_synthetic_event(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    event: &Event,
) -> Result<()> {
    let id = event
        .id
        .ok_or_else(|| anyhow::anyhow!("synthetic event without id"))?;
    sqlx::query(
        "INSERT INTO events (id, tenant_id, dedup_key, event_type, channel, contact, occurred_at, payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(format!("synthetic:{id}"))
    .bind(event.event_type.as_str())
    .bind(event.channel.as_str())
    .bind(&event.contact)
    .bind(occurred_at(event))
    .bind(serde_json::to_string(event).map_err(anyhow::Error::from)?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes up to `limit` events stored before `cutoff` and returns how many went; their
/// deliveries and attempts go with them (cascade). An event with a delivery still pending
/// is kept: deleting it would silently cancel a forward the tenant is owed.
#[tracing::instrument(skip(db))]
pub async fn purge_events_before(db: &PgPool, cutoff: DateTime<Utc>, limit: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM events WHERE id IN (
             SELECT e.id FROM events e
             WHERE e.created_at < $1
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.state = 'pending')
             LIMIT $2 FOR UPDATE OF e SKIP LOCKED)",
    )
    .bind(cutoff)
    .bind(limit)
    .execute(db)
    .await?
    .rows_affected())
}
