//! The delivery outbox and its attempts. Rows are written in the ingest transaction, claimed
//! by dispatchers with `FOR UPDATE SKIP LOCKED` and a lease, and never deleted on failure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::encryption::Keyring;
use crate::error::Result;
use crate::event::Event;
use crate::store::endpoints;

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

/// A delivery to queue: one event for one endpoint, leased to this worker from the start
/// when it is handed straight to the local dispatcher.
#[derive(Debug, Clone, Copy)]
pub struct NewDelivery<'a> {
    pub id: Uuid,
    pub event: &'a Event,
    pub endpoint_id: Uuid,
    pub lease_token: Option<Uuid>,
}

impl<'a> NewDelivery<'a> {
    /// A delivery any dispatcher may claim.
    pub fn unleased(event: &'a Event, endpoint_id: Uuid) -> Self {
        NewDelivery {
            id: Uuid::now_v7(),
            event,
            endpoint_id,
            lease_token: None,
        }
    }
}

/// Queues one event for one endpoint whatever its filters (the endpoint test ping).
#[tracing::instrument(skip(tx, event))]
pub async fn enqueue_to_endpoint(
    tx: &mut Transaction<'_, Postgres>,
    endpoint_id: Uuid,
    event: &Event,
) -> Result<usize> {
    insert_deliveries(
        tx,
        &[NewDelivery::unleased(event, endpoint_id)],
        Duration::ZERO,
        Duration::ZERO,
    )
    .await
}

/// Inserts deliveries in the caller's transaction, keeping existing ones, and wakes the
/// dispatchers at commit if any is theirs to claim. An event whose media is being captured
/// is held back for up to `media_wait` (the capture releases it as soon as it ends); a
/// leased delivery belongs to this worker for `lease`. Returns how many were queued.
#[tracing::instrument(skip_all, fields(count = new.len()))]
pub async fn insert_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    new: &[NewDelivery<'_>],
    media_wait: Duration,
    lease: Duration,
) -> Result<usize> {
    let held_until = Utc::now() + chrono::Duration::from_std(media_wait).unwrap_or_default();
    let locked_until = Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
    let mut ids = Vec::with_capacity(new.len());
    let mut due = Vec::with_capacity(new.len());
    let mut tenant_ids = Vec::with_capacity(new.len());
    let mut endpoint_ids = Vec::with_capacity(new.len());
    let mut event_ids = Vec::with_capacity(new.len());
    let mut keys = Vec::with_capacity(new.len());
    let mut tokens = Vec::with_capacity(new.len());
    let mut locks = Vec::with_capacity(new.len());
    for delivery in new {
        let event = delivery.event;
        let (Some(event_id), Some(tenant_id)) = (event.id, event.tenant_id) else {
            continue;
        };
        ids.push(delivery.id);
        tenant_ids.push(tenant_id);
        endpoint_ids.push(delivery.endpoint_id);
        event_ids.push(event_id);
        keys.push(ordering_key(event));
        due.push(event.media_capture_pending().then_some(held_until));
        tokens.push(delivery.lease_token);
        locks.push(delivery.lease_token.map(|_| locked_until));
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let inserted = sqlx::query(
        "INSERT INTO deliveries (id, tenant_id, endpoint_id, event_id, ordering_key, next_attempt_at,
                                 lease_token, locked_until)
         SELECT u.id, u.tenant_id, u.endpoint_id, u.event_id, u.key, COALESCE(u.due, now()),
                u.token, u.locked
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[],
                     $7::uuid[], $8::timestamptz[])
              AS u(id, tenant_id, endpoint_id, event_id, key, due, token, locked)
         ON CONFLICT (event_id, endpoint_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&tenant_ids)
    .bind(&endpoint_ids)
    .bind(&event_ids)
    .bind(&keys)
    .bind(&due)
    .bind(&tokens)
    .bind(&locks)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if tokens.iter().any(Option::is_none) {
        super::notify(&mut **tx, NOTIFY_CHANNEL).await?;
    }
    Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
}

/// Makes an event's first deliveries due now: they were held back for its media capture,
/// which has just ended. Deliveries already tried keep their schedule.
pub async fn release_waiting_for_event(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
         WHERE event_id = $1 AND state = 'pending' AND attempt_count = 0 AND next_attempt_at > now()",
    )
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    super::notify(&mut **tx, NOTIFY_CHANNEL).await
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
    /// The endpoint's failure streak when claimed; a success with no streak needs no update.
    pub endpoint_failures: i32,
    pub url: String,
    pub secret: String,
    /// The pre-rotation secret while its grace period lasts.
    pub previous_secret: Option<String>,
    /// The event JSON exactly as stored.
    pub payload: String,
}

/// How many deliveries this worker already has in flight per endpoint, so a claim takes
/// no more from an endpoint than its remaining slots.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    pub endpoint_ids: Vec<Uuid>,
    pub counts: Vec<i32>,
    /// Slots per endpoint.
    pub cap: i32,
}

/// How many due rows a claim of `limit` looks at: enough that endpoints below their cap are
/// found behind a busy one's backlog, small enough that the scan stops early on the
/// `deliveries_due` index instead of sorting the whole backlog (excluded endpoints —
/// at their cap, disabled, or of a disabled tenant — are filtered in the scan itself, so
/// they cannot fill the window).
fn window_for(limit: i64) -> i64 {
    limit.saturating_mul(4).clamp(64, 2000)
}

/// Claims up to `limit` due deliveries of enabled endpoints of enabled tenants (a disabled
/// tenant's queue waits until it is enabled again), skipping rows other workers hold, and at most the free slots of each endpoint: endpoints already at their cap are
/// left out of the scan, so a slow endpoint's backlog cannot hide the others' work.
#[tracing::instrument(skip(db, keys, in_flight))]
pub async fn claim_due(
    db: &PgPool,
    keys: &Keyring,
    limit: i64,
    in_flight: &InFlight,
    lease: Duration,
) -> Result<Vec<Claimed>> {
    let lease = chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::hours(1));
    let rows = sqlx::query_as::<_, Claimed>(
        "WITH busy AS (
             SELECT * FROM UNNEST($2::uuid[], $3::int[]) AS b(endpoint_id, in_flight)
         ), excluded AS (
             SELECT endpoint_id AS id FROM busy WHERE in_flight >= $4
             UNION ALL
             SELECT e.id FROM endpoints e
             WHERE NOT e.enabled
                OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = e.tenant_id AND t.disabled_at IS NOT NULL)
         ), window_rows AS (
             SELECT d.id, d.endpoint_id, d.next_attempt_at FROM deliveries d
             WHERE d.state = 'pending' AND d.next_attempt_at <= now()
               AND (d.locked_until IS NULL OR d.locked_until < now())
               AND d.endpoint_id NOT IN (SELECT id FROM excluded)
             ORDER BY d.next_attempt_at
             LIMIT $6
         ), ranked AS (
             SELECT w.id, w.next_attempt_at, w.endpoint_id,
                    row_number() OVER (PARTITION BY w.endpoint_id ORDER BY w.next_attempt_at) AS rank
             FROM window_rows w
         ), fitting AS (
             SELECT r.id FROM ranked r LEFT JOIN busy b ON b.endpoint_id = r.endpoint_id
             WHERE r.rank <= $4 - COALESCE(b.in_flight, 0)
             ORDER BY r.next_attempt_at
             LIMIT $1
         ), due AS (
             SELECT d.id FROM deliveries d
             WHERE d.id IN (SELECT id FROM fitting) AND d.state = 'pending'
               AND (d.locked_until IS NULL OR d.locked_until < now())
             FOR UPDATE SKIP LOCKED
         ), claimed AS (
             UPDATE deliveries d SET locked_until = now() + $5::interval, lease_token = gen_random_uuid()
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.tenant_id, d.endpoint_id, d.event_id, d.attempt_count, d.lease_token
         )
         SELECT c.id, c.tenant_id, c.endpoint_id, c.event_id, c.attempt_count, c.lease_token,
                e.consecutive_failures AS endpoint_failures, e.url, e.secret,
                CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret,
                ev.payload::text AS payload
         FROM claimed c
         JOIN endpoints e ON e.id = c.endpoint_id
         JOIN events ev ON ev.id = c.event_id",
    )
    .bind(limit)
    .bind(&in_flight.endpoint_ids)
    .bind(&in_flight.counts)
    .bind(in_flight.cap)
    .bind(lease)
    .bind(window_for(limit))
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

/// Gives leased deliveries back untouched (the worker is shutting down, or a claimed one no
/// longer fits its slots), so any worker can take them at once. Each pair is a delivery id
/// and the lease token this worker holds.
#[tracing::instrument(skip_all, fields(count = leases.len()))]
pub async fn release(db: &PgPool, leases: &[(Uuid, Uuid)]) -> Result<()> {
    if leases.is_empty() {
        return Ok(());
    }
    let (ids, tokens): (Vec<Uuid>, Vec<Uuid>) = leases.iter().copied().unzip();
    sqlx::query(
        "UPDATE deliveries d SET locked_until = NULL, lease_token = NULL
         FROM UNNEST($1::uuid[], $2::uuid[]) AS l(id, token)
         WHERE d.id = l.id AND d.lease_token = l.token",
    )
    .bind(&ids)
    .bind(&tokens)
    .execute(db)
    .await?;
    super::notify(db, NOTIFY_CHANNEL).await
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

/// One finished attempt, ready to be recorded.
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    pub delivery_id: Uuid,
    pub lease_token: Uuid,
    pub record: AttemptRecord,
    pub next: Next,
}

/// Logs attempts and moves their deliveries on, many in one statement (atomic without an
/// explicit transaction, one round trip and one commit for the whole batch), for the
/// deliveries whose lease the caller still holds. Returns the ids recorded; a delivery
/// whose lease was lost (another worker took over) is left out and nothing is written
/// for it.
#[tracing::instrument(skip_all, fields(count = finished.len()))]
pub async fn finish_attempts(
    db: impl PgExecutor<'_>,
    finished: &[&FinishedAttempt],
) -> Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(finished.len());
    let mut tokens = Vec::with_capacity(finished.len());
    let mut states = Vec::with_capacity(finished.len());
    let mut next_at = Vec::with_capacity(finished.len());
    let mut attempt_ids = Vec::with_capacity(finished.len());
    let mut started = Vec::with_capacity(finished.len());
    let mut durations = Vec::with_capacity(finished.len());
    let mut statuses = Vec::with_capacity(finished.len());
    let mut bodies = Vec::with_capacity(finished.len());
    let mut errors = Vec::with_capacity(finished.len());
    let mut succeeded = Vec::with_capacity(finished.len());
    for f in finished {
        let (state, at) = match f.next {
            Next::Succeeded => ("succeeded", None),
            Next::RetryAt(at) => ("pending", Some(at)),
            Next::Failed => ("failed", None),
        };
        ids.push(f.delivery_id);
        tokens.push(f.lease_token);
        states.push(state);
        next_at.push(at);
        attempt_ids.push(Uuid::now_v7());
        started.push(f.record.started_at);
        durations.push(f.record.duration_ms);
        statuses.push(f.record.status_code);
        bodies.push(f.record.response_body.as_deref());
        errors.push(f.record.error.as_deref());
        succeeded.push(f.record.succeeded);
    }
    Ok(sqlx::query_scalar(
        "WITH input AS (
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[],
                                  $6::timestamptz[], $7::int[], $8::int[], $9::text[], $10::text[],
                                  $11::bool[])
                 AS i(id, lease_token, state, next_at, attempt_id, started_at, duration_ms, status,
                      body, error, succeeded)
         ), moved AS (
             UPDATE deliveries d SET state = i.state, attempt_count = d.attempt_count + 1,
                 next_attempt_at = COALESCE(i.next_at, d.next_attempt_at), locked_until = NULL,
                 lease_token = NULL, last_status = i.status, last_error = i.error, updated_at = now()
             FROM input i
             WHERE d.id = i.id AND d.lease_token = i.lease_token
             RETURNING d.id
         )
         INSERT INTO attempts (id, delivery_id, attempt_number, started_at, duration_ms, status_code,
                               response_body, error, succeeded)
         SELECT i.attempt_id, i.id, (SELECT count(*) + 1 FROM attempts a WHERE a.delivery_id = i.id),
                i.started_at, i.duration_ms, i.status, i.body, i.error, i.succeeded
         FROM input i JOIN moved m ON m.id = i.id
         RETURNING delivery_id",
    )
    .bind(&ids)
    .bind(&tokens)
    .bind(&states)
    .bind(&next_at)
    .bind(&attempt_ids)
    .bind(&started)
    .bind(&durations)
    .bind(&statuses)
    .bind(&bodies)
    .bind(&errors)
    .bind(&succeeded)
    .fetch_all(db)
    .await?)
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
    super::notify(db, NOTIFY_CHANNEL).await?;
    Ok(delivery)
}

/// Missed events read per round trip by `recover_endpoint_of_tenant`.
const RECOVER_PAGE: i64 = 500;

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
    // Page through the missed events, so a long outage does not load them all at once.
    let mut queued = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let missed: Vec<(Uuid, sqlx::types::Json<Event>)> = sqlx::query_as(
            "SELECT ev.id, ev.payload FROM events ev
             WHERE ev.tenant_id = $1 AND ev.created_at >= $3 AND ($4::uuid IS NULL OR ev.id > $4)
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = ev.id AND d.endpoint_id = $2)
             ORDER BY ev.id LIMIT $5",
        )
        .bind(tenant_id)
        .bind(endpoint_id)
        .bind(since)
        .bind(after)
        .bind(RECOVER_PAGE)
        .fetch_all(&mut *tx)
        .await?;
        let Some((last, _)) = missed.last() else {
            break;
        };
        after = Some(*last);
        let wanted: Vec<NewDelivery> = missed
            .iter()
            .map(|(_, j)| &j.0)
            .filter(|e| filter.matches(e.event_type, e.channel))
            .map(|e| NewDelivery::unleased(e, filter.id))
            .collect();
        queued += insert_deliveries(&mut tx, &wanted, Duration::ZERO, Duration::ZERO).await?;
    }
    tx.commit().await?;
    super::notify(db, NOTIFY_CHANNEL).await?;
    Ok(Some(requeued + u64::try_from(queued).unwrap_or(0)))
}

/// Deletes up to `limit` attempts started before `cutoff` and returns how many went.
#[tracing::instrument(skip(db))]
pub async fn purge_attempts_before(db: &PgPool, cutoff: DateTime<Utc>, limit: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM attempts WHERE id IN (
             SELECT id FROM attempts WHERE started_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(cutoff)
    .bind(limit)
    .execute(db)
    .await?
    .rows_affected())
}

/// The size of the outbox, for the `/metrics` gauges: how much waits, and for how long the
/// oldest due delivery has waited (0 when nothing is due), which is what an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::FromRow)]
pub struct Backlog {
    /// Pending deliveries, due now or scheduled for a retry.
    pub pending: i64,
    /// Seconds since the oldest due pending delivery became due.
    pub oldest_due_seconds: f64,
}

/// Measures the outbox; both parts come from the `deliveries_due` partial index.
#[tracing::instrument(skip(db))]
pub async fn outbox_backlog(db: &PgPool) -> Result<Backlog> {
    Ok(sqlx::query_as::<_, Backlog>(
        "SELECT count(*) AS pending,
                COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0)::float8
                    AS oldest_due_seconds
         FROM deliveries WHERE state = 'pending'",
    )
    .fetch_one(db)
    .await?)
}
