//! Fetching one media file from Meta: resolve a media id through the Graph API
//! (`GET {graph}/{version}/{id}` → url, mime_type, sha256, file_size), then download the
//! bytes — with the bearer token for WhatsApp, straight from the attachment URL for
//! Messenger and Instagram — refusing files over the size limit and checking the sha256.
//! Errors say whether trying again could help.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::MediaArgs;
use crate::dispatch::destination::GuardedResolver;
use crate::event::Channel;
use crate::store::media::ClaimedMedia;

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Worth another try: network trouble, 404 (not there yet, or expired), 429, 5xx.
    #[error("{0}")]
    Transient(String),
    /// Another try would fail the same way: no token, refused token, too large, corrupt.
    #[error("{0}")]
    Permanent(String),
}

impl FetchError {
    /// True if the capture should be tried again.
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Transient(_))
    }
}

/// A downloaded file that passed the checks.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// What the Graph API says about a media id.
#[derive(Debug, Deserialize)]
struct GraphMedia {
    url: String,
    mime_type: Option<String>,
    sha256: Option<String>,
    /// Meta sends it as a string or a number.
    file_size: Option<serde_json::Value>,
}

/// The HTTP side of media capture; one connection pool for all tenants.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    graph_url: String,
    graph_version: String,
    max_bytes: u64,
}

impl Fetcher {
    /// A client that resolves names through the same SSRF guard as forwarding.
    pub fn new(args: &MediaArgs, allow_private: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(args.media_timeout)
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .no_proxy()
            .build()?;
        Ok(Fetcher {
            client,
            graph_url: args.graph_url.trim_end_matches('/').to_owned(),
            graph_version: args.graph_version.trim_matches('/').to_owned(),
            max_bytes: args.media_max_bytes,
        })
    }

    /// Resolves (if needed), downloads and checks one file.
    pub async fn fetch(&self, media: &ClaimedMedia) -> Result<Fetched, FetchError> {
        let whatsapp = media.channel == Channel::Whatsapp.as_str();
        let token = media.graph_token.as_deref();
        // WhatsApp's webhook URL (when present) needs the same token; the Graph API answer
        // is the documented way and also carries the size and hash. Messenger and
        // Instagram attachments come with their URL; an id alone is resolved the same way.
        let resolve = media
            .meta_id
            .as_deref()
            .filter(|_| whatsapp || media.source_url.is_none());
        let (url, graph) = match (resolve, &media.source_url) {
            (Some(id), _) => {
                let token = token.ok_or_else(|| {
                    FetchError::Permanent(format!(
                        "no Graph API token is set for {}: cannot resolve media id {id}",
                        media.channel
                    ))
                })?;
                let graph = self.resolve(id, token).await?;
                (graph.url.clone(), Some(graph))
            }
            (None, Some(url)) => (url.clone(), None),
            (None, None) => {
                return Err(FetchError::Permanent(
                    "the event has neither a media id nor a URL".to_owned(),
                ))
            }
        };
        if let Some(size) = graph.as_ref().and_then(|g| size_of(g.file_size.as_ref())) {
            self.check_size(size)?;
        }
        let bearer = if whatsapp { token } else { None };
        let (bytes, content_type) = self.download(&url, bearer).await?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let expected = graph
            .as_ref()
            .and_then(|g| g.sha256.clone())
            .or_else(|| media.expected_sha256.clone());
        if let Some(expected) = expected {
            if !same_digest(&expected, &sha256) {
                return Err(FetchError::Permanent(format!(
                    "sha256 mismatch: Meta announced {expected}, the download has {sha256}"
                )));
            }
        }
        let mime_type = graph
            .and_then(|g| g.mime_type)
            .or_else(|| media.mime_type.clone())
            .or(content_type);
        Ok(Fetched {
            bytes,
            mime_type,
            sha256,
        })
    }

    async fn resolve(&self, id: &str, token: &str) -> Result<GraphMedia, FetchError> {
        let mut url = reqwest::Url::parse(&self.graph_url)
            .map_err(|e| FetchError::Permanent(format!("bad Graph API URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| FetchError::Permanent("bad Graph API URL".to_owned()))?
            .pop_if_empty()
            .push(&self.graph_version)
            .push(id);
        let response = self
            .client
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("Graph API unreachable: {e}")))?;
        check_status("Graph API", response.status())?;
        response
            .json::<GraphMedia>()
            .await
            .map_err(|e| FetchError::Transient(format!("Graph API answer unreadable: {e}")))
    }

    /// Downloads at most `max_bytes`, reading chunk by chunk so an oversize file is cut off
    /// rather than buffered.
    async fn download(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<(Vec<u8>, Option<String>), FetchError> {
        let mut request = self.client.get(url);
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("download failed: {e}")))?;
        check_status("download", response.status())?;
        if let Some(length) = response.content_length() {
            self.check_size(length)?;
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Transient(format!("download interrupted: {e}")))?
        {
            bytes.extend_from_slice(&chunk);
            self.check_size(u64::try_from(bytes.len()).unwrap_or(u64::MAX))?;
        }
        Ok((bytes, content_type))
    }

    fn check_size(&self, size: u64) -> Result<(), FetchError> {
        if size > self.max_bytes {
            Err(FetchError::Permanent(format!(
                "file is larger than the limit of {} bytes ({size} bytes)",
                self.max_bytes
            )))
        } else {
            Ok(())
        }
    }
}

/// 2xx passes; 404/408/429/5xx may pass later (404: not there yet, or Meta's URL expired);
/// other 4xx will not.
fn check_status(what: &str, status: StatusCode) -> Result<(), FetchError> {
    if status.is_success() {
        return Ok(());
    }
    let message = format!("{what} answered HTTP {}", status.as_u16());
    let transient = status.is_server_error()
        || matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        );
    Err(if transient {
        FetchError::Transient(message)
    } else {
        FetchError::Permanent(message)
    })
}

fn size_of(value: Option<&serde_json::Value>) -> Option<u64> {
    match value? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Meta writes hashes as hex (Graph API) or base64 (webhooks); both are compared as bytes.
fn same_digest(announced: &str, actual_hex: &str) -> bool {
    let announced = announced.trim();
    let bytes = match hex::decode(announced) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        _ => match STANDARD.decode(announced) {
            Ok(bytes) => bytes,
            Err(_) => return false,
        },
    };
    hex::decode(actual_hex).is_ok_and(|actual| actual == bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_in_hex_or_base64() {
        let hex = hex::encode(Sha256::digest(b"file"));
        let base64 = STANDARD.encode(Sha256::digest(b"file"));
        assert!(same_digest(&hex, &hex));
        assert!(same_digest(&hex.to_uppercase(), &hex));
        assert!(same_digest(&base64, &hex));
        assert!(!same_digest(
            &STANDARD.encode(Sha256::digest(b"other")),
            &hex
        ));
        assert!(!same_digest("not a hash", &hex));
    }

    #[test]
    fn statuses_say_whether_to_try_again() {
        assert!(check_status("x", StatusCode::OK).is_ok());
        for transient in [404, 408, 429, 500, 503] {
            let status = StatusCode::from_u16(transient).unwrap_or_default();
            assert!(check_status("x", status).is_err_and(|e| e.is_transient()));
        }
        for permanent in [400, 401, 403, 410] {
            let status = StatusCode::from_u16(permanent).unwrap_or_default();
            assert!(check_status("x", status).is_err_and(|e| !e.is_transient()));
        }
    }
}
