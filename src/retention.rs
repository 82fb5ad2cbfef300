//! Retention: old receipts, events and delivery attempts are deleted as the operator's
//! `--retain-*` ages say, by a background task of `serve`.
//!
//! Deletes run in small batches with a pause between them, each a short statement of its
//! own, so a purge never holds long locks or one huge transaction against live ingest and
//! dispatch; rows another instance is purging are skipped. Events with a pending delivery
//! are kept until it is done.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::RetentionArgs;
use crate::error::Result;
use crate::store::{deliveries, events, receipts};

/// Rows per delete statement: small enough to keep each statement short.
const BATCH: i64 = 1000;

/// Pause between two batches, leaving the database to live traffic.
const PAUSE: Duration = Duration::from_millis(100);

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Raw receipts deleted.
    pub receipts: u64,
    /// Events deleted (their finished deliveries and attempts went with them).
    pub events: u64,
    /// Attempts deleted by their own age.
    pub attempts: u64,
}

/// Purges now and then every `retention_interval` until `shutdown` is cancelled. Returns
/// at once when no retention is configured, so the default costs nothing.
pub async fn run(pool: PgPool, policy: RetentionArgs, shutdown: CancellationToken) {
    let ages = [
        policy.retain_receipts,
        policy.retain_events,
        policy.retain_attempts,
    ];
    if ages.iter().all(|age| cutoff(Utc::now(), *age).is_none()) {
        tracing::info!("retention off: stored data is kept forever");
        return;
    }
    tracing::info!(?policy, "retention started");
    loop {
        match purge(&pool, &policy, &shutdown).await {
            Ok(purged) if purged != Purged::default() => {
                tracing::info!(
                    receipts = purged.receipts,
                    events = purged.events,
                    attempts = purged.attempts,
                    "retention purged old data"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = ?err, "retention purge failed; retrying later"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(policy.retention_interval.max(Duration::from_secs(1))) => {}
        }
    }
    tracing::info!("retention stopped");
}

/// Deletes everything older than `policy` allows, batch by batch; stops between batches
/// when `shutdown` is cancelled. Attempts go first, then events (with their finished
/// deliveries), then receipts.
pub async fn purge(
    pool: &PgPool,
    policy: &RetentionArgs,
    shutdown: &CancellationToken,
) -> Result<Purged> {
    let now = Utc::now();
    let mut purged = Purged::default();
    if let Some(before) = cutoff(now, policy.retain_attempts) {
        purged.attempts = in_batches(shutdown, || {
            deliveries::purge_attempts_before(pool, before, BATCH)
        })
        .await?;
    }
    if let Some(before) = cutoff(now, policy.retain_events) {
        purged.events = in_batches(shutdown, || {
            events::purge_events_before(pool, before, BATCH)
        })
        .await?;
    }
    if let Some(before) = cutoff(now, policy.retain_receipts) {
        purged.receipts = in_batches(shutdown, || {
            receipts::purge_receipts_before(pool, before, BATCH)
        })
        .await?;
    }
    Ok(purged)
}

/// The time before which rows go; `None` (keep forever) for no age, a zero age, or one so
/// large it reaches before the calendar starts.
fn cutoff(now: DateTime<Utc>, age: Option<Duration>) -> Option<DateTime<Utc>> {
    let age = chrono::Duration::from_std(age.filter(|age| !age.is_zero())?).ok()?;
    now.checked_sub_signed(age)
}

/// Repeats `batch` until it deletes less than a full batch, pausing in between.
async fn in_batches<F, Fut>(shutdown: &CancellationToken, mut batch: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let mut total = 0;
    loop {
        let deleted = batch().await?;
        total += deleted;
        if deleted < BATCH.unsigned_abs() {
            return Ok(total);
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(total),
            () = tokio::time::sleep(PAUSE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_absent_and_absurd_ages_keep_forever() {
        let now = Utc::now();
        assert_eq!(cutoff(now, None), None);
        assert_eq!(cutoff(now, Some(Duration::ZERO)), None);
        assert_eq!(cutoff(now, Some(Duration::MAX)), None);
        assert_eq!(
            cutoff(now, Some(Duration::from_secs(60))),
            Some(now - chrono::Duration::seconds(60))
        );
    }
}
