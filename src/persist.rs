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
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};
use tokio::time::{timeout_at, Instant};

use uuid::Uuid;

use crate::channels::{self, Normalized};
use crate::config::{IngestArgs, IngestMode};
use crate::dispatch::handoff::{Handoff, Leased};
use crate::encryption::Keyring;
use crate::error::Error;
use crate::event::Event;
use crate::metrics;
use crate::store::deliveries::{self, Claimed, NewDelivery};
use crate::store::endpoints::{self, ForwardTarget};
use crate::store::events::{self, EventRow, StoredEvent};
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
    outbox: Outbox,
}

/// How new deliveries are queued: held back while their media is captured, and leased to
/// the local dispatcher when it has room (see [`Handoff`]).
#[derive(Clone)]
pub struct Outbox {
    pub media_wait: Duration,
    pub local: Option<LocalDispatch>,
}

/// The local dispatcher's hand-off and the keys to open the endpoint secrets it signs with.
#[derive(Clone)]
pub struct LocalDispatch {
    pub handoff: Arc<Handoff>,
    pub keys: Keyring,
}

enum Mode {
    Single(SingleWriter),
    Group(mpsc::Sender<Job>),
}

/// One transaction per webhook, with the same bounded queue as group mode: at most
/// `admitted` webhooks wait, and they wait here for one of `writers` (the pool's size), not
/// in the pool. Hundreds of tasks queued on the pool's own acquire made the gateway's
/// memory grow by kilobytes per webhook (seen at 512 connections: 60 MB → 169 MB).
struct SingleWriter {
    pool: PgPool,
    admitted: Arc<Semaphore>,
    writers: Arc<Semaphore>,
}

impl SingleWriter {
    async fn write(&self, item: &Accepted, outbox: &Outbox) -> Result<usize, PersistError> {
        let _admitted = self
            .admitted
            .try_acquire()
            .map_err(|_| PersistError::Overloaded)?;
        let waited = self.pool.options().get_acquire_timeout();
        let _writer = tokio::time::timeout(waited, self.writers.acquire())
            .await
            .map_err(|_| {
                tracing::warn!("no database connection came free in time");
                PersistError::Unavailable
            })?
            .map_err(|_| PersistError::Internal)?;
        let counts = write_batch(&self.pool, &[item], outbox).await?;
        Ok(counts.first().copied().unwrap_or(0))
    }
}

impl Persister {
    /// Starts the committer tasks in group mode; they end when the persister is dropped.
    pub fn new(pool: PgPool, args: &IngestArgs, outbox: Outbox) -> Self {
        let mode = match args.ingest_mode {
            IngestMode::Single => {
                let writers = usize::try_from(pool.options().get_max_connections()).unwrap_or(1);
                Mode::Single(SingleWriter {
                    pool,
                    admitted: Arc::new(Semaphore::new(args.ingest_queue.max(1))),
                    writers: Arc::new(Semaphore::new(writers.max(1))),
                })
            }
            IngestMode::Group => {
                let (sender, receiver) = mpsc::channel(args.ingest_queue.max(1));
                let receiver = Arc::new(Mutex::new(receiver));
                for _ in 0..args.group_committers.max(1) {
                    tokio::spawn(committer(
                        pool.clone(),
                        Arc::clone(&receiver),
                        args.group_max_batch.max(1),
                        args.group_max_wait,
                        outbox.clone(),
                    ));
                }
                Mode::Group(sender)
            }
        };
        Persister { mode, outbox }
    }

    /// Stores one webhook and returns once it is committed.
    pub async fn persist(&self, item: Accepted) -> Result<usize, PersistError> {
        match &self.mode {
            Mode::Single(writer) => writer.write(&item, &self.outbox).await,
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
    outbox: Outbox,
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
        match write_batch(&pool, &items, &outbox).await {
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

/// Writes receipts, their new events and the deliveries of those in one transaction, then
/// hands the deliveries leased to the local dispatcher over. Returns the number of new
/// events per item.
pub async fn write_batch(
    pool: &PgPool,
    items: &[&Accepted],
    outbox: &Outbox,
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
    let (stored, leased) = store_events(&mut tx, &rows, outbox).await?;
    tx.commit().await?;
    if let Some(local) = &outbox.local {
        let refused: Vec<(Uuid, Uuid)> = local
            .handoff
            .hand_over(leased)
            .iter()
            .map(|l| (l.delivery.id, l.delivery.lease_token))
            .collect();
        // The dispatcher stopped meanwhile: give the leases back for any worker to take.
        if let Err(err) = deliveries::release(pool, &refused).await {
            tracing::warn!(count = refused.len(), error = ?err, "could not release leases; they expire");
        }
    }
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
/// nor capture nor delivery), and the deliveries leased to the local dispatcher, to hand
/// over once committed.
pub async fn store_events(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[EventRow<'_>],
    outbox: &Outbox,
) -> crate::error::Result<(Vec<Option<StoredEvent>>, Vec<Leased>)> {
    let stored = events::insert_events(tx, rows).await?;
    let new: Vec<&StoredEvent> = stored.iter().flatten().collect();
    let new_events: Vec<&Event> = new.iter().map(|s| &s.event).collect();
    media::queue_captures(tx, &new_events).await?;
    let leased = queue_deliveries(tx, &new, outbox).await?;
    for event in &new_events {
        ::metrics::counter!(metrics::EVENTS_STORED, "channel" => event.channel.as_str(), "type" => event.event_type.as_str())
            .increment(1);
    }
    Ok((stored, leased))
}

/// Queues one delivery per (new event × enabled endpoint of its tenant whose filters
/// match); events of several tenants may come in one batch. Deliveries the local dispatcher
/// has a slot for are leased to it and returned.
async fn queue_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    new: &[&StoredEvent],
    outbox: &Outbox,
) -> crate::error::Result<Vec<Leased>> {
    let mut tenants: Vec<Uuid> = new.iter().filter_map(|s| s.event.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let targets = endpoints::enabled_targets_of_tenants(tx, &tenants).await?;
    let mut queued = Vec::new();
    let mut leased = Vec::new();
    for stored in new {
        let event = &stored.event;
        for target in &targets {
            let filter = &target.filter;
            if Some(filter.tenant_id) != event.tenant_id
                || !filter.matches(event.event_type, event.channel)
            {
                continue;
            }
            let mut delivery = NewDelivery::unleased(event, filter.id);
            if let Some(handed) = outbox
                .local
                .as_ref()
                .filter(|_| !event.media_capture_pending())
                .and_then(|local| lease_locally(local, &delivery, stored, target))
            {
                delivery.lease_token = Some(handed.delivery.lease_token);
                leased.push(handed);
            }
            queued.push(delivery);
        }
    }
    let lease = outbox
        .local
        .as_ref()
        .map_or(Duration::ZERO, |l| l.handoff.lease());
    deliveries::insert_deliveries(tx, &queued, outbox.media_wait, lease).await?;
    Ok(leased)
}

/// The delivery as the local dispatcher will send it, if it has a slot for it. The slot
/// comes first, so no secret is decrypted when nothing can be handed over (no local
/// dispatcher, or a backlog). A secret that cannot be opened gives the slot back and
/// leaves the delivery to the claim, which reports the error.
fn lease_locally(
    local: &LocalDispatch,
    delivery: &NewDelivery<'_>,
    stored: &StoredEvent,
    target: &ForwardTarget,
) -> Option<Leased> {
    let event_id = stored.event.id?;
    let slot = local.handoff.reserve(target.filter.id)?;
    let tenant_id = target.filter.tenant_id;
    let secret = local.keys.open(tenant_id, &target.secret).ok()?;
    let previous_secret = match &target.previous_secret {
        Some(sealed) => Some(local.keys.open(tenant_id, sealed).ok()?),
        None => None,
    };
    Some(Leased {
        delivery: Claimed {
            id: delivery.id,
            tenant_id,
            endpoint_id: target.filter.id,
            event_id,
            attempt_count: 0,
            lease_token: Uuid::now_v7(),
            endpoint_failures: target.consecutive_failures,
            url: target.url.clone(),
            secret,
            previous_secret,
            payload: stored.payload.clone(),
        },
        slot,
    })
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
            // Meta's media links are long expired by now: nothing is captured or held back.
            let outbox = Outbox {
                media_wait: Duration::ZERO,
                local: None,
            };
            let (stored, _) = store_events(&mut tx, &rows, &outbox).await?;
            receipts::set_receipt_outcome(&mut tx, receipt.id, batch.channel, None).await?;
            tx.commit().await?;
            report.fixed += 1;
            report.events += stored.iter().flatten().count();
        }
    }
}
