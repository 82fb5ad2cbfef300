//! The REST API under `/v1`, one `#[OpenApi]` struct per resource, combined here.

pub mod api_keys;
pub mod auth;
pub mod config;
pub mod deliveries;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod media;
pub mod stats;
pub mod tenants;

use chrono::{DateTime, Datelike, Utc};
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{Object, OpenApiService, Tags};
use uuid::Uuid;

use crate::app::AppState;
use crate::error::Error;

/// Groups in the generated documentation.
#[derive(Tags)]
pub enum ApiTags {
    /// Operator: tenants and their keys.
    Tenants,
    /// Tenant: Meta credentials and callback URLs.
    Config,
    /// Tenant: normalized events.
    Events,
    /// Tenant: forwarding endpoints.
    Endpoints,
    /// Tenant: the delivery log and replays.
    Deliveries,
    /// Delivery statistics: a tenant's own, or any tenant's for the operator.
    Stats,
    /// Operator: the delivery log across tenants.
    Admin,
    /// Tenant: media capture settings and captured files.
    Media,
}

/// Default and maximum page sizes of list endpoints.
pub const DEFAULT_PAGE: i64 = 100;
/// Upper bound keeps one request's cost bounded.
pub const MAX_PAGE: i64 = 500;

/// Validates the `limit` query parameter.
pub fn page_limit(limit: Option<i64>) -> Result<i64, Error> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// Checks a timestamp given by a caller against the range the gateway deals in (years 1970
/// to 9999), so absurd dates get a clear 422 instead of a database error.
pub fn check_timestamp(field: &str, at: DateTime<Utc>) -> Result<(), Error> {
    if (1970..=9999).contains(&at.year()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "invalid_time_range",
            format!("{field} must be between the years 1970 and 9999"),
        ))
    }
}

/// Checks a `since`/`until` window: each bound in range, and the window neither empty nor
/// reversed, so a typo gives a clear error instead of a silently empty answer.
pub fn check_time_range(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    since.map_or(Ok(()), |at| check_timestamp("since", at))?;
    until.map_or(Ok(()), |at| check_timestamp("until", at))?;
    match (since, until) {
        (Some(since), Some(until)) if since >= until => Err(Error::invalid(
            "invalid_time_range",
            "since must be before until",
        )),
        _ => Ok(()),
    }
}

/// One page of a keyset-paginated list. `next` is the cursor for the following page
/// (pass it as `after`), absent on the last page. Rows inserted while paging are never
/// skipped or repeated, because cursors are ids, not offsets.
#[derive(Debug, Clone, Object)]
pub struct Page<T: ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    pub next: Option<Uuid>,
}

impl<T: ParseFromJSON + ToJSON> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only proves there is more.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> Uuid,
        view: impl FnMut(R) -> T,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&key)
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next,
        }
    }
}

/// All resources of the `/v1` API.
pub type Apis = (
    tenants::TenantsApi,
    api_keys::ApiKeysApi,
    config::ConfigApi,
    events::EventsApi,
    endpoints::EndpointsApi,
    deliveries::DeliveriesApi,
    deliveries::AdminDeliveriesApi,
    stats::StatsApi,
    media::MediaApi,
);

/// The whole `/v1` API with its OpenAPI description.
pub fn service(state: &AppState) -> OpenApiService<Apis, ()> {
    let public_url = state.settings.public_url.clone();
    let state = || state.clone();
    OpenApiService::new(
        (
            tenants::TenantsApi { state: state() },
            api_keys::ApiKeysApi { state: state() },
            config::ConfigApi { state: state() },
            events::EventsApi { state: state() },
            endpoints::EndpointsApi { state: state() },
            deliveries::DeliveriesApi { state: state() },
            deliveries::AdminDeliveriesApi { state: state() },
            stats::StatsApi { state: state() },
            media::MediaApi { state: state() },
        ),
        "Switchboard",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Gateway for Meta messaging webhooks (WhatsApp, Messenger, Instagram): tenants, \
         credentials, events, forwarding endpoints and delivery logs.",
    )
    .server(public_url)
}
