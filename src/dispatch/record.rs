//! Recording attempts in batches. Every attempt in flight hands its result to one recorder
//! task, which writes whatever has queued up meanwhile in one statement: under load one
//! commit records dozens of attempts instead of one each, and when idle a lone attempt is
//! written at once (the recorder never waits for company).

use std::collections::HashSet;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::store::deliveries::{self, FinishedAttempt};

/// Most attempts written in one statement.
const MAX_BATCH: usize = 256;

/// Outcome of recording one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written, with the delivery's next state.
    Kept,
    /// The lease was lost first (another worker took over): nothing written.
    LeaseLost,
    /// The database refused (logged); the lease runs out and the delivery is tried again.
    Failed,
}

struct Job {
    finished: FinishedAttempt,
    done: oneshot::Sender<Recorded>,
}

/// Handle to the recorder task; the task ends when the last handle is dropped.
#[derive(Clone)]
pub struct Recorder {
    sender: mpsc::Sender<Job>,
}

impl Recorder {
    /// Starts the recorder task; `capacity` bounds the attempts waiting to be written
    /// (the dispatcher's own concurrency is enough: each waits for its answer).
    pub fn start(pool: PgPool, capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(pool, receiver));
        Recorder { sender }
    }

    /// Records one attempt, together with whatever others are waiting, and says how it went.
    pub async fn record(&self, finished: FinishedAttempt) -> Recorded {
        let (done, answer) = oneshot::channel();
        if self.sender.send(Job { finished, done }).await.is_err() {
            return Recorded::Failed;
        }
        answer.await.unwrap_or(Recorded::Failed)
    }
}

async fn run(pool: PgPool, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let finished: Vec<&FinishedAttempt> = jobs.iter().map(|j| &j.finished).collect();
        let kept: Option<HashSet<Uuid>> = match deliveries::finish_attempts(&pool, &finished).await
        {
            Ok(ids) => Some(ids.into_iter().collect()),
            Err(err) => {
                tracing::error!(attempts = jobs.len(), error = ?err, "could not record attempts");
                None
            }
        };
        for job in jobs {
            let outcome = match &kept {
                Some(ids) if ids.contains(&job.finished.delivery_id) => Recorded::Kept,
                Some(_) => Recorded::LeaseLost,
                None => Recorded::Failed,
            };
            let _ = job.done.send(outcome);
        }
    }
}
