//! Delivery statistics: counts by state, success rate, attempt latency and backlog, for a
//! tenant (its own) or for the operator (any tenant, any endpoint, or everything).

use chrono::{DateTime, Duration, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use crate::api::auth::{AdminAuth, TenantAuth};
use crate::api::error::ApiError;
use crate::api::{check_time_range, ApiTags};
use crate::app::AppState;
use crate::store::stats::{self, DeliveryStats, StatsScope};
use crate::store::{endpoints, tenants};

/// Deliveries created in the window, by their current state.
#[derive(Debug, Clone, Object)]
pub struct StateCounts {
    pub pending: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub total: i64,
}

/// Latency of the attempts started in the window.
#[derive(Debug, Clone, Object)]
pub struct LatencyView {
    pub attempts: i64,
    /// Median attempt duration in milliseconds; absent without attempts.
    pub p50_ms: Option<f64>,
    /// 95th percentile attempt duration in milliseconds; absent without attempts.
    pub p95_ms: Option<f64>,
}

/// Work waiting right now, whatever the window.
#[derive(Debug, Clone, Object)]
pub struct BacklogView {
    /// Pending deliveries whose next attempt is due.
    pub due: i64,
    /// Seconds since the oldest due delivery was created; absent when nothing is due.
    pub oldest_due_age_seconds: Option<f64>,
}

/// Statistics of one scope over one window.
#[derive(Debug, Clone, Object)]
pub struct StatsView {
    pub tenant_id: Option<Uuid>,
    pub endpoint_id: Option<Uuid>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub deliveries: StateCounts,
    /// Succeeded ÷ (succeeded + failed) among the window's deliveries; pending ones are
    /// not decided yet and left out. Absent when none is decided.
    pub success_rate: Option<f64>,
    pub latency: LatencyView,
    pub backlog: BacklogView,
}

impl StatsView {
    fn new(scope: StatsScope, s: DeliveryStats) -> Self {
        let decided = s.succeeded + s.failed;
        StatsView {
            tenant_id: scope.tenant_id,
            endpoint_id: scope.endpoint_id,
            since: scope.since,
            until: scope.until,
            success_rate: (decided > 0).then(|| s.succeeded as f64 / decided as f64),
            deliveries: StateCounts {
                pending: s.pending,
                succeeded: s.succeeded,
                failed: s.failed,
                total: s.pending + decided,
            },
            latency: LatencyView {
                attempts: s.attempts,
                p50_ms: s.p50_ms,
                p95_ms: s.p95_ms,
            },
            backlog: BacklogView {
                due: s.backlog,
                oldest_due_age_seconds: s.oldest_due_age_seconds,
            },
        }
    }
}

/// Statistics routes.
pub struct StatsApi {
    pub state: AppState,
}

impl StatsApi {
    /// Checks the scope (an endpoint must belong to the scoped tenant, as seen from outside:
    /// 404 otherwise), fills in the default window (the last 24 hours) and computes.
    async fn compute(
        &self,
        tenant_id: Option<Uuid>,
        endpoint_id: Option<Uuid>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Json<StatsView>, ApiError> {
        check_time_range(since, until)?;
        let pool = &self.state.pool;
        if let Some(endpoint_id) = endpoint_id {
            let owner = endpoints::tenant_of_endpoint(pool, endpoint_id).await?;
            if owner.is_none() || tenant_id.is_some_and(|t| owner != Some(t)) {
                return Err(ApiError::not_found("endpoint"));
            }
        }
        if let Some(tenant_id) = tenant_id {
            tenants::get_tenant(pool, tenant_id)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?;
        }
        let until = until.unwrap_or_else(Utc::now);
        let scope = StatsScope {
            tenant_id,
            endpoint_id,
            since: since.unwrap_or_else(|| {
                until
                    .checked_sub_signed(Duration::hours(24))
                    .unwrap_or(until)
            }),
            until,
        };
        let figures = stats::delivery_stats(pool, &scope).await?;
        Ok(Json(StatsView::new(scope, figures)))
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Stats")]
impl StatsApi {
    /// The tenant's own delivery statistics, overall or for one endpoint, over a window
    /// (default: the last 24 hours).
    #[oai(path = "/stats", method = "get")]
    async fn tenant_stats(
        &self,
        auth: TenantAuth,
        /// Only this endpoint's deliveries.
        endpoint_id: Query<Option<Uuid>>,
        /// Window start (default: 24 hours before `until`).
        since: Query<Option<DateTime<Utc>>>,
        /// Window end (default: now).
        until: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<StatsView>, ApiError> {
        self.compute(Some(auth.0), endpoint_id.0, since.0, until.0)
            .await
    }

    /// Delivery statistics of every tenant, one tenant or one endpoint (operator), over a
    /// window (default: the last 24 hours).
    #[oai(path = "/admin/stats", method = "get")]
    async fn admin_stats(
        &self,
        _auth: AdminAuth,
        /// Only this tenant's deliveries.
        tenant_id: Query<Option<Uuid>>,
        /// Only this endpoint's deliveries.
        endpoint_id: Query<Option<Uuid>>,
        /// Window start (default: 24 hours before `until`).
        since: Query<Option<DateTime<Utc>>>,
        /// Window end (default: now).
        until: Query<Option<DateTime<Utc>>>,
    ) -> Result<Json<StatsView>, ApiError> {
        self.compute(tenant_id.0, endpoint_id.0, since.0, until.0)
            .await
    }
}
