//! Tenant API for the delivery log: every delivery, every attempt, and replays.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::auth::{AdminAuth, TenantAuth};
use crate::api::error::ApiError;
use crate::api::{check_time_range, page_limit, ApiTags, Page};
use crate::app::AppState;
use crate::error::Error;
use crate::store::deliveries::{self, Attempt, Delivery, DeliveryFilter};

/// The delivery states a filter may name.
const STATES: [&str; 3] = ["pending", "succeeded", "failed"];

/// One event to one endpoint.
#[derive(Debug, Clone, Object)]
pub struct DeliveryView {
    pub id: Uuid,
    pub tenant_id: Uuid,
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
            tenant_id: d.tenant_id,
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

/// Validates every field of a delivery-log filter: state, HTTP status and time window.
fn validated(filter: DeliveryFilter) -> Result<DeliveryFilter, Error> {
    check_time_range(filter.since, filter.until)?;
    if filter
        .last_status
        .is_some_and(|status| !(100..=599).contains(&status))
    {
        return Err(Error::invalid(
            "invalid_status",
            "last_status must be an HTTP status between 100 and 599",
        ));
    }
    Ok(DeliveryFilter {
        state: parse_state(filter.state)?,
        ..filter
    })
}

/// One delivery in a scope: the tenant's own, or any tenant's (`None`, operator).
async fn find(pool: &PgPool, tenant_id: Option<Uuid>, id: Uuid) -> Result<Delivery, ApiError> {
    deliveries::get_delivery_across_tenants(pool, tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))
}

/// The attempts of a delivery in a scope; 404 when the delivery is not in it.
async fn attempts_in_scope(
    pool: &PgPool,
    tenant_id: Option<Uuid>,
    id: Uuid,
) -> Result<Json<Vec<AttemptView>>, ApiError> {
    let delivery = find(pool, tenant_id, id).await?;
    let attempts = deliveries::attempts_of_delivery(pool, delivery.id).await?;
    Ok(Json(attempts.into_iter().map(AttemptView::from).collect()))
}

/// One page of the delivery log in a scope.
async fn page_in_scope(
    pool: &PgPool,
    tenant_id: Option<Uuid>,
    filter: DeliveryFilter,
    after: Option<Uuid>,
    limit: Option<i64>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    let limit = page_limit(limit)?;
    let filter = validated(filter)?;
    let rows =
        deliveries::list_deliveries_across_tenants(pool, tenant_id, &filter, after, limit + 1)
            .await?;
    Ok(Json(Page::from_rows(
        rows,
        limit,
        |d| d.id,
        DeliveryView::from,
    )))
}

/// Tenant delivery routes.
pub struct DeliveriesApi {
    pub state: AppState,
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
        /// HTTP status of the latest attempt, e.g. `500`.
        last_status: Query<Option<i32>>,
        /// Created at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// Created before this time.
        until: Query<Option<DateTime<Utc>>>,
        after: Query<Option<Uuid>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<DeliveryView>>, ApiError> {
        let filter = DeliveryFilter {
            endpoint_id: endpoint_id.0,
            event_id: event_id.0,
            state: state.0,
            last_status: last_status.0,
            since: since.0,
            until: until.0,
        };
        page_in_scope(&self.state.pool, Some(auth.0), filter, after.0, limit.0).await
    }

    /// One delivery.
    #[oai(path = "/deliveries/:id", method = "get")]
    async fn get(&self, auth: TenantAuth, id: Path<Uuid>) -> Result<Json<DeliveryView>, ApiError> {
        Ok(Json(
            find(&self.state.pool, Some(auth.0), id.0).await?.into(),
        ))
    }

    /// Every attempt of a delivery, in order.
    #[oai(path = "/deliveries/:id/attempts", method = "get")]
    async fn attempts(
        &self,
        auth: TenantAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<AttemptView>>, ApiError> {
        attempts_in_scope(&self.state.pool, Some(auth.0), id.0).await
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

/// The operator's delivery log across tenants, for support and incident review.
pub struct AdminDeliveriesApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminDeliveriesApi {
    /// Every tenant's deliveries (operator), oldest first, keyset-paginated.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/deliveries", method = "get")]
    async fn list(
        &self,
        _auth: AdminAuth,
        /// Only this tenant's deliveries.
        tenant_id: Query<Option<Uuid>>,
        endpoint_id: Query<Option<Uuid>>,
        event_id: Query<Option<Uuid>>,
        /// `pending`, `succeeded` or `failed`.
        state: Query<Option<String>>,
        /// HTTP status of the latest attempt, e.g. `500`.
        last_status: Query<Option<i32>>,
        /// Created at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// Created before this time.
        until: Query<Option<DateTime<Utc>>>,
        /// Return deliveries after this id (the `next` of the previous page).
        after: Query<Option<Uuid>>,
        /// Page size, 1 to 500 (default 100).
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<DeliveryView>>, ApiError> {
        let filter = DeliveryFilter {
            endpoint_id: endpoint_id.0,
            event_id: event_id.0,
            state: state.0,
            last_status: last_status.0,
            since: since.0,
            until: until.0,
        };
        page_in_scope(&self.state.pool, tenant_id.0, filter, after.0, limit.0).await
    }

    /// One delivery of any tenant (operator).
    #[oai(path = "/deliveries/:id", method = "get")]
    async fn get(&self, _auth: AdminAuth, id: Path<Uuid>) -> Result<Json<DeliveryView>, ApiError> {
        Ok(Json(find(&self.state.pool, None, id.0).await?.into()))
    }

    /// Every attempt of any tenant's delivery, in order (operator).
    #[oai(path = "/deliveries/:id/attempts", method = "get")]
    async fn attempts(
        &self,
        _auth: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Vec<AttemptView>>, ApiError> {
        attempts_in_scope(&self.state.pool, None, id.0).await
    }
}
