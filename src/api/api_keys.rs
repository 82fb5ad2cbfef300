//! Operator API for a tenant's API keys: issue one (shown once), list them without their
//! secrets, revoke one. Several keys may be active at once, so a key can be rotated without
//! downtime: issue the new one, switch the client, revoke the old one.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use crate::api::auth::AdminAuth;
use crate::api::error::ApiError;
use crate::api::{page_limit, ApiTags, Page};
use crate::app::AppState;
use crate::store::api_keys::{self, ApiKey};
use crate::store::tenants;

/// A key as listed: never the key itself.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Set once the key is revoked; a revoked key answers 401.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        ApiKeyView {
            id: k.id,
            tenant_id: k.tenant_id,
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// Answer of key creation: the only time the key is visible.
#[derive(Debug, Clone, Object)]
pub struct CreatedApiKeyView {
    #[oai(flatten)]
    pub key: ApiKeyView,
    /// Bearer key for the tenant API. Store it now: it cannot be shown again.
    pub api_key: String,
}

/// Admin routes for tenant API keys.
pub struct ApiKeysApi {
    pub state: AppState,
}

impl ApiKeysApi {
    /// 404 unless the tenant exists, so an unknown tenant is not mistaken for one without keys.
    async fn require_tenant(&self, tenant_id: Uuid) -> Result<(), ApiError> {
        tenants::get_tenant(&self.state.pool, tenant_id)
            .await?
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found("tenant"))
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tenants")]
impl ApiKeysApi {
    /// Issue a new API key for a tenant (operator); the key is shown once.
    #[oai(path = "/tenants/:id/api-keys", method = "post")]
    async fn create(
        &self,
        _auth: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<CreatedApiKeyView>, ApiError> {
        self.require_tenant(id.0).await?;
        let mut tx = self.state.pool.begin().await?;
        let created = api_keys::create_api_key_for_tenant(&mut tx, id.0).await?;
        tx.commit().await?;
        tracing::info!(tenant_id = %id.0, key_id = %created.row.id, "api key created");
        Ok(Json(CreatedApiKeyView {
            key: created.row.into(),
            api_key: created.key,
        }))
    }

    /// A tenant's API keys, revoked ones included, oldest first (operator). Only prefixes
    /// are shown: keys are stored hashed.
    #[oai(path = "/tenants/:id/api-keys", method = "get")]
    async fn list(
        &self,
        _auth: AdminAuth,
        id: Path<Uuid>,
        /// Return keys after this id (the `next` of the previous page).
        after: Query<Option<Uuid>>,
        /// Page size, 1 to 500 (default 100).
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<ApiKeyView>>, ApiError> {
        let limit = page_limit(limit.0)?;
        self.require_tenant(id.0).await?;
        let rows =
            api_keys::list_api_keys_of_tenant(&self.state.pool, id.0, after.0, limit + 1).await?;
        Ok(Json(Page::from_rows(
            rows,
            limit,
            |k| k.id,
            ApiKeyView::from,
        )))
    }

    /// Revoke a key (operator): from now on it answers 401. Revoking twice is harmless.
    #[oai(path = "/tenants/:id/api-keys/:key_id", method = "delete")]
    async fn revoke(
        &self,
        _auth: AdminAuth,
        id: Path<Uuid>,
        key_id: Path<Uuid>,
    ) -> Result<Json<ApiKeyView>, ApiError> {
        let key = api_keys::revoke_api_key_of_tenant(&self.state.pool, id.0, key_id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("api key"))?;
        tracing::info!(tenant_id = %id.0, key_id = %key.id, "api key revoked");
        Ok(Json(key.into()))
    }
}
