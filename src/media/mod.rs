//! Media capture: Meta's webhooks carry media ids and URLs that expire within minutes, so
//! the gateway fetches the file right after ingest and gives the tenant a stable link.
//!
//! Ingest marks the media of events on capturing channels as `pending` and queues a row in
//! the same transaction (the 200 to Meta never waits for a download); the event's
//! deliveries are held back for up to `media_wait`. Capture workers wake on `NOTIFY`, claim
//! rows with a lease, fetch with retries (`backon`) until the URL's lifetime is over, store
//! the bytes, and rewrite the event's `media` — the gateway URL or the reason it failed —
//! which releases the held deliveries at once.

pub mod fetch;
pub mod link;
pub mod storage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::channels::Normalized;
use crate::config::Settings;
use crate::encryption::Keyring;
use crate::event::{Channel, MediaCapture};
use crate::notify::Wakeup;
use crate::store::media::{self as store, CaptureOutcome, ClaimedMedia};
use fetch::{FetchError, Fetcher};
use storage::LocalStore;

/// Captures by outcome (stored, failed).
pub const CAPTURES: &str = "switchboard_media_captures_total";

/// How long a worker owns a claimed capture before another may take it over.
const LEASE_SLACK: Duration = Duration::from_secs(60);

/// Marks the media of events on `channels` for capture; the persister queues them.
pub fn mark_for_capture(events: &mut [Normalized], channels: &[Channel]) {
    for normalized in events {
        let event = &mut normalized.event;
        if !channels.contains(&event.channel) {
            continue;
        }
        if let Some(media) = event.media.as_mut() {
            if media.id.is_some() || media.url.is_some() {
                media.capture = Some(MediaCapture::pending(Uuid::now_v7()));
            }
        }
    }
}

/// The public link to a captured file, valid until the returned Unix time.
pub fn signed_url(settings: &Settings, key: &[u8], id: Uuid) -> (String, i64) {
    let ttl = i64::try_from(settings.media.media_link_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires = Utc::now().timestamp().saturating_add(ttl);
    let token = link::sign(key, id, expires);
    (
        format!("{}/v1/media/{id}?token={token}", settings.public_url),
        expires,
    )
}

/// Runs captures; cheap to share behind an `Arc`.
pub struct Capturer {
    pool: sqlx::PgPool,
    keys: Keyring,
    settings: Arc<Settings>,
    fetcher: Fetcher,
    store: LocalStore,
    slots: Arc<Semaphore>,
}

impl Capturer {
    /// A capturer with the gateway's settings.
    pub fn new(pool: sqlx::PgPool, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let media = &settings.media;
        Ok(Capturer {
            fetcher: Fetcher::new(media, settings.dispatch.allow_private_destinations)?,
            store: LocalStore::new(&media.media_dir),
            slots: Arc::new(Semaphore::new(media.media_concurrency.max(1))),
            keys: settings.encryption.clone(),
            pool,
            settings,
        })
    }

    /// The longest one capture may take: its deadline plus one request, so a lease never
    /// runs out under a worker that is still trying.
    fn lease(&self) -> Duration {
        let media = &self.settings.media;
        media.media_deadline + media.media_timeout + LEASE_SLACK
    }

    /// Runs until `shutdown`; then gives back the leases of unfinished captures.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut wakeup = Wakeup::listen(&self.pool, store::NOTIFY_CHANNEL).await;
        // Finished tasks return their capture's id; `held` keeps the leases still running.
        let mut running: JoinSet<Uuid> = JoinSet::new();
        let mut held: HashMap<Uuid, Uuid> = HashMap::new();
        loop {
            let free = self.slots.available_permits();
            if free > 0 {
                let limit = i64::try_from(free).unwrap_or(i64::MAX);
                match store::claim_captures(&self.pool, &self.keys, limit, self.lease()).await {
                    Ok(claimed) => {
                        for media in claimed {
                            let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
                                break;
                            };
                            held.insert(media.id, media.lease_token);
                            let this = Arc::clone(&self);
                            running.spawn(async move {
                                let id = media.id;
                                this.capture(media).await;
                                drop(permit);
                                id
                            });
                        }
                    }
                    Err(err) => tracing::warn!(error = ?err, "claiming media captures failed"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wakeup.wait(&self.pool, self.settings.dispatch.poll_interval) => {}
                Some(Ok(id)) = running.join_next(), if !running.is_empty() => {
                    held.remove(&id);
                }
            }
            while let Some(done) = running.try_join_next() {
                if let Ok(id) = done {
                    held.remove(&id);
                }
            }
        }
        running.abort_all();
        while running.join_next().await.is_some() {}
        for (id, token) in held {
            if let Err(err) = store::release_capture(&self.pool, id, token).await {
                tracing::warn!(media_id = %id, error = ?err, "could not release capture");
            }
        }
    }

    /// Fetches, stores and records one file; failures are recorded, never raised.
    async fn capture(&self, media: ClaimedMedia) {
        let outcome = match self.fetch_until_deadline(&media).await {
            Ok(outcome) => outcome,
            Err(error) => CaptureOutcome::Failed {
                error: error.to_string(),
            },
        };
        let label = match &outcome {
            CaptureOutcome::Stored { .. } => "stored",
            CaptureOutcome::Failed { error } => {
                tracing::warn!(media_id = %media.id, event_id = %media.event_id, error, "media capture failed");
                "failed"
            }
        };
        ::metrics::counter!(CAPTURES, "channel" => media.channel.clone(), "outcome" => label)
            .increment(1);
        let settings = &self.settings;
        let finished =
            store::finish_capture(&self.pool, media.id, media.lease_token, &outcome, |key| {
                signed_url(settings, key, media.id)
            })
            .await;
        match finished {
            Ok(true) => tracing::debug!(media_id = %media.id, label, "media capture finished"),
            Ok(false) => {
                tracing::warn!(media_id = %media.id, "capture lease lost before recording")
            }
            // The lease runs out and another worker captures it again.
            Err(err) => {
                tracing::error!(media_id = %media.id, error = ?err, "could not record capture")
            }
        }
    }

    /// Tries with exponential backoff and jitter while errors are transient and Meta's URL
    /// can still be alive, then stores the bytes.
    async fn fetch_until_deadline(
        &self,
        media: &ClaimedMedia,
    ) -> Result<CaptureOutcome, FetchError> {
        let args = &self.settings.media;
        let age = (Utc::now() - media.created_at).to_std().unwrap_or_default();
        let Some(left) = args.media_deadline.checked_sub(age) else {
            return Err(FetchError::Permanent(format!(
                "not captured within {} of the webhook: Meta's URL has expired",
                humantime::format_duration(args.media_deadline)
            )));
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(args.media_retry_initial)
            .with_max_times(usize::try_from(args.media_max_attempts.saturating_sub(1)).unwrap_or(0))
            .with_jitter();
        let attempts = (|| self.fetcher.fetch(media))
            .retry(backoff)
            .when(FetchError::is_transient)
            .notify(|error, wait| {
                tracing::info!(media_id = %media.id, %error, ?wait, "media fetch failed; retrying");
            });
        let fetched = tokio::time::timeout(left, attempts)
            .await
            .map_err(|_| {
                FetchError::Permanent(format!(
                    "gave up after {}: Meta's URL has expired",
                    humantime::format_duration(args.media_deadline)
                ))
            })?
            .map_err(|error| match error {
                FetchError::Transient(reason) => FetchError::Transient(format!(
                    "{reason} (after {} attempts)",
                    args.media_max_attempts.max(1)
                )),
                permanent => permanent,
            })?;
        let key = LocalStore::key_for(media.tenant_id, media.id);
        self.store
            .put(&key, &fetched.bytes)
            .await
            .map_err(|e| FetchError::Transient(format!("could not store the file: {e}")))?;
        Ok(CaptureOutcome::Stored {
            storage_key: key,
            mime_type: fetched.mime_type,
            size: i64::try_from(fetched.bytes.len()).unwrap_or(i64::MAX),
            sha256: fetched.sha256,
        })
    }
}
