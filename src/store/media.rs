//! Media capture: each tenant's per-channel Graph API settings, and one row per captured
//! file. Rows are queued in the ingest transaction and claimed by capture workers with a
//! lease, so a capture survives a crash; finishing one rewrites the event's `media` and
//! releases the deliveries that were waiting for it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::encryption::Keyring;
use crate::error::Result;
use crate::event::{Channel, Event, MediaCapture};
use crate::store::deliveries;

/// Postgres channel that wakes capture workers when media is queued.
pub const NOTIFY_CHANNEL: &str = "switchboard_media";

/// One channel's capture settings as the API may show them (the token is write-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelMedia {
    pub channel: Channel,
    pub enabled: bool,
    pub graph_token_set: bool,
}

/// The capture settings of every channel of a tenant (channels never configured are off).
#[tracing::instrument(skip(db))]
pub async fn channel_media_of_tenant(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
) -> Result<Vec<ChannelMedia>> {
    let rows = sqlx::query_as::<_, (String, bool, bool)>(
        "SELECT channel, enabled, graph_token IS NOT NULL FROM channel_media WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(Channel::ALL
        .into_iter()
        .map(|channel| {
            let row = rows.iter().find(|(c, _, _)| c == channel.as_str());
            ChannelMedia {
                channel,
                enabled: row.is_some_and(|r| r.1),
                graph_token_set: row.is_some_and(|r| r.2),
            }
        })
        .collect())
}

/// A change to one channel's capture settings; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct ChannelMediaUpdate {
    pub enabled: Option<bool>,
    /// `Some("")` removes the token.
    pub graph_token: Option<String>,
}

/// Applies `update` to one channel; the token is sealed with the current key, if any.
#[tracing::instrument(skip_all, fields(%tenant_id, %channel))]
pub async fn update_channel_media(
    tx: &mut Transaction<'_, Postgres>,
    keys: &Keyring,
    tenant_id: Uuid,
    channel: Channel,
    update: &ChannelMediaUpdate,
) -> Result<()> {
    let token = match update.graph_token.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(token) => Some(Some(keys.seal(tenant_id, token)?)),
    };
    sqlx::query(
        "INSERT INTO channel_media (tenant_id, channel, enabled, graph_token)
         VALUES ($1, $2, COALESCE($3, false), $5)
         ON CONFLICT (tenant_id, channel) DO UPDATE SET
             enabled = COALESCE($3, channel_media.enabled),
             graph_token = CASE WHEN $4 THEN EXCLUDED.graph_token ELSE channel_media.graph_token END,
             updated_at = now()",
    )
    .bind(tenant_id)
    .bind(channel.as_str())
    .bind(update.enabled)
    .bind(token.is_some())
    .bind(token.flatten())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The channels a tenant captures media on, for ingest to mark events as it stores them.
pub async fn capturing_channels(db: impl PgExecutor<'_>, tenant_id: Uuid) -> Result<Vec<Channel>> {
    let rows = sqlx::query_scalar::<_, String>(
        "SELECT channel FROM channel_media WHERE tenant_id = $1 AND enabled",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().filter_map(|c| Channel::parse(c)).collect())
}

/// Queues a capture for every new event whose media is marked pending, in the ingest
/// transaction. Returns how many were queued.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn queue_captures(
    tx: &mut Transaction<'_, Postgres>,
    events: &[&Event],
) -> Result<usize> {
    let mut ids = Vec::new();
    let mut tenants = Vec::new();
    let mut event_ids = Vec::new();
    let mut channels = Vec::new();
    let mut meta_ids = Vec::new();
    let mut urls = Vec::new();
    let mut hashes = Vec::new();
    let mut filenames = Vec::new();
    let mut mime_types = Vec::new();
    let mut link_keys = Vec::new();
    for event in events {
        let (Some(event_id), Some(tenant_id), Some(media)) =
            (event.id, event.tenant_id, &event.media)
        else {
            continue;
        };
        let Some(capture) = &media.capture else {
            continue;
        };
        let mut key = vec![0_u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        ids.push(capture.id);
        tenants.push(tenant_id);
        event_ids.push(event_id);
        channels.push(event.channel.as_str());
        meta_ids.push(media.id.as_deref());
        urls.push(media.url.as_deref());
        hashes.push(media.sha256.as_deref());
        filenames.push(media.filename.as_deref());
        mime_types.push(media.mime_type.as_deref());
        link_keys.push(key);
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let inserted = sqlx::query(
        "INSERT INTO media (id, tenant_id, event_id, channel, meta_id, source_url, expected_sha256,
                            filename, mime_type, link_key)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[], $10::bytea[])",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&event_ids)
    .bind(&channels)
    .bind(&meta_ids)
    .bind(&urls)
    .bind(&hashes)
    .bind(&filenames)
    .bind(&mime_types)
    .bind(&link_keys)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    super::notify(&mut **tx, NOTIFY_CHANNEL).await?;
    Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
}

/// A capture claimed by this worker, with what is needed to fetch the file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedMedia {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_id: Uuid,
    pub channel: String,
    pub meta_id: Option<String>,
    pub source_url: Option<String>,
    pub expected_sha256: Option<String>,
    pub mime_type: Option<String>,
    pub created_at: DateTime<Utc>,
    pub lease_token: Uuid,
    /// The channel's Graph API token, decrypted.
    pub graph_token: Option<String>,
}

/// Claims up to `limit` pending captures nobody holds, with a lease.
#[tracing::instrument(skip(db, keys))]
pub async fn claim_captures(
    db: &PgPool,
    keys: &Keyring,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ClaimedMedia>> {
    let lease = chrono::Duration::from_std(lease).unwrap_or_else(|_| chrono::Duration::hours(1));
    let rows = sqlx::query_as::<_, ClaimedMedia>(
        "WITH due AS (
             SELECT id FROM media
             WHERE state = 'pending' AND (locked_until IS NULL OR locked_until < now())
             ORDER BY created_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED
         )
         UPDATE media m
         SET locked_until = now() + $2, lease_token = gen_random_uuid(), attempts = m.attempts + 1
         FROM due
         WHERE m.id = due.id
         RETURNING m.id, m.tenant_id, m.event_id, m.channel, m.meta_id, m.source_url,
                   m.expected_sha256, m.mime_type, m.created_at, m.lease_token,
                   (SELECT graph_token FROM channel_media c
                    WHERE c.tenant_id = m.tenant_id AND c.channel = m.channel) AS graph_token",
    )
    .bind(limit)
    .bind(lease)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|mut row| {
            if let Some(sealed) = row.graph_token.take() {
                row.graph_token = Some(keys.open(row.tenant_id, &sealed)?);
            }
            Ok(row)
        })
        .collect()
}

/// How a capture ended.
#[derive(Debug, Clone)]
pub enum CaptureOutcome {
    Stored {
        storage_key: String,
        mime_type: Option<String>,
        size: i64,
        sha256: String,
    },
    Failed {
        error: String,
    },
}

/// Records the outcome, rewrites the event's `media` (the gateway link or the error) and
/// releases the event's deliveries still waiting for it, all in one transaction. `link`
/// makes the signed URL from the row's key. Returns false if the lease was lost meanwhile.
#[tracing::instrument(skip(db, outcome, link))]
pub async fn finish_capture(
    db: &PgPool,
    id: Uuid,
    lease_token: Uuid,
    outcome: &CaptureOutcome,
    link: impl FnOnce(&[u8]) -> (String, i64),
) -> Result<bool> {
    let mut tx = db.begin().await?;
    let (state, storage_key, mime_type, size, sha256, error) = match outcome {
        CaptureOutcome::Stored {
            storage_key,
            mime_type,
            size,
            sha256,
        } => (
            "stored",
            Some(storage_key.as_str()),
            mime_type.as_deref(),
            Some(*size),
            Some(sha256.as_str()),
            None,
        ),
        CaptureOutcome::Failed { error } => {
            ("failed", None, None, None, None, Some(error.as_str()))
        }
    };
    let finished = sqlx::query_as::<_, (Uuid, Vec<u8>)>(
        "UPDATE media SET state = $3, storage_key = $4, mime_type = COALESCE($5, mime_type),
                          size_bytes = $6, sha256 = $7, error = $8, finished_at = now(),
                          locked_until = NULL, lease_token = NULL
         WHERE id = $1 AND lease_token = $2 AND state = 'pending'
         RETURNING event_id, link_key",
    )
    .bind(id)
    .bind(lease_token)
    .bind(state)
    .bind(storage_key)
    .bind(mime_type)
    .bind(size)
    .bind(sha256)
    .bind(error)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((event_id, link_key)) = finished else {
        return Ok(false);
    };
    let payload = sqlx::query_scalar::<_, String>(
        "SELECT payload::text FROM events WHERE id = $1 FOR UPDATE",
    )
    .bind(event_id)
    .fetch_one(&mut *tx)
    .await?;
    let mut event: Event = serde_json::from_str(&payload).map_err(anyhow::Error::from)?;
    if let Some(media) = event.media.as_mut() {
        let mut capture = MediaCapture::pending(id);
        match outcome {
            CaptureOutcome::Stored {
                mime_type,
                size,
                sha256,
                ..
            } => {
                let (url, expires_at) = link(&link_key);
                capture.status = crate::event::CaptureStatus::Stored;
                capture.size = Some(*size);
                capture.sha256 = Some(sha256.clone());
                capture.url_expires_at = Some(expires_at);
                media.url = Some(url);
                if media.mime_type.is_none() {
                    media.mime_type.clone_from(mime_type);
                }
            }
            CaptureOutcome::Failed { error } => {
                capture.status = crate::event::CaptureStatus::Failed;
                capture.error = Some(error.clone());
            }
        }
        media.capture = Some(capture);
    }
    let payload = serde_json::to_string(&event).map_err(anyhow::Error::from)?;
    sqlx::query("UPDATE events SET payload = $2::json WHERE id = $1")
        .bind(event_id)
        .bind(payload)
        .execute(&mut *tx)
        .await?;
    deliveries::release_waiting_for_event(&mut tx, event_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Gives a claimed capture back (shutdown), so another worker takes it at once.
pub async fn release_capture(db: &PgPool, id: Uuid, lease_token: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE media SET locked_until = NULL, lease_token = NULL
         WHERE id = $1 AND lease_token = $2",
    )
    .bind(id)
    .bind(lease_token)
    .execute(db)
    .await?;
    Ok(())
}

/// A captured file's record, for serving it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub state: String,
    pub storage_key: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub link_key: Vec<u8>,
}

/// One media row by id, whoever owns it (the caller checks access).
pub async fn get_media(db: &PgPool, id: Uuid) -> Result<Option<MediaRecord>> {
    Ok(sqlx::query_as::<_, MediaRecord>(
        "SELECT id, tenant_id, state, storage_key, mime_type, filename, size_bytes, sha256, link_key
         FROM media WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?)
}
