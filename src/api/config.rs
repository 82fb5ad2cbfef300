//! Tenant API for Meta credentials: the verify token and app secrets, tenant-wide and per
//! channel. Values are write-only: answers only say whether something is set.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use crate::api::auth::TenantAuth;
use crate::api::error::ApiError;
use crate::api::tenants::{validate_credential, CallbackUrls};
use crate::api::ApiTags;
use crate::app::AppState;
use crate::error::Error;
use crate::event::Channel;
use crate::store::tenants::{self, CredentialUpdate, TenantCredentials};

/// New credentials for a scope. Omitted fields stay as they are.
#[derive(Debug, Clone, Object)]
pub struct CredentialsInput {
    /// The token Meta sends as `hub.verify_token`.
    pub verify_token: Option<String>,
    /// The full set of active Meta app secrets; give two while rotating, then one.
    pub app_secrets: Option<Vec<String>>,
}

/// What is configured for a scope, without the values.
#[derive(Debug, Clone, Object)]
pub struct ScopeStatus {
    pub verify_token_set: bool,
    pub app_secret_count: u32,
}

/// One channel's override status and callback URL.
#[derive(Debug, Clone, Object)]
pub struct ChannelStatus {
    pub channel: Channel,
    pub callback_url: String,
    /// Values set for this channel only; unset ones fall back to the tenant-wide values.
    pub overrides: ScopeStatus,
}

/// The tenant's configuration as it may be shown.
#[derive(Debug, Clone, Object)]
pub struct ConfigView {
    pub tenant_id: Uuid,
    pub name: String,
    pub callback_urls: CallbackUrls,
    /// Tenant-wide values, used by every channel without an override.
    pub defaults: ScopeStatus,
    pub channels: Vec<ChannelStatus>,
}

/// Tenant configuration routes.
pub struct ConfigApi {
    pub state: AppState,
}

fn scope_status(credentials: &TenantCredentials, channel: Option<Channel>) -> ScopeStatus {
    let summary = credentials.summary(channel);
    ScopeStatus {
        verify_token_set: summary.verify_token_set,
        app_secret_count: u32::try_from(summary.app_secret_count).unwrap_or(u32::MAX),
    }
}

fn validate(input: &CredentialsInput) -> Result<CredentialUpdate, Error> {
    if let Some(token) = &input.verify_token {
        validate_credential("verify_token", token)?;
    }
    if let Some(secrets) = &input.app_secrets {
        if secrets.len() > 5 {
            return Err(Error::invalid(
                "invalid_credential",
                "at most 5 app secrets may be active at once",
            ));
        }
        for secret in secrets {
            validate_credential("app_secrets[]", secret)?;
        }
    }
    Ok(CredentialUpdate {
        verify_token: input.verify_token.clone(),
        app_secrets: input.app_secrets.clone(),
    })
}

/// The `{channel}` path segment of the configuration routes; unknown channels are 404.
pub fn parse_channel(channel: &str) -> Result<Channel, ApiError> {
    Channel::parse(channel).ok_or_else(|| ApiError::not_found("channel"))
}

impl ConfigApi {
    async fn view(&self, tenant_id: Uuid) -> Result<ConfigView, ApiError> {
        let pool = &self.state.pool;
        let tenant = tenants::get_tenant(pool, tenant_id)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let keys = &self.state.settings.encryption;
        let credentials = tenants::credentials_of_tenant(pool, keys, tenant_id)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        let urls = CallbackUrls::new(&self.state.settings.public_url, tenant_id);
        let channels = Channel::ALL
            .into_iter()
            .map(|channel| ChannelStatus {
                channel,
                callback_url: format!("{}/{channel}", urls.all),
                overrides: scope_status(&credentials, Some(channel)),
            })
            .collect();
        Ok(ConfigView {
            tenant_id,
            name: tenant.name,
            defaults: scope_status(&credentials, None),
            callback_urls: urls,
            channels,
        })
    }

    async fn update(
        &self,
        tenant_id: Uuid,
        channel: Option<Channel>,
        input: &CredentialsInput,
    ) -> Result<ConfigView, ApiError> {
        let update = validate(input)?;
        let mut tx = self.state.pool.begin().await?;
        let keys = &self.state.settings.encryption;
        tenants::update_credentials_of_tenant(&mut tx, keys, tenant_id, channel, &update).await?;
        tx.commit().await?;
        self.state.tenants.forget(tenant_id);
        tracing::info!(%tenant_id, ?channel, "tenant credentials updated");
        self.view(tenant_id).await
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Config")]
impl ConfigApi {
    /// The tenant's callback URLs and which credentials are set (never their values).
    #[oai(path = "/config", method = "get")]
    async fn get(&self, auth: TenantAuth) -> Result<Json<ConfigView>, ApiError> {
        Ok(Json(self.view(auth.0).await?))
    }

    /// Set the tenant-wide verify token and/or app secrets (used by every channel without
    /// an override).
    #[oai(path = "/config", method = "put")]
    async fn put(
        &self,
        auth: TenantAuth,
        body: Json<CredentialsInput>,
    ) -> Result<Json<ConfigView>, ApiError> {
        Ok(Json(self.update(auth.0, None, &body).await?))
    }

    /// Set a channel's own verify token and/or app secrets; they win over the tenant-wide ones.
    #[oai(path = "/config/channels/:channel", method = "put")]
    async fn put_channel(
        &self,
        auth: TenantAuth,
        /// `whatsapp`, `messenger` or `instagram`.
        channel: Path<String>,
        body: Json<CredentialsInput>,
    ) -> Result<Json<ConfigView>, ApiError> {
        let channel = parse_channel(&channel)?;
        Ok(Json(self.update(auth.0, Some(channel), &body).await?))
    }

    /// Remove a channel's overrides so the tenant-wide values apply again.
    #[oai(path = "/config/channels/:channel", method = "delete")]
    async fn delete_channel(
        &self,
        auth: TenantAuth,
        channel: Path<String>,
    ) -> Result<Json<ConfigView>, ApiError> {
        let channel = parse_channel(&channel)?;
        let mut tx = self.state.pool.begin().await?;
        tenants::clear_channel_override_of_tenant(&mut tx, auth.0, channel).await?;
        tx.commit().await?;
        self.state.tenants.forget(auth.0);
        Ok(Json(self.view(auth.0).await?))
    }
}
