//! The delivery outbox and its attempts. Rows are written in the ingest transaction, claimed
//! by dispatchers with `FOR UPDATE SKIP LOCKED` and a lease, and never deleted on failure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::encryption::Keyring;
use crate::error::Result;
use crate::event::Event;
use crate::store::endpoints::{self, EndpointFilter};

/// Postgres channel that wakes dispatchers when deliveries are queued.
pub const NOTIFY_CHANNEL: &str = "switchboard_deliveries";

const COLUMNS: &str = "id, tenant_id, endpoint_id, event_id, state, attempt_count, \
    next_attempt_at, last_status, last_error, created_at, updated_at";

/// A delivery as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub state: String,
    pub attempt_count: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One logged HTTP attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attempt {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub attempt_number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

/// The conversation an event belongs to, for in-order delivery per conversation.
pub fn ordering_key(event: &Event) -> String {
    format!(
        "{}:{}:{}:{}",
        event.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
        event.channel,
        event.account_id.as_deref().unwrap_or_default(),
        event.contact.as_deref().unwrap_or_default()
    )
}

/// Queues one delivery per (event × enabled endpoint whose filters match), inside the
/// caller's transaction, and wakes the dispatchers at commit. Returns how many were queued.
#[tracing::instrument(skip_all, fields(%tenant_id, events = events.len()))]
pub async fn enqueue_for_events(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    events: &[Event],
) -> Result<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let filters = endpoints::enabled_filters_of_tenant(tx, tenant_id).await?;
    insert_matching(tx, tenant_id, &filters, events).await
}

/// Queues one event for one endpoint whatever its filters (the endpoint test ping).
#[tracing::instrument(skip(tx, event))]
pub async fn enqueue_to_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    event: &Event,
) -> Result<usize> {
    let everything = EndpointFilter {
        id: endpoint_id,
        event_types: None,
        channels: None,
    };
    insert_matching(tx, tenant_id, &[everything], std::slice::from_ref(event)).await
}

/// Inserts deliveries for every matching (event, endpoint) pair; existing pairs are kept.
async fn insert_matching(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    filters: &[EndpointFilter],
    events: &[Event],
) -> Result<usize> {
    let mut ids = Vec::new();
    let mut endpoint_ids = Vec::new();
    let mut event_ids = Vec::new();
    let mut keys = Vec::new();
    for event in events {
        let Some(event_id) = event.id else { continue };
        for filter in filters
            .iter()
            .filter(|f| f.matches(event.event_type, event.channel))
        {
            ids.push(Uuid::now_v7());
            endpoint_ids.push(filter.id);
            event_ids.push(event_id);
            keys.push(ordering_key(event));
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let inserted = sqlx::query(
        "INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, ordering_key)
         SELECT u.id, $2, u.endpoint_id, u.event_id, u.key
         FROM UNNEST($1::uuid[], $3::uuid[], $4::uuid[], $5::text[]) AS u(id, endpoint_id, event_id, key)
         ON CONFLICT (endpoint_id, event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(tenant_id)
    .bind(&endpoint_ids)
    .bind(&event_ids)
    .bind(&keys)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
}

/// A delivery claimed by this worker, with everything needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub attempt_count: i32,
    pub lease_token: Uuid,
    pub url: String,
    pub secret: String,
    /// The pre-rotation secret while its grace period lasts.
    pub previous_secret: Option<String>,
    /// The event JSON exactly as stored.
    pub payload: String,
}

/// Claims up to `limit` due deliveries of enabled endpoints of enabled tenants (a disabled
/// tenant's queue waits until it is enabled again), skipping rows other workers hold and endpoints listed in `busy` (already at their concurrency cap here).
#[tracing::instrument(skip(db, keys, busy))]
pub async fn claim_due(
    db: &PgPool,
    keys: &Keyring,
    limit: i64,
    busy: &[Uuid],
    lease: Duration,
) -> Result<Vec<Claimed>> {
    let lease = chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::hours(1));
    let rows = sqlx::query_as::<_, Claimed>(
        "WITH due AS (
             SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
                  JOIN tenants t ON t.id = d.tenant_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= now()
               AND (d.locked_until IS NULL OR d.locked_until < now())
               AND e.enabled AND t.disabled_at IS NULL AND NOT (d.endpoint_id = ANY($2))
             ORDER BY d.next_attempt_at
             LIMIT $1
             FOR UPDATE OF d SKIP LOCKED
         ), claimed AS (
             UPDATE deliveries d SET locked_until = now() + $3::interval, lease_token = gen_random_uuid()
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.attempt_count, d.lease_token
         )
         SELECT c.id, c.tenant_id, c.endpoint_id, c.event_id, c.attempt_count, c.lease_token, e.url, e.secret,
                CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret,
                ev.payload::text AS payload
         FROM claimed c
         JOIN endpoints e ON e.id = c.endpoint_id
         JOIN events ev ON ev.id = c.event_id",
    )
    .bind(limit)
    .bind(busy)
    .bind(lease)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|c| {
            let open = |stored: &str| keys.open(c.tenant_id, stored);
            Ok(Claimed {
                secret: open(&c.secret)?,
                previous_secret: c.previous_secret.as_deref().map(open).transpose()?,
                ..c
            })
        })
        .collect()
}

/// Gives claimed deliveries back untouched (e.g. their endpoint is saturated or the worker
/// is shutting down), so any worker can take them at once.
#[tracing::instrument(skip(db))]
pub async fn release(db: &PgPool, delivery_id: Uuid, lease_token: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET locked_until = NULL, lease_token = NULL WHERE id = $1 AND lease_token = $2",
    )
    .bind(delivery_id)
    .bind(lease_token)
    .execute(db)
    .await?;
    Ok(())
}

/// What one HTTP attempt produced.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

/// The delivery's state after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// 2xx: done.
    Succeeded,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Out of attempts: dead-lettered, replayable through the API.
    Failed,
}

/// Logs the attempt and moves the delivery on, if this worker still holds its lease.
/// Returns false when the lease was lost (another worker took over); nothing is written then.
#[tracing::instrument(skip(tx, record))]
pub async fn finish_attempt(
    tx: &mut Transaction<'_, Postgres>,
    claimed_id: Uuid,
    lease_token: Uuid,
    record: &AttemptRecord,
    next: Next,
) -> Result<bool> {
    let (state, next_at) = match next {
        Next::Succeeded => ("succeeded", None),
        Next::RetryAt(at) => ("pending", Some(at)),
        Next::Failed => ("failed", None),
    };
    let updated = sqlx::query(
        "UPDATE deliveries SET state = $3, attempt_count = attempt_count + 1,
             next_attempt_at = COALESCE($4, next_attempt_at), locked_until = NULL, lease_token = NULL,
             last_status = $5, last_error = $6, updated_at = now()
         WHERE id = $1 AND lease_token = $2",
    )
    .bind(claimed_id)
    .bind(lease_token)
    .bind(state)
    .bind(next_at)
    .bind(record.status_code)
    .bind(&record.error)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code,
                               response_body, error, succeeded)
         VALUES ($1, $2, (SELECT count(*) + 1 FROM attempts WHERE delivery_id = $2), $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(claimed_id)
    .bind(record.started_at)
    .bind(record.duration_ms)
    .bind(record.status_code)
    .bind(&record.response_body)
    .bind(&record.error)
    .bind(record.succeeded)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Filters of the delivery log.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub state: Option<String>,
    /// HTTP status of the latest attempt.
    pub last_status: Option<i32>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A page of the delivery log, oldest first, after the `after` cursor: one tenant's
/// (`Some`, the tenant API) or every tenant's (`None`, the operator's log).
#[tracing::instrument(skip(db))]
pub async fn list_deliveries_across_tenants(
    db: &PgPool,
    tenant_id: Option<Uuid>,
    filter: &DeliveryFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>> {
    Ok(sqlx::query_as::<_, Delivery>(&format!(
        "SELECT {COLUMNS} FROM deliveries
         WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR id > $2)
           AND ($3::uuid IS NULL OR endpoint_id = $3) AND ($4::uuid IS NULL OR event_id = $4)
           AND ($5::text IS NULL OR state = $5) AND ($6::int IS NULL OR last_status = $6)
           AND ($7::timestamptz IS NULL OR created_at >= $7) AND ($8::timestamptz IS NULL OR created_at < $8)
         ORDER BY id LIMIT $9"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(filter.endpoint_id)
    .bind(filter.event_id)
    .bind(&filter.state)
    .bind(filter.last_status)
    .bind(filter.since)
    .bind(filter.until)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// One delivery: of this tenant (`Some`, the tenant API), or of any tenant (`None`, operator).
#[tracing::instrument(skip(db))]
pub async fn get_delivery_across_tenants(
    db: &PgPool,
    tenant_id: Option<Uuid>,
    delivery_id: Uuid,
) -> Result<Option<Delivery>> {
    Ok(sqlx::query_as::<_, Delivery>(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE ($1::uuid IS NULL OR tenant_id = $1) AND id = $2"
    ))
    .bind(tenant_id)
    .bind(delivery_id)
    .fetch_optional(db)
    .await?)
}

/// Every attempt of a delivery, in order.
#[tracing::instrument(skip(db))]
pub async fn attempts_of_delivery(db: &PgPool, delivery_id: Uuid) -> Result<Vec<Attempt>> {
    Ok(sqlx::query_as::<_, Attempt>(
        "SELECT id, delivery_id, attempt_number, started_at, duration_ms, status_code, response_body,
                error, succeeded
         FROM attempts WHERE delivery_id = $1 ORDER BY attempt_number",
    )
    .bind(delivery_id)
    .fetch_all(db)
    .await?)
}

/// Puts a delivery back in the queue now with a fresh attempt budget (manual replay).
#[tracing::instrument(skip(db))]
pub async fn retry_delivery_of_tenant(
    db: &PgPool,
    tenant_id: Uuid,
    delivery_id: Uuid,
) -> Result<Option<Delivery>> {
    let delivery = sqlx::query_as::<_, Delivery>(&format!(
        "UPDATE deliveries SET state = 'pending', attempt_count = 0, next_attempt_at = now(),
             updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(delivery_id)
    .fetch_optional(db)
    .await?;
    notify(db).await?;
    Ok(delivery)
}

/// Re-queues an endpoint's failed deliveries created since `since`, and queues the events
/// since then that it never got (e.g. while it was disabled). Returns how many were queued.
#[tracing::instrument(skip(db))]
pub async fn recover_endpoint_of_tenant(
    db: &PgPool,
    tenant_id: Uuid,
    endpoint_id: Uuid,
    since: DateTime<Utc>,
) -> Result<Option<u64>> {
    let mut tx = db.begin().await?;
    let Some(filter) =
        endpoints::filter_of_endpoint_of_tenant(&mut *tx, tenant_id, endpoint_id).await?
    else {
        return Ok(None);
    };
    let requeued = sqlx::query(
        "UPDATE deliveries SET state = 'pending', attempt_count = 0, next_attempt_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND endpoint_id = $2 AND state = 'failed' AND created_at >= $3",
    )
    .bind(tenant_id)
    .bind(endpoint_id)
    .bind(since)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let missed: Vec<sqlx::types::Json<Event>> = sqlx::query_scalar(
        "SELECT ev.payload FROM events ev
         WHERE ev.tenant_id = $1 AND ev.created_at >= $3
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = ev.id AND d.endpoint_id = $2)
         ORDER BY ev.id",
    )
    .bind(tenant_id)
    .bind(endpoint_id)
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    let missed: Vec<Event> = missed.into_iter().map(|j| j.0).collect();
    let queued =
        insert_matching(&mut tx, tenant_id, std::slice::from_ref(&filter), &missed).await?;
    tx.commit().await?;
    notify(db).await?;
    Ok(Some(requeued + u64::try_from(queued).unwrap_or(0)))
}

async fn notify(db: &PgPool) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(NOTIFY_CHANNEL)
        .execute(db)
        .await?;
    Ok(())
}
