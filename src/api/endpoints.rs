//! Tenant API for forwarding endpoints: where events go, which ones, and the secret that
//! signs them (readable by the tenant, rotatable with a grace period).

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::auth::TenantAuth;
use crate::api::error::ApiError;
use crate::api::{check_timestamp, page_limit, ApiTags, Page};
use crate::app::AppState;
use crate::dispatch::destination::{check_url, DestinationError};
use crate::encryption::Keyring;
use crate::error::Error;
use crate::event::{Channel, Event, EventType};
use crate::store::endpoints::{self, Endpoint, EndpointFields};
use crate::store::{deliveries, events};
use crate::tokens;

/// An endpoint as its tenant sees it.
#[derive(Debug, Clone, Object)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Event types it receives; absent = all.
    pub event_types: Option<Vec<String>>,
    /// Channels it receives; absent = all.
    pub channels: Option<Vec<String>>,
    pub enabled: bool,
    /// Set when the gateway disabled the endpoint after consecutive failures.
    pub disabled_reason: Option<String>,
    /// Standard Webhooks signing secret (`whsec_…`).
    pub secret: String,
    /// Until then, deliveries also carry a signature made with the previous secret.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        let now = Utc::now();
        EndpointView {
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            channels: e.channels,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            secret: e.secret,
            previous_secret_valid_until: e.previous_secret_expires_at.filter(|t| *t > now),
            consecutive_failures: e.consecutive_failures,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Body of `POST /v1/endpoints`.
#[derive(Debug, Clone, Object)]
pub struct NewEndpoint {
    /// `http` or `https` URL that receives the events.
    pub url: String,
    pub description: Option<String>,
    /// Only these event types (e.g. `message.received`); omit for all.
    pub event_types: Option<Vec<String>>,
    /// Only these channels (`whatsapp`, `messenger`, `instagram`); omit for all.
    pub channels: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Body of `PATCH /v1/endpoints/{id}`: absent fields stay; `null` filters mean "all".
#[derive(Debug, Clone, Object)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: MaybeUndefined<Vec<String>>,
    pub channels: MaybeUndefined<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Body of `POST /v1/endpoints/{id}/recover`.
#[derive(Debug, Clone, Object)]
pub struct RecoverRequest {
    /// Re-queue failed deliveries, and queue missed events, from this time on.
    pub since: DateTime<Utc>,
}

/// Answer of recover and test.
#[derive(Debug, Clone, Object)]
pub struct Queued {
    /// Deliveries queued by the request.
    pub queued: u64,
}

fn validate_list(
    list: Option<Vec<String>>,
    what: &str,
    code: &'static str,
    known: impl Fn(&str) -> bool,
) -> Result<Option<Vec<String>>, Error> {
    let Some(list) = list else { return Ok(None) };
    if list.is_empty() {
        return Err(Error::invalid(
            code,
            format!("{what} must not be empty; omit it or send null for all"),
        ));
    }
    if let Some(bad) = list.iter().find(|v| !known(v)) {
        return Err(Error::invalid(code, format!("unknown {what} `{bad}`")));
    }
    let mut list = list;
    list.sort();
    list.dedup();
    Ok(Some(list))
}

impl EndpointsApi {
    fn validate(&self, fields: EndpointFields) -> Result<EndpointFields, Error> {
        let allow_private = self.state.settings.dispatch.allow_private_destinations;
        check_url(&fields.url, allow_private).map_err(|e| match e {
            DestinationError::BadUrl => Error::invalid("invalid_url", e.to_string()),
            DestinationError::Private(_) => {
                Error::invalid("destination_not_allowed", e.to_string())
            }
        })?;
        if fields.description.chars().count() > 500 {
            return Err(Error::invalid(
                "invalid_description",
                "description is limited to 500 characters",
            ));
        }
        Ok(EndpointFields {
            event_types: validate_list(
                fields.event_types,
                "event type",
                "invalid_event_type",
                |v| EventType::parse(v).is_some_and(|t| t != EventType::Ping),
            )?,
            channels: validate_list(fields.channels, "channel", "invalid_channel", |v| {
                Channel::parse(v).is_some()
            })?,
            ..fields
        })
    }

    fn db(&self) -> &PgPool {
        &self.state.pool
    }

    /// Every store call that reads or writes a signing secret takes the keyring.
    fn keys(&self) -> &Keyring {
        &self.state.settings.encryption
    }

    async fn find(&self, tenant_id: Uuid, id: Uuid) -> Result<Endpoint, ApiError> {
        endpoints::get_endpoint_of_tenant(self.db(), self.keys(), tenant_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("endpoint"))
    }
}

/// Tenant endpoint routes.
pub struct EndpointsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Endpoints")]
impl EndpointsApi {
    /// Register an endpoint. Its signing secret is generated and returned.
    #[oai(path = "/endpoints", method = "post")]
    async fn create(
        &self,
        auth: TenantAuth,
        body: Json<NewEndpoint>,
    ) -> Result<Json<EndpointView>, ApiError> {
        let body = body.0;
        let fields = self.validate(EndpointFields {
            url: body.url,
            description: body.description.unwrap_or_default(),
            event_types: body.event_types,
            channels: body.channels,
            enabled: body.enabled.unwrap_or(true),
        })?;
        let secret = tokens::new_endpoint_secret();
        let endpoint =
            endpoints::insert_endpoint_for_tenant(self.db(), self.keys(), auth.0, &fields, &secret)
                .await?;
        tracing::info!(tenant_id = %auth.0, endpoint_id = %endpoint.id, "endpoint created");
        Ok(Json(endpoint.into()))
    }

    /// List endpoints, keyset-paginated.
    #[oai(path = "/endpoints", method = "get")]
    async fn list(
        &self,
        auth: TenantAuth,
        after: Query<Option<Uuid>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<EndpointView>>, ApiError> {
        let limit = page_limit(limit.0)?;
        let rows =
            endpoints::list_endpoints_of_tenant(self.db(), self.keys(), auth.0, after.0, limit + 1)
                .await?;
        Ok(Json(Page::from_rows(
            rows,
            limit,
            |e| e.id,
            EndpointView::from,
        )))
    }

    /// Get one endpoint, with its signing secret.
    #[oai(path = "/endpoints/:id", method = "get")]
    async fn get(&self, auth: TenantAuth, id: Path<Uuid>) -> Result<Json<EndpointView>, ApiError> {
        Ok(Json(self.find(auth.0, id.0).await?.into()))
    }

    /// Change an endpoint. Re-enabling one the gateway disabled resumes its deliveries.
    #[oai(path = "/endpoints/:id", method = "patch")]
    async fn update(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
        body: Json<EndpointPatch>,
    ) -> Result<Json<EndpointView>, ApiError> {
        let mut current = self.find(auth.0, id.0).await?;
        let patch = body.0;
        patch.event_types.update_to(&mut current.event_types);
        patch.channels.update_to(&mut current.channels);
        let fields = self.validate(EndpointFields {
            url: patch.url.unwrap_or(current.url),
            description: patch.description.unwrap_or(current.description),
            event_types: current.event_types,
            channels: current.channels,
            enabled: patch.enabled.unwrap_or(current.enabled),
        })?;
        let endpoint =
            endpoints::update_endpoint_of_tenant(self.db(), self.keys(), auth.0, id.0, &fields)
                .await?
                .ok_or_else(|| ApiError::not_found("endpoint"))?;
        Ok(Json(endpoint.into()))
    }

    /// Delete an endpoint and its delivery log.
    #[oai(path = "/endpoints/:id", method = "delete")]
    async fn delete(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EndpointView>, ApiError> {
        let endpoint = self.find(auth.0, id.0).await?;
        endpoints::delete_endpoint_of_tenant(&self.state.pool, auth.0, id.0).await?;
        Ok(Json(endpoint.into()))
    }

    /// Replace the signing secret; the old one keeps signing during the grace period.
    #[oai(path = "/endpoints/:id/rotate-secret", method = "post")]
    async fn rotate_secret(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
    ) -> Result<Json<EndpointView>, ApiError> {
        let grace = chrono::Duration::from_std(self.state.settings.dispatch.secret_rotation_grace)
            .unwrap_or_else(|_| chrono::Duration::days(1));
        let endpoint = endpoints::rotate_secret_of_endpoint(
            self.db(),
            self.keys(),
            auth.0,
            id.0,
            &tokens::new_endpoint_secret(),
            Utc::now() + grace,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))?;
        Ok(Json(endpoint.into()))
    }

    /// Send a `ping` event to this endpoint (whatever its filters).
    #[oai(path = "/endpoints/:id/test", method = "post")]
    async fn test(&self, auth: TenantAuth, id: Path<Uuid>) -> Result<Json<Queued>, ApiError> {
        let endpoint = self.find(auth.0, id.0).await?;
        let event = Event::ping(auth.0);
        let mut tx = self.state.pool.begin().await?;
        events::insert_synthetic_event(&mut tx, auth.0, &event).await?;
        let queued = deliveries::enqueue_to_endpoint(&mut tx, endpoint.id, &event).await?;
        tx.commit().await?;
        Ok(Json(Queued {
            queued: u64::try_from(queued).unwrap_or(0),
        }))
    }

    /// Re-queue this endpoint's failed deliveries since a time, and queue the events it
    /// missed since then (e.g. while disabled).
    #[oai(path = "/endpoints/:id/recover", method = "post")]
    async fn recover(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
        body: Json<RecoverRequest>,
    ) -> Result<Json<Queued>, ApiError> {
        check_timestamp("since", body.since)?;
        let queued =
            deliveries::recover_endpoint_of_tenant(&self.state.pool, auth.0, id.0, body.since)
                .await?
                .ok_or_else(|| ApiError::not_found("endpoint"))?;
        Ok(Json(Queued { queued }))
    }
}
