//! Meta's side of the gateway: the `hub.challenge` handshake and signed webhook intake.
//!
//! A POST is answered 200 only after its receipt (raw bytes) and events are committed; every
//! failure before that point stores nothing and gets a status Meta understands: 401/403 for
//! signatures, 404 for an unknown tenant, 413 for oversize bodies, 503 when the database is
//! down (Meta retries).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use poem::http::{HeaderMap, StatusCode};
use poem::web::{Data, Path, Query};
use poem::{handler, Body, IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::app::AppState;
use crate::channels;
use crate::error::Error;
use crate::event::Channel;
use crate::media;
use crate::metrics;
use crate::persist::{self, PersistError};
use crate::signature::{self, SignatureError};
use crate::store::receipts::NewReceipt;
use crate::store::tenants::TenantCredentials;

/// Headers kept with each receipt: enough to audit a delivery without storing cookies or
/// anything a proxy adds.
const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "user-agent",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-forwarded-for",
    "x-request-id",
];

/// Query of Meta's verification request.
#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /hooks/{tenant}`.
#[handler]
pub async fn handshake_all(
    Path(tenant): Path<String>,
    Query(query): Query<Handshake>,
    state: Data<&AppState>,
) -> Response {
    handshake(&state, &tenant, None, query).await
}

/// `GET /hooks/{tenant}/{channel}`.
#[handler]
pub async fn handshake_channel(
    Path((tenant, channel)): Path<(String, String)>,
    Query(query): Query<Handshake>,
    state: Data<&AppState>,
) -> Response {
    match Channel::parse(&channel) {
        Some(channel) => handshake(&state, &tenant, Some(channel), query).await,
        None => plain(StatusCode::NOT_FOUND, "unknown channel"),
    }
}

/// `POST /hooks/{tenant}`: the channel comes from the body's `object`.
#[handler]
pub async fn receive_all(
    Path(tenant): Path<String>,
    headers: &HeaderMap,
    body: Body,
    state: Data<&AppState>,
) -> Response {
    receive(&state, &tenant, None, headers, body).await
}

/// `POST /hooks/{tenant}/{channel}`.
#[handler]
pub async fn receive_channel(
    Path((tenant, channel)): Path<(String, String)>,
    headers: &HeaderMap,
    body: Body,
    state: Data<&AppState>,
) -> Response {
    match Channel::parse(&channel) {
        Some(channel) => receive(&state, &tenant, Some(channel), headers, body).await,
        None => {
            metrics::webhook("unknown", "unknown_channel");
            plain(StatusCode::NOT_FOUND, "unknown channel")
        }
    }
}

async fn handshake(
    state: &AppState,
    tenant: &str,
    channel: Option<Channel>,
    query: Handshake,
) -> Response {
    let credentials = match load_credentials(state, tenant).await {
        Ok(credentials) => credentials,
        Err(rejection) => return rejection.into_response(),
    };
    let expected = credentials.verify_token_for(channel);
    let token_ok = match (expected, query.verify_token.as_deref()) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    };
    match (query.mode.as_deref(), token_ok, query.challenge) {
        (Some("subscribe"), true, Some(challenge)) => {
            tracing::info!(tenant, channel = ?channel, "Meta handshake accepted");
            challenge
                .with_content_type("text/plain; charset=utf-8")
                .into_response()
        }
        _ => {
            tracing::info!(tenant, channel = ?channel, "Meta handshake refused");
            plain(StatusCode::FORBIDDEN, "verification failed")
        }
    }
}

/// Why a webhook was not accepted. Each maps to a status, a short body and a metric label.
#[derive(Debug)]
enum Rejection {
    UnknownTenant,
    TenantDisabled,
    Signature(SignatureError),
    TooLarge,
    SlowBody,
    BadBody,
    Unavailable,
    Overloaded,
    Internal,
}

impl Rejection {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Rejection::UnknownTenant => (StatusCode::NOT_FOUND, "unknown tenant", "unknown_tenant"),
            Rejection::TenantDisabled => {
                (StatusCode::FORBIDDEN, "tenant disabled", "tenant_disabled")
            }
            Rejection::Signature(SignatureError::Missing) => (
                StatusCode::UNAUTHORIZED,
                "missing signature",
                "missing_signature",
            ),
            Rejection::Signature(_) => {
                (StatusCode::FORBIDDEN, "invalid signature", "bad_signature")
            }
            Rejection::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body too large", "too_large"),
            Rejection::SlowBody => (
                StatusCode::REQUEST_TIMEOUT,
                "body not received in time",
                "slow_body",
            ),
            Rejection::BadBody => (StatusCode::BAD_REQUEST, "could not read body", "bad_body"),
            Rejection::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily unavailable",
                "unavailable",
            ),
            Rejection::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded, retry later",
                "overloaded",
            ),
            Rejection::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error", "error"),
        }
    }

    fn label(&self) -> &'static str {
        self.parts().2
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, text, _) = self.parts();
        plain(status, text)
    }
}

impl From<Error> for Rejection {
    fn from(err: Error) -> Self {
        PersistError::from(err).into()
    }
}

impl From<PersistError> for Rejection {
    fn from(err: PersistError) -> Self {
        match err {
            PersistError::Unavailable => Rejection::Unavailable,
            PersistError::Overloaded => Rejection::Overloaded,
            PersistError::Internal => Rejection::Internal,
        }
    }
}

/// What an accepted webhook turned into, for the metric label.
enum Accepted {
    Stored,
    Duplicate,
    Unparsable,
}

async fn receive(
    state: &AppState,
    tenant: &str,
    url_channel: Option<Channel>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = accept(state, tenant, url_channel, headers, body).await;
    let channel_label = url_channel.map_or("all", Channel::as_str);
    ::metrics::histogram!(metrics::INGEST_SECONDS).record(started.elapsed().as_secs_f64());
    match result {
        Ok(accepted) => {
            let label = match accepted {
                Accepted::Stored => "accepted",
                Accepted::Duplicate => "duplicate",
                Accepted::Unparsable => "unparsable",
            };
            metrics::webhook(channel_label, label);
            plain(StatusCode::OK, "EVENT_RECEIVED")
        }
        Err(rejection) => {
            metrics::webhook(channel_label, rejection.label());
            tracing::info!(tenant, outcome = rejection.label(), "webhook rejected");
            rejection.into_response()
        }
    }
}

async fn accept(
    state: &AppState,
    tenant: &str,
    url_channel: Option<Channel>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, Rejection> {
    let credentials = load_credentials(state, tenant).await?;
    let signature_header = headers
        .get(signature::META_SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    if signature_header.is_none() {
        return Err(Rejection::Signature(SignatureError::Missing));
    }
    let body = tokio::time::timeout(
        state.settings.body_read_timeout,
        read_limited(headers, body, state.settings.max_body_bytes),
    )
    .await
    .map_err(|_| Rejection::SlowBody)??;
    let secrets = credentials.app_secrets_for(url_channel);
    signature::verify_meta_signature(signature_header, &body, &secrets)
        .map_err(Rejection::Signature)?;

    let received_at = Utc::now();
    let mut batch = channels::normalize(&body, received_at.timestamp_millis());
    media::mark_for_capture(&mut batch.events, &credentials.media_capture);
    if let Some(problem) = &batch.problem {
        tracing::warn!(
            tenant,
            problem,
            "signed body could not be normalized; stored flagged"
        );
    }
    let outcome = if batch.problem.is_some() {
        Accepted::Unparsable
    } else {
        Accepted::Stored
    };
    let had_events = !batch.events.is_empty();
    let item = persist::Accepted {
        receipt: NewReceipt {
            id: Uuid::now_v7(),
            tenant_id: credentials.tenant_id,
            url_channel,
            channel: batch.channel,
            received_at,
            headers: kept_headers(headers),
            body,
            problem: batch.problem,
        },
        events: batch.events,
    };
    let new_events = state.persister.persist(item).await?;
    Ok(if had_events && new_events == 0 {
        Accepted::Duplicate
    } else {
        outcome
    })
}

/// Loads the tenant's credentials; ids that are not UUIDs are unknown tenants, not errors.
async fn load_credentials(
    state: &AppState,
    tenant: &str,
) -> Result<Arc<TenantCredentials>, Rejection> {
    let tenant_id = Uuid::parse_str(tenant).map_err(|_| Rejection::UnknownTenant)?;
    let credentials = state
        .tenants
        .credentials(&state.pool, &state.settings.encryption, tenant_id)
        .await?
        .ok_or(Rejection::UnknownTenant)?;
    if credentials.disabled {
        return Err(Rejection::TenantDisabled);
    }
    Ok(credentials)
}

/// Reads the body up to `limit` bytes; a declared or actual size above it is a 413.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Rejection> {
    let declared = headers
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::TooLarge);
    }
    match body.into_bytes_limit(limit).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(Rejection::TooLarge),
        Err(_) => Err(Rejection::BadBody),
    }
}

fn kept_headers(headers: &HeaderMap) -> serde_json::Value {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?;
            Some((
                (*name).to_owned(),
                serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            ))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/plain; charset=utf-8")
        .body(text)
}
