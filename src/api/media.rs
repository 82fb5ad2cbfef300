//! Captured media: tenants turn capture on per channel and fetch the stored files, with
//! their API key or with the expiring signed link that delivered events carry.

use poem::Body;
use poem_openapi::auth::ApiKey;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme};
use uuid::Uuid;

use crate::api::auth::TenantAuth;
use crate::api::config::parse_channel;
use crate::api::error::ApiError;
use crate::api::tenants::validate_credential;
use crate::api::ApiTags;
use crate::app::AppState;
use crate::event::Channel;
use crate::media::link;
use crate::media::storage::LocalStore;
use crate::store::media::{self, ChannelMediaUpdate};

/// The signed `token` of a `media.url` link.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    rename = "MediaLinkToken",
    key_name = "token",
    key_in = "query"
)]
pub struct LinkToken(ApiKey);

/// A media file may be fetched with the owner's API key or with a signed link.
#[derive(SecurityScheme)]
pub enum MediaAccess {
    Key(TenantAuth),
    Link(LinkToken),
}

/// Capture settings of one channel. Omitted fields stay as they are.
#[derive(Debug, Clone, Object)]
pub struct ChannelMediaInput {
    /// Capture the media of this channel's events.
    pub enabled: Option<bool>,
    /// Graph API access token (a system-user token with the app's messaging permission).
    /// Needed for WhatsApp; Messenger and Instagram attachment URLs are fetched without
    /// one. Write-only; an empty string removes it.
    pub graph_access_token: Option<String>,
}

/// Capture settings of one channel as they may be shown (the token never is).
#[derive(Debug, Clone, Object)]
pub struct ChannelMediaView {
    pub channel: Channel,
    pub enabled: bool,
    pub graph_access_token_set: bool,
}

impl From<media::ChannelMedia> for ChannelMediaView {
    fn from(m: media::ChannelMedia) -> Self {
        ChannelMediaView {
            channel: m.channel,
            enabled: m.enabled,
            graph_access_token_set: m.graph_token_set,
        }
    }
}

/// The stored file.
#[derive(ApiResponse)]
pub enum MediaFile {
    /// The bytes exactly as downloaded from Meta.
    #[oai(status = 200)]
    Ok(
        Binary<Body>,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "Content-Length")] u64,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "ETag")] String,
        /// Files come from strangers: never sniffed, never run as a page of this origin.
        #[oai(header = "X-Content-Type-Options")]
        String,
        #[oai(header = "Content-Security-Policy")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// Media routes.
pub struct MediaApi {
    pub state: AppState,
}

/// Types a browser may show inline; everything else is served as a download.
fn inline_safe(mime_type: &str) -> bool {
    let essence = mime_type.split(';').next().unwrap_or_default().trim();
    (essence.starts_with("image/") && essence != "image/svg+xml")
        || essence.starts_with("audio/")
        || essence.starts_with("video/")
}

/// A filename safe inside a quoted header value.
fn header_filename(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect()
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Media")]
impl MediaApi {
    /// Media capture settings of every channel.
    #[oai(path = "/config/media", method = "get")]
    async fn get_settings(
        &self,
        auth: TenantAuth,
    ) -> Result<Json<Vec<ChannelMediaView>>, ApiError> {
        let channels = media::channel_media_of_tenant(&self.state.pool, auth.0).await?;
        Ok(Json(channels.into_iter().map(Into::into).collect()))
    }

    /// Turn media capture on or off for a channel and set its Graph API token.
    #[oai(path = "/config/media/:channel", method = "put")]
    async fn put_settings(
        &self,
        auth: TenantAuth,
        /// `whatsapp`, `messenger` or `instagram`.
        channel: Path<String>,
        body: Json<ChannelMediaInput>,
    ) -> Result<Json<Vec<ChannelMediaView>>, ApiError> {
        let channel = parse_channel(&channel)?;
        if let Some(token) = body.graph_access_token.as_deref().filter(|t| !t.is_empty()) {
            validate_credential("graph_access_token", token)?;
        }
        let update = ChannelMediaUpdate {
            enabled: body.enabled,
            graph_token: body.graph_access_token.clone(),
        };
        let mut tx = self.state.pool.begin().await?;
        media::update_channel_media(
            &mut tx,
            &self.state.settings.encryption,
            auth.0,
            channel,
            &update,
        )
        .await?;
        tx.commit().await?;
        self.state.tenants.forget(auth.0);
        tracing::info!(tenant_id = %auth.0, %channel, enabled = ?body.enabled, "media capture settings updated");
        self.get_settings(auth).await
    }

    /// A captured file. Another tenant's file, an unknown id and a bad or expired link
    /// token all answer 404 or 401 alike; a capture that is still running or failed is 409.
    #[oai(path = "/media/:id", method = "get")]
    async fn file(&self, auth: MediaAccess, id: Path<Uuid>) -> Result<MediaFile, ApiError> {
        let record = media::get_media(&self.state.pool, id.0).await?;
        let allowed = match (&auth, &record) {
            (MediaAccess::Key(tenant), Some(record)) => tenant.0 == record.tenant_id,
            (MediaAccess::Link(token), Some(record)) => link::verify(
                &record.link_key,
                record.id,
                &token.0.key,
                chrono::Utc::now().timestamp(),
            ),
            (_, None) => false,
        };
        let record = match record {
            Some(record) if allowed => record,
            _ => {
                return Err(match auth {
                    MediaAccess::Link(_) => ApiError::unauthorized(),
                    MediaAccess::Key(_) => ApiError::not_found("media"),
                })
            }
        };
        let Some(key) = record
            .storage_key
            .as_deref()
            .filter(|_| record.state == "stored")
        else {
            return Err(ApiError::conflict(
                "media_not_stored",
                format!("the capture of this file is {}", record.state),
            ));
        };
        let file = LocalStore::new(&self.state.settings.media.media_dir)
            .open(key)
            .await
            .map_err(|err| {
                tracing::error!(media_id = %record.id, error = %err, "stored media file missing");
                ApiError::from(crate::error::Error::Internal(err.into()))
            })?;
        let mime_type = record
            .mime_type
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let filename =
            header_filename(record.filename.as_deref().unwrap_or(&record.id.to_string()));
        let disposition = if inline_safe(&mime_type) {
            "inline"
        } else {
            "attachment"
        };
        Ok(MediaFile::Ok(
            Binary(Body::from_async_read(file)),
            mime_type,
            u64::try_from(record.size_bytes.unwrap_or_default()).unwrap_or_default(),
            format!("{disposition}; filename=\"{filename}\""),
            format!("\"{}\"", record.sha256.unwrap_or_default()),
            "nosniff".to_owned(),
            "sandbox; default-src 'none'".to_owned(),
            "private, max-age=3600".to_owned(),
        ))
    }
}
