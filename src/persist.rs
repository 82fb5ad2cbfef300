//! Writing accepted webhooks durably before they are acknowledged.
//!
//! In `single` mode each webhook is its own transaction. In `group` mode (the default),
//! concurrent webhooks are coalesced into one multi-row transaction (bounded batch size and
//! wait) by a few committer tasks, and each request is answered only after the commit that
//! holds it: the same guarantee, far fewer fsyncs. The queue in front of the committers is
//! bounded; when it is full the webhook is refused with 503 at once (Meta retries), so
//! overload never grows memory.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::time::{timeout_at, Instant};

use crate::channels::{self, Normalized};
use crate::config::{IngestArgs, IngestMode};
use crate::error::Error;
use crate::event::Event;
use crate::metrics;
use crate::store::deliveries;
use crate::store::events::{self, EventRow};
use crate::store::media;
use crate::store::receipts::{self, NewReceipt};

/// A verified webhook, normalized and ready to store.
#[derive(Debug)]
pub struct Accepted {
    pub receipt: NewReceipt,
    pub events: Vec<Normalized>,
}

/// Why a webhook could not be stored; the detail is logged where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    /// The database is unreachable.
    #[error("database unavailable")]
    Unavailable,
    /// The group-commit queue is full.
    #[error("ingest queue full")]
    Overloaded,
    /// Anything else.
    #[error("could not store the webhook")]
    Internal,
}

impl From<Error> for PersistError {
    fn from(err: Error) -> Self {
        match err {
            Error::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable during ingest");
                PersistError::Unavailable
            }
            other => {
                tracing::error!(error = ?other, "storing webhooks failed");
                PersistError::Internal
            }
        }
    }
}

impl From<sqlx::Error> for PersistError {
    fn from(err: sqlx::Error) -> Self {
        Error::from(err).into()
    }
}

struct Job {
    item: Accepted,
    done: oneshot::Sender<Result<usize, PersistError>>,
}

/// Stores accepted webhooks in the configured mode; returns how many new events each made.
pub struct Persister {
    mode: Mode,
    media_wait: Duration,
}

enum Mode {
    Single(PgPool),
    Group(mpsc::Sender<Job>),
}

impl Persister {
    /// Starts the committer tasks in group mode; they end when the persister is dropped.
    /// Deliveries of events whose media is being captured wait up to `media_wait`.
    pub fn new(pool: PgPool, args: &IngestArgs, media_wait: Duration) -> Self {
        let mode = match args.ingest_mode {
            IngestMode::Single => Mode::Single(pool),
            IngestMode::Group => {
                let (sender, receiver) = mpsc::channel(args.ingest_queue.max(1));
                let receiver = Arc::new(Mutex::new(receiver));
                for _ in 0..args.group_committers.max(1) {
                    tokio::spawn(committer(
                        pool.clone(),
                        Arc::clone(&receiver),
                        args.group_max_batch.max(1),
                        args.group_max_wait,
                        media_wait,
                    ));
                }
                Mode::Group(sender)
            }
        };
        Persister { mode, media_wait }
    }

    /// Stores one webhook and returns once it is committed.
    pub async fn persist(&self, item: Accepted) -> Result<usize, PersistError> {
        match &self.mode {
            Mode::Single(pool) => {
                let counts = write_batch(pool, &[&item], self.media_wait).await?;
                Ok(counts.first().copied().unwrap_or(0))
            }
            Mode::Group(sender) => {
                let (done, result) = oneshot::channel();
                sender
                    .try_send(Job { item, done })
                    .map_err(|err| match err {
                        mpsc::error::TrySendError::Full(_) => PersistError::Overloaded,
                        mpsc::error::TrySendError::Closed(_) => PersistError::Internal,
                    })?;
                result.await.map_err(|_| PersistError::Internal)?
            }
        }
    }
}

/// Takes up to `max_batch` jobs (waiting at most `max_wait` after the first), writes them
/// in one transaction, answers each, and starts over.
async fn committer(
    pool: PgPool,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
    max_wait: Duration,
    media_wait: Duration,
) {
    loop {
        let jobs = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let deadline = Instant::now() + max_wait;
            let mut jobs = vec![first];
            while jobs.len() < max_batch {
                match timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(job)) => jobs.push(job),
                    Ok(None) | Err(_) => break,
                }
            }
            jobs
        };
        ::metrics::histogram!(metrics::GROUP_SIZE).record(jobs.len() as f64);
        let items: Vec<&Accepted> = jobs.iter().map(|j| &j.item).collect();
        match write_batch(&pool, &items, media_wait).await {
            Ok(counts) => {
                for (job, count) in jobs.into_iter().zip(counts) {
                    let _ = job.done.send(Ok(count));
                }
            }
            Err(err) => {
                for job in jobs {
                    let _ = job.done.send(Err(err));
                }
            }
        }
    }
}

/// Writes receipts, their new events and the deliveries of those in one transaction.
/// Returns the number of new events per item.
pub async fn write_batch(
    pool: &PgPool,
    items: &[&Accepted],
    media_wait: Duration,
) -> Result<Vec<usize>, PersistError> {
    let mut tx = pool.begin().await?;
    let receipts: Vec<&NewReceipt> = items.iter().map(|i| &i.receipt).collect();
    receipts::insert_receipts(&mut tx, &receipts).await?;
    let mut owners = Vec::new();
    let mut rows = Vec::new();
    for (index, item) in items.iter().enumerate() {
        for normalized in &item.events {
            owners.push(index);
            rows.push(EventRow {
                tenant_id: item.receipt.tenant_id,
                receipt_id: item.receipt.id,
                normalized,
            });
        }
    }
    let stored = store_events(&mut tx, &rows, media_wait).await?;
    tx.commit().await?;
    let mut counts = vec![0; items.len()];
    for (owner, event) in owners.into_iter().zip(&stored) {
        if let (Some(count), Some(_)) = (counts.get_mut(owner), event) {
            *count += 1;
        }
    }
    Ok(counts)
}

/// Stores events and queues their media captures and deliveries in the caller's
/// transaction, so nothing is forwarded that was not committed and nothing committed is
/// forgotten. Returns, per row, the event if it was new (duplicates create neither event
/// nor capture nor delivery).
pub async fn store_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[EventRow<'_>],
    media_wait: Duration,
) -> crate::error::Result<Vec<Option<Event>>> {
    let stored = events::insert_events(tx, rows).await?;
    let new: Vec<&Event> = stored.iter().flatten().collect();
    media::queue_captures(tx, &new).await?;
    deliveries::enqueue_for_events(tx, &new, media_wait).await?;
    for event in &new {
        ::metrics::counter!(metrics::EVENTS_STORED, "channel" => event.channel.as_str(), "type" => event.event_type.as_str())
            .increment(1);
    }
    Ok(stored)
}

/// What `switchboard reprocess` did.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReprocessReport {
    /// Flagged receipts looked at.
    pub checked: usize,
    /// Receipts that normalize now and were unflagged.
    pub fixed: usize,
    /// New events stored from them.
    pub events: usize,
}

/// Normalizes the flagged receipts again, for when the code has learnt a shape it could not
/// read before. Receipts still unreadable stay flagged; each fixed one is its own transaction.
pub async fn reprocess_flagged(pool: &PgPool) -> crate::error::Result<ReprocessReport> {
    let mut report = ReprocessReport::default();
    let mut after = None;
    loop {
        let page = receipts::flagged_receipts(pool, after, 100).await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = Some(last.id);
        for receipt in page {
            report.checked += 1;
            let batch = channels::normalize(&receipt.body, receipt.received_at.timestamp_millis());
            if batch.problem.is_some() {
                continue;
            }
            let rows: Vec<EventRow> = batch
                .events
                .iter()
                .map(|normalized| EventRow {
                    tenant_id: receipt.tenant_id,
                    receipt_id: receipt.id,
                    normalized,
                })
                .collect();
            let mut tx = pool.begin().await?;
            // Meta's media links are long expired by now: nothing is captured.
            let stored = store_events(&mut tx, &rows, Duration::ZERO).await?;
            receipts::set_receipt_outcome(&mut tx, receipt.id, batch.channel, None).await?;
            tx.commit().await?;
            report.fixed += 1;
            report.events += stored.iter().flatten().count();
        }
    }
}
