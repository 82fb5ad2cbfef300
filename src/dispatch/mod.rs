//! The dispatcher: forwards queued deliveries to tenant endpoints.
//!
//! It wakes on `NOTIFY` (with a periodic poll as a fallback), claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease, and sends them with bounded concurrency overall and
//! per endpoint: an endpoint at its cap is left out of the next claims, so one slow receiver
//! cannot take the slots of the others. Any number of dispatchers may share one database.

pub mod destination;
pub mod handoff;
pub mod record;
pub mod schedule;
pub mod send;
pub mod slots;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::DispatchArgs;
use crate::encryption::Keyring;
use crate::error::Result;
use crate::notify::Wakeup;
use crate::store::deliveries::{self, Claimed, FinishedAttempt, Next};
use crate::store::endpoints;
use handoff::{Handoff, Leased};
use record::{Recorded, Recorder};
use schedule::RetryPolicy;
use send::Sender;
use slots::lock;

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
    handoff: Arc<Handoff>,
}

impl Dispatcher {
    /// A dispatcher over `pool` with the given settings; `keys` decrypt signing secrets, and
    /// `handoff` holds its slots and receives the deliveries ingest leases to it.
    /// Starts its attempt recorder, so it must be called inside the Tokio runtime.
    pub fn new(
        pool: PgPool,
        settings: &DispatchArgs,
        keys: Keyring,
        handoff: Arc<Handoff>,
    ) -> anyhow::Result<Self> {
        Ok(Dispatcher {
            keys,
            sender: Sender::new(settings)?,
            recorder: Recorder::start(pool.clone(), settings.max_in_flight),
            policy: RetryPolicy::from(settings),
            handoff,
            settings: settings.clone(),
            pool,
        })
    }

    /// Claims what is due and fits in the free slots (overall and per endpoint); a delivery
    /// that no longer fits (a hand-off took its slot meanwhile) is released at once.
    /// A claim that fills every free slot means more may be due: until one comes back short,
    /// ingest queues behind the table instead of handing new deliveries over.
    async fn claim(&self) -> Result<Vec<Leased>> {
        let slots = self.handoff.slots();
        let free = slots.available();
        if free == 0 {
            return Ok(Vec::new());
        }
        let claimed = deliveries::claim_due(
            &self.pool,
            &self.keys,
            i64::try_from(free).unwrap_or(i64::MAX),
            &slots.in_flight(),
            self.settings.lease,
        )
        .await?;
        self.handoff.set_backlog(claimed.len() >= free);
        let mut ready = Vec::with_capacity(claimed.len());
        let mut unfit = Vec::new();
        for delivery in claimed {
            match slots.take(delivery.endpoint_id) {
                Some(slot) => ready.push(Leased { delivery, slot }),
                None => unfit.push((delivery.id, delivery.lease_token)),
            }
        }
        deliveries::release(&self.pool, &unfit).await?;
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
            let attempts = batch.into_iter().map(|leased| self.attempt(leased));
            futures_util::future::join_all(attempts).await;
        }
    }

    /// Makes one attempt and records it with the next state of the delivery. The slot is
    /// given back as soon as the receiver has answered: the row stays leased until the
    /// attempt is recorded, so no claim can take it meanwhile, and the receiver's
    /// concurrency is what the slots bound.
    async fn attempt(&self, leased: Leased) {
        let Leased { delivery, slot } = leased;
        let sent = self.sender.send(&delivery).await;
        drop(slot);
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
        let mut handed = self.handoff.attach();
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let leases: Arc<Mutex<HashMap<Uuid, Uuid>>> = Arc::default();
        // Under load a slot frees up every few hundred microseconds; claiming for each one
        // would cost a query per delivery. Wait until a few are free (or nothing is in flight).
        let worth_claiming = (self.settings.max_in_flight / 8).max(1);
        // A claim is wanted after a wake-up (NOTIFY or poll) and while the table has a
        // backlog; deliveries handed over from ingest need none.
        let mut wanted = true;
        loop {
            if wanted
                && (in_flight.is_empty() || self.handoff.slots().available() >= worth_claiming)
            {
                match self.claim().await {
                    Ok(batch) => {
                        for leased in batch {
                            self.start(&mut in_flight, &leases, leased);
                        }
                        wanted = self.handoff.backlog();
                    }
                    Err(err) => tracing::warn!(error = ?err, "claiming deliveries failed"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wakeup.wait(&self.pool, self.settings.poll_interval) => wanted = true,
                Some(leased) = handed.recv() => self.start(&mut in_flight, &leases, leased),
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
            wanted |= self.handoff.backlog();
            // Start whatever else was handed over, and reap everything that finished
            // meanwhile, so one claim refills all free slots.
            while let Ok(leased) = handed.try_recv() {
                self.start(&mut in_flight, &leases, leased);
            }
            while in_flight.try_join_next().is_some() {}
        }
        // Nothing more is handed over; what was, but not started, is given back below.
        self.handoff.detach();
        handed.close();
        while let Ok(leased) = handed.try_recv() {
            lock(&leases).insert(leased.delivery.id, leased.delivery.lease_token);
        }
        self.drain(in_flight, &leases).await;
    }

    /// Sends one leased delivery in the background, remembering its lease until it is done.
    fn start(
        self: &Arc<Self>,
        in_flight: &mut JoinSet<()>,
        leases: &Arc<Mutex<HashMap<Uuid, Uuid>>>,
        leased: Leased,
    ) {
        let this = Arc::clone(self);
        let leases = Arc::clone(leases);
        let id = leased.delivery.id;
        lock(&leases).insert(id, leased.delivery.lease_token);
        in_flight.spawn(async move {
            this.attempt(leased).await;
            lock(&leases).remove(&id);
        });
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
        if let Err(err) = deliveries::release(&self.pool, &unfinished).await {
            tracing::warn!(count = unfinished.len(), error = ?err, "could not release leases");
        }
        tracing::info!("dispatcher stopped");
    }
}
