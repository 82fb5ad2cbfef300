//! Normalized events. The unique index on (tenant_id, dedup_key) is what makes Meta's
//! retries and duplicates harmless: a second copy is silently skipped.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::channels::Normalized;
use crate::error::Result;
use crate::event::Event;

/// Inserts the events of one receipt and returns the ones that were new, with their ids
/// and tenant filled in. Duplicates (same tenant and dedup key, in this batch or stored
/// before) are skipped, so they create no second event and no second delivery.
#[tracing::instrument(skip_all, fields(%tenant_id, count = normalized.len()))]
pub async fn insert_events_for_tenant(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    receipt_id: Uuid,
    normalized: &[Normalized],
) -> Result<Vec<Event>> {
    if normalized.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<Event> = normalized
        .iter()
        .map(|n| Event {
            id: Some(Uuid::now_v7()),
            tenant_id: Some(tenant_id),
            ..n.event.clone()
        })
        .collect();
    let ids: Vec<Uuid> = events.iter().filter_map(|e| e.id).collect();
    let keys: Vec<&str> = normalized.iter().map(|n| n.dedup_key.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let channels: Vec<&str> = events.iter().map(|e| e.channel.as_str()).collect();
    let contacts: Vec<Option<&str>> = events.iter().map(|e| e.contact.as_deref()).collect();
    let occurred: Vec<DateTime<Utc>> = events.iter().map(occurred_at).collect();
    let payloads = events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)?;
    let inserted: HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO events (id, tenant_id, receipt_id, dedup_key, event_type, channel, contact, occurred_at, payload)
         SELECT u.id, $2, $3, u.key, u.type, u.channel, u.contact, u.occurred, u.payload
         FROM UNNEST($1::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::jsonb[])
              AS u(id, key, type, channel, contact, occurred, payload)
         ON CONFLICT (tenant_id, dedup_key) DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(tenant_id)
    .bind(receipt_id)
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
        .filter(|e| e.id.is_some_and(|id| inserted.contains(&id)))
        .collect())
}

/// The event's own time as a timestamp, falling back to the epoch for absurd values.
fn occurred_at(event: &Event) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(event.timestamp_ms).unwrap_or_default()
}
