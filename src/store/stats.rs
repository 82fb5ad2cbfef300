//! Delivery statistics over a time window: how many deliveries are in each state, how fast
//! endpoints answer, and how much work is waiting. Read-only, one query per request.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::Result;

/// What the statistics cover. `None` ids widen the scope (every tenant, every endpoint).
#[derive(Debug, Clone)]
pub struct StatsScope {
    pub tenant_id: Option<Uuid>,
    pub endpoint_id: Option<Uuid>,
    /// Window start (inclusive) for deliveries created and attempts started.
    pub since: DateTime<Utc>,
    /// Window end (exclusive).
    pub until: DateTime<Utc>,
}

/// The figures of one scope.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct DeliveryStats {
    /// Deliveries created in the window, by their state now.
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Attempts started in the window, and their latency percentiles in milliseconds.
    pub attempts: i64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Pending deliveries due now, whenever created: the current backlog.
    pub backlog: i64,
    /// Seconds since the oldest due delivery was created.
    pub oldest_due_age_seconds: Option<f64>,
}

/// Computes the statistics of a scope. The backlog is "now", not windowed: it answers
/// "is anything stuck", whatever window the caller looks at.
#[tracing::instrument(skip(db))]
pub async fn delivery_stats(db: &PgPool, scope: &StatsScope) -> Result<DeliveryStats> {
    const SCOPED: &str =
        "($1::uuid IS NULL OR d.tenant_id = $1) AND ($2::uuid IS NULL OR d.endpoint_id = $2)";
    Ok(sqlx::query_as::<_, DeliveryStats>(&format!(
        "WITH counts AS (
             SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
                    count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
                    count(*) FILTER (WHERE state = 'failed') AS failed
             FROM deliveries d WHERE {SCOPED} AND d.created_at >= $3 AND d.created_at < $4
         ), latency AS (
             SELECT count(*) AS attempts,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) AS p50_ms,
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) AS p95_ms
             FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE {SCOPED} AND a.started_at >= $3 AND a.started_at < $4
         ), due AS (
             SELECT count(*) AS backlog,
                    EXTRACT(EPOCH FROM now() - min(d.created_at))::float8 AS oldest_due_age_seconds
             FROM deliveries d
             WHERE {SCOPED} AND d.state = 'pending' AND d.next_attempt_at <= now()
         )
         SELECT * FROM counts, latency, due"
    ))
    .bind(scope.tenant_id)
    .bind(scope.endpoint_id)
    .bind(scope.since)
    .bind(scope.until)
    .fetch_one(db)
    .await?)
}
