//! Operator API for tenants. Creating a tenant returns its callback URLs and its first API
//! key, which is shown once and stored only as a hash.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::auth::AdminAuth;
use crate::api::error::ApiError;
use crate::api::{page_limit, ApiTags, Page};
use crate::app::AppState;
use crate::encryption::{self, Keyring};
use crate::error::Error;
use crate::event::Channel;
use crate::store::{api_keys, tenants};

/// Where Meta must send a tenant's webhooks: one URL for all channels, and one per channel.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CallbackUrls {
    /// Takes all three channels; the body's `object` tells them apart.
    pub all: String,
    pub whatsapp: String,
    pub messenger: String,
    pub instagram: String,
}

impl CallbackUrls {
    /// Builds the URLs from the public base URL.
    pub fn new(public_url: &str, tenant_id: Uuid) -> Self {
        let all = format!("{}/hooks/{tenant_id}", public_url.trim_end_matches('/'));
        let per = |c: Channel| format!("{all}/{c}");
        CallbackUrls {
            whatsapp: per(Channel::Whatsapp),
            messenger: per(Channel::Messenger),
            instagram: per(Channel::Instagram),
            all,
        }
    }
}

/// Body of `POST /v1/tenants`.
#[derive(Debug, Clone, Object)]
pub struct NewTenant {
    /// Display name, 1 to 200 characters.
    pub name: String,
    /// Token Meta sends in the handshake; can also be set later by the tenant.
    pub verify_token: Option<String>,
    /// Meta app secret; can also be set later by the tenant.
    pub app_secret: Option<String>,
}

/// A tenant as the operator sees it.
#[derive(Debug, Clone, Object)]
pub struct TenantView {
    pub id: Uuid,
    pub name: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub callback_urls: CallbackUrls,
}

/// Answer of tenant creation: the only time the API key is visible.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct CreatedTenant {
    pub id: Uuid,
    pub name: String,
    /// Bearer key for the tenant API. Store it now: it cannot be shown again.
    pub api_key: String,
    pub callback_urls: CallbackUrls,
}

/// Body of `PATCH /v1/tenants/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, Object)]
pub struct TenantPatch {
    /// New display name, 1 to 200 characters.
    pub name: Option<String>,
}

/// Trims a tenant name and checks its length, the same way on create and rename.
fn validate_name(name: &str) -> Result<&str, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid(
            "invalid_name",
            "name must be 1 to 200 characters",
        ));
    }
    Ok(name)
}

/// Checks a secret-like string given by a user: non-empty, bounded, no surrounding space,
/// and not looking like an encrypted value (it would be misread as one when stored).
pub fn validate_credential(field: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > 512 || value.trim() != value {
        return Err(Error::invalid(
            "invalid_credential",
            format!("{field} must be 1 to 512 characters without surrounding spaces"),
        ));
    }
    if value.starts_with(encryption::PREFIX) {
        return Err(Error::invalid(
            "invalid_credential",
            format!("{field} must not start with `{}`", encryption::PREFIX),
        ));
    }
    Ok(())
}

/// Creates a tenant with one API key; shared by the API and `switchboard tenant create`.
/// `keys` encrypt the app secret, if one is given.
pub async fn create_tenant(
    pool: &PgPool,
    keys: &Keyring,
    public_url: &str,
    new: &NewTenant,
) -> Result<CreatedTenant, Error> {
    let name = validate_name(&new.name)?;
    if let Some(token) = &new.verify_token {
        validate_credential("verify_token", token)?;
    }
    if let Some(secret) = &new.app_secret {
        validate_credential("app_secret", secret)?;
    }
    let mut tx = pool.begin().await?;
    let tenant = tenants::insert_tenant(&mut tx, name, new.verify_token.as_deref()).await?;
    if let Some(secret) = &new.app_secret {
        let update = tenants::CredentialUpdate {
            verify_token: None,
            app_secrets: Some(vec![secret.clone()]),
        };
        tenants::update_credentials_of_tenant(&mut tx, keys, tenant.id, None, &update).await?;
    }
    let api_key = api_keys::create_api_key_for_tenant(&mut tx, tenant.id)
        .await?
        .key;
    tx.commit().await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created");
    Ok(CreatedTenant {
        id: tenant.id,
        name: tenant.name,
        api_key,
        callback_urls: CallbackUrls::new(public_url, tenant.id),
    })
}

/// Admin tenant routes.
pub struct TenantsApi {
    pub state: AppState,
}

impl TenantsApi {
    fn view(&self, tenant: tenants::Tenant) -> TenantView {
        TenantView {
            callback_urls: CallbackUrls::new(&self.state.settings.public_url, tenant.id),
            id: tenant.id,
            name: tenant.name,
            disabled: tenant.disabled_at.is_some(),
            created_at: tenant.created_at,
        }
    }

    /// The view of a changed tenant, or 404 when the store found no such tenant.
    fn found(&self, tenant: Option<tenants::Tenant>) -> Result<Json<TenantView>, ApiError> {
        tenant
            .map(|t| Json(self.view(t)))
            .ok_or_else(|| ApiError::not_found("tenant"))
    }

    async fn set_disabled(&self, id: Uuid, disabled: bool) -> Result<Json<TenantView>, ApiError> {
        let tenant = tenants::set_tenant_disabled(&self.state.pool, id, disabled).await?;
        self.state.tenants.forget(id);
        tracing::info!(tenant_id = %id, disabled, "tenant status changed");
        self.found(tenant)
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Tenants")]
impl TenantsApi {
    /// Create a tenant (operator). Returns its callback URLs and API key (shown once).
    #[oai(path = "/tenants", method = "post")]
    async fn create(
        &self,
        _auth: AdminAuth,
        body: Json<NewTenant>,
    ) -> Result<Json<CreatedTenant>, ApiError> {
        let settings = &self.state.settings;
        let created = create_tenant(
            &self.state.pool,
            &settings.encryption,
            &settings.public_url,
            &body,
        )
        .await?;
        Ok(Json(created))
    }

    /// List tenants (operator), oldest first, keyset-paginated with `after`.
    #[oai(path = "/tenants", method = "get")]
    async fn list(
        &self,
        _auth: AdminAuth,
        /// Return tenants after this id (the `next` of the previous page).
        after: Query<Option<Uuid>>,
        /// Page size, 1 to 500 (default 100).
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<TenantView>>, ApiError> {
        let limit = page_limit(limit.0)?;
        let rows = tenants::list_tenants(&self.state.pool, after.0, limit + 1).await?;
        Ok(Json(Page::from_rows(
            rows,
            limit,
            |t| t.id,
            |t| self.view(t),
        )))
    }

    /// Get one tenant (operator).
    #[oai(path = "/tenants/:id", method = "get")]
    async fn get(&self, _auth: AdminAuth, id: Path<Uuid>) -> Result<Json<TenantView>, ApiError> {
        self.found(tenants::get_tenant(&self.state.pool, id.0).await?)
    }

    /// Rename a tenant (operator).
    #[oai(path = "/tenants/:id", method = "patch")]
    async fn update(
        &self,
        _auth: AdminAuth,
        id: Path<Uuid>,
        body: Json<TenantPatch>,
    ) -> Result<Json<TenantView>, ApiError> {
        let pool = &self.state.pool;
        let tenant = match &body.name {
            Some(name) => tenants::rename_tenant(pool, id.0, validate_name(name)?).await?,
            None => tenants::get_tenant(pool, id.0).await?,
        };
        self.found(tenant)
    }

    /// Disable a tenant (operator): its API keys answer 401, Meta's callbacks are refused
    /// and its queued deliveries wait until it is enabled again. Nothing is deleted.
    #[oai(path = "/tenants/:id/disable", method = "post")]
    async fn disable(
        &self,
        _auth: AdminAuth,
        id: Path<Uuid>,
    ) -> Result<Json<TenantView>, ApiError> {
        self.set_disabled(id.0, true).await
    }

    /// Enable a disabled tenant again (operator).
    #[oai(path = "/tenants/:id/enable", method = "post")]
    async fn enable(&self, _auth: AdminAuth, id: Path<Uuid>) -> Result<Json<TenantView>, ApiError> {
        self.set_disabled(id.0, false).await
    }

    /// Delete a tenant and everything it owns: keys, credentials, receipts, events,
    /// endpoints and the delivery log (operator). This cannot be undone.
    #[oai(path = "/tenants/:id", method = "delete")]
    async fn delete(&self, _auth: AdminAuth, id: Path<Uuid>) -> Result<Json<TenantView>, ApiError> {
        let tenant = tenants::delete_tenant(&self.state.pool, id.0).await?;
        self.state.tenants.forget(id.0);
        tracing::info!(tenant_id = %id.0, "tenant deleted");
        self.found(tenant)
    }
}
