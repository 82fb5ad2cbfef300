//! Tenant API for the delivery log: every delivery, every attempt, and replays.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use crate::api::auth::TenantAuth;
use crate::api::error::ApiError;
use crate::api::{page_limit, ApiTags, Page};
use crate::app::AppState;
use crate::error::Error;
use crate::store::deliveries::{self, Attempt, Delivery, DeliveryFilter};

/// The delivery states a filter may name.
const STATES: [&str; 3] = ["pending", "succeeded", "failed"];

/// One event to one endpoint.
#[derive(Debug, Clone, Object)]
pub struct DeliveryView {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    /// `pending`, `succeeded` or `failed` (out of attempts; replayable).
    pub state: String,
    /// Attempts since the delivery was queued or last replayed.
    pub attempt_count: i32,
    /// When a pending delivery is tried next.
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id,
            state: d.state,
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One HTTP attempt.
#[derive(Debug, Clone, Object)]
pub struct AttemptView {
    pub id: Uuid,
    pub attempt_number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    /// First 4 KiB of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            id: a.id,
            attempt_number: a.attempt_number,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            response_body: a.response_body,
            error: a.error,
            succeeded: a.succeeded,
        }
    }
}

/// Validates a `state` filter.
pub fn parse_state(state: Option<String>) -> Result<Option<String>, Error> {
    match state {
        Some(s) if !STATES.contains(&s.as_str()) => Err(Error::invalid(
            "invalid_state",
            format!("state must be one of {}", STATES.join(", ")),
        )),
        other => Ok(other),
    }
}

/// Tenant delivery routes.
pub struct DeliveriesApi {
    pub state: AppState,
}

impl DeliveriesApi {
    async fn find(&self, tenant_id: Uuid, id: Uuid) -> Result<Delivery, ApiError> {
        deliveries::get_delivery_of_tenant(&self.state.pool, tenant_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("delivery"))
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Deliveries")]
impl DeliveriesApi {
    /// The delivery log, oldest first, keyset-paginated.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/deliveries", method = "get")]
    async fn list(
        &self,
        auth: TenantAuth,
        endpoint_id: Query<Option<Uuid>>,
        event_id: Query<Option<Uuid>>,
        /// `pending`, `succeeded` or `failed`.
        state: Query<Option<String>>,
        /// Created at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// Created before this time.
        until: Query<Option<DateTime<Utc>>>,
        after: Query<Option<Uuid>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<DeliveryView>>, ApiError> {
        let limit = page_limit(limit.0)?;
        let filter = DeliveryFilter {
            endpoint_id: endpoint_id.0,
            event_id: event_id.0,
            state: parse_state(state.0)?,
            since: since.0,
            until: until.0,
        };
        let rows = deliveries::list_deliveries_of_tenant(
            &self.state.pool,
            auth.0,
            &filter,
            after.0,
            limit + 1,
        )
        .await?;
        Ok(Json(Page::from_rows(
            rows,
            limit,
            |d| d.id,
            DeliveryView::from,
        )))
    }

    /// One delivery.
    #[oai(path = "/deliveries/:id", method = "get")]
    async fn get(&self, auth: TenantAuth, id: Path<Uuid>) -> Result<Json<DeliveryView>, ApiError> {
        Ok(Json(self.find(auth.0, id.0).await?.into()))
    }

    /// Every attempt of a delivery, in order.
    #[oai(path = "/deliveries/:id/attempts", method = "get")]
    async fn attempts(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<AttemptView>>, ApiError> {
        let delivery = self.find(auth.0, id.0).await?;
        let attempts = deliveries::attempts_of_delivery(&self.state.pool, delivery.id).await?;
        Ok(Json(attempts.into_iter().map(AttemptView::from).collect()))
    }

    /// Send a delivery again now, with a fresh attempt budget.
    #[oai(path = "/deliveries/:id/retry", method = "post")]
    async fn retry(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
    ) -> Result<Json<DeliveryView>, ApiError> {
        let delivery = deliveries::retry_delivery_of_tenant(&self.state.pool, auth.0, id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("delivery"))?;
        Ok(Json(delivery.into()))
    }
}
