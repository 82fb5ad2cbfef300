//! The dispatcher: forwards queued deliveries to tenant endpoints.
//!
//! It wakes on `NOTIFY` (with a periodic poll as a fallback), claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease, and sends them with bounded concurrency overall and
//! per endpoint: an endpoint at its cap is left out of the next claims, so one slow receiver
//! cannot take the slots of the others. Any number of dispatchers may share one database.

pub mod destination;
pub mod record;
pub mod schedule;
pub mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::DispatchArgs;
use crate::encryption::Keyring;
use crate::error::Result;
use crate::notify::Wakeup;
use crate::store::deliveries::{self, Claimed, FinishedAttempt, InFlight, Next};
use crate::store::endpoints;
use record::{Recorded, Recorder};
use schedule::RetryPolicy;
use send::Sender;

/// Deliveries made, by outcome (succeeded, retry, failed).
pub const ATTEMPTS: &str = "switchboard_delivery_attempts_total";
/// Seconds per attempt, from request to recorded answer.
pub const ATTEMPT_SECONDS: &str = "switchboard_delivery_attempt_duration_seconds";

/// Forwards deliveries; cheap to share behind an `Arc`.
pub struct Dispatcher {
    pool: PgPool,
    keys: Keyring,
    sender: Sender,
    recorder: Recorder,
    policy: RetryPolicy,
    settings: DispatchArgs,
    slots: Arc<Semaphore>,
    per_endpoint: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// A claimed delivery's hold on one global slot and one slot of its endpoint.
struct Slot {
    endpoint_id: Uuid,
    per_endpoint: Arc<Mutex<HashMap<Uuid, usize>>>,
    _global: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = lock(&self.per_endpoint);
        if let Some(count) = counts.get_mut(&self.endpoint_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.endpoint_id);
            }
        }
    }
}

impl Dispatcher {
    /// A dispatcher over `pool` with the given settings; `keys` decrypt signing secrets.
    /// Starts its attempt recorder, so it must be called inside the Tokio runtime.
    pub fn new(pool: PgPool, settings: &DispatchArgs, keys: Keyring) -> anyhow::Result<Self> {
        Ok(Dispatcher {
            keys,
            sender: Sender::new(settings)?,
            recorder: Recorder::start(pool.clone(), settings.max_in_flight),
            policy: RetryPolicy::from(settings),
            slots: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            per_endpoint: Arc::new(Mutex::new(HashMap::new())),
            settings: settings.clone(),
            pool,
        })
    }

    /// What this worker has in flight per endpoint, for the next claim.
    fn in_flight(&self) -> InFlight {
        let counts = lock(&self.per_endpoint);
        InFlight {
            endpoint_ids: counts.keys().copied().collect(),
            counts: counts
                .values()
                .map(|n| i32::try_from(*n).unwrap_or(i32::MAX))
                .collect(),
            cap: i32::try_from(self.settings.max_in_flight_per_endpoint.max(1)).unwrap_or(i32::MAX),
        }
    }

    /// Takes a global slot and a slot of the endpoint, or `None` if either is full.
    fn take_slot(&self, endpoint_id: Uuid) -> Option<Slot> {
        let global = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        let mut counts = lock(&self.per_endpoint);
        let count = counts.entry(endpoint_id).or_default();
        if *count >= self.settings.max_in_flight_per_endpoint.max(1) {
            return None;
        }
        *count += 1;
        Some(Slot {
            endpoint_id,
            per_endpoint: Arc::clone(&self.per_endpoint),
            _global: global,
        })
    }

    /// Claims what is due and fits in the free slots (overall and per endpoint); a delivery
    /// that no longer fits (a race with a finishing attempt) is released at once.
    async fn claim(&self) -> Result<Vec<(Claimed, Slot)>> {
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(Vec::new());
        }
        let claimed = deliveries::claim_due(
            &self.pool,
            &self.keys,
            i64::try_from(free).unwrap_or(i64::MAX),
            &self.in_flight(),
            self.settings.lease,
        )
        .await?;
        let mut ready = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            match self.take_slot(delivery.endpoint_id) {
                Some(slot) => ready.push((delivery, slot)),
                None => deliveries::release(&self.pool, delivery.id, delivery.lease_token).await?,
            }
        }
        Ok(ready)
    }

    /// Delivers everything due now and waits for the results; returns how many attempts
    /// were made. Tests drive the dispatcher with this instead of sleeping.
    pub async fn dispatch_due(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let batch = self.claim().await?;
            if batch.is_empty() {
                return Ok(total);
            }
            total += batch.len();
            let attempts = batch.into_iter().map(|(delivery, slot)| async move {
                self.attempt(delivery).await;
                drop(slot);
            });
            futures_util::future::join_all(attempts).await;
        }
    }

    /// Makes one attempt and records it with the next state of the delivery.
    async fn attempt(&self, delivery: Claimed) {
        let sent = self.sender.send(&delivery).await;
        let attempts_made = u32::try_from(delivery.attempt_count).unwrap_or(0) + 1;
        let next = if sent.record.succeeded {
            Next::Succeeded
        } else if self.policy.exhausted(attempts_made) {
            Next::Failed
        } else {
            let wait = self.policy.next_delay(attempts_made, sent.retry_after);
            Next::RetryAt(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default())
        };
        let outcome = match next {
            Next::Succeeded => "succeeded",
            Next::RetryAt(_) => "retry",
            Next::Failed => "failed",
        };
        metrics::counter!(ATTEMPTS, "outcome" => outcome).increment(1);
        metrics::histogram!(ATTEMPT_SECONDS)
            .record(f64::from(sent.record.duration_ms.max(0)) / 1000.0);
        if let Err(err) = self.record(&delivery, sent.record, next).await {
            tracing::error!(delivery_id = %delivery.id, error = ?err, "could not update the endpoint's failure streak");
        }
    }

    async fn record(
        &self,
        delivery: &Claimed,
        record: deliveries::AttemptRecord,
        next: Next,
    ) -> Result<()> {
        let (succeeded, status) = (record.succeeded, record.status_code);
        let finished = FinishedAttempt {
            delivery_id: delivery.id,
            lease_token: delivery.lease_token,
            record,
            next,
        };
        match self.recorder.record(finished).await {
            Recorded::Kept => {}
            Recorded::LeaseLost => {
                tracing::warn!(delivery_id = %delivery.id, "lease lost before the attempt was recorded");
                return Ok(());
            }
            // Logged by the recorder; the lease runs out and the delivery is tried again:
            // at least once, never lost.
            Recorded::Failed => return Ok(()),
        }
        // The failure streak changes on every failure, and on a success only if there was one.
        if !succeeded || delivery.endpoint_failures > 0 {
            let mut tx = self.pool.begin().await?;
            let disabled = endpoints::record_endpoint_outcome(
                &mut tx,
                delivery.endpoint_id,
                succeeded,
                self.settings.disable_after_failures,
                self.settings.disable_after,
            )
            .await?;
            tx.commit().await?;
            if disabled {
                tracing::warn!(endpoint_id = %delivery.endpoint_id, "endpoint disabled after consecutive failures");
            }
        }
        match next {
            Next::Succeeded => crate::metrics::delivery_finished("succeeded"),
            Next::Failed => crate::metrics::delivery_finished("failed"),
            Next::RetryAt(_) => {}
        }
        tracing::debug!(delivery_id = %delivery.id, ?next, ?status, "attempt recorded");
        Ok(())
    }

    /// Runs until `shutdown` is cancelled, then waits for in-flight attempts up to the
    /// delivery timeout and gives back the leases of those that did not finish.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tracing::info!("dispatcher started");
        let mut wakeup = Wakeup::listen(&self.pool, deliveries::NOTIFY_CHANNEL).await;
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let leases: Arc<Mutex<HashMap<Uuid, Uuid>>> = Arc::default();
        // Under load a slot frees up every few hundred microseconds; claiming for each one
        // would cost a query per delivery. Wait until a few are free (or nothing is in flight).
        let worth_claiming = (self.settings.max_in_flight / 8).max(1);
        loop {
            let claim = if in_flight.is_empty() || self.slots.available_permits() >= worth_claiming
            {
                self.claim().await
            } else {
                Ok(Vec::new())
            };
            match claim {
                Ok(batch) => {
                    for (delivery, slot) in batch {
                        let this = Arc::clone(&self);
                        let leases = Arc::clone(&leases);
                        lock(&leases).insert(delivery.id, delivery.lease_token);
                        in_flight.spawn(async move {
                            let id = delivery.id;
                            this.attempt(delivery).await;
                            lock(&leases).remove(&id);
                            drop(slot);
                        });
                    }
                }
                Err(err) => tracing::warn!(error = ?err, "claiming deliveries failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wakeup.wait(&self.pool, self.settings.poll_interval) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
            // Reap everything that finished meanwhile, so one claim refills all free slots.
            while in_flight.try_join_next().is_some() {}
        }
        self.drain(in_flight, &leases).await;
    }

    async fn drain(&self, mut in_flight: JoinSet<()>, leases: &Mutex<HashMap<Uuid, Uuid>>) {
        let deadline = tokio::time::sleep(self.settings.delivery_timeout + Duration::from_secs(1));
        tokio::pin!(deadline);
        while !in_flight.is_empty() {
            tokio::select! {
                _ = in_flight.join_next() => {}
                () = &mut deadline => {
                    in_flight.abort_all();
                    break;
                }
            }
        }
        let unfinished: Vec<(Uuid, Uuid)> = lock(leases).drain().collect();
        for (id, token) in unfinished {
            if let Err(err) = deliveries::release(&self.pool, id, token).await {
                tracing::warn!(delivery_id = %id, error = ?err, "could not release lease");
            }
        }
        tracing::info!("dispatcher stopped");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
